/// Reads typed values out of a ``ConfigNode`` mapping, remembering which keys were read so that
/// ``finish()`` can reject unknown keys (a typo must not be silently ignored).
///
/// Errors are collected rather than thrown one at a time, so a technician sees every mistake in a
/// file at once.
public struct ConfigReader {
    public let file: String
    public let path: String
    public let node: ConfigNode
    private var entries: [String: ConfigNode.Entry] = [:]
    private var order: [String] = []
    private var used: Set<String> = []
    private let sink: ConfigErrorSink

    init(file: String, path: String, node: ConfigNode, sink: ConfigErrorSink) {
        self.file = file
        self.path = path
        self.node = node
        self.sink = sink
        switch node.value {
        case .mapping(let list):
            for entry in list {
                if entries[entry.key] != nil {
                    sink.add(ConfigError(file: file, line: entry.keyLine, key: join(entry.key),
                                         message: "appears twice in the same mapping"))
                }
                entries[entry.key] = entry
                order.append(entry.key)
            }
        case .null:
            break
        default:
            sink.add(ConfigError(file: file, line: node.line, key: path, message: "expected a mapping of keys"))
        }
    }

    func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Records an error at `key` (or at this mapping when `key` is nil).
    public func fail(_ key: String?, _ message: String) {
        let line = key.flatMap { entries[$0]?.value.line } ?? node.line
        sink.add(ConfigError(file: file, line: line, key: key.map(join) ?? path, message: message))
    }

    /// Whether the mapping has `key`.
    public func has(_ key: String) -> Bool { entries[key] != nil }

    /// Whether `key` holds a single value rather than a mapping or list.
    public func isScalar(_ key: String) -> Bool {
        if case .scalar = entries[key]?.value.value { return true }
        return false
    }

    private func isAbsent(_ key: String) -> Bool {
        guard let entry = entries[key] else { return true }
        if case .null = entry.value.value { return true }
        return false
    }

    private mutating func take(_ key: String) -> ConfigNode? {
        used.insert(key)
        guard let entry = entries[key] else { return nil }
        if case .null = entry.value.value { return nil }
        return entry.value
    }

    private mutating func scalar(_ key: String) -> String? {
        guard let node = take(key) else { return nil }
        guard case .scalar(let text) = node.value else {
            fail(key, "expected a single value, not a list or mapping")
            return nil
        }
        return text
    }

    /// A required string; records an error and returns "" when missing.
    public mutating func string(_ key: String) -> String {
        guard let text = scalar(key) else {
            if isAbsent(key) { fail(nil, "missing required key '\(key)'") }
            return ""
        }
        return text
    }

    /// An optional string.
    public mutating func string(_ key: String, default value: String?) -> String? {
        scalar(key) ?? value
    }

    /// A required identifier (`[a-z0-9-]{1,32}`).
    public mutating func identifier(_ key: String) -> String {
        let text = string(key)
        if has(key), let problem = Identifier.problem(with: text) {
            fail(key, "\(ConfigLimits.quote(text)) is not a valid id: \(problem)")
        }
        return text
    }

    /// An integer within `range`.
    public mutating func int(_ key: String, default value: Int?, in range: ClosedRange<Int>) -> Int? {
        guard let text = scalar(key) else {
            if value == nil, isAbsent(key) { fail(nil, "missing required key '\(key)'") }
            return value
        }
        guard let number = Int(text) else {
            fail(key, "expected a whole number, got \(ConfigLimits.quote(text))")
            return value
        }
        guard range.contains(number) else {
            fail(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
            return value
        }
        return number
    }

    /// An optional decimal number within `range` (coordinates).
    public mutating func number(_ key: String, in range: ClosedRange<Double>) -> Double? {
        guard let text = scalar(key) else { return nil }
        guard text.utf8.count <= 32, let number = Double(text), number.isFinite else {
            fail(key, "expected a number, got \(ConfigLimits.quote(text))")
            return nil
        }
        guard range.contains(number) else {
            fail(key, "must be from \(range.lowerBound) to \(range.upperBound), got \(ConfigLimits.quote(text))")
            return nil
        }
        return number
    }

    /// A boolean (`true`/`false`, `yes`/`no`, `on`/`off`).
    public mutating func bool(_ key: String, default value: Bool) -> Bool {
        guard let text = scalar(key) else { return value }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(key, "expected true or false, got \(ConfigLimits.quote(text))")
            return value
        }
    }

    /// A duration such as `30ms`, `5s`, `2m`, `1h`, within `range`.
    public mutating func duration(_ key: String, default value: Duration, in range: ClosedRange<Duration>) -> Duration {
        guard let text = scalar(key) else { return value }
        guard let parsed = ConfigUnits.duration(text) else {
            fail(key, "expected a duration with a unit (ms, s, m, h, d), like 30ms or 5s; got \(ConfigLimits.quote(text))")
            return value
        }
        guard range.contains(parsed) else {
            fail(key, "must be between \(ConfigUnits.describe(range.lowerBound)) and \(ConfigUnits.describe(range.upperBound)), got \(ConfigLimits.quote(text))")
            return value
        }
        return parsed
    }

    /// A byte size such as `16MiB`, `512KiB` or a plain number of bytes, within `range`.
    public mutating func bytes(_ key: String, default value: Int, in range: ClosedRange<Int>) -> Int {
        guard let text = scalar(key) else { return value }
        guard let parsed = ConfigUnits.bytes(text) else {
            fail(key, "expected a size like 16MiB, 512KiB or a number of bytes; got \(ConfigLimits.quote(text))")
            return value
        }
        guard range.contains(parsed) else {
            fail(key, "must be between \(range.lowerBound) and \(range.upperBound) bytes, got \(ConfigLimits.quote(text))")
            return value
        }
        return parsed
    }

    /// One of a fixed set of words.
    public mutating func choice<T>(_ key: String, _ options: [(String, T)], default value: T) -> T {
        guard let text = scalar(key) else { return value }
        if let match = options.first(where: { $0.0 == text }) { return match.1 }
        fail(key, "must be one of \(options.map(\.0).joined(separator: ", ")); got \(ConfigLimits.quote(text))")
        return value
    }

    /// A nested mapping, read by `body`; `nil` when the key is absent.
    public mutating func mapping<T>(_ key: String, _ body: (inout ConfigReader) -> T) -> T? {
        guard let node = take(key) else { return nil }
        var reader = ConfigReader(file: file, path: join(key), node: node, sink: sink)
        let value = body(&reader)
        reader.finish()
        return value
    }

    /// A sequence of mappings, each read by `body`.
    public mutating func list<T>(_ key: String, _ body: (inout ConfigReader) -> T) -> [T] {
        guard let node = take(key) else { return [] }
        guard case .sequence(let items) = node.value else {
            fail(key, "expected a list (items starting with '- ')")
            return []
        }
        return items.enumerated().map { index, item in
            var reader = ConfigReader(file: file, path: "\(join(key))[\(index)]", node: item, sink: sink)
            let value = body(&reader)
            reader.finish()
            return value
        }
    }

    /// A sequence of scalars.
    public mutating func strings(_ key: String) -> [String]? {
        guard let node = take(key) else { return nil }
        guard case .sequence(let items) = node.value else {
            fail(key, "expected a list of values, like [b1, b2]")
            return nil
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            if case .scalar(let text) = item.value {
                result.append(text)
            } else {
                sink.add(ConfigError(file: file, line: item.line, key: "\(join(key))[\(index)]",
                                     message: "expected a single value"))
            }
        }
        return result
    }

    /// Records an error for every key that was never read.
    public func finish() {
        for key in order where !used.contains(key) {
            let line = entries[key]?.keyLine ?? node.line
            sink.add(ConfigError(file: file, line: line, key: join(key), message: "unknown key"))
        }
    }
}

/// Collects the errors of one validation pass, in file order.
final class ConfigErrorSink {
    private(set) var errors: [ConfigError] = []
    /// Errors past `limit`, counted but not kept: a file of a million bad entries costs a
    /// counter, not a million messages.
    private(set) var more = 0
    let limit: Int
    init(limit: Int = ConfigLimits.standard.maxErrors) { self.limit = limit }
    func add(_ error: ConfigError) {
        if errors.count < limit { errors.append(error) } else { more += 1 }
    }
    var isEmpty: Bool { errors.isEmpty && more == 0 }
    /// Everything found, in file order.
    var thrown: ConfigErrors { ConfigErrors(errors.sorted { $0.line < $1.line }, more: more) }
}

/// Parsing of the units used in configuration values.
public enum ConfigUnits {
    /// Parses `250ms`, `30s`, `2m`, `1h`, `7d` (also fractional, `1.5s`).
    public static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "ms" also ends in "s": make sure the rest is a number.
            guard !number.isEmpty, let value = Double(number), value.isFinite, value >= 0 else { continue }
            // A number too large for Int64 nanoseconds (about 292 years, `1e12h`) saturates,
            // so the caller's range check refuses it with its bounds instead of a trap.
            let nanoseconds = (value * scale * 1e9).rounded()
            return .nanoseconds(nanoseconds < 0x1p63 ? Int64(nanoseconds) : Int64.max)
        }
        return nil
    }

    /// Parses `16MiB`, `512KiB`, `1GiB`, `2MB`, or a plain byte count.
    public static func bytes(_ text: String) -> Int? {
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
                                      ("kB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Int(text.dropLast(suffix.count)), value >= 0 else { return nil }
            return value.multipliedReportingOverflow(by: scale).overflow ? nil : value * scale
        }
        return Int(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Renders a duration the way the config writes it.
    public static func describe(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        if ms % 3_600_000 == 0, ms > 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}
