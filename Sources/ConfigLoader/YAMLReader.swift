import CYAML
import ParkGuardCore

/// Reads YAML text into the core's position-carrying ``ConfigNode`` tree with libyaml's event
/// parser (the C library Yams wraps, without Yams' Foundation), inside ``ConfigLimits``: every
/// node is counted as it is built, aliases by the size of what they repeat, so an alias bomb
/// costs the limit and never its expansion; depth and scalar sizes are checked before a node is
/// kept; the first limit passed stops the parse with one error naming its line.
struct YAMLReader {
    let limits: ConfigLimits
    let file: String

    /// A node under construction: a mapping or a sequence whose end has not come yet.
    private struct Open {
        var isMapping: Bool
        var line: Int
        var anchor: String?
        var items: [ConfigNode] = []
        var entries: [ConfigNode.Entry] = []
        /// A mapping's key, waiting for its value.
        var key: (name: String, line: Int)?
        /// Nodes in this subtree so far (itself included), and the height below it.
        var count = 1
        var height = 0
    }

    /// A finished anchored node, as an alias repeats it.
    private struct Anchored {
        var node: ConfigNode
        var count: Int
        var height: Int
    }

    /// The document's root; `nil` for an empty stream.
    func read(_ text: String) throws(ConfigErrors) -> ConfigNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw failure(0, "cannot start the YAML parser (out of memory)") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(ConfigErrors) -> ConfigNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return try parse(&parser)
        }
    }

    private func failure(_ line: Int, _ message: String) -> ConfigErrors {
        ConfigErrors([ConfigError(file: file, line: line, key: "", message: message)])
    }

    private func parse(_ parser: inout yaml_parser_t) throws(ConfigErrors) -> ConfigNode? {
        var stack: [Open] = []
        var anchors: [String: Anchored] = [:]
        var root: ConfigNode?
        var nodes = 0
        var documents = 0
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError(parser) }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            // A finished node (scalar, alias or closed collection) to hang on its parent.
            var finished: (node: ConfigNode, count: Int, height: Int, anchor: String?, isScalar: Bool)?
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return root
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                guard documents == 1 else { throw failure(line, "YAML error: a second document (the file must hold one)") }
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let length = Int(scalar.length)
                let inKey = stack.last.map { $0.isMapping && $0.key == nil } ?? false
                guard length <= limits.maxScalarBytes else {
                    throw failure(line, "a \(inKey ? "key" : "value") of \(length) bytes is longer than \(ConfigLimits.describe(bytes: limits.maxScalarBytes)) (the limit)")
                }
                nodes += 1
                try check(nodes: nodes, depth: stack.count + 1, line: line)
                let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: length), as: UTF8.self)
                let isNull = scalar.style == YAML_PLAIN_SCALAR_STYLE && ["", "~", "null", "Null", "NULL"].contains(value)
                finished = (ConfigNode(isNull ? .null : .scalar(value), line: line), 1, 1, Self.string(scalar.anchor), true)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                nodes += 1
                try check(nodes: nodes, depth: stack.count + 1, line: line)
                let anchor = event.type == YAML_MAPPING_START_EVENT ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
                stack.append(Open(isMapping: event.type == YAML_MAPPING_START_EVENT, line: line, anchor: Self.string(anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let open = stack.popLast() else { throw failure(line, "YAML error: an end without a start") }
                let node = ConfigNode(open.isMapping ? .mapping(open.entries) : .sequence(open.items), line: open.line)
                finished = (node, open.count, open.height + 1, open.anchor, false)
            case YAML_ALIAS_EVENT:
                let name = Self.string(event.data.alias.anchor) ?? ""
                guard let anchored = anchors[name] else { throw failure(line, "YAML error: the alias *\(name.prefix(64)) names no anchor before it") }
                // What the alias repeats counts in full, node for node and level for level.
                nodes += anchored.count
                try check(nodes: nodes, depth: stack.count + anchored.height, line: line)
                finished = (anchored.node, anchored.count, anchored.height, nil, false)
            default:
                break
            }
            guard let done = finished else { continue }
            if let anchor = done.anchor { anchors[anchor] = Anchored(node: done.node, count: done.count, height: done.height) }
            guard var parent = stack.popLast() else {
                root = done.node
                continue
            }
            parent.count += done.count
            parent.height = max(parent.height, done.height)
            if parent.isMapping {
                if let key = parent.key {
                    parent.entries.append(ConfigNode.Entry(key: key.name, keyLine: key.line, value: done.node))
                    parent.key = nil
                } else {
                    let name: String
                    if done.isScalar, case .scalar(let text) = done.node.value { name = text }
                    else if done.isScalar { name = "" }
                    else { name = "(a list or mapping used as a key)" }
                    parent.key = (name, done.node.line)
                }
            } else {
                parent.items.append(done.node)
            }
            stack.append(parent)
        }
    }

    private func check(nodes: Int, depth: Int, line: Int) throws(ConfigErrors) {
        guard nodes <= limits.maxNodes else {
            throw failure(line, "has more than \(limits.maxNodes) YAML nodes once aliases are expanded (the limit): "
                + "an alias used inside aliased nodes multiplies the document")
        }
        guard depth <= limits.maxDepth else {
            throw failure(line, "nests deeper than \(limits.maxDepth) levels (the limit)")
        }
    }

    /// libyaml's error as Yams reported it: `YAML syntax error: PROBLEM` at the problem's line.
    private func syntaxError(_ parser: yaml_parser_t) -> ConfigErrors {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        let line = parser.error == YAML_READER_ERROR ? 0 : Int(parser.problem_mark.line) + 1
        let kind = parser.error == YAML_READER_ERROR ? "not readable as YAML text" : "YAML syntax error"
        return failure(line, "\(kind): \(problem.prefix(200))")
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
