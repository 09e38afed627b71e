import Foundation
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
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: limits.maxBytes + 1) ?? Data()
        } catch {
            throw failure("cannot be read: \(describe(error))")
        }
        guard data.count <= limits.maxBytes else { throw oversized(path, limits) }
        guard let text = String(data: data, encoding: .utf8) else { throw failure("is not UTF-8 text") }
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

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return String(ns.localizedDescription.prefix(200))
    }
}
