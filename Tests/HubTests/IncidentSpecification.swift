import Foundation
import ParkGuardCore
@testable import HubConsole
import ParkGuardHub
import Testing

/// How alarms become incidents, the same in every alarm log.
enum IncidentSpecification {
    static let unit = UnitKey(site: "incident-park", unit: "gate-9")
    static let t0 = Date(timeIntervalSince1970: 1_800_001_000)

    static func alarm(_ id: String, _ kind: AlarmKind, bell: String = "b1", at seconds: Double) -> AlarmRecord {
        AlarmRecord(id: id, unit: unit, bell: bell, kind: kind, seq: UInt64(seconds * 10), session: 1, raisedAt: "2026-12-05T10:00:00Z",
                    deliveredAt: t0.addingTimeInterval(seconds), cameras: [CameraLink(id: "cam-1", preset: "gate", health: .ok)])
    }

    /// A press opens an incident; its hold, release and further presses join it; acknowledging the
    /// bell acknowledges it; it is resolved only once acknowledged and only once; the next press
    /// opens a new one; a release with no incident joins none; tamper on an idle bell is its own kind.
    static func lifecycle(_ log: any HubDatabase) async throws {
        let audit = AuditEntry(at: t0, actor: "anna", action: .resolve, target: "i", address: "10.0.0.5")
        var located = alarm("p1", .press, at: 0)
        located.location = Location(latitude: 37.5665, longitude: 126.978, description: "north gate")
        _ = try await log.record(batch: [located, alarm("h1", .hold, at: 3), alarm("r1", .release, at: 4),
                                         alarm("p2", .press, at: 5), alarm("x1", .release, bell: "b2", at: 6), alarm("t1", .tamper, bell: "b3", at: 7)])
        _ = try await log.record(alarm("p1", .press, at: 0))  // a duplicate joins nothing twice
        let before = try await log.openIncidents(offset: 0, limit: 10)
        let open = before.incidents
        // The log may hold other units' incidents (older, from other specifications); these are the newest.
        #expect(before.total >= 2 && open.prefix(2).map(\.id) == ["t1", "p1"], "newest first: \(open.map(\.id))")
        #expect(before.unacknowledged >= 2 && before.unacknowledged <= before.total)
        let call = try #require(try await log.incident(id: "p1"))
        #expect(call.kind == .call && call.events == 4 && call.lastEventAt == t0.addingTimeInterval(5) && call.bell == "b1")
        #expect(call.cameras == [CameraLink(id: "cam-1", preset: "gate", health: .ok)] && call.acknowledgedAt == nil)
        #expect(call.location == located.location, "the incident keeps where its opening alarm said the bell is")
        #expect(try await log.alarms(ofIncident: "p1").map(\.id) == ["p1", "h1", "r1", "p2"])
        #expect(try await log.incident(id: "t1")?.kind == .tamper)
        #expect(try await log.incident(id: "x1") == nil, "a release without an incident opens none")

        #expect(try await log.resolve(id: "p1", by: "anna", outcome: .assistanceGiven, note: "", at: t0, audit: audit) == .notAcknowledged)
        #expect(try await log.resolve(id: "nope", by: "anna", outcome: .other, note: "", at: t0, audit: audit) == .notFound)
        _ = try await log.acknowledge(unit: unit, bell: "b1", by: "anna", at: t0.addingTimeInterval(10))
        let afterAck = try await log.openIncidents(offset: 0, limit: 10)
        #expect(afterAck.unacknowledged == before.unacknowledged - 1 && afterAck.total == before.total)
        let acknowledged = try #require(try await log.incident(id: "p1"))
        #expect(acknowledged.acknowledgedBy == "anna" && acknowledged.acknowledgedAt == t0.addingTimeInterval(10))
        #expect(try await log.resolve(id: "p1", by: "anna", outcome: .assistanceGiven, note: "lost child, found at the gate",
                                      at: t0.addingTimeInterval(60), audit: audit) == .resolved)
        #expect(try await log.resolve(id: "p1", by: "ben", outcome: .other, note: "", at: t0.addingTimeInterval(61), audit: audit) == .alreadyResolved)
        let resolved = try #require(try await log.incident(id: "p1"))
        #expect(resolved.outcome == .assistanceGiven && resolved.resolvedBy == "anna" && resolved.note == "lost child, found at the gate"
                && resolved.resolvedAt == t0.addingTimeInterval(60))

        _ = try await log.record(alarm("p3", .press, at: 70))
        #expect(try await log.openIncidents(offset: 0, limit: 10).incidents.prefix(2).map(\.id) == ["p3", "t1"], "a press after the resolution opens a new incident")
        #expect(try await log.openIncidents(offset: 1, limit: 1).incidents.map(\.id) == ["t1"], "paged")
        #expect(try await log.incidents(since: t0, limit: 10, openOnly: false).map(\.id) == ["p1", "t1", "p3"])
        #expect(try await log.incidents(since: t0, limit: 10, openOnly: true).map(\.id) == ["t1", "p3"])
        #expect(try await log.audit(since: t0, limit: 10).filter { $0.action == .resolve }.count == 1, "the resolution is audited once")
    }
}

@Suite("Incident rule")
struct IncidentRuleTests {
    @Test("a press opens a call, stuck and line faults a fault, tamper a tamper; with an open incident everything joins it; the rest open nothing")
    func effects() {
        for kind in AlarmKind.allCases { #expect(IncidentRule.effect(of: kind, bellHasOpenIncident: true) == .attach) }
        #expect(IncidentRule.effect(of: .press, bellHasOpenIncident: false) == .open(.call))
        #expect(IncidentRule.effect(of: .stuck, bellHasOpenIncident: false) == .open(.fault))
        #expect(IncidentRule.effect(of: .lineFault, bellHasOpenIncident: false) == .open(.fault))
        #expect(IncidentRule.effect(of: .tamper, bellHasOpenIncident: false) == .open(.tamper))
        for kind in [AlarmKind.hold, .release, .recovered, .tamperRestored] { #expect(IncidentRule.effect(of: kind, bellHasOpenIncident: false) == .none) }
    }

    @Test("an old log migrates: each press with what followed it is one incident; acknowledged and cleared ones are resolved by the migration")
    func migration() {
        func old(_ id: String, _ kind: AlarmKind, at seconds: Double, acknowledged: Bool = false, cleared: Double? = nil) -> AlarmRecord {
            var record = IncidentSpecification.alarm(id, kind, at: seconds)
            if acknowledged { record.acknowledgedAt = IncidentSpecification.t0.addingTimeInterval(seconds + 1); record.acknowledgedBy = "control room" }
            record.clearedAt = cleared.map { IncidentSpecification.t0.addingTimeInterval($0) }
            return record
        }
        // The demo's nine rows for three presses, and one press still open.
        let groups = IncidentRule.migrate([
            old("a", .press, at: 0, acknowledged: true, cleared: 4), old("a-r", .release, at: 3, cleared: 4),
            old("b", .press, at: 10, acknowledged: true, cleared: 20), old("b-h", .hold, at: 13), old("b-r", .release, at: 14),
            old("c", .press, at: 30), old("c-r", .release, at: 31),
        ])
        #expect(groups.map(\.alarms) == [["a", "a-r"], ["b", "b-h", "b-r"], ["c", "c-r"]])
        #expect(groups.map(\.incident.outcome) == [.other, .other, nil])
        #expect(groups[0].incident.resolvedAt == IncidentSpecification.t0.addingTimeInterval(4) && groups[0].incident.acknowledgedBy == "control room")
        #expect(groups[2].incident.acknowledgedAt == nil && groups[2].incident.events == 2)
    }
}

@Suite("Incident export")
struct IncidentCSVTests {
    @Test("a row has every column of the header; commas, quotes and line ends are quoted; a note that starts like a formula is defused")
    func rows() {
        var incident = IncidentRecord(openedBy: IncidentSpecification.alarm("p1", .press, at: 0), kind: .call)
        #expect(IncidentCSV.row(incident).split(separator: ",", omittingEmptySubsequences: false).count
                == IncidentCSV.header.split(separator: ",").count)
        incident.note = "said \"help\", then ran\nnorth"
        #expect(IncidentCSV.row(incident).contains("\"said \"\"help\"\", then ran\nnorth\""))
        incident.note = "=HYPERLINK(\"http://x\")"
        #expect(IncidentCSV.row(incident).contains("\"'=HYPERLINK(\"\"http://x\"\")\""))
        #expect(IncidentCSV.field("+1") == "'+1" && IncidentCSV.field("@x") == "'@x" && IncidentCSV.field("-") == "'-" && IncidentCSV.field("ok") == "ok")
        #expect(IncidentCSV.row(incident).hasSuffix(",cam-1:ok"))
    }

    @Test("a line for people says who acknowledged and resolved it, with the outcome, in the operator's language from the console's catalogue")
    func line() {
        var incident = IncidentRecord(openedBy: IncidentSpecification.alarm("p1", .press, at: 0), kind: .call)
        #expect(ControlRoomText.incident(incident, .en).contains("call  1 events  not acknowledged, open"))
        #expect(ControlRoomText.incident(incident, .ko).contains("호출  이벤트 1건  미접수, 미해결"))
        incident.acknowledgedAt = IncidentSpecification.t0
        incident.acknowledgedBy = "anna"
        incident.resolvedAt = IncidentSpecification.t0.addingTimeInterval(60)
        incident.resolvedBy = "anna"
        incident.outcome = .falseAlarm
        incident.note = "kids\nplaying"
        let line = ControlRoomText.incident(incident, .en)
        #expect(line.contains("acknowledged 2027-01-15T") && line.contains("by anna, resolved") && line.contains(": false alarm (kids playing)"), "\(line)")
        #expect(ControlRoomText.incident(incident, .ko).contains("anna 종결: 오경보 (kids playing)"))
    }

    @Test("the catalogue has every key in every language, and the page carries it whole")
    func catalogue() {
        let english = Set(ConsoleCatalogue.strings["en"]?.keys ?? [:].keys)
        for language in ConsoleLanguage.allCases {
            #expect(Set(ConsoleCatalogue.strings[language.rawValue]?.keys ?? [:].keys) == english, "\(language)")
        }
        #expect(ConsoleAssets.script.contains(ConsoleCatalogue.json) && ConsoleCatalogue.json.contains("\"outcome.falseAlarm\":\"오경보\""))
    }
}
