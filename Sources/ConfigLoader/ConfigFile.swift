import Foundation
import ParkGuardCore
import Yams

/// Loads the agent's YAML configuration: reads at most ``ConfigLimits/maxBytes``, parses with
/// Yams (keeping every node's line), bounds the tree, then validates with the core's
/// ``AgentConfigDecoder``.
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
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigErrors([yamlError(error, file: file)])
        } catch {
            throw ConfigErrors([notYAML(error, file: file)])
        }
        guard let node else { return ConfigNode(.null, line: 0) }
        // Yams resolves an alias to its anchor's node, shared, not copied: a tree of nine
        // levels of nine aliases each is small in memory and 9^9 nodes once walked. The walk
        // below counts every node it would copy and stops at the limit, so such a file costs
        // `maxNodes` steps, not its expansion.
        var walk = BoundedWalk(limits: limits, file: file)
        return try walk.convert(node, depth: 1)
    }

    /// The one error for a file or text over `limits.maxBytes`.
    private static func oversized(_ file: String, _ limits: ConfigLimits) -> ConfigErrors {
        ConfigErrors([ConfigError(file: file, line: 0, key: "",
                                  message: "is larger than \(ConfigLimits.describe(bytes: limits.maxBytes)), the limit for a configuration file")])
    }

    /// An error the YAML parser raised without a position, its text cut short.
    private static func notYAML(_ error: any Error, file: String) -> ConfigError {
        ConfigError(file: file, line: 0, key: "", message: "is not valid YAML: \(String(describing: error).prefix(200))")
    }

    static func yamlError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, key: "", message: "YAML syntax error: \(problem)")
        case .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, key: "", message: "YAML error: \(problem)")
        default:
            return notYAML(error, file: file)
        }
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return String(ns.localizedDescription.prefix(200))
    }
}

/// Copies a Yams tree into ``ConfigNode``s, counting nodes (aliases expanded), depth and
/// scalar sizes against ``ConfigLimits``; the first limit passed ends the walk with one error.
private struct BoundedWalk {
    let limits: ConfigLimits
    let file: String
    var nodes = 0

    init(limits: ConfigLimits, file: String) {
        self.limits = limits
        self.file = file
    }

    private func failure(_ line: Int, _ message: String) -> ConfigErrors {
        ConfigErrors([ConfigError(file: file, line: line, key: "", message: message)])
    }

    mutating func convert(_ node: Node, depth: Int) throws(ConfigErrors) -> ConfigNode {
        let line = node.mark?.line ?? 0
        nodes += 1
        guard nodes <= limits.maxNodes else {
            throw failure(line, "has more than \(limits.maxNodes) YAML nodes once aliases are expanded (the limit): "
                + "an alias used inside aliased nodes multiplies the document")
        }
        guard depth <= limits.maxDepth else {
            throw failure(line, "nests deeper than \(limits.maxDepth) levels (the limit)")
        }
        switch node {
        case .scalar(let scalar):
            guard scalar.string.utf8.count <= limits.maxScalarBytes else {
                throw failure(line, "a value of \(scalar.string.utf8.count) bytes is longer than \(ConfigLimits.describe(bytes: limits.maxScalarBytes)) (the limit)")
            }
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                return ConfigNode(.null, line: line)
            }
            return ConfigNode(.scalar(scalar.string), line: line)
        case .mapping(let mapping):
            var entries: [ConfigNode.Entry] = []
            entries.reserveCapacity(mapping.count)
            for (key, value) in mapping {
                // A key is a node too, and counted as one.
                nodes += 1
                // Never `"\(key)"` for a list or mapping key: describing it would expand its aliases.
                let name = key.string ?? "(a list or mapping used as a key)"
                guard name.utf8.count <= limits.maxScalarBytes else {
                    throw failure(key.mark?.line ?? line, "a key of \(name.utf8.count) bytes is longer than \(ConfigLimits.describe(bytes: limits.maxScalarBytes)) (the limit)")
                }
                entries.append(ConfigNode.Entry(key: name, keyLine: key.mark?.line ?? line, value: try convert(value, depth: depth + 1)))
            }
            return ConfigNode(.mapping(entries), line: line)
        case .sequence(let sequence):
            var items: [ConfigNode] = []
            items.reserveCapacity(sequence.count)
            for item in sequence { items.append(try convert(item, depth: depth + 1)) }
            return ConfigNode(.sequence(items), line: line)
        case .alias:
            return ConfigNode(.null, line: line)
        }
    }
}
