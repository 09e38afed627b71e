import ConfigLoader
import Foundation
import ParkGuardCore
import ParkGuardTestKit
import Testing

/// The bounds on configuration and scenario files: each limit at, just under and just over,
/// and the shapes that used to crash or exhaust the daemon.
@Suite("Configuration limits")
struct ConfigLimitsTests {
    /// `levels` levels of anchors, each a list of `width` aliases of the level below.
    static func aliasBomb(levels: Int, width: Int) -> String {
        var lines = ["site: north-park", "unit: gate-1", "a0: &a0 [\"lol\"]"]
        for level in 1 ... levels {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: width).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func treeErrors(_ text: String, limits: ConfigLimits = .standard) -> ConfigErrors? {
        do {
            _ = try ConfigFile.tree(text, file: "agent.yaml", limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test("an alias bomb (nine levels of nine aliases, 1.2 KB) is refused at the node limit with one error, not expanded")
    func aliasBomb() throws {
        let bomb = Self.aliasBomb(levels: 9, width: 9)
        #expect(bomb.utf8.count < 1500)
        let errors = try #require(treeErrors(bomb))
        #expect(errors.count == 1)
        #expect(errors.errors[0].message.contains("more than 50000 YAML nodes once aliases are expanded"))
        #expect(errors.description.utf8.count < 300)
    }

    @Test("the node limit counts every node with aliases expanded: at the limit read, one over refused")
    func nodeLimit() throws {
        // `k: [x, x, x]` is 1 (root) + 1 (key) + 1 (list) + 3 items = 6 nodes.
        let text = "k: [x, x, x]\n"
        var limits = ConfigLimits.standard
        limits.maxNodes = 6
        #expect(treeErrors(text, limits: limits) == nil)
        limits.maxNodes = 5
        #expect(treeErrors(text, limits: limits)?.errors.first?.message.contains("more than 5 YAML nodes") == true)
        // Through aliases, each use counts again: root, a, [x], x, b, [*a, *a], and twice [x], x = 10.
        limits.maxNodes = 10
        #expect(treeErrors("a: &a [x]\nb: [*a, *a]\n", limits: limits) == nil)
        limits.maxNodes = 9
        #expect(treeErrors("a: &a [x]\nb: [*a, *a]\n", limits: limits) != nil)
    }

    @Test("nesting: the depth limit itself is read, one level deeper is refused with its line")
    func depthLimit() throws {
        func nested(_ depth: Int) -> String {
            // The root mapping is level 1; each `k:` adds one.
            (1 ..< depth).map { String(repeating: "  ", count: $0 - 1) + "k\($0):" }.joined(separator: "\n") + " x\n"
        }
        #expect(treeErrors(nested(32)) == nil)
        let refused = try #require(treeErrors(nested(33)))
        #expect(refused.errors[0].message == "nests deeper than 32 levels (the limit)")
        #expect(refused.errors[0].line == 32)
        #expect(treeErrors(String(repeating: "[", count: 40) + String(repeating: "]", count: 40))?.errors[0].message.contains("nests deeper") == true)
    }

    @Test("a value of 4 KiB is read; one byte more is refused without echoing it")
    func scalarLimit() throws {
        #expect(treeErrors("site: " + String(repeating: "x", count: 4096) + "\n") == nil)
        let refused = try #require(treeErrors("site: " + String(repeating: "x", count: 4097) + "\n"))
        #expect(refused.description == "agent.yaml:1: a value of 4097 bytes is longer than 4 KiB (the limit)")
        // YAML itself caps implicit keys at 1024 characters; a longer key must be explicit (`? key`).
        let key = try #require(treeErrors("? " + String(repeating: "k", count: 4097) + "\n: x\n"))
        #expect(key.errors[0].message.hasPrefix("a key of 4097 bytes"))
    }

    @Test("a file of 1 MiB is read; one byte more is refused before it is parsed")
    func fileSizeLimit() throws {
        let directory = try ScratchDirectory()
        let comment = "# " + String(repeating: "x", count: 1000) + "\n"
        var body = ""
        while body.utf8.count + comment.utf8.count <= 1 << 20 { body += comment }
        body += String(repeating: "#", count: (1 << 20) - body.utf8.count)
        #expect(body.utf8.count == 1 << 20)
        try body.write(toFile: directory.file("at.yaml"), atomically: true, encoding: .utf8)
        #expect(try ConfigFile.read(path: directory.file("at.yaml")).utf8.count == 1 << 20)
        try (body + "#").write(toFile: directory.file("over.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: ConfigErrors.self) { try ConfigFile.read(path: directory.file("over.yaml")) }
        do { _ = try ConfigFile.load(path: directory.file("over.yaml")) } catch {
            #expect(error.description == "\(directory.file("over.yaml")): is larger than 1 MiB, the limit for a configuration file")
        }
        #expect(treeErrors(body + "#")?.errors[0].message == "is larger than 1 MiB, the limit for a configuration file")
    }

    @Test("a value in an error is cut to 60 characters with its size; errors past 20 are counted, not listed")
    func errorsAreShort() throws {
        let long = String(repeating: "9", count: 3000)
        do { _ = try ConfigFile.parse("site: north-park\nunit: gate-1\nheartbeatInterval: \(long)\n", file: "agent.yaml") } catch {
            let line = try #require(error.errors.first { $0.key == "heartbeatInterval" })
            #expect(line.description.contains("'" + String(repeating: "9", count: 60) + "…' (3000 bytes)"))
            #expect(line.description.utf8.count < 250)
        }
        let bells = (1 ... 45).map { "  - {id: b\($0), line: x\($0)}" }.joined(separator: "\n")
        do { _ = try ConfigFile.parse("site: north-park\nunit: gate-1\nbells:\n\(bells)\n", file: "agent.yaml") } catch {
            #expect(error.errors.count == 20)
            #expect(error.count > 45)
            #expect(error.description.hasSuffix("agent.yaml: and \(error.count - 20) more errors"))
        }
    }
}
