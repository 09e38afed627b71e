import ParkGuardCore
import Testing

private func ms(_ value: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: 1_000_000_000 + value * 1_000_000) }

@Suite("Leading-edge debounce")
struct DebounceTests {
    @Test("a press is reported on the first edge, without waiting for the window")
    func pressReportedAtOnce() {
        var debouncer = LevelDebouncer(initial: false, window: .milliseconds(30))
        let changes = debouncer.edge(to: true, at: ms(0))
        #expect(changes == [.init(active: true, at: ms(0))])
        #expect(debouncer.deadline == ms(30))
    }

    @Test("bounces inside the window are ignored and the window slides with each edge")
    func bounceTrainIgnored() {
        var debouncer = LevelDebouncer(initial: false, window: .milliseconds(30))
        var reported: [LevelDebouncer.Change] = []
        // A train of 7 edges 1 ms apart ending pressed.
        for i in 0 ..< 7 { reported += debouncer.edge(to: i % 2 == 0, at: ms(UInt64(i))) }
        #expect(reported == [.init(active: true, at: ms(0))])
        #expect(debouncer.deadline == ms(36))
        #expect(debouncer.settle(now: ms(35)) == nil)
        #expect(debouncer.settle(now: ms(36)) == nil, "the line ended pressed: nothing more to report")
        #expect(debouncer.deadline == nil)
    }

    @Test("a bounce train that ends on the other level is confirmed when the line is quiet")
    func glitchIsConfirmedBack() {
        var debouncer = LevelDebouncer(initial: false, window: .milliseconds(30))
        _ = debouncer.edge(to: true, at: ms(0))
        _ = debouncer.edge(to: false, at: ms(2))
        #expect(debouncer.settle(now: ms(31)) == nil, "still inside the window that slid to 32 ms")
        #expect(debouncer.settle(now: ms(32)) == .init(active: false, at: ms(2)))
        #expect(debouncer.reported == false)
    }

    @Test("a lockout alone is not enough: an edge arriving after a missed settle confirms first")
    func lateEdgeConfirmsPendingLevelFirst() {
        var debouncer = LevelDebouncer(initial: false, window: .milliseconds(30))
        _ = debouncer.edge(to: true, at: ms(0))
        _ = debouncer.edge(to: false, at: ms(5))
        // No tick happened; the next edge comes long after the window closed.
        let changes = debouncer.edge(to: true, at: ms(500))
        #expect(changes == [.init(active: false, at: ms(5)), .init(active: true, at: ms(500))])
    }

    @Test("an edge to the level already reported opens a window but reports nothing")
    func redundantEdge() {
        var debouncer = LevelDebouncer(initial: true, window: .milliseconds(10))
        #expect(debouncer.edge(to: true, at: ms(0)).isEmpty)
        #expect(debouncer.deadline == ms(10))
    }
}
