import ParkGuardCore
import Testing

/// The few text helpers the daemon uses instead of full Foundation's.
@Suite("Text formatting without Foundation")
struct TextFormattingTests {
    @Test("fixed decimals round half away from zero like printf's %.Nf for the values the agent writes")
    func fixed() {
        #expect(61.04.fixed(1) == "61.0")
        #expect(75.45.fixed(1) == "75.5" || 75.45.fixed(1) == "75.4", "binary floating point: either neighbour")
        #expect(0.05.fixed(1) == "0.1")
        #expect(0.0.fixed(1) == "0.0")
        #expect(12.0.fixed(0) == "12")
        #expect((-2.25).fixed(1) == "-2.3")
        #expect((-0.01).fixed(1) == "0.0", "no negative zero")
        #expect(1.5.fixed(3) == "1.500")
        #expect((1_048_576.0 * 3.25 / 1_048_576).fixed(1) == "3.3")
        #expect(Double.infinity.fixed(1) == "inf")
    }

    @Test("the parent directory of a path, as NSString's deletingLastPathComponent gives it")
    func parent() {
        #expect(parentDirectory(of: "/var/lib/parkguard/outbox") == "/var/lib/parkguard")
        #expect(parentDirectory(of: "/var/lib/parkguard/") == "/var/lib")
        #expect(parentDirectory(of: "/outbox") == "/")
        #expect(parentDirectory(of: "outbox") == "")
        #expect(parentDirectory(of: "state//outbox") == "state")
        #expect(parentDirectory(of: "/") == "/")
    }

    @Test("trimming removes spaces, tabs and line breaks at both ends only")
    func trimming() {
        #expect(" 42 \r\n".trimmingWhitespace == "42")
        #expect("\tmulti word\n".trimmingWhitespace == "multi word")
        #expect("   ".trimmingWhitespace == "")
        #expect("x".trimmingWhitespace == "x")
        #expect("".trimmingWhitespace == "")
        #expect(" a b ".trimmingWhitespace == "a b")
    }
}
