import ConfigLoader
import ParkGuardCore
import Testing

/// The configuration's YAML, read by libyaml's event parser into the core's tree.
@Suite("YAML reader")
struct YAMLReaderTests {
    func tree(_ text: String) throws -> ConfigNode { try ConfigFile.tree(text, file: "agent.yaml") }

    func error(_ text: String) -> ConfigError? {
        do {
            _ = try ConfigFile.tree(text, file: "agent.yaml")
            return nil
        } catch {
            return error.errors.first
        }
    }

    @Test("mappings, lists, scalars and nulls keep their order and the line each starts on")
    func shapesAndLines() throws {
        let root = try tree("site: north-park\nbells:\n  - id: gate\n    line: 17\n  - {id: toilets, line: 27}\nnote: ~\nempty:\n")
        guard case .mapping(let entries) = root.value else { Issue.record("not a mapping"); return }
        #expect(entries.map(\.key) == ["site", "bells", "note", "empty"])
        #expect(entries.map(\.keyLine) == [1, 2, 6, 7])
        guard case .sequence(let bells) = entries[1].value.value else { Issue.record("bells not a list"); return }
        #expect(bells.map(\.line) == [3, 5])
        guard case .mapping(let gate) = bells[0].value else { Issue.record("bell not a mapping"); return }
        #expect(gate.map(\.key) == ["id", "line"])
        if case .scalar(let line) = gate[1].value.value { #expect(line == "17") } else { Issue.record("line not a scalar") }
        if case .null = entries[2].value.value {} else { Issue.record("~ is not null") }
        if case .null = entries[3].value.value {} else { Issue.record("an empty value is not null") }
        // Quoted, it is text.
        if case .scalar(let text) = try tree("k: \"null\"\n").mapping?.first?.value.value { #expect(text == "null") } else { Issue.record("quoted null") }
    }

    @Test("an alias repeats its anchor's node; an alias to nothing is an error with its line")
    func aliases() throws {
        let root = try tree("base: &cam {host: 10.0.0.5, port: 554}\ncopy: *cam\n")
        guard case .mapping(let entries) = root.value, case .mapping(let copy) = entries[1].value.value else { Issue.record("shape"); return }
        #expect(copy.map(\.key) == ["host", "port"])
        let missing = error("a: 1\nb: *nowhere\n")
        #expect(missing?.line == 2)
        #expect(missing?.message.contains("names no anchor") == true)
    }

    @Test("syntax errors, a second document and bytes that are not text are refused with a line and a reason")
    func refusals() {
        let syntax = error("site: a\nunit: [b\nbroker: {}\n")
        #expect(syntax?.message.hasPrefix("YAML syntax error: ") == true)
        #expect((syntax?.line ?? 0) >= 2)
        let second = error("site: a\n---\nsite: b\n")
        #expect(second?.line == 2)
        #expect(second?.message.contains("second document") == true)
        let tab = error("site: a\n\tunit: b\n")
        #expect(tab?.message.contains("YAML") == true)
        #expect(error("") == nil)
    }
}

private extension ConfigNode {
    var mapping: [ConfigNode.Entry]? { if case .mapping(let entries) = value { entries } else { nil } }
}
