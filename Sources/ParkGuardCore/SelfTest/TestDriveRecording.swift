/// What a bell's line did while its test drive held the circuit, and what that means. Pure.
///
/// While the relay holds the circuit closed, the bell's edges are the test's; a person may press
/// in that second all the same. Only the one clean pattern counts as the test: one active edge
/// within ``relayWindow`` of closing the drive, one inactive edge within ``relayWindow`` of
/// opening it. Anything else may hide a press, so every recorded edge goes back to the bell's
/// machine (``mustReplay``): a false alarm rather than a lost one.
public struct TestDriveRecording: Sendable, Equatable {
    /// A relay or an optocoupler answers well within this.
    public static let relayWindow: Duration = .milliseconds(200)
    /// Edges kept at most; past it the last one is replaced, so the final level is never lost.
    public static let maxEdges = 64

    public struct Edge: Sendable, Equatable {
        public var active: Bool
        public var at: MonotonicInstant
    }

    /// What the test found.
    public enum Verdict: Sendable, Equatable {
        /// The line followed the drive and came back, each within the relay window.
        case healthy(response: Duration)
        /// The line never moved.
        case noResponse
        /// The line went active, late or never back, or with other edges: a slow or welded relay,
        /// a stuck contact, or a press during the test.
        case disturbed(String)
    }

    public let drivenAt: MonotonicInstant
    public private(set) var releasedAt: MonotonicInstant?
    public private(set) var edges: [Edge] = []

    public init(drivenAt: MonotonicInstant) { self.drivenAt = drivenAt }

    public mutating func record(active: Bool, at: MonotonicInstant) {
        if edges.count == Self.maxEdges { edges.removeLast() }
        edges.append(Edge(active: active, at: at))
    }

    public mutating func release(at: MonotonicInstant) { releasedAt = at }

    /// The first active edge (the drive's, when the relay works).
    public var activeAt: MonotonicInstant? { edges.first { $0.active }?.at }

    /// An inactive edge after the drive opened.
    public var inactiveAt: MonotonicInstant? {
        guard let releasedAt else { return nil }
        return edges.first { !$0.active && $0.at >= releasedAt }?.at
    }

    public var verdict: Verdict {
        guard !edges.isEmpty else { return .noResponse }
        guard edges.count == 2, edges[0].active, !edges[1].active, let releasedAt else {
            let last = edges.last!.active ? "the line is still active" : "\(edges.count) edges"
            return .disturbed("the line did not follow the test drive cleanly (\(last)): a press, a stuck contact or a faulty relay")
        }
        let response = drivenAt.duration(to: edges[0].at)
        let back = releasedAt.duration(to: edges[1].at)
        guard response >= .zero, response <= Self.relayWindow else {
            return .disturbed("the line went active \(response.milliseconds) ms after the drive closed (a relay answers within \(Self.relayWindow.milliseconds) ms): a press or a slow relay")
        }
        guard back >= .zero, back <= Self.relayWindow else {
            return .disturbed("the line came back \(back.milliseconds) ms after the drive opened (a relay answers within \(Self.relayWindow.milliseconds) ms): a press or a sticking relay")
        }
        return .healthy(response: response)
    }

    /// Whether the recorded edges must go to the bell's machine.
    public var mustReplay: Bool {
        if case .disturbed = verdict { return true }
        return false
    }
}
