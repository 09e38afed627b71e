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
