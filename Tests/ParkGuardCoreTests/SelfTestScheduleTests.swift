import ParkGuardCore
import Testing

@Suite("Self-test schedule")
struct SelfTestScheduleTests {
    /// 2026-12-05 (a Saturday) at `hour`:`minute` UTC.
    func utc(_ day: Int, _ hour: Int, _ minute: Int = 0) -> WallTime {
        WallTime(millisecondsSinceEpoch: (WallTime.daysFromCivil(year: 2026, month: 12, day: day) * 86_400 + Int64(hour * 3600 + minute * 60)) * 1000)
    }

    @Test("daily at 03:00 local time without jitter: the next 03:00, in the unit's time zone")
    func daily() {
        let schedule = SelfTestSchedule(every: .seconds(86_400), at: 3 * 3600, jitter: .zero)
        #expect(schedule.next(after: utc(5, 1), unit: "u", utcOffsetSeconds: 0) == utc(5, 3))
        #expect(schedule.next(after: utc(5, 3), unit: "u", utcOffsetSeconds: 0) == utc(6, 3), "strictly after")
        // Seoul is UTC+9: 03:00 there is 18:00 UTC the day before.
        #expect(schedule.next(after: utc(5, 12), unit: "u", utcOffsetSeconds: 9 * 3600) == utc(5, 18))
    }

    @Test("slots are fixed in calendar time: asking again from any point before a slot gives the same slot")
    func stableAcrossRestarts() {
        let schedule = SelfTestSchedule.weekly
        let first = schedule.next(after: utc(5, 10), unit: "north/gate-1", utcOffsetSeconds: 3600)
        for hour in [11, 14, 23] {
            #expect(schedule.next(after: utc(5, hour), unit: "north/gate-1", utcOffsetSeconds: 3600) == first)
        }
        let second = schedule.next(after: first, unit: "north/gate-1", utcOffsetSeconds: 3600)
        #expect(second.millisecondsSinceEpoch - first.millisecondsSinceEpoch == 7 * 86_400_000)
    }

    @Test("the jitter spreads units over the window after the hour, each always at its own point")
    func jitterSpreads() {
        let schedule = SelfTestSchedule(every: .seconds(86_400), at: 3 * 3600, jitter: .seconds(3600))
        let slots = (0 ..< 200).map { schedule.next(after: utc(5, 1), unit: "park/unit-\($0)", utcOffsetSeconds: 0) }
        #expect(slots.allSatisfy { $0 >= utc(5, 3) && $0 < utc(5, 4) })
        #expect(Set(slots.map { $0.millisecondsSinceEpoch / 60_000 }).count > 40, "spread over most of the 60 minutes")
        #expect(schedule.next(after: utc(5, 1), unit: "park/unit-7", utcOffsetSeconds: 0) == slots[7])
    }
}

@Suite("Wall time parsing")
struct WallTimeParsingTests {
    @Test("the contract's RFC 3339 form round-trips; anything else is refused")
    func rfc3339() {
        let time = WallTime(millisecondsSinceEpoch: 1_796_000_123_456)
        #expect(WallTime(rfc3339: time.rfc3339) == time)
        for bad in ["2026-02-31T00:00:00.000Z", "2026-12-05T24:00:00.000Z", "2026-12-05T10:00:00Z", "2026-12-05 10:00:00.000Z",
                    "2026-12-05T10:00:00.000+09:00", "２026-12-05T10:00:00.000Z", ""] {
            #expect(WallTime(rfc3339: bad) == nil, "\(bad)")
        }
    }
}

@Suite("Test drive recording")
struct TestDriveRecordingTests {
    func at(_ ms: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: (1_000 + ms) * 1_000_000) }

    @Test("the line following the drive and coming back, each within the relay window, is the test and nothing else")
    func healthy() {
        var recording = TestDriveRecording(drivenAt: at(0))
        recording.record(active: true, at: at(8))
        recording.release(at: at(10))
        recording.record(active: false, at: at(19))
        #expect(recording.verdict == .healthy(response: .milliseconds(8)))
        #expect(!recording.mustReplay)
    }

    @Test("a line that never moves fails the test and hides no press")
    func noResponse() {
        var recording = TestDriveRecording(drivenAt: at(0))
        recording.release(at: at(1000))
        #expect(recording.verdict == .noResponse && !recording.mustReplay)
    }

    @Test("anything else may hide a press: a late response, a late release, more edges, a line left active go back to the bell", arguments: [
        [(true, 300), (false, 1010)],       // a relay that does not close, and a person pressing at 0.3 s
        [(true, 5), (false, 1100)],         // released 300 ms after the drive opened: a press held through it
        [(true, 5), (false, 1005), (true, 1050)],  // pressed again right after the test
        [(true, 5)],                        // still active: a welded relay, a stuck contact or a press held
        [(true, 5), (false, 100), (true, 150), (false, 1004)],  // released and pressed during the drive (a broken relay)
    ])
    func disturbed(edges: [(Bool, UInt64)]) {
        var recording = TestDriveRecording(drivenAt: at(0))
        for (active, ms) in edges where ms < 800 { recording.record(active: active, at: at(ms)) }
        recording.release(at: at(800))
        for (active, ms) in edges where ms >= 800 { recording.record(active: active, at: at(ms)) }
        guard case .disturbed = recording.verdict else { Issue.record("\(recording.verdict)"); return }
        #expect(recording.mustReplay)
    }

    @Test("past the edge limit the last edge is replaced, so the final level is always kept")
    func bounded() {
        var recording = TestDriveRecording(drivenAt: at(0))
        for index in 0 ..< 1000 { recording.record(active: index % 2 == 0, at: at(UInt64(index))) }
        recording.record(active: true, at: at(2000))
        #expect(recording.edges.count == TestDriveRecording.maxEdges)
        #expect(recording.edges.last?.active == true && recording.edges.last?.at == at(2000))
        #expect(recording.mustReplay)
    }
}
