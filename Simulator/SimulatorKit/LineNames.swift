import ParkGuardCore

/// The agent's names for the simulator's lines, taken from the agent's own configuration so
/// that `parkguard-sim press b1` finds bell b1's line.
public struct LineNames: Sendable {
    /// What a named line is.
    public enum Role: String, Sendable {
        case bell, tamper, door, strobe, siren, callAccepted, testDrive
        var isOutput: Bool { self == .strobe || self == .siren || self == .callAccepted || self == .testDrive }
    }

    public struct Entry: Sendable {
        public var name: String
        public var line: Int
        public var role: Role
        public var activeLow: Bool
    }

    public private(set) var byName: [String: Entry] = [:]
    public private(set) var byLine: [Int: Entry] = [:]
    /// Test drive output line → the bell line its relay closes (`bells[].testDrive`).
    public private(set) var drives: [Int: Int] = [:]

    public init() {}

    /// Names from an agent configuration.
    public init(config: AgentConfig) {
        for bell in config.bells { add(Entry(name: bell.id, line: bell.setup.line, role: .bell, activeLow: bell.setup.activeLow)) }
        for input in config.inputs {
            add(Entry(name: input.id, line: input.setup.line, role: input.kind == .door ? .door : .tamper, activeLow: input.setup.activeLow))
        }
        for output in config.outputs {
            add(Entry(name: output.id, line: output.line, role: Role(rawValue: output.role.rawValue) ?? .strobe, activeLow: output.activeLow))
        }
        for bell in config.bells {
            if let drive = bell.testDrive, let output = config.outputs.first(where: { $0.id == drive }) { drives[output.line] = bell.setup.line }
        }
    }

    private mutating func add(_ entry: Entry) {
        byName[entry.name] = entry
        byLine[entry.line] = entry
    }

    /// The line for a name, or a bare line number.
    public func line(for name: String) throws(SimError) -> Int {
        if let entry = byName[name] { return entry.line }
        if let number = Int(name) { return number }
        throw .unknownName(name)
    }
}
