/// Drives the unit's local outputs: switches them on for their configured duration when a bell
/// asks, off when asked or when the duration ends. Pure; ``deadline`` says when to tick.
public struct OutputController: Sendable {
    /// A line level to set.
    public struct Drive: Sendable, Equatable {
        public var output: String
        public var line: Int
        /// The physical level (active-low already applied).
        public var level: Bool
        /// The logical state (`true` = the light is lit, the siren sounds).
        public var on: Bool
    }

    public let outputs: [OutputConfig]
    private var onUntil: [String: MonotonicInstant] = [:]

    public init(outputs: [OutputConfig]) { self.outputs = outputs }

    /// The outputs that serve `bell` in `role`.
    public func outputs(for bell: String?, role: OutputConfig.Role) -> [OutputConfig] {
        outputs.filter { output in
            output.role == role && (output.bells.isEmpty || bell.map(output.bells.contains) ?? true)
        }
    }

    /// The initial levels: everything off.
    public func initialDrives() -> [Drive] { outputs.map { drive($0, on: false) } }

    /// Applies a bell's request (`bell` nil = every bell).
    public mutating func apply(_ request: OutputRequest, bell: String?, now: MonotonicInstant) -> [Drive] {
        switch request {
        case .on(let role):
            return outputs(for: bell, role: role).map { output in
                onUntil[output.id] = now + output.duration
                return drive(output, on: true)
            }
        case .off(let role):
            return outputs(for: bell, role: role).compactMap { output in
                guard onUntil.removeValue(forKey: output.id) != nil else { return nil }
                return drive(output, on: false)
            }
        }
    }

    /// Switches `output` on for `duration` (self-test), regardless of role.
    public mutating func pulse(_ output: OutputConfig, for duration: Duration, now: MonotonicInstant) -> Drive {
        onUntil[output.id] = now + duration
        return drive(output, on: true)
    }

    /// Whether `output` is on now.
    public func isOn(_ id: String) -> Bool { onUntil[id] != nil }

    /// Switches off what has timed out.
    public mutating func tick(now: MonotonicInstant) -> [Drive] {
        outputs.compactMap { output in
            guard let until = onUntil[output.id], now >= until else { return nil }
            onUntil[output.id] = nil
            return drive(output, on: false)
        }
    }

    /// When ``tick(now:)`` must be called next.
    public var deadline: MonotonicInstant? { onUntil.values.min() }

    private func drive(_ output: OutputConfig, on: Bool) -> Drive {
        Drive(output: output.id, line: output.line, level: on != output.activeLow, on: on)
    }
}
