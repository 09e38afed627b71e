import Foundation
import ParkGuardCore
import ParkGuardHub
import Testing

/// Self-test reports at the hub, and what the console lists from them.
@Suite("Self-tests and certificates at the hub")
struct UnitChecksTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let topic = "parkguard/v1/north/gate-1/selftest"

    func time(_ offset: TimeInterval) -> String {
        WallTime(millisecondsSinceEpoch: Int64((now.timeIntervalSince1970 + offset) * 1000)).rfc3339
    }

    func report(passed: Bool, at offset: TimeInterval = 0, unit: String = "gate-1", drive: Bool = true) -> [UInt8] {
        Array("""
        {"schema":"parkguard/selftest/1","site":"north","unit":"\(unit)","session":3,"trigger":"scheduled","passed":\(passed),\
        "outputs":[],"inputs":[],"testDrives":[{"bell":"b2","output":"drive-b2","ok":\(drive),"detail":"line 2 did not follow"}],\
        "cameras":[],"broker":{"ok":true,"roundTripMs":3},"certificate":{"expires":"\(time(20 * 86_400))","daysLeft":20,"ok":false},\
        "time":"\(time(offset))","mono":1,"clockSynced":true}
        """.utf8)
    }

    @Test("a live failed report updates the unit and is reported; the same report retained (replayed at subscribe) only updates")
    func ingest() {
        var core = HubCore()
        let actions = core.ingest(topic: topic, payload: report(passed: false, drive: false), retained: false, at: now)
        #expect(actions.contains(.selfTestFailed(unit: UnitKey(site: "north", unit: "gate-1"), summary: "b2 test drive: line 2 did not follow")))
        let view = core.units[UnitKey(site: "north", unit: "gate-1")]
        #expect(view?.selfTest?.passed == false && view?.selfTest?.problems == ["b2 test drive: line 2 did not follow"])
        #expect(view?.certificateExpires == time(20 * 86_400))
        let replayed = core.ingest(topic: topic, payload: report(passed: false, drive: false), retained: true, at: now)
        #expect(replayed == [.unitChanged(UnitKey(site: "north", unit: "gate-1"))])
    }

    @Test("a report naming another unit, or with a time outside the contract, is refused and changes nothing")
    func refusals() {
        var core = HubCore()
        let other = core.ingest(topic: topic, payload: report(passed: true, unit: "gate-2"), retained: false, at: now)
        guard case .refused(let error)? = other.first else { Issue.record("not refused: \(other)"); return }
        #expect(error.field == "unit")
        let badTime = Array(String(decoding: report(passed: true), as: UTF8.self).replacingOccurrences(of: time(0), with: "yesterday").utf8)
        guard case .refused(let timeError)? = core.ingest(topic: topic, payload: badTime, retained: false, at: now).first else {
            Issue.record("a bad time was accepted"); return
        }
        #expect(timeError.field == "time")
        #expect(core.units.isEmpty)
    }

    @Test("the console lists failed tests first, then expired certificates, overdue tests, expiring certificates and units without a report")
    func attention() {
        func view(_ name: String, test: SelfTestView?, expires: TimeInterval?) -> UnitView {
            var view = UnitView(key: UnitKey(site: "north", unit: name), online: true, lastSeen: now, bells: [:], cameras: [:])
            view.selfTest = test
            view.certificateExpires = expires.map(time)
            return view
        }
        let fresh = SelfTestView(time: time(-3600), trigger: "scheduled", passed: true, problems: [], nextDue: nil)
        let units = [
            view("ok", test: fresh, expires: 400 * 86_400),
            view("never", test: nil, expires: nil),
            view("stale", test: SelfTestView(time: time(-10 * 86_400), trigger: "scheduled", passed: true, problems: [], nextDue: nil), expires: nil),
            view("broken", test: SelfTestView(time: time(-60), trigger: "command", passed: false, problems: ["b2 test drive: cut"], nextDue: nil),
                 expires: 10 * 86_400),
            view("lapsed", test: fresh, expires: -2 * 86_400),
        ]
        let items = UnitChecks.attention(units, now: now, maxAge: 8 * 86_400)
        #expect(items.map { "\($0.unit) \($0.kind.rawValue)" } == [
            "broken selfTestFailed", "lapsed certificateExpired", "stale selfTestOverdue", "broken certificateExpiring", "never noSelfTest",
        ])
        #expect(items[0].detail == "b2 test drive: cut")
        #expect(items[2].detail == "last self-test 10 days ago")
        #expect(items[3].detail == "certificate expires in 10 days")
    }
}
