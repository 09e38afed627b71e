/// A parsed configuration document with the source position of every node, independent of the
/// YAML library that produced it, so that validation is pure and every error names file, line
/// and key.
public struct ConfigNode: Sendable {
    /// The shape of a node.
    public indirect enum Value: Sendable {
        case scalar(String)
        case mapping([Entry])
        case sequence([ConfigNode])
        case null
    }

    /// One `key: value` pair of a mapping, with the key's own position.
    public struct Entry: Sendable {
        public var key: String
        public var keyLine: Int
        public var value: ConfigNode
        public init(key: String, keyLine: Int, value: ConfigNode) {
            self.key = key
            self.keyLine = keyLine
            self.value = value
        }
    }

    public var value: Value
    /// 1-based line of the node in its file (0 when unknown).
    public var line: Int

    public init(_ value: Value, line: Int) {
        self.value = value
        self.line = line
    }
}

/// A configuration error that names the file, the line and the key path.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// Dotted key path, with sequence indices: `bells[1].debounce`.
    public var key: String
    public var message: String

    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        // A key path is made of the file's own keys: cut, like every value an error shows.
        let shown = key.count > 120 ? key.prefix(120) + "…" : Substring(key)
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(shown): \(message)"
    }
}
