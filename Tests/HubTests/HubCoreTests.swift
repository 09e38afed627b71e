import Foundation
import ParkGuardCore
import ParkGuardHub
import Testing

/// The hub's pure core, message by message.
@Suite("Hub core: fleet state, de-duplication, seq gaps and rebirth")
struct HubCoreTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let unit = UnitKey(site: "north", unit: "gate-1")

    func alarm(id: String, seq: UInt64, session: UInt64 = 7, kind: String = "press", state: String = "alarm", bell: String = "b1") -> [UInt8] {
        Array("""
        {"schema":"parkguard/alarm/1","id":"\(id)","seq":\(seq),"session":\(session),"site":"north","unit":"gate-1","bell":"\(bell)",\
        "kind":"\(kind)","state":"\(state)","time":"2026-11-25T10:00:00.000Z","mono":1,"clockSynced":true,"edgeMono":1,"cameras":[{"id":"cam-1","health":"ok"}]}
        """.utf8)
    }

    let alarmTopic = "parkguard/v1/north/gate-1/bell/b1/alarm"

    @Test("an alarm is raised once: the same id again is counted as a duplicate, not logged twice")
    func duplicatesDropped() {
        var core = HubCore()
        let first = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 1), retained: false, at: start)
        guard case .alarmRaised(let record) = first.first else { Issue.record("no alarm raised: \(first)"); return }
        #expect(record.id == "a1" && record.unit == unit && record.bell == "b1" && record.kind == .press)
        #expect(record.cameras == [CameraLink(id: "cam-1", health: .ok)])
        let again = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 1), retained: false, at: start)
        #expect(again.count == 1)
        if case .alarmDuplicate(let record)? = again.first { #expect(record.id == "a1" && record.unit == unit) } else { Issue.record("not a duplicate: \(again)") }
        #expect(core.counts.alarms == 1 && core.counts.duplicates == 1)
    }

    @Test("a camera's picture is taken when its comment names the topic's alarm, camera and stage and the image's size; anything else is refused with the reason, changing nothing")
    func pictures() {
        var core = HubCore()
        let id = "3f2b8c1e-4d5a-4e6f-9a7b-1c2d3e4f5a6b"
        let topic = "parkguard/v1/north/gate-1/snapshot/\(id)/cam-1/press"
        // The least a JPEG is: start, a baseline frame header (240×320, one component), end.
        let image: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0xF0, 0x01, 0x40, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9]
        let meta = SnapshotMeta(alarmId: id, camera: "cam-1", stage: .press, takenAt: "2026-12-06T10:00:00.000Z", width: 320, height: 240, scaled: false)
        let taken = core.ingest(topic: topic, payload: meta.embedded(in: image), retained: false, at: start)
        guard case .snapshotReceived(let record)? = taken.first else { Issue.record("not taken: \(taken)"); return }
        #expect(record.unit == unit && record.meta == meta && record.receivedAt == start && record.jpeg == meta.embedded(in: image))

        var otherCamera = meta
        otherCamera.camera = "cam-2"
        var wrongSize = meta
        wrongSize.width = 640
        let refusals: [(String, [UInt8], String)] = [
            (topic, image, "no parkguard-snapshot/1 comment"),
            (topic, otherCamera.embedded(in: image), "not the topic's"),
            (topic, wrongSize.embedded(in: image), "the image is 320x240"),
            (topic, Array("{}".utf8), "not a JPEG"),
            (topic, meta.embedded(in: image) + Array(repeating: 0, count: HubCore.maxSnapshotBytes), "a picture may have at most"),
            ("parkguard/v1/north/gate-1/snapshot/not-a-uuid/cam-1/press", meta.embedded(in: image), "is not a lowercase UUID"),
            ("parkguard/v1/north/gate-1/snapshot/\(id)/cam-1/later", meta.embedded(in: image), "is not press or settled"),
        ]
        for (topic, payload, why) in refusals {
            guard case .refused(let error)? = core.ingest(topic: topic, payload: payload, retained: false, at: start).first else {
                Issue.record("not refused: \(why)"); continue
            }
            #expect("\(error)".contains(why), "\(error)")
        }
        #expect(core.counts.refused == refusals.count && core.units.isEmpty, "a refusal changes nothing")
    }

    @Test("a camera's move for a press and a picture it could not give are kept with their alarm; a move home, other events and out-of-bounds fields are not")
    func cameraEvents() {
        var core = HubCore()
        func event(_ name: String, _ data: String) -> [UInt8] {
            Array(#"{"schema":"parkguard/event/1","event":"\#(name)","message":"m","session":7,"time":"2026-11-25T10:00:00.000Z","mono":1,"clockSynced":true,"data":{\#(data)}}"#.utf8)
        }
        let topic = "parkguard/v1/north/gate-1/event"
        let moved = core.ingest(topic: topic, payload: event("ptz", #""camera":"cam-1","preset":"gate","bell":"b1","reason":"press","outcome":"moved","ms":"412","alarmId":"a1""#),
                                retained: false, at: start)
        #expect(moved == [.cameraEvent(CameraEventRecord(unit: unit, alarmId: "a1", kind: .ptz, camera: "cam-1", outcome: "moved", target: "gate",
                                                         detail: nil, milliseconds: 412, receivedAt: start))])
        let missing = core.ingest(topic: topic, payload: event("snapshot", #""camera":"cam-1","stage":"settled","outcome":"timedOut","detail":"no answer","alarmId":"a1""#),
                                  retained: false, at: start)
        #expect(missing == [.cameraEvent(CameraEventRecord(unit: unit, alarmId: "a1", kind: .snapshot, camera: "cam-1", outcome: "timedOut",
                                                           target: "settled", detail: "no answer", milliseconds: nil, receivedAt: start))])
        #expect(core.ingest(topic: topic, payload: event("ptz", #""camera":"cam-1","preset":"home","bell":"b1","reason":"home","outcome":"moved","ms":"9""#),
                            retained: false, at: start).isEmpty, "a move home belongs to no alarm")
        #expect(core.ingest(topic: topic, payload: event("ptz", #""camera":"Cam 1","preset":"gate","outcome":"moved","alarmId":"a1""#),
                            retained: false, at: start).isEmpty)
        #expect(core.ingest(topic: topic, payload: event("ptz", #""camera":"cam-1","preset":"gate","outcome":"exploded","alarmId":"a1""#),
                            retained: false, at: start).isEmpty)
        #expect(core.ingest(topic: topic, payload: event("dropped", #""queueFull":"1""#), retained: false, at: start).isEmpty)
    }

    @Test("a payload of 64 KiB is read, one byte more is refused; a topic over 512 bytes is refused, cut short in the message")
    func boundedInput() {
        var core = HubCore()
        func padded(_ payload: [UInt8], to size: Int) -> [UInt8] { payload + Array(repeating: UInt8(ascii: " "), count: size - payload.count) }
        let atLimit = core.ingest(topic: alarmTopic, payload: padded(alarm(id: "a1", seq: 1), to: HubCore.maxPayloadBytes), retained: false, at: start)
        guard case .alarmRaised? = atLimit.first else { Issue.record("not raised at the limit: \(atLimit)"); return }
        let over = core.ingest(topic: alarmTopic, payload: padded(alarm(id: "a2", seq: 2), to: HubCore.maxPayloadBytes + 1), retained: false, at: start)
        guard case .refused(let error)? = over.first else { Issue.record("not refused over the limit: \(over)"); return }
        #expect(error.description == "\(alarmTopic): payload is 65537 bytes; at most 65536 are read")
        let longTopic = "parkguard/v1/north/gate-1/bell/" + String(repeating: "b", count: 500) + "/alarm"
        guard case .refused(let topicError)? = core.ingest(topic: longTopic, payload: alarm(id: "a3", seq: 3), retained: false, at: start).first else {
            Issue.record("a long topic was read"); return
        }
        #expect(topicError.description.hasSuffix("…: topic is \(longTopic.utf8.count) bytes; at most 512 are read"))
        #expect(topicError.description.utf8.count < 200)
        #expect(core.counts.alarms == 1 && core.counts.refused == 2, "a refusal changes nothing")
    }

    @Test("a seq gap asks the unit for a rebirth, at most once per interval")
    func seqGapRebirth() {
        var core = HubCore(rebirthInterval: 30)
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 1), retained: false, at: start)
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a2", seq: 2), retained: false, at: start)
        let gap = core.ingest(topic: alarmTopic, payload: alarm(id: "a5", seq: 5), retained: false, at: start)
        #expect(gap.contains(.requestRebirth(unit, reason: "seq gap: 2 then 5")))
        let soon = core.ingest(topic: alarmTopic, payload: alarm(id: "a9", seq: 9), retained: false, at: start.addingTimeInterval(5))
        #expect(!soon.contains { if case .requestRebirth = $0 { true } else { false } })
        let later = core.ingest(topic: alarmTopic, payload: alarm(id: "a12", seq: 12), retained: false, at: start.addingTimeInterval(40))
        #expect(later.contains { if case .requestRebirth = $0 { true } else { false } })
        #expect(core.counts.seqGaps == 3)
    }

    @Test("watermarks restored from the log make a gap across the hub's own restart a gap")
    func restoredWatermarkSeesGap() {
        var core = HubCore()
        core.restore([unit: SeqWatermark(session: 7, seq: 2)], at: start)
        #expect(core.units[unit]?.lastSeq == 2 && core.units[unit]?.online == false)
        let next = core.ingest(topic: alarmTopic, payload: alarm(id: "a9", seq: 9), retained: false, at: start)
        #expect(next.contains(.requestRebirth(unit, reason: "seq gap: 2 then 9")))
        // A resent alarm below the watermark is no gap.
        var other = HubCore()
        other.restore([unit: SeqWatermark(session: 7, seq: 5)], at: start)
        #expect(!other.ingest(topic: alarmTopic, payload: alarm(id: "a3", seq: 3), retained: false, at: start).contains {
            if case .requestRebirth = $0 { true } else { false }
        })
    }

    @Test("telemetry's receipt figures show in the unit's view")
    func awaitingReceiptShown() {
        var core = HubCore()
        let telemetry = Array("""
        {"schema":"parkguard/telemetry/1","session":7,"time":"2026-11-25T10:00:00.000Z","outboxDepth":4,\
        "receipts":{"mode":"receipt","awaiting":3,"oldestSeconds":12.5,"received":1,"unknownIds":0,"refused":0}}
        """.utf8)
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/telemetry", payload: telemetry, retained: false, at: start)
        #expect(core.units[unit]?.awaitingReceipt == 3 && core.units[unit]?.oldestAwaitingSeconds == 12.5)
    }

    @Test("an alarm from a new session asks for a rebirth and restarts seq tracking")
    func newSessionRebirth() {
        var core = HubCore()
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 40, session: 7), retained: false, at: start)
        let next = core.ingest(topic: alarmTopic, payload: alarm(id: "b1", seq: 100, session: 8), retained: false, at: start)
        #expect(next.contains(.requestRebirth(unit, reason: "new session 8 (was 7)")))
        #expect(core.units[unit]?.session == 8 && core.units[unit]?.lastSeq == 100)
    }

    @Test("out-of-order and resent alarms are no gap")
    func outOfOrderIsNoGap() {
        var core = HubCore()
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a2", seq: 2), retained: false, at: start)
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a3", seq: 3), retained: false, at: start)
        let late = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 1), retained: false, at: start)
        #expect(!late.contains { if case .requestRebirth = $0 { true } else { false } })
        #expect(core.counts.seqGaps == 0)
    }

    @Test("messages outside the contract are refused, naming the topic and the field, and change nothing")
    func refusals() {
        var core = HubCore()
        let cases: [(String, String, String)] = [
            ("parkguard/v1/north/gate-1/bell/b1/alarm", #"{"schema":"parkguard/alarm/1","id":"x"}"#, "seq"),
            ("parkguard/v1/north/gate-1/bell/b1/alarm", "not json", "payload"),
            ("parkguard/v1/north/gate-1/bell/b2/alarm", String(decoding: alarm(id: "a1", seq: 1), as: UTF8.self), "bell"),
            ("parkguard/v1/north/gate-1/bell/b1/alarm", String(decoding: alarm(id: "a1", seq: 1, kind: "explode"), as: UTF8.self), "kind"),
            ("parkguard/v1/north/gate-1/status", #"{"schema":"parkguard/telemetry/1"}"#, "state"),
            ("parkguard/v1/north/gate-1/camera/c1/health",
             #"{"schema":"parkguard/camera-health/2","camera":"c1","status":"ok","reasons":[],"time":"t"}"#, "schema"),
            ("parkguard/v1/north/gate-1/whatever", "{}", "topic"),
            ("parkguard/v2/north/gate-1/status", "{}", "topic"),
        ]
        for (topic, payload, field) in cases {
            let actions = core.ingest(topic: topic, payload: Array(payload.utf8), retained: false, at: start)
            guard case .refused(let error) = actions.first, actions.count == 1 else {
                Issue.record("\(topic) \(payload): not refused: \(actions)")
                continue
            }
            #expect(error.topic == topic)
            #expect(error.field == field, "\(topic) \(payload): \(error)")
        }
        #expect(core.units.isEmpty)
        #expect(core.counts.refused == cases.count)
    }

    @Test("status, bell state and camera health build the unit's view")
    func unitView() {
        var core = HubCore()
        let status = #"{"schema":"parkguard/status/1","state":"online","site":"north","unit":"gate-1","version":"1.0","bootId":"b","session":7,"time":"t","mono":1,"clockSynced":true}"#
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/status", payload: Array(status.utf8), retained: true, at: start)
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/bell/b1/state",
                        payload: Array(#"{"schema":"parkguard/bell-state/1","bell":"b1","state":"fault","time":"t","mono":1,"clockSynced":true}"#.utf8),
                        retained: true, at: start)
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/camera/c1/health",
                        payload: Array(#"{"schema":"parkguard/camera-health/1","camera":"c1","status":"degraded","reasons":["black"],"time":"t"}"#.utf8),
                        retained: true, at: start)
        let view = core.units[unit]
        #expect(view?.online == true && view?.session == 7 && view?.version == "1.0")
        #expect(view?.bells["b1"] == .fault)
        #expect(view?.cameras["c1"]?.status == .degraded && view?.cameras["c1"]?.reasons == ["black"])
        let offline = status.replacingOccurrences(of: #""online""#, with: #""offline""#).replacingOccurrences(of: "\"clockSynced\":true}", with: "\"clockSynced\":true,\"reason\":\"connection lost\"}")
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/status", payload: Array(offline.utf8), retained: true, at: start)
        #expect(core.units[unit]?.online == false && core.units[unit]?.offlineReason == "connection lost")
    }

    @Test("a unit's location comes with its status and a bell's with its alarm; a location outside the contract is dropped and the alarm kept")
    func locations() {
        var core = HubCore()
        let status = #"{"schema":"parkguard/status/1","state":"online","site":"north","unit":"gate-1","version":"1.0","bootId":"b","session":7,"time":"t","mono":1,"clockSynced":true,"location":{"latitude":37.5665,"longitude":126.978,"description":"north gate"}}"#
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/status", payload: Array(status.utf8), retained: true, at: start)
        #expect(core.units[unit]?.location == Location(latitude: 37.5665, longitude: 126.978, description: "north gate"))
        func raised(_ location: String, id: String, seq: UInt64) -> AlarmRecord? {
            var text = String(decoding: alarm(id: id, seq: seq), as: UTF8.self)
            text.removeLast()
            let actions = core.ingest(topic: alarmTopic, payload: Array((text + ",\"location\":\(location)}").utf8), retained: false, at: start)
            return actions.compactMap { if case .alarmRaised(let record) = $0 { record } else { nil } }.first
        }
        #expect(raised(#"{"description":"beside the toilets"}"#, id: "l1", seq: 1)?.location == Location(description: "beside the toilets"))
        let kept = raised(#"{"latitude":200,"longitude":0}"#, id: "l2", seq: 2)
        #expect(kept != nil && kept?.location == nil, "the alarm is kept, its impossible location dropped")
        #expect(raised(#"{"latitude":1}"#, id: "l3", seq: 3)?.location == nil)
    }

    @Test("an ack seen on cmd/ack and confirmed by the unit acknowledges the bell's alarms on behalf of its sender")
    func ackLifecycle() {
        var core = HubCore()
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 1), retained: false, at: start)
        _ = core.ingest(topic: "parkguard/v1/north/gate-1/cmd/ack",
                        payload: Array(#"{"schema":"parkguard/cmd/1","correlationId":"c-1","bell":"b1","by":"operator anna"}"#.utf8),
                        retained: false, at: start)
        let result = #"{"schema":"parkguard/cmd-result/1","command":"ack","ok":true,"correlationId":"c-1","bell":"b1","state":"acknowledged","time":"t","mono":1,"clockSynced":true}"#
        let actions = core.ingest(topic: "parkguard/v1/north/gate-1/cmd/ack/result", payload: Array(result.utf8), retained: false, at: start)
        #expect(actions.contains(.alarmsAcknowledged(unit: unit, bell: "b1", by: "operator anna", at: start)))
        #expect(actions.contains(.commandAnswered(unit: unit, command: "ack", ok: true, correlationID: "c-1", error: nil)))
        #expect(core.units[unit]?.bells["b1"] == .acknowledged)
        let idle = core.ingest(topic: alarmTopic, payload: alarm(id: "a2", seq: 2, kind: "release", state: "idle"), retained: false, at: start)
        #expect(idle.contains(.alarmsCleared(unit: unit, bell: "b1", at: start)))
    }

    @Test("a refusal quotes a payload's value at most 64 characters long, however long the value")
    func refusalsQuoteShort() {
        var core = HubCore()
        let long = String(repeating: "x", count: 60_000)
        let state = #"{"schema":"parkguard/bell-state/1","bell":"\#(long)","state":"idle","time":"t"}"#
        let actions = core.ingest(topic: "parkguard/v1/north/gate-1/bell/b1/state", payload: Array(state.utf8), retained: false, at: start)
        guard case .refused(let error)? = actions.first else { Issue.record("not refused: \(actions)"); return }
        #expect(error.field == "bell")
        #expect(error.message == "is '\(String(repeating: "x", count: 64))…', not the topic's")
        let schema = #"{"schema":"\#(long)","bell":"b1","state":"idle","time":"t"}"#
        guard case .refused(let schemaError)? = core.ingest(topic: "parkguard/v1/north/gate-1/bell/b1/state", payload: Array(schema.utf8),
                                                           retained: false, at: start).first else { Issue.record("schema not refused"); return }
        #expect(schemaError.field == "schema" && schemaError.description.utf8.count < 200)
    }

    @Test("a payload that is JSON but not an object (a string, a number, an array, null) is refused naming the payload")
    func payloadNotAnObject() {
        var core = HubCore()
        for payload in [#""correlationId""#, "1", "[]", "null", "true"] {
            for topic in [alarmTopic, "parkguard/v1/north/gate-1/cmd/ack/result", "parkguard/v1/north/gate-1/telemetry"] {
                guard case .refused(let error)? = core.ingest(topic: topic, payload: Array(payload.utf8), retained: false, at: start).first else {
                    Issue.record("\(payload) on \(topic) not refused"); continue
                }
                #expect(error.field == "payload" && error.message == "must be a JSON object", "\(payload) on \(topic): \(error)")
            }
        }
    }

    @Test("acks never answered are remembered up to a bound, oldest forgotten first; the latest still names its operator")
    func pendingAcksBounded() {
        var core = HubCore()
        _ = core.ingest(topic: alarmTopic, payload: alarm(id: "a1", seq: 1), retained: false, at: start)
        for index in 0 ... HubCore.maxPendingAcks {
            core.expectAck(correlationID: "c-\(index)", unit: unit, bell: "b1", by: "operator \(index)")
        }
        func answer(_ correlation: String) -> [HubAction] {
            let result = #"{"schema":"parkguard/cmd-result/1","command":"ack","ok":true,"correlationId":"\#(correlation)","bell":"b1","state":"acknowledged","time":"t"}"#
            return core.ingest(topic: "parkguard/v1/north/gate-1/cmd/ack/result", payload: Array(result.utf8), retained: false, at: start)
        }
        #expect(answer("c-0").contains(.alarmsAcknowledged(unit: unit, bell: "b1", by: nil, at: start)), "the oldest was forgotten")
        let latest = "c-\(HubCore.maxPendingAcks)"
        #expect(answer(latest).contains(.alarmsAcknowledged(unit: unit, bell: "b1", by: "operator \(HubCore.maxPendingAcks)", at: start)))
    }
}
