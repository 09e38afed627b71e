#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore

/// Loads the agent's YAML configuration: reads at most ``ConfigLimits/maxBytes``, parses with
/// libyaml (``YAMLReader``: every node's line kept, the tree bounded as it is built), then
/// validates with the core's ``AgentConfigDecoder``.
public enum ConfigFile {
    /// Reads and validates `path`.
    /// - Throws: ``ConfigErrors`` naming file, line and key for every problem, including an
    ///   unreadable or oversized file, YAML syntax errors and a tree past the limits.
    public static func load(path: String, limits: ConfigLimits = .standard) throws(ConfigErrors) -> AgentConfig {
        try parse(try read(path: path, limits: limits), file: path, limits: limits)
    }

    /// Reads a configuration or scenario file as UTF-8 text, refusing one larger than
    /// `limits.maxBytes` without reading past the limit.
    public static func read(path: String, limits: ConfigLimits = .standard) throws(ConfigErrors) -> String {
        func failure(_ message: String) -> ConfigErrors { ConfigErrors([ConfigError(file: path, line: 0, key: "", message: message)]) }
        let data: [UInt8]
        switch readPrefix(path: path, count: limits.maxBytes + 1) {
        case .success(let bytes): data = bytes
        case .failure(let code): throw failure("cannot be read: \(String(cString: strerror(code.rawValue)))")
        }
        guard data.count <= limits.maxBytes else { throw oversized(path, limits) }
        guard let text = String(validating: data, as: UTF8.self) else { throw failure("is not UTF-8 text") }
        return text
    }

    /// Validates YAML `text` as if read from `file`.
    public static func parse(_ text: String, file: String, limits: ConfigLimits = .standard) throws(ConfigErrors) -> AgentConfig {
        let root = try tree(text, file: file, limits: limits)
        return try AgentConfigDecoder.decode(root, file: file, maxErrors: limits.maxErrors)
    }

    /// Parses YAML into the core's position-carrying tree, within `limits`.
    public static func tree(_ text: String, file: String, limits: ConfigLimits = .standard) throws(ConfigErrors) -> ConfigNode {
        guard text.utf8.count <= limits.maxBytes else { throw oversized(file, limits) }
        guard let node = try YAMLReader(limits: limits, file: file).read(text) else { return ConfigNode(.null, line: 0) }
        return node
    }

    /// The one error for a file or text over `limits.maxBytes`.
    private static func oversized(_ file: String, _ limits: ConfigLimits) -> ConfigErrors {
        ConfigErrors([ConfigError(file: file, line: 0, key: "",
                                  message: "is larger than \(ConfigLimits.describe(bytes: limits.maxBytes)), the limit for a configuration file")])
    }

    /// Reads at most `count` bytes from the start of `path` (fewer at its end), retrying
    /// interrupted reads; the errno of a failed open or read.
    static func readPrefix(path: String, count: Int) -> Result<[UInt8], Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Errno(rawValue: errno)) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, count - filled) }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { return .failure(Errno(rawValue: errno)) }
            if got == 0 { break }
            filled += got
        }
        return .success(Array(bytes.prefix(filled)))
    }

    /// An `errno` value, as an error.
    struct Errno: Error { var rawValue: Int32 }
}
