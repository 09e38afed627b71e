import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore

/// One message for the broker.
public struct Outgoing: Sendable {
    /// What the message is, which decides how it is queued when the broker is away.
    public enum Class: Sendable, Equatable {
        /// Never dropped while memory allows; first in line after a reconnect.
        case alarm
        /// A command's answer.
        case result
        /// Agent lifecycle event.
        case event
        /// Retained state: not queued while offline, because the snapshot published at every
        /// connect supersedes it (a stale queued state must not overwrite a newer one).
        case retainedState
        /// QoS 0 heartbeat: dropped (and counted) while offline.
        case telemetry
    }
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int32
    public var retain: Bool
    public var correlationData: [UInt8]?
    public var kind: Class
    /// The alarm id, for logs and receipts.
    public var alarmID: String?
    /// The alarm's seq and bell, for the receipt notices (nil for a message read back from the
    /// outbox: then read from its payload once).
    public var alarmSeq: UInt64?
    public var alarmBell: String?
    /// The record in the durable outbox, once persisted.
    public var outboxID: UInt64?

    public init(topic: String, payload: [UInt8], qos: Int32, retain: Bool, kind: Class,
                correlationData: [UInt8]? = nil, alarmID: String? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.kind = kind
        self.correlationData = correlationData
        self.alarmID = alarmID
    }

    /// Encodes `value` as the payload.
    public static func json<T: Encodable>(_ value: T, topic: String, qos: Int32, retain: Bool, kind: Class,
                                          correlationData: [UInt8]? = nil, alarmID: String? = nil) -> Outgoing {
        Outgoing(topic: topic, payload: PayloadEncoder.encode(value), qos: qos, retain: retain, kind: kind,
                 correlationData: correlationData, alarmID: alarmID)
    }
}

extension Outgoing.Class {
    /// The class code stored in outbox records; `nil` for classes that are never persisted.
    var outboxCode: UInt8? {
        switch self {
        case .alarm: 0
        case .result: 1
        case .event: 2
        case .telemetry: 3
        case .retainedState: nil
        }
    }

    init?(outboxCode: UInt8) {
        switch outboxCode {
        case 0: self = .alarm
        case 1: self = .result
        case 2: self = .event
        case 3: self = .telemetry
        default: return nil
        }
    }
}

extension Outgoing {
    /// The outbox record of this message.
    var outboxMessage: OutboxFormat.Message? {
        kind.outboxCode.map {
            OutboxFormat.Message(kind: $0, qos: UInt8(qos), retain: retain, topic: topic, correlationData: correlationData,
                                 alarmID: alarmID, payload: payload)
        }
    }

    /// A message read back from the outbox.
    init?(id: UInt64, restoring message: OutboxFormat.Message) {
        guard let kind = Class(outboxCode: message.kind) else { return nil }
        self.init(topic: message.topic, payload: message.payload, qos: Int32(message.qos), retain: message.retain, kind: kind,
                  correlationData: message.correlationData, alarmID: message.alarmID)
        outboxID = id
    }
}

/// Shared JSON encoding of every payload.
enum PayloadEncoder {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // Every payload type is a plain struct of strings, numbers and arrays: encoding cannot fail.
        return (try? encoder.encode(value)).map { [UInt8]($0) } ?? Array("{}".utf8)
    }
}

/// Something about receipts the agent announces on `event`.
public struct ReceiptNotice: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Waited longer than `delivery.receiptOverdue`.
        case overdue
        /// Receipted after having been announced overdue.
        case received
    }
    public var kind: Kind
    public var alarmID: String
    public var seq: UInt64?
    public var bell: String?
    public var waited: Duration
}

/// Owns the queue in front of libmosquitto: decides what is handed to the library and when,
/// tracks every QoS 1 message until its PUBACK, and every alarm until the hub's receipt, and
/// counts every drop.
///
/// libmosquitto would accept publishes while disconnected and keep them in unbounded memory;
/// this actor never hands it a message while the link is down, so the queue and its bounds are
/// ours. Everything that must survive a crash is also in the durable ``Outbox``: other messages
/// until their PUBACK, alarms (with `delivery.retireOn: receipt`, the default) until the hub's
/// receipt says they are committed in its log. The PUBACK only moves an alarm from in flight to
/// awaiting its receipt; it is published again — same id, same seq — after a timeout that
/// doubles per attempt, after every reconnect and on `rebirth`.
public actor Publisher {
    private let client: MosquittoClient
    private let topics: Topics
    private let logger: Logger
    private let maxInflight: Int
    private let maxQueued: Int
    private let maxBytes: Int
    private let outbox: Outbox?
    private let protocolName: String
    private var connected = false
    private var alarms: [Outgoing] = []
    private var others: [Outgoing] = []
    private var inflight: [Int32: Outgoing] = [:]
    /// Alarms the broker acknowledged that await the hub's receipt, by alarm id.
    private var awaiting: [String: Outgoing] = [:]
    /// Every alarm from its first hand-over until its receipt, by alarm id.
    private var tracks: [String: Track] = [:]
    private let delivery: DeliveryConfig
    private var receipts: TelemetryPayload.Receipts
    private var drops = TelemetryPayload.Drops()
    private var reconnects: UInt64 = 0
    private var everConnected = false
    private var probe: (mid: Int32, sent: MonotonicInstant)?
    private var lastRTT: Duration?
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let clock: any AgentClock
    /// Called at every CONNACK for what must be (re)published first: status and retained states;
    /// given the number of alarms awaiting a receipt (the status carries it).
    private var onConnect: (@Sendable (Int) async -> [Outgoing])?

    /// What the publisher knows of one alarm until its receipt.
    private struct Track {
        var firstSent: MonotonicInstant
        var attempts = 0
        /// When to publish it again if no receipt has come (set at its PUBACK).
        var due: MonotonicInstant?
        var overdueAnnounced = false
        /// The receipt came before the PUBACK (the alarm was sent again meanwhile).
        var receipted = false
        var seq: UInt64?
        var bell: String?
    }

    public init(client: MosquittoClient, topics: Topics, clock: any AgentClock, maxInflight: Int, maxQueued: Int,
                maxBytes: Int, outbox: Outbox?, protocolName: String, delivery: DeliveryConfig = DeliveryConfig(), logger: Logger) {
        self.client = client
        self.delivery = delivery
        receipts = TelemetryPayload.Receipts(mode: delivery.retireOn.rawValue)
        self.maxBytes = maxBytes
        self.outbox = outbox
        self.topics = topics
        self.clock = clock
        self.maxInflight = maxInflight
        self.maxQueued = maxQueued
        self.protocolName = protocolName
        self.logger = logger
    }

    /// Sets the provider of the connect-time snapshot.
    public func setOnConnect(_ provider: @escaping @Sendable (Int) async -> [Outgoing]) {
        onConnect = provider
    }

    /// Messages recovered from the outbox at start: they go out first, in their original order.
    public func restore(_ messages: [Outgoing]) {
        alarms.append(contentsOf: messages.filter { $0.kind == .alarm })
        others.append(contentsOf: messages.filter { $0.kind != .alarm })
        enforceBounds()
    }

    /// Sends now if the link is up and the in-flight window has room, else queues. Alarms,
    /// events and results (and telemetry while offline) are appended to the outbox first; the
    /// append does not wait for the disk.
    public func send(_ message: Outgoing) {
        var message = message
        switch message.kind {
        case .telemetry where connected:
            handOver(message)
            return
        case .retainedState:
            if connected { others.insert(message, at: 0) }
            pump()
            return
        case .telemetry:
            // Offline heartbeats are kept, coalesced to a bounded share of the queue, and drained
            // at QoS 1: retired only by a PUBACK, and not subject to a broker dropping QoS 0
            // toward a subscriber whose window is full while the backlog floods it.
            message.qos = 1
            let queuedTelemetry = others.filter { $0.kind == .telemetry }.count
            if queuedTelemetry >= max(1, maxQueued / 4), let oldest = others.firstIndex(where: { $0.kind == .telemetry }) {
                drop(at: oldest, reason: "telemetry coalesced")
            }
        case .alarm, .event, .result:
            break
        }
        // Out first, then to disk: the write does not delay the publish, and the alarm is in the
        // file (page cache) before anyone logs it as raised.
        let record = message.outboxMessage
        if let outbox, record != nil { message.outboxID = outbox.reserveID() }
        if message.kind == .alarm { alarms.append(message) } else { others.append(message) }
        pump()
        if let outbox, let record, let id = message.outboxID { outbox.append(record, id: id, now: message.kind == .alarm) }
        enforceBounds()
    }

    /// Keeps the queue within its count and byte bounds: telemetry goes first, then events and
    /// results, alarms last; every drop is counted (and announced by the heartbeat).
    private func enforceBounds() {
        func over() -> Bool {
            let count = alarms.count + others.count + inflight.count + awaiting.count
            let bytes = (alarms + others + Array(awaiting.values)).reduce(0) { $0 + $1.payload.count + $1.topic.utf8.count }
            return count > maxQueued || bytes > maxBytes
        }
        while over() {
            if let index = others.firstIndex(where: { $0.kind == .telemetry }) {
                drop(at: index, reason: "queue full")
            } else if let index = others.firstIndex(where: { $0.kind != .alarm }) {
                drop(at: index, reason: "queue full")
            } else if let oldest = inOutboxOrder(awaiting.values).first ?? alarms.first {
                // The oldest alarm goes: one the broker has (awaiting its receipt) before one it has not.
                if let id = oldest.alarmID, awaiting.removeValue(forKey: id) != nil {} else { alarms.removeFirst() }
                if let id = oldest.alarmID { tracks[id] = nil }
                drops.queueFull += 1
                if let id = oldest.outboxID { outbox?.done(id) }
                logger.critical("queue full of alarms: dropped the oldest", metadata: ["id": "\(oldest.alarmID ?? "?")"])
            } else {
                break
            }
        }
    }

    private func drop(at index: Int, reason: String) {
        let dropped = others.remove(at: index)
        if dropped.kind == .telemetry { drops.telemetryCoalesced += 1 } else { drops.queueFull += 1 }
        if let id = dropped.outboxID { outbox?.done(id) }
        logger.warning("dropped a queued message", metadata: ["topic": "\(dropped.topic)", "reason": "\(reason)"])
    }

    /// Hands queued messages to libmosquitto while connected and the window allows: alarms first.
    /// Waiters (shutdown) are released once nothing is queued or in flight; alarms awaiting a
    /// receipt stay in the outbox and do not hold a shutdown.
    private func pump() {
        while connected, inflight.count < maxInflight {
            let message: Outgoing
            if !alarms.isEmpty { message = alarms.removeFirst() }
            else if !others.isEmpty { message = others.removeFirst() }
            else { break }
            handOver(message)
        }
        if alarms.isEmpty, others.isEmpty, inflight.isEmpty {
            let ready = waiters
            waiters = []
            for waiter in ready { waiter.resume() }
        }
    }

    private func handOver(_ message: Outgoing) {
        do {
            let mid = try client.publish(topic: message.topic, payload: message.payload, qos: message.qos,
                                         retain: message.retain, correlationData: message.correlationData)
            if message.qos > 0 {
                inflight[mid] = message
                if message.kind == .alarm, delivery.retireOn == .receipt, let id = message.alarmID, tracks[id] == nil {
                    let header = message.alarmSeq == nil ? Self.header(of: message) : nil
                    tracks[id] = Track(firstSent: clock.now(), seq: message.alarmSeq ?? header?.seq, bell: message.alarmBell ?? header?.bell)
                }
            } else if let id = message.outboxID {
                outbox?.done(id)
            }
        } catch {
            // Refused outright (never queued by the library): keep alarms, count the rest.
            // Refused outright by the library (not queued): a malformed message will never go out,
            // so it is counted and reported rather than retried forever.
            drops.rejectedByBroker += 1
            if let id = message.outboxID { outbox?.done(id) }
            logger.log(level: message.kind == .alarm ? .critical : .error, "publish refused by libmosquitto",
                       metadata: ["topic": "\(message.topic)", "error": "\(error)", "id": "\(message.alarmID ?? "-")"])
        }
    }

    /// Feeds one event from the connection; returns the command messages to dispatch.
    public func handle(_ event: MQTTEvent) async -> MQTTMessage? {
        switch event {
        case .connected(let reason, let text):
            guard reason == 0 else {
                logger.error("broker refused the connection", metadata: ["reason": "\(text)"])
                return nil
            }
            if everConnected { reconnects += 1 }
            everConnected = true
            logger.notice("connected to broker", metadata: ["inflight": "\(inflight.count)", "queued": "\(alarms.count + others.count)"])
            do { try client.subscribe(topics.commandFilter, qos: 1) } catch {
                logger.error("cannot subscribe to commands", metadata: ["error": "\(error)"])
            }
            let snapshot = await onConnect?(awaiting.count) ?? []
            connected = true
            // Whatever was handed over but not acknowledged before the link dropped is sent again
            // under a new message id: libmosquitto may resend it too, and a duplicate is allowed
            // (the hub de-duplicates by id) where a loss is not. Alarms awaiting a receipt go
            // again too: the broker may have lost them (a restart without persistence), or the
            // hub's queue may have.
            let unacknowledged = inflight.sorted { $0.key < $1.key }.map(\.value)
            inflight = [:]
            alarms.insert(contentsOf: unacknowledged.filter { $0.kind == .alarm }, at: 0)
            requeueAwaiting()
            others.insert(contentsOf: unacknowledged.filter { $0.kind != .alarm && $0.kind != .retainedState }, at: 0)
            // Status and retained states go ahead of the backlog; the backlog keeps its order.
            others.insert(contentsOf: snapshot, at: 0)
            pump()
        case .disconnected(let reason, let text):
            if connected {
                // Code 0 is our own DISCONNECT at shutdown, not a fault.
                logger.log(level: reason == 0 ? .notice : .warning, "disconnected from broker",
                           metadata: ["reason": "\(text)", "code": "\(reason)"])
            }
            connected = false
        case .connectFailed(let error, let retryIn):
            logger.warning("cannot reach broker", metadata: ["error": "\(error)", "retryIn": "\(retryIn)"])
        case .published(let mid, let reason):
            if let probe, probe.mid == mid {
                lastRTT = probe.sent.duration(to: clock.now())
                self.probe = nil
            } else if let message = inflight.removeValue(forKey: mid) {
                if reason < 0x80, message.kind == .alarm, delivery.retireOn == .receipt, let id = message.alarmID, var track = tracks[id] {
                    if track.receipted {
                        retire(message, id: id)
                    } else {
                        // At the broker; the outbox keeps it until the hub's receipt.
                        track.attempts += 1
                        track.due = clock.now() + receiptWait(attempt: track.attempts)
                        tracks[id] = track
                        awaiting[id] = message
                    }
                } else {
                    if let id = message.outboxID { outbox?.done(id) }
                    if let id = message.alarmID { tracks[id] = nil }
                    if reason >= 0x80 { rejected(message, reason: reason) }
                }
            }
            pump()
        case .subscribed(_, let granted):
            if granted.contains(where: { $0 >= 0x80 }) {
                logger.error("broker refused the command subscription", metadata: ["granted": "\(granted)"])
            }
        case .message(let message):
            return message
        case .closed:
            connected = false
        }
        return nil
    }

    /// A PUBACK with a failure reason (≥ 0x80): the broker will never take this message (ACL,
    /// quota, payload format); retrying is pointless, so it is counted and reported.
    private func rejected(_ message: Outgoing, reason: Int32) {
        drops.rejectedByBroker += 1
        logger.error("broker rejected a message", metadata: ["topic": "\(message.topic)", "reason": "\(reason)",
                                                             "id": "\(message.alarmID ?? "-")"])
    }

    // MARK: Receipts

    /// The wait after the `attempt`-th PUBACK: the timeout doubling per attempt, capped.
    private func receiptWait(attempt: Int) -> Duration {
        var wait = delivery.receiptTimeout
        for _ in 1 ..< max(1, min(attempt, 20)) where wait < delivery.receiptTimeoutMax { wait = wait * 2 }
        return min(wait, delivery.receiptTimeoutMax)
    }

    /// The hub's receipt for `ids`: each alarm it names leaves the outbox, wherever it is now
    /// (awaiting, queued to go again, or in flight again). Returns what to announce.
    public func receipt(_ ids: [String]) -> [ReceiptNotice] {
        receipts.received += 1
        var notices: [ReceiptNotice] = []
        let now = clock.now()
        var unknown = 0
        for id in ids {
            guard var track = tracks[id] else { unknown += 1; continue }
            if track.overdueAnnounced {
                notices.append(ReceiptNotice(kind: .received, alarmID: id, seq: track.seq, bell: track.bell, waited: track.firstSent.duration(to: now)))
            }
            if let message = awaiting.removeValue(forKey: id) {
                retire(message, id: id)
            } else if let index = alarms.firstIndex(where: { $0.alarmID == id }) {
                retire(alarms.remove(at: index), id: id)
            } else {
                // In flight again: its PUBACK retires it.
                track.receipted = true
                tracks[id] = track
            }
        }
        if unknown > 0 {
            receipts.unknownIds += UInt64(unknown)
            logger.warning("receipt names alarms this unit is not waiting for (already receipted, or never sent): ignored",
                           metadata: ["topic": "\(topics.command("receipt"))", "field": "ids", "count": "\(unknown)"])
        }
        if awaiting.isEmpty, alarms.isEmpty, others.isEmpty, inflight.isEmpty { pump() }
        return notices
    }

    /// A receipt that failed validation (counted; the caller answers it).
    public func receiptRefused() { receipts.refused += 1 }

    private func retire(_ message: Outgoing, id: String) {
        if let outboxID = message.outboxID { outbox?.done(outboxID) }
        tracks[id] = nil
    }

    /// Publishes again every alarm whose receipt is overdue by its timeout; reports alarms that
    /// have waited past `delivery.receiptOverdue`. Called about once a second.
    public func tickReceipts() -> [ReceiptNotice] {
        guard delivery.retireOn == .receipt, !tracks.isEmpty else { return [] }
        let now = clock.now()
        var notices: [ReceiptNotice] = []
        for (id, track) in tracks where !track.overdueAnnounced && track.firstSent.duration(to: now) > delivery.receiptOverdue {
            tracks[id]?.overdueAnnounced = true
            notices.append(ReceiptNotice(kind: .overdue, alarmID: id, seq: track.seq, bell: track.bell, waited: track.firstSent.duration(to: now)))
        }
        guard connected else { return notices }
        let due = inOutboxOrder(awaiting.filter { tracks[$0.key]?.due.map { $0 <= now } ?? true }.values)
        if !due.isEmpty {
            for message in due { if let id = message.alarmID { awaiting[id] = nil } }
            logger.notice("publishing alarms again: no receipt yet", metadata: ["count": "\(due.count)"])
            alarms.append(contentsOf: due)
            pump()
        }
        return notices
    }

    /// The hub asked for `rebirth`: every alarm awaiting a receipt goes again now.
    public func resendAwaiting() {
        requeueAwaiting()
        pump()
    }

    private func requeueAwaiting() {
        guard !awaiting.isEmpty else { return }
        let waiting = inOutboxOrder(awaiting.values)
        awaiting = [:]
        let queued = Set(alarms.compactMap(\.alarmID))
        alarms.insert(contentsOf: waiting.filter { !queued.contains($0.alarmID ?? "") }, at: 0)
    }

    /// `messages` in the order they were appended to the outbox (oldest first).
    private func inOutboxOrder(_ messages: some Sequence<Outgoing>) -> [Outgoing] {
        messages.sorted { ($0.outboxID ?? 0) < ($1.outboxID ?? 0) }
    }

    /// Alarms at the broker awaiting the hub's receipt.
    public var awaitingReceipt: Int { awaiting.count }

    /// Every alarm not yet receipted (with `retireOn: puback`, not yet acknowledged by the
    /// broker): queued, in flight, or awaiting its receipt.
    public var alarmsOutstanding: Int {
        alarms.count + inflight.values.filter { $0.kind == .alarm }.count + awaiting.count
    }

    private static func header(of message: Outgoing) -> AlarmHeader? {
        try? JSONDecoder().decode(AlarmHeader.self, from: Data(message.payload))
    }

    private struct AlarmHeader: Decodable {
        var seq: UInt64
        var bell: String
    }

    /// Publishes an empty QoS 1 message to the round-trip probe topic; its PUBACK times the broker.
    public func probeRoundTrip() {
        guard connected, probe == nil else { return }
        if let mid = try? client.publish(topic: topics.rttProbe, payload: [], qos: 1, retain: false) {
            probe = (mid, clock.now())
        }
    }

    /// Figures for telemetry.
    public func figures() -> (depth: Int, bytes: Int, drops: TelemetryPayload.Drops, rtt: Duration?, link: TelemetryPayload.Link,
                              receipts: TelemetryPayload.Receipts) {
        let queued = alarms + others + Array(inflight.values) + Array(awaiting.values)
        var receipts = self.receipts
        receipts.awaiting = awaiting.count
        let now = clock.now()
        receipts.oldestSeconds = awaiting.keys.compactMap { tracks[$0]?.firstSent }.min()
            .map { Double($0.duration(to: now).milliseconds) / 1000 }
        return (queued.count, queued.reduce(0) { $0 + $1.payload.count }, drops, lastRTT,
                TelemetryPayload.Link(connected: connected, reconnects: reconnects, protocolVersion: protocolName), receipts)
    }

    /// Whether the broker link is up.
    public var isConnected: Bool { connected }

    /// Publishes `last` (the offline status), waits up to `timeout` for everything in flight to be
    /// acknowledged, then disconnects cleanly.
    public func finish(with last: Outgoing, timeout: Duration) async {
        if connected {
            send(last)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.drained() }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
                self.releaseWaiters()
            }
        }
        let left = alarms.count + inflight.values.filter { $0.kind == .alarm }.count
        if left > 0 { logger.critical("stopping with unacknowledged alarms", metadata: ["count": "\(left)"]) }
        if !awaiting.isEmpty {
            logger.notice("stopping with alarms awaiting the hub's receipt: kept in the outbox, sent again at the next start",
                          metadata: ["count": "\(awaiting.count)"])
        }
        await client.stop()
    }

    private func drained() async {
        if alarms.isEmpty, others.isEmpty, inflight.isEmpty { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func releaseWaiters() {
        let ready = waiters
        waiters = []
        for waiter in ready { waiter.resume() }
    }
}
