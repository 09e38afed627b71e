import Foundation
import ParkGuardCore

/// The hub's pure core: takes each received message with its arrival time and returns what to
/// do. It keeps the fleet's state (units online with their sessions, bells, cameras), drops
/// alarm duplicates by id, and notices new sessions and `seq` gaps, for which it asks the unit
/// for a rebirth (at most once per `rebirthInterval`). No I/O: the ``Hub`` runs it.
public struct HubCore: Sendable {
    public private(set) var units: [UnitKey: UnitView] = [:]
    /// Figures for the console and the logs.
    public private(set) var counts = Counts()
    private var seenAlarms = RecentIDs(capacity: 200_000)
    private var lastRebirth: [UnitKey: Date] = [:]
    private var lastSelfTestLogged: [UnitKey: Date] = [:]
    /// Who asked for an ack, by correlation id, so the log records the operator. Bounded: acks
    /// never answered (a unit gone for good) are forgotten oldest first.
    private var pendingAcks: [String: (unit: UnitKey, bell: String, by: String)] = [:]
    private var ackOrder = ArrivalRing<String>(capacity: HubCore.maxPendingAcks)
    /// Acks remembered at most; the console sends one per operator click.
    public static let maxPendingAcks = 10_000
    private let rebirthInterval: TimeInterval
    /// Whether a `seq` gap asks for a rebirth. Off for an instance in a shared group: it sees
    /// only its share of each unit's alarms, so every other alarm would look like a gap (and
    /// each rebirth makes the unit resend what awaits a receipt). Receipts cover loss there.
    private let detectGaps: Bool

    public struct Counts: Sendable, Codable, Equatable {
        public var messages = 0
        public var alarms = 0
        public var duplicates = 0
        public var refused = 0
        public var seqGaps = 0
        public var rebirths = 0
    }

    public init(rebirthInterval: TimeInterval = 30, detectGaps: Bool = true) {
        self.rebirthInterval = rebirthInterval
        self.detectGaps = detectGaps
    }

    /// What the alarm log knows (each unit's last session and highest seq), so that after a
    /// restart of the hub a gap is still a gap.
    public mutating func restore(_ watermarks: [UnitKey: SeqWatermark], at now: Date) {
        for (key, mark) in watermarks {
            var view = units[key] ?? UnitView(key: key, online: false, lastSeen: now, bells: [:], cameras: [:])
            view.session = mark.session
            view.lastSeq = max(view.lastSeq ?? 0, mark.seq)
            units[key] = view
        }
    }

    /// The newest self-test of each unit from the log, so the console's list survives a restart
    /// of the hub (and of a broker that forgot its retained reports).
    public mutating func restore(selfTests latest: [UnitKey: SelfTestView], at now: Date) {
        for (key, test) in latest {
            var view = units[key] ?? UnitView(key: key, online: false, lastSeen: now, bells: [:], cameras: [:])
            view.selfTest = test
            units[key] = view
        }
    }

    /// Remembers that `by` asked `unit` to acknowledge `bell` under `correlationID`.
    public mutating func expectAck(correlationID: String, unit: UnitKey, bell: String, by: String) {
        rememberAck(correlationID, unit: unit, bell: bell, by: by)
    }

    private mutating func rememberAck(_ correlationID: String, unit: UnitKey, bell: String, by: String) {
        guard correlationID.utf8.count <= 128 else { return }  // the contract's bound; longer ones are never answered
        if pendingAcks.updateValue((unit, bell, String(by.prefix(64))), forKey: correlationID) != nil { return }
        // If the ack pushed out was answered meanwhile, this removes nothing (or a later ack under
        // the same id, whose operator is then logged as unknown).
        if let oldest = ackOrder.append(correlationID) { pendingAcks.removeValue(forKey: oldest) }
    }

    /// The largest payload the hub reads: far above anything the contract produces (an alarm naming
    /// a dozen cameras is under 2 KiB), so only a broken or hostile publisher reaches it.
    public static let maxPayloadBytes = 64 * 1024
    /// The longest topic the hub reads; contract topics are under 200 bytes.
    public static let maxTopicBytes = 512

    /// The largest picture the hub takes: a unit sends at most `snapshots.maxBytes` (4 MiB at most).
    public static let maxSnapshotBytes = 4 << 20

    /// Checks a picture: a whole JPEG within bounds, whose comment segment names the topic's
    /// alarm, camera and stage and the image's own dimensions.
    private func snapshot(_ key: UnitKey, _ alarmId: String, _ camera: String, _ stage: SnapshotStage, _ payload: [UInt8],
                          topic: String, at now: Date) throws(HubInputError) -> SnapshotRecord {
        guard payload.count <= Self.maxSnapshotBytes else {
            throw HubInputError(topic: topic, field: "payload", "is \(payload.count) bytes; a picture may have at most \(Self.maxSnapshotBytes)")
        }
        let info: JPEGInfo
        do { info = try JPEGInfo.read(payload) } catch { throw HubInputError(topic: topic, field: "payload", "\(error)") }
        let meta: SnapshotMeta
        do { meta = try SnapshotMeta.read(from: payload) } catch { throw HubInputError(topic: topic, field: "payload", error.description) }
        guard meta.alarmId == alarmId, meta.camera == camera, meta.stage == stage else {
            throw HubInputError(topic: topic, field: "payload", "the image's comment names alarm \(quote(meta.alarmId)) camera \(quote(meta.camera)) stage \(meta.stage.rawValue), not the topic's")
        }
        guard meta.width == info.width, meta.height == info.height else {
            throw HubInputError(topic: topic, field: "payload", "the comment says \(meta.width)x\(meta.height), the image is \(info.width)x\(info.height)")
        }
        return SnapshotRecord(unit: key, meta: meta, receivedAt: now, jpeg: payload)
    }

    /// Applies one message; a refusal (``HubAction/refused(_:)``) changes nothing but the counters.
    public mutating func ingest(topic: String, payload: [UInt8], retained: Bool, at now: Date) -> [HubAction] {
        counts.messages += 1
        do {
            return try apply(topic: topic, payload: payload, retained: retained, at: now)
        } catch {
            counts.refused += 1
            return [.refused(error)]
        }
    }

    private mutating func apply(topic: String, payload: [UInt8], retained: Bool, at now: Date) throws(HubInputError) -> [HubAction] {
        guard topic.utf8.count <= Self.maxTopicBytes else {
            throw HubInputError(topic: String(topic.prefix(120)) + "…", field: "topic",
                                "is \(topic.utf8.count) bytes; at most \(Self.maxTopicBytes) are read")
        }
        let (key, kind): (UnitKey, TopicKind)
        switch TopicKind.parse(topic) {
        case .success(let parsed): (key, kind) = parsed
        case .failure(let error): throw error
        }
        if case .snapshot(let alarmId, let camera, let stage) = kind {
            return [.snapshotReceived(try snapshot(key, alarmId, camera, stage, payload, topic: topic, at: now))]
        }
        guard payload.count <= Self.maxPayloadBytes else {
            throw HubInputError(topic: topic, field: "payload", "is \(payload.count) bytes; at most \(Self.maxPayloadBytes) are read")
        }
        let schemas = HubPayload.schemas
        switch kind {
        case .command(let name):
            // An ack sent by any hub instance or operator tool: remember who, for the log.
            if name == "ack", let request = try? HubPayload.decoder.decode(AckRequest.self, from: Data(payload)),
               let correlation = request.correlationId, let bell = request.bell {
                rememberAck(correlation, unit: key, bell: bell, by: request.by ?? "unknown")
            }
            return []
        case .rttProbe, .snapshot:
            return []
        case .status:
            if payload.isEmpty { return [] }  // a cleared retained status
            let status = try HubPayload.decode(HubPayload.Status.self, payload, topic: topic, schema: schemas["status"]!) { $0.schema }
            guard status.site == key.site, status.unit == key.unit else {
                throw HubInputError(topic: topic, field: "unit", "names \(quote(status.site))/\(quote(status.unit)), not the topic's unit")
            }
            guard status.state == "online" || status.state == "offline" else {
                throw HubInputError(topic: topic, field: "state", "must be online or offline")
            }
            var view = view(key, now)
            view.online = status.state == "online"
            view.offlineReason = view.online ? nil : status.reason
            view.version = status.version
            if view.session != status.session { view.lastSeq = nil }
            view.session = status.session
            view.location = status.location?.usable
            view.certificateExpires = status.certificateExpires.flatMap { RFC3339.date($0) != nil ? $0 : nil }
            units[key] = view
            // A unit republishes its retained state at every connect itself; a rebirth is asked
            // only when a new session shows up in a later message (see alarms and telemetry).
            return [.unitChanged(key)]
        case .telemetry:
            let telemetry = try HubPayload.decode(HubPayload.Telemetry.self, payload, topic: topic, schema: schemas["telemetry"]!) { $0.schema }
            var view = view(key, now)
            view.outboxDepth = telemetry.outboxDepth
            view.awaitingReceipt = telemetry.receipts?.awaiting
            view.oldestAwaitingSeconds = telemetry.receipts?.oldestSeconds
            var actions: [HubAction] = []
            if let session = view.session, session != telemetry.session {
                actions.append(contentsOf: rebirth(key, "session \(telemetry.session) seen in telemetry, status said \(session)", now))
            }
            units[key] = view
            // Outbox depth, receipts awaited and last seen changed: the console's row follows.
            actions.append(.unitChanged(key))
            return actions
        case .event:
            let event = try HubPayload.decode(HubPayload.Event.self, payload, topic: topic, schema: schemas["event"]!) { $0.schema }
            _ = view(key, now)
            // A camera's move or missing picture for an alarm belongs to the alarm's incident.
            if let record = CameraEventRecord(unit: key, event: event.event, data: event.data ?? [:], receivedAt: now) {
                return [.cameraEvent(record)]
            }
            return []
        case .alarm(let bell):
            let alarm = try HubPayload.decode(AlarmPayload.self, payload, topic: topic, schema: schemas["alarm"]!) { $0.schema }
            guard alarm.bell == bell, alarm.site == key.site, alarm.unit == key.unit else {
                throw HubInputError(topic: topic, field: "bell", "the payload names \(quote(alarm.site))/\(quote(alarm.unit)) bell \(quote(alarm.bell)), not the topic's")
            }
            guard !alarm.id.isEmpty, alarm.id.utf8.count <= 64 else { throw HubInputError(topic: topic, field: "id", "must be 1 to 64 bytes") }
            let record = AlarmRecord(id: alarm.id, unit: key, bell: bell, kind: alarm.kind, seq: alarm.seq, session: alarm.session,
                                     raisedAt: alarm.time, deliveredAt: now, cameras: alarm.cameras, location: alarm.location?.usable)
            guard seenAlarms.insert(alarm.id) else {
                counts.duplicates += 1
                return [.alarmDuplicate(record)]
            }
            counts.alarms += 1
            var view = view(key, now)
            var actions: [HubAction] = []
            if let session = view.session, session != alarm.session {
                actions += rebirth(key, "new session \(alarm.session) (was \(session))", now)
                view.lastSeq = nil
            }
            if view.session == nil || view.session != alarm.session { view.session = alarm.session }
            if detectGaps, let last = view.lastSeq, alarm.seq > last + 1 {
                counts.seqGaps += 1
                actions += rebirth(key, "seq gap: \(last) then \(alarm.seq)", now)
            }
            view.lastSeq = max(view.lastSeq ?? 0, alarm.seq)
            view.bells[bell] = alarm.state
            units[key] = view
            actions.insert(.alarmRaised(record), at: 0)
            actions.append(.unitChanged(key))
            if alarm.state == .idle { actions.append(.alarmsCleared(unit: key, bell: bell, at: now)) }
            return actions
        case .bellState(let bell):
            if payload.isEmpty { return [] }
            let state = try HubPayload.decode(HubPayload.BellState.self, payload, topic: topic, schema: schemas["bellState"]!) { $0.schema }
            guard state.bell == bell else { throw HubInputError(topic: topic, field: "bell", "is \(quote(state.bell)), not the topic's") }
            var view = view(key, now)
            view.bells[bell] = state.state
            units[key] = view
            var actions: [HubAction] = [.unitChanged(key)]
            if state.state == .idle, !retained { actions.append(.alarmsCleared(unit: key, bell: bell, at: now)) }
            return actions
        case .cameraHealth(let camera):
            if payload.isEmpty { return [] }
            let health = try HubPayload.decode(HubPayload.CameraHealth.self, payload, topic: topic, schema: schemas["cameraHealth"]!) { $0.schema }
            guard health.camera == camera else { throw HubInputError(topic: topic, field: "camera", "is \(quote(health.camera)), not the topic's") }
            var view = view(key, now)
            let since = view.cameras[camera].flatMap { $0.status == health.status ? $0.since : nil } ?? now
            view.cameras[camera] = CameraView(status: health.status, reasons: health.reasons, since: since)
            units[key] = view
            return [.unitChanged(key)]
        case .selfTest:
            if payload.isEmpty { return [] }
            let report = try HubPayload.decode(SelfTestResultPayload.self, payload, topic: topic, schema: schemas["selfTest"]!) { $0.schema }
            guard report.site == key.site, report.unit == key.unit else {
                throw HubInputError(topic: topic, field: "unit", "names \(quote(report.site))/\(quote(report.unit)), not the topic's unit")
            }
            guard RFC3339.date(report.time) != nil else { throw HubInputError(topic: topic, field: "time", "is not an RFC 3339 time") }
            var view = view(key, now)
            let problems = report.problems
            let test = SelfTestView(time: report.time, trigger: String(report.trigger.prefix(16)), passed: report.passed,
                                    problems: problems.prefix(8).map { String($0.prefix(160)) },
                                    nextDue: report.nextDue.flatMap { RFC3339.date($0) != nil ? $0 : nil })
            // The report received last is the unit's latest (the broker retains the newest), whatever
            // its clock says; the one the log already has (retained, replayed at subscribe) is not
            // logged again, and a unit that floods is logged at most once a minute.
            let newer = view.selfTest?.time != test.time
            view.selfTest = test
            let logIt = newer && (lastSelfTestLogged[key].map { now.timeIntervalSince($0) >= 60 } ?? true)
            if logIt { lastSelfTestLogged[key] = now }
            if let certificate = report.certificate, RFC3339.date(certificate.expires) != nil { view.certificateExpires = certificate.expires }
            units[key] = view
            var actions: [HubAction] = [.unitChanged(key)]
            if logIt { actions.append(.selfTestReported(unit: key, report: test)) }
            if !report.passed, !retained {
                actions.append(.selfTestFailed(unit: key, summary: problems.prefix(8).joined(separator: "; ")))
            }
            return actions
        case .commandResult(let command):
            let result = try HubPayload.decode(HubPayload.CommandResult.self, payload, topic: topic, schema: schemas["commandResult"]!) { $0.schema }
            guard result.command == command else { throw HubInputError(topic: topic, field: "command", "is \(quote(result.command)), not the topic's") }
            var actions: [HubAction] = [.commandAnswered(unit: key, command: command, ok: result.ok, correlationID: result.correlationId,
                                                        error: result.error.map { [$0.field, $0.message].compactMap { $0 }.joined(separator: ": ") },
                                                        detail: result.selfTest?.summary)]
            if command == "ack", result.ok, let bell = result.bell {
                let pending = result.correlationId.flatMap { pendingAcks.removeValue(forKey: $0) }
                var view = view(key, now)
                if let state = result.state { view.bells[bell] = state }
                units[key] = view
                actions.append(.alarmsAcknowledged(unit: key, bell: bell, by: pending?.by, at: now))
                actions.append(.unitChanged(key))
            }
            return actions
        }
    }

    /// The unit's view, created on first sight (as offline until its status says otherwise).
    private mutating func view(_ key: UnitKey, _ now: Date) -> UnitView {
        var view = units[key] ?? UnitView(key: key, online: false, lastSeen: now, bells: [:], cameras: [:])
        view.lastSeen = now
        units[key] = view
        return view
    }

    private mutating func rebirth(_ key: UnitKey, _ reason: String, _ now: Date) -> [HubAction] {
        if let last = lastRebirth[key], now.timeIntervalSince(last) < rebirthInterval { return [] }
        lastRebirth[key] = now
        counts.rebirths += 1
        return [.requestRebirth(key, reason: reason)]
    }
}

private struct AckRequest: Decodable {
    var correlationId: String?
    var bell: String?
    var by: String?
}

/// The most recent ids, bounded: old enough ids are forgotten (an alarm resent hours later
/// would be logged twice, which the log's primary key then refuses).
struct RecentIDs: Sendable {
    private var set: Set<String> = []
    private var order: ArrivalRing<String>

    init(capacity: Int) { order = ArrivalRing(capacity: capacity) }

    /// Inserts `id`; false if it was already there.
    mutating func insert(_ id: String) -> Bool {
        guard set.insert(id).inserted else { return false }
        if let oldest = order.append(id) { set.remove(oldest) }
        return true
    }
}

/// Keys in arrival order, at most `capacity`: appending to a full ring pushes out the oldest,
/// which is returned so its owner can forget what it kept under that key.
struct ArrivalRing<Key: Sendable>: Sendable {
    private var keys: [Key] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0, "an ArrivalRing holds at least one key")
        self.capacity = capacity
    }

    mutating func append(_ key: Key) -> Key? {
        guard keys.count == capacity else {
            keys.append(key)
            return nil
        }
        let oldest = keys[head]
        keys[head] = key
        head = (head + 1) % capacity
        return oldest
    }
}
