import Foundation
import ParkGuardCore
import Yams

/// Loads the agent's YAML configuration: parses with Yams (keeping every node's line), then
/// validates with the core's ``AgentConfigDecoder``.
public enum ConfigFile {
    /// Reads and validates `path`.
    /// - Throws: ``ConfigErrors`` naming file, line and key for every problem, including an
    ///   unreadable file and YAML syntax errors.
    public static func load(path: String) throws(ConfigErrors) -> AgentConfig {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ConfigErrors([ConfigError(file: path, line: 0, key: "", message: "is not UTF-8 text")])
            }
            text = decoded
        } catch let error as ConfigErrors {
            throw error
        } catch {
            throw ConfigErrors([ConfigError(file: path, line: 0, key: "", message: "cannot be read: \(describe(error))")])
        }
        return try parse(text, file: path)
    }

    /// Validates YAML `text` as if read from `file`.
    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> AgentConfig {
        let root = try tree(text, file: file)
        return try AgentConfigDecoder.decode(root, file: file)
    }

    /// Parses YAML into the core's position-carrying tree.
    public static func tree(_ text: String, file: String) throws(ConfigErrors) -> ConfigNode {
        do {
            guard let node = try Yams.compose(yaml: text) else { return ConfigNode(.null, line: 0) }
            return convert(node)
        } catch let error as YamlError {
            throw ConfigErrors([yamlError(error, file: file)])
        } catch {
            throw ConfigErrors([ConfigError(file: file, line: 0, key: "", message: "is not valid YAML: \(error)")])
        }
    }

    static func convert(_ node: Node) -> ConfigNode {
        let line = node.mark?.line ?? 0
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                return ConfigNode(.null, line: line)
            }
            return ConfigNode(.scalar(scalar.string), line: line)
        case .mapping(let mapping):
            let entries = mapping.map { key, value in
                ConfigNode.Entry(key: key.string ?? "\(key)", keyLine: key.mark?.line ?? line, value: convert(value))
            }
            return ConfigNode(.mapping(entries), line: line)
        case .sequence(let sequence):
            return ConfigNode(.sequence(sequence.map(convert)), line: line)
        case .alias:
            return ConfigNode(.null, line: line)
        }
    }

    static func yamlError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, key: "", message: "YAML syntax error: \(problem)")
        case .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, key: "", message: "YAML error: \(problem)")
        default:
            return ConfigError(file: file, line: 0, key: "", message: "is not valid YAML: \(error)")
        }
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
