import Crypto
import Foundation
import HubIngest
import Logging
import MQTTAdapter
import ParkGuardCore
import ServiceLifecycle

/// How a hub instance connects and subscribes.
public struct HubSettings: Sendable {
    public var mqtt: MQTTSettings
    /// MQTT 5 shared-subscription group: hub instances in one group split the stream
    /// (`$share/{group}/parkguard/v1/#`); `nil` receives everything.
    public var sharedGroup: String?
    /// Who this hub signs its commands as (`by` of `ack`, `rebirth`).
    public var operatorName: String
    /// The hub's P-256 key (raw representation) and the name units know it under
    /// (`commands.hubKeys`): receipts and commands are signed with it.
    public var signing: (name: String, rawKey: Data)?
    /// Alarms committed in one transaction at most.
    public var maxBatch: Int
    /// How long the cameras' pictures are kept, and how much of them.
    public var snapshotRetention: SnapshotRetention

    public init(mqtt: MQTTSettings, sharedGroup: String? = nil, operatorName: String = "parkguard-hub",
                signing: (name: String, rawKey: Data)? = nil, maxBatch: Int = 500, snapshotRetention: SnapshotRetention = SnapshotRetention()) {
        self.snapshotRetention = snapshotRetention
        self.mqtt = mqtt
        self.sharedGroup = sharedGroup
        self.operatorName = operatorName
        self.signing = signing
        self.maxBatch = maxBatch
    }

    public var filter: String {
        sharedGroup.map { "$share/\($0)/parkguard/v1/#" } ?? "parkguard/v1/#"
    }
}

/// The reference consumer as a service: subscribes to the fleet's telemetry, runs every
/// message through the ``HubCore``, logs alarms in the ``AlarmLog``, asks units for rebirth, and
/// sends `ack` commands with correlation. Observers (the console) get every change.
///
/// Alarms are committed in batches (group commit): what arrives while one transaction runs
/// goes into the next. Only after a batch is committed does the hub publish the units'
/// receipts for it, duplicates included, so a unit retires an alarm only once it is surely in
/// the log. A failed commit is retried with backoff; until it succeeds nothing is receipted
/// and the units keep (and resend) the alarms.
public actor Hub: Service {
    private let settings: HubSettings
    private let client: MosquittoClient
    private let log: any AlarmLog & SelfTestLog & SnapshotLog & CameraEventLog
    /// Pictures and camera events waiting for the log (see ``enqueue(followUp:)``).
    private var followUps: [FollowUp] = []
    private var followUpBytes = 0
    private var writingFollowUps = false
    private static let maxFollowUps = 512
    private static let maxFollowUpBytes = 64 << 20
    private var lastSnapshotPrune: Date?
    private let logger: Logger
    private var core = HubCore()
    private var watchers: [UUID: AsyncStream<HubUpdate>.Continuation] = [:]
    private var pendingCommands: [String: CheckedContinuation<CommandOutcome, Never>] = [:]
    /// Log work in arrival order: alarms (batched) and the acknowledge/clear updates behind them.
    private var logQueue: [LogWork] = []
    private let logWake: AsyncStream<Void>.Continuation
    private let logWakes: AsyncStream<Void>
    private var committing = false
    private var figures = Figures()
    private let signingKey: (name: String, key: P256.Signing.PrivateKey)?
    /// This instance's name in its receipts: the client id in the characters a receipt allows.
    private let receiptName: String?

    /// A change queued for the log, in order; `isNew` marks an alarm the hub has not shown yet
    /// (a duplicate is committed only to be receipted again).
    private struct LogWork {
        var change: LogChange
        var isNew = false
    }

    /// Ingest and receipt figures.
    public struct Figures: Sendable, Codable, Equatable {
        public var batches = 0
        public var committed = 0
        public var receiptMessages = 0
        public var receiptedIDs = 0
        public var commitFailures = 0
        /// Log work waiting for the committer (alarms of the next batch and updates).
        public var queued = 0
        /// Alarms dropped from the hub's queue while the log was failing (the units resend them).
        public var droppedWhileFailing = 0
        /// Pictures kept in the log, and those that could not be (too many waiting, or the log failed).
        public var snapshotsStored = 0
        public var snapshotsLost = 0
    }

    /// Alarms kept in memory while the log fails; beyond, the oldest go (the units still hold them).
    private let maxQueuedWork = 100_000

    public init(settings: HubSettings, log: any AlarmLog & SelfTestLog & SnapshotLog & CameraEventLog, logger: Logger) throws {
        self.settings = settings
        self.log = log
        self.logger = logger
        core = HubCore(detectGaps: settings.sharedGroup == nil)
        client = try MosquittoClient(settings: settings.mqtt, logger: logger)
        let name = String(settings.mqtt.clientID.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }.prefix(64))
        receiptName = Receipt.isHubName(name) ? name : nil
        signingKey = try settings.signing.map { ($0.name, try P256.Signing.PrivateKey(rawRepresentation: $0.rawKey)) }
        (logWakes, logWake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs on the actor: each message is read from the client's stream and applied without a
    /// hop between executors (the stream's iterator inherits the actor's isolation).
    public func run() async throws {
        await restoreWatermarks()
        await restoreSelfTests()
        client.start()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.commitLoop() }
                for await event in client.events {
                    await handle(event)
                }
                // The connection is closed: commit what was received, receipts cannot go out now
                // (the units resend whatever they did not get one for).
                logWake.finish()
                await group.waitForAll()
            }
        } onGracefulShutdown: { [client] in
            Task { await client.stop() }
        }
    }

    /// Each unit's newest self-test from the log, for the console's list.
    private func restoreSelfTests() async {
        do {
            let latest = try await log.latestSelfTests()
            core.restore(selfTests: latest, at: Date())
        } catch {
            logger.error("cannot read self-test reports from the log; the console lists them as they arrive", metadata: ["error": "\(error)"])
        }
    }

    /// Each unit's last session and seq from the log, so a gap across this hub's restart is seen.
    private func restoreWatermarks() async {
        do {
            let marks = try await log.watermarks()
            core.restore(marks, at: Date())
            if !marks.isEmpty { logger.notice("restored seq watermarks from the alarm log", metadata: ["units": "\(marks.count)"]) }
        } catch {
            logger.error("cannot read seq watermarks from the alarm log; gaps across this restart go unseen", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Group commit

    private nonisolated func commitLoop() async {
        for await _ in logWakes {
            await drainLog()
        }
        await drainLog(final: true)
    }

    /// Commits everything queued, up to `maxBatch` changes a transaction, in arrival order.
    private func drainLog(final: Bool = false) async {
        guard !committing else { return }
        committing = true
        defer { committing = false }
        var failures = 0
        while !logQueue.isEmpty {
            // Alarms, acknowledgements and clears in arrival order, one transaction for them all.
            let work = Array(logQueue.prefix(settings.maxBatch))
            do {
                let counts = try await log.commit(work.map(\.change))
                logQueue.removeFirst(work.count)
                committed(work, counts: counts)
                failures = 0
            } catch {
                failures += 1
                figures.commitFailures += 1
                logger.critical("alarm log failed: nothing is receipted until it works again; retrying", metadata: [
                    "error": "\(String(describing: error).prefix(300))", "queued": "\(logQueue.count)"])
                if failures == 1 {
                    // The operator still sees the alarms (from memory) while the log is down.
                    for work in logQueue.prefix(settings.maxBatch) where work.isNew { if case .alarm(let record) = work.change { broadcast(.alarm(record)) } }
                }
                if final && failures >= 3 { break }
                try? await Task.sleep(for: .milliseconds(min(10_000, 500 << min(failures, 5))))
            }
        }
        figures.queued = logQueue.count
    }

    /// A batch is in the log: show the new alarms, then tell each unit which of its alarms are safe.
    private func committed(_ work: [LogWork], counts: [Int]) {
        var batch: [AlarmRecord] = [], inserted: Set<String> = [], changed = false
        for (item, count) in zip(work, counts) {
            switch item.change {
            case .alarm(let record):
                batch.append(record)
                if count == 1 { inserted.insert(record.id) }
            case .acknowledge(let unit, let bell, let by, _):
                logger.notice("alarms acknowledged", metadata: ["unit": "\(unit)", "bell": "\(bell)", "by": "\(by ?? "?")", "count": "\(count)"])
                changed = true
            case .clear:
                changed = changed || count > 0
            }
        }
        defer { if changed { broadcast(.alarmsChanged) } }
        guard !batch.isEmpty else { return }
        figures.batches += 1
        figures.committed += inserted.count
        var byUnit: [UnitKey: [String]] = [:]
        for record in batch {
            byUnit[record.unit, default: []].append(record.id)
            guard inserted.contains(record.id) else { continue }
            let level: Logger.Level = record.kind.opensAlarm ? .critical : .info
            logger.log(level: level, "alarm \(record.kind.rawValue)", metadata: [
                "unit": "\(record.unit)", "bell": "\(record.bell)", "id": "\(record.id)", "seq": "\(record.seq)"])
            broadcast(.alarm(record))
        }
        for (unit, ids) in byUnit {
            var seen = Set<String>()
            let unique = ids.filter { seen.insert($0).inserted }
            for start in stride(from: 0, to: unique.count, by: Receipt.maxIDs) {
                sendReceipt(Array(unique[start ..< min(unique.count, start + Receipt.maxIDs)]), to: unit)
            }
        }
    }


    private func sendReceipt(_ ids: [String], to unit: UnitKey) {
        let receipt = Receipt(ids: ids, hub: receiptName)
        let payload = signed(receipt.payload(time: WallTime(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)).rfc3339),
                             command: "receipt", unit: unit)
        do {
            try client.publish(topic: unit.topics.receipt, payload: payload, qos: 1, retain: false)
            figures.receiptMessages += 1
            figures.receiptedIDs += ids.count
        } catch {
            // Not sent: the unit keeps the alarms and sends them again; the next copy is receipted.
            logger.error("cannot send a receipt", metadata: ["unit": "\(unit)", "ids": "\(ids.count)", "error": "\(error)"])
        }
    }

    /// The signed envelope of `payload` for `command` to `unit`, or `payload` itself without a key.
    private func signed(_ payload: [UInt8], command: String, unit: UnitKey) -> [UInt8] {
        guard let signing = signingKey else { return payload }
        let inner = SignedCommand.innerJSON(unit: unit.description, command: command,
                                            timestamp: Int64(Date().timeIntervalSince1970 * 1000), payload: String(decoding: payload, as: UTF8.self))
        guard let signature = try? signing.key.signature(for: inner) else { return payload }
        return Array(SignedCommand.envelope(hub: signing.name, signed: inner, signature: Array(signature.derRepresentation)).utf8)
    }

    private func enqueue(_ work: LogWork) {
        // The batch being committed is the queue's first `maxBatch` items: never drop from it.
        if logQueue.count >= maxQueuedWork,
           let index = logQueue.indices.dropFirst(settings.maxBatch).first(where: { if case .alarm = logQueue[$0].change { true } else { false } }) {
            logQueue.remove(at: index)
            figures.droppedWhileFailing += 1
        }
        logQueue.append(work)
        figures.queued = logQueue.count
        logWake.yield()
    }

    /// Ingest and receipt figures so far.
    public var ingestFigures: Figures { figures }

    private func handle(_ event: MQTTEvent) async {
        switch event {
        case .connected(0, _):
            logger.notice("connected to broker", metadata: ["filter": "\(settings.filter)"])
            do { try client.subscribe(settings.filter, qos: 1) } catch {
                logger.error("cannot subscribe", metadata: ["filter": "\(settings.filter)", "error": "\(error)"])
            }
        case .connected(_, let text):
            logger.error("broker refused the connection", metadata: ["reason": "\(text)"])
        case .subscribed(_, let granted) where granted.contains { $0 >= 0x80 }:
            logger.critical("broker refused the subscription: this hub receives nothing", metadata: ["filter": "\(settings.filter)"])
        case .disconnected(let reason, let text) where reason != 0:
            logger.warning("disconnected from broker", metadata: ["reason": "\(text)"])
        case .connectFailed(let error, let retry):
            logger.warning("cannot reach broker", metadata: ["error": "\(error)", "retryIn": "\(retry)"])
        case .message(let message):
            await ingest(message)
        default:
            break
        }
    }

    private func ingest(_ message: MQTTMessage) async {
        let now = Date()
        for action in core.ingest(topic: message.topic, payload: message.payload, retained: message.retained, at: now) {
            await perform(action)
        }
    }

    private func perform(_ action: HubAction) async {
        switch action {
            case .alarmRaised(let alarm):
                enqueue(LogWork(change: .alarm(alarm), isNew: true))
            case .alarmDuplicate(let alarm):
                // Receipted again once surely in the log (the unit did not get the first receipt).
                enqueue(LogWork(change: .alarm(alarm)))
            case .alarmsAcknowledged(let unit, let bell, let by, let at):
                enqueue(LogWork(change: .acknowledge(unit: unit, bell: bell, by: by, at: at)))
            case .alarmsCleared(let unit, let bell, let at):
                enqueue(LogWork(change: .clear(unit: unit, bell: bell, at: at)))
            case .requestRebirth(let unit, let reason):
                logger.notice("asking for rebirth", metadata: ["unit": "\(unit)", "reason": "\(reason)"])
                _ = sendCommand(.rebirth, to: unit, bell: nil)
            case .unitChanged(let unit):
                if let view = core.units[unit] { broadcast(.unit(view)) }
            case .commandAnswered(let unit, let command, let ok, let correlation, let error, let detail):
                if let correlation, let waiter = pendingCommands.removeValue(forKey: correlation) {
                    waiter.resume(returning: CommandOutcome(ok: ok, error: error, detail: detail))
                }
                if !ok { logger.warning("command refused by unit", metadata: ["unit": "\(unit)", "command": "\(command)", "error": "\(error ?? "")"]) }
            case .selfTestFailed(let unit, let summary):
                logger.warning("unit self-test failed", metadata: ["unit": "\(unit)", "problems": "\(summary.prefix(600))"])
            case .selfTestReported(let unit, let report):
                // Off the ingest path: a report is weekly per unit, and the console's list does
                // not wait for the disk.
                Task { [log, logger] in
                    do { try await log.record(selfTest: report, of: unit, receivedAt: Date()) } catch {
                        logger.error("cannot keep a self-test report in the log", metadata: ["unit": "\(unit)", "error": "\(error)"])
                    }
                }
            case .snapshotReceived(let snapshot):
                enqueue(followUp: .snapshot(snapshot))
            case .cameraEvent(let event):
                enqueue(followUp: .cameraEvent(event))
            case .refused(let error):
                logger.warning("message refused: outside the contract", metadata: ["topic": "\(error.topic.prefix(200))", "field": "\(error.field)", "error": "\(error.message)"])
        }
    }

    // MARK: Pictures and camera events

    /// What an alarm's cameras sent, waiting for the log: pictures and camera events.
    private enum FollowUp {
        case snapshot(SnapshotRecord)
        case cameraEvent(CameraEventRecord)

        var bytes: Int {
            switch self {
            case .snapshot(let snapshot): snapshot.jpeg.count
            case .cameraEvent: 256
            }
        }
    }

    /// Written one at a time, off the ingest path: an alarm's commit never waits behind more
    /// than one picture in the log, and no picture waits for an alarm. Bounded in count and bytes.
    private func enqueue(followUp item: FollowUp) {
        guard followUps.count < Self.maxFollowUps, followUpBytes + item.bytes <= Self.maxFollowUpBytes else {
            if case .snapshot(let snapshot) = item {
                figures.snapshotsLost += 1
                logger.warning("picture dropped: too many waiting for the log", metadata: [
                    "unit": "\(snapshot.unit)", "alarm": "\(snapshot.meta.alarmId)", "camera": "\(snapshot.meta.camera)"])
            }
            return
        }
        followUps.append(item)
        followUpBytes += item.bytes
        guard !writingFollowUps else { return }
        writingFollowUps = true
        Task { await self.writeFollowUps() }
    }

    private func writeFollowUps() async {
        while !followUps.isEmpty {
            let item = followUps.removeFirst()
            followUpBytes -= item.bytes
            var changed = false
            switch item {
            case .snapshot(let snapshot):
                do {
                    if try await log.store(snapshot: snapshot) {
                        figures.snapshotsStored += 1
                        changed = true
                    }
                } catch {
                    figures.snapshotsLost += 1
                    logger.error("cannot keep a picture in the log", metadata: ["unit": "\(snapshot.unit)", "alarm": "\(snapshot.meta.alarmId)",
                                                                               "error": "\(String(describing: error).prefix(300))"])
                }
                await pruneSnapshotsIfDue()
            case .cameraEvent(let event):
                do { changed = try await log.record(cameraEvent: event) } catch {
                    logger.error("cannot keep a camera event in the log", metadata: ["unit": "\(event.unit)", "alarm": "\(event.alarmId)",
                                                                                    "error": "\(String(describing: error).prefix(300))"])
                }
            }
            // The console's card shows it once it is in the log.
            if changed { broadcast(.alarmsChanged) }
        }
        writingFollowUps = false
    }

    /// Deletes pictures past their retention, at most once a minute.
    private func pruneSnapshotsIfDue() async {
        let now = Date()
        if let last = lastSnapshotPrune, now.timeIntervalSince(last) < 60 { return }
        lastSnapshotPrune = now
        let retention = settings.snapshotRetention
        do {
            let pruned = try await log.pruneSnapshots(receivedBefore: now.addingTimeInterval(-Double(retention.maxAge.components.seconds)),
                                                      maxBytes: retention.maxBytes)
            if pruned > 0 { logger.notice("pictures past their retention deleted", metadata: ["count": "\(pruned)"]) }
        } catch {
            logger.error("cannot prune old pictures", metadata: ["error": "\(String(describing: error).prefix(300))"])
        }
    }

    // MARK: Commands

    /// The answer a unit gave to a command (or why there was none).
    public struct CommandOutcome: Sendable, Codable, Equatable {
        public var ok: Bool
        public var error: String?
        /// What the answer reports besides (a self-test's findings).
        public var detail: String?
        public init(ok: Bool, error: String?, detail: String? = nil) {
            self.ok = ok
            self.error = error
            self.detail = detail
        }
    }

    /// Sends `ack` for `bell` of `unit` on behalf of `by`, and waits for the unit's answer.
    public func acknowledge(unit: UnitKey, bell: String, by: String, timeout: Duration = .seconds(10)) async -> CommandOutcome {
        guard let correlation = sendCommand(.ack, to: unit, bell: bell, by: by) else {
            return CommandOutcome(ok: false, error: "the hub could not publish the command")
        }
        core.expectAck(correlationID: correlation, unit: unit, bell: bell, by: by)
        return await waitForAnswer(correlation, timeout: timeout)
    }

    /// Sends `silence` (of `bell`, or of every bell) or `test` to `unit` on behalf of `by`, signed
    /// where the hub has a key, and waits for the unit's answer.
    public func command(_ name: Command.Name, to unit: UnitKey, bell: String? = nil, by: String, timeout: Duration = .seconds(10)) async -> CommandOutcome {
        precondition(name == .silence || name == .test, "ack goes through acknowledge(unit:bell:by:), rebirth is the hub's own")
        guard let correlation = sendCommand(name, to: unit, bell: bell, by: by) else {
            return CommandOutcome(ok: false, error: "the hub could not publish the command")
        }
        return await waitForAnswer(correlation, timeout: timeout)
    }

    /// Records in the log that `by` acknowledged the bell's open incident and alarms: the
    /// operator's word counts whether or not the unit answers the `ack` command (a unit that went
    /// offline after the press still has a call an operator must be able to take and close).
    public func recordAcknowledgement(unit: UnitKey, bell: String, by: String) {
        enqueue(LogWork(change: .acknowledge(unit: unit, bell: bell, by: by, at: Date())))
    }

    /// Tells the watchers that incidents changed outside the ingest path (an operator resolved one).
    public func incidentsChanged() { broadcast(.alarmsChanged) }

    private func waitForAnswer(_ correlation: String, timeout: Duration) async -> CommandOutcome {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(correlation)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { pendingCommands[correlation] = $0 }
    }

    private func expire(_ correlation: String) {
        pendingCommands.removeValue(forKey: correlation)?.resume(returning: CommandOutcome(ok: false, error: "no answer from the unit within the timeout"))
    }

    private func sendCommand(_ name: Command.Name, to unit: UnitKey, bell: String?, by: String? = nil) -> String? {
        let correlation = UUID().uuidString.lowercased()
        var body: [String: String] = ["schema": "parkguard/cmd/1", "correlationId": correlation, "by": by ?? settings.operatorName]
        if let bell { body["bell"] = bell }
        let payload = signed((try? JSONEncoder().encode(body)).map { [UInt8]($0) } ?? [], command: name.rawValue, unit: unit)
        do {
            try client.publish(topic: "\(unit.topics.root)/cmd/\(name.rawValue)", payload: payload, qos: 1, retain: false,
                               correlationData: Array(correlation.utf8))
            return correlation
        } catch {
            logger.error("cannot send command", metadata: ["unit": "\(unit)", "command": "\(name.rawValue)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: Observers

    /// A change the console shows.
    public enum HubUpdate: Sendable {
        case unit(UnitView)
        case alarm(AlarmRecord)
        /// Alarms or incidents were acknowledged, cleared or resolved.
        case alarmsChanged
    }

    /// Every unit as it is now, and every change from now on: taken together on the actor, so no
    /// change falls between the two.
    public func watch() -> (units: [UnitView], updates: AsyncStream<HubUpdate>) {
        (units, updates())
    }

    /// Every change from now on.
    public func updates() -> AsyncStream<HubUpdate> {
        let (stream, continuation) = AsyncStream.makeStream(of: HubUpdate.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = UUID()
        watchers[id] = continuation
        continuation.onTermination = { [weak self] _ in Task { await self?.unwatch(id) } }
        return stream
    }

    private func unwatch(_ id: UUID) { watchers[id] = nil }

    private func broadcast(_ update: HubUpdate) {
        for watcher in watchers.values { watcher.yield(update) }
    }

    public var units: [UnitView] { core.units.values.sorted { $0.key < $1.key } }
    /// Whether `unit` has reported to this hub.
    public func knows(_ unit: UnitKey) -> Bool { core.units[unit] != nil }
    public var counts: HubCore.Counts { core.counts }
    public func openAlarms() async throws -> [AlarmRecord] { try await log.openAlarms(limit: 500) }
}
