#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import MQTTAdapter
import ParkGuardCore

/// One message for the broker.
public struct Outgoing: Sendable {
    /// What the message is, which decides how it is queued when the broker is away.
    public typealias Class = DeliveryClass
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
    /// MQTT 5 content type and user properties (not sent under 3.1.1, nor kept in the outbox:
    /// only snapshots carry them, and they are never persisted).
    public var contentType: String?
    public var userProperties: [(String, String)] = []

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
        case .retainedState, .snapshot: nil
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

extension Outgoing: Deliverable {
    public var deliveryClass: DeliveryClass { kind }
    public var byteCount: Int { payload.count + topic.utf8.count }
}

/// Carries out the ``DeliveryQueue``'s decisions on libmosquitto and the durable ``Outbox``: the
/// queue decides what is handed to the library and when, what waits for a PUBACK or the hub's
/// receipt, and what is dropped; this actor publishes, retires outbox records and logs.
///
/// libmosquitto would accept publishes while disconnected and keep them in unbounded memory;
/// the queue never hands it a message while the link is down, so the queue and its bounds are
/// ours. Everything that must survive a crash is also in the durable ``Outbox``: other messages
/// until their PUBACK, alarms (with `delivery.retireOn: receipt`, the default) until the hub's
/// receipt says they are committed in its log.
///
/// It runs on the unit's ``MosquittoNetworkLoop`` (its executor), as does the
/// ``AgentController``: a call between the two, a publish and the socket write it causes happen on
/// one thread, and the broker's answers arrive on it.
public actor Publisher {
    /// The loop that drives the client's socket, and this actor's executor.
    public nonisolated let loop: MosquittoNetworkLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    private let client: MosquittoClient
    private let topics: Topics
    private let logger: Logger
    private let outbox: Outbox?
    private let protocolName: String
    private let delivery: DeliveryConfig
    private var queue: DeliveryQueue<Outgoing>
    private var reconnects: UInt64 = 0
    private var everConnected = false
    private var probe: (mid: Int32, sent: MonotonicInstant)?
    private var lastRTT: Duration?
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let clock: any AgentClock
    /// Called at every CONNACK for what must be (re)published first: status and retained states;
    /// given the number of alarms awaiting a receipt (the status carries it).
    private var onConnect: (@Sendable (Int) async -> [Outgoing])?

    public init(client: MosquittoClient, loop: MosquittoNetworkLoop, topics: Topics, clock: any AgentClock, maxInflight: Int, maxQueued: Int,
                maxBytes: Int, maxSnapshotBytes: Int? = nil, outbox: Outbox?, protocolName: String, delivery: DeliveryConfig = DeliveryConfig(),
                logger: Logger) {
        self.client = client
        self.loop = loop
        self.delivery = delivery
        queue = DeliveryQueue(limits: .init(maxInflight: maxInflight, maxQueued: maxQueued, maxBytes: maxBytes,
                                            maxSnapshotBytes: maxSnapshotBytes, delivery: delivery))
        self.outbox = outbox
        self.topics = topics
        self.clock = clock
        self.protocolName = protocolName
        self.logger = logger
    }

    /// Sets the provider of the connect-time snapshot.
    public func setOnConnect(_ provider: @escaping @Sendable (Int) async -> [Outgoing]) {
        onConnect = provider
    }

    /// Messages recovered from the outbox at start: they go out first, in their original order.
    public func restore(_ messages: [Outgoing]) {
        let restored = messages.map { message in
            var message = message
            if message.kind == .alarm, message.alarmSeq == nil, let header = Self.header(of: message) {
                message.alarmSeq = header.seq
                message.alarmBell = header.bell
            }
            return message
        }
        _ = perform(queue.restore(restored, now: clock.now()))
    }

    /// Sends now if the link is up and the in-flight window has room, else queues. Alarms,
    /// events and results (and telemetry while offline) are appended to the outbox after the
    /// publish has been written to the socket; the append is handed to the outbox's writer
    /// thread and does not wait for the disk.
    public func send(_ message: Outgoing) {
        var message = message
        let persisted: OutboxFormat.Message?
        switch message.kind {
        case .telemetry where queue.isConnected, .retainedState, .snapshot:
            persisted = nil
        case .telemetry:
            message.qos = 1  // as the queue will send it
            persisted = message.outboxMessage
        case .alarm, .event, .result:
            persisted = message.outboxMessage
        }
        if let outbox, persisted != nil { message.outboxID = outbox.reserveID() }
        // Out first, then to disk: the disk never delays the publish (on the loop thread a
        // publish is written to the socket before it returns). What the rest of the actions
        // retire (this message too, if the bounds drop it) is retired after the append.
        var publishes: [DeliveryQueue<Outgoing>.Action] = []
        var rest: [DeliveryQueue<Outgoing>.Action] = []
        for action in queue.enqueue(message, now: clock.now()) {
            if case .publish = action { publishes.append(action) } else { rest.append(action) }
        }
        let answers = publishes.flatMap(publish)
        if let outbox, let persisted, let id = message.outboxID { outbox.append(persisted, id: id) }
        perform(rest + answers)
    }

    /// Carries out `actions` (and whatever answering a publish brings); returns the receipt
    /// notices to announce.
    @discardableResult
    private func perform(_ actions: [DeliveryQueue<Outgoing>.Action]) -> [ReceiptNotice] {
        var work = actions[...]
        var notices: [ReceiptNotice] = []
        while let action = work.popFirst() {
            switch action {
            case .publish:
                work.append(contentsOf: publish(action))
            case .delivered(let message):
                if let id = message.outboxID { outbox?.done(id) }
            case .dropped(let message, let reason):
                if let id = message.outboxID { outbox?.done(id) }
                report(message, dropped: reason)
            case .notice(let notice):
                notices.append(notice)
            case .republishing(let count):
                logger.notice("publishing alarms again: no receipt yet", metadata: ["count": "\(count)"])
            case .unknownReceipts(let count):
                logger.warning("receipt names alarms this unit is not waiting for (already receipted, or never sent): ignored",
                               metadata: ["topic": "\(topics.command("receipt"))", "field": "ids", "count": "\(count)"])
            }
        }
        if queue.isDrained { releaseWaiters() }
        return notices
    }

    /// Hands one message to libmosquitto and tells the queue how it went.
    private func publish(_ action: DeliveryQueue<Outgoing>.Action) -> [DeliveryQueue<Outgoing>.Action] {
        guard case .publish(let ticket, let message) = action else { return [] }
        do {
            let mid = try client.publish(topic: message.topic, payload: message.payload, qos: message.qos,
                                         retain: message.retain, correlationData: message.correlationData,
                                         contentType: message.contentType, userProperties: message.userProperties)
            return queue.handedOver(ticket, mid: mid, now: clock.now())
        } catch {
            // Refused outright by the library (not queued): a malformed message will never go
            // out, so it is counted and reported rather than retried forever.
            logger.log(level: message.kind == .alarm ? .critical : .error, "publish refused by libmosquitto",
                       metadata: ["topic": "\(message.topic)", "error": "\(error)", "id": "\(message.alarmID ?? "-")"])
            return queue.refused(ticket, now: clock.now())
        }
    }

    private func report(_ message: Outgoing, dropped reason: DeliveryQueue<Outgoing>.DropReason) {
        switch reason {
        case .queueFull where message.kind == .alarm:
            logger.critical("queue full of alarms: dropped the oldest", metadata: ["id": "\(message.alarmID ?? "?")"])
        case _ where message.kind == .snapshot:
            logger.warning("dropped a snapshot for room: alarms and state go first", metadata: ["topic": "\(message.topic)", "reason": "\(reason)"])
        case .queueFull, .telemetryCoalesced, .snapshotShareFull:
            logger.warning("dropped a queued message", metadata: ["topic": "\(message.topic)", "reason": "\(reason)"])
        case .refusedByLibrary:
            break  // logged with the library's error
        case .rejectedByBroker(let code):
            // A PUBACK with a failure reason (≥ 0x80): the broker will never take this message
            // (ACL, quota, payload format); retrying is pointless.
            logger.error("broker rejected a message", metadata: ["topic": "\(message.topic)", "reason": "\(code)",
                                                                 "id": "\(message.alarmID ?? "-")"])
        }
    }

    /// Feeds one event from the connection; returns the command messages to dispatch.
    public func handle(_ event: MQTTEvent) async -> MQTTMessage? {
        switch event {
        case .connected(let reason, let text):
            guard reason == 0 else {
                logger.error("broker refused the connection", metadata: ["reason": "\(text)"])
                linkNote = "the broker refused the connection: \(text)"
                return nil
            }
            linkNote = "connected"
            if everConnected { reconnects += 1 }
            everConnected = true
            logger.notice("connected to broker", metadata: ["inflight": "\(queue.inflight)", "held": "\(queue.count)"])
            do { try client.subscribe(topics.commandFilter, qos: 1) } catch {
                logger.error("cannot subscribe to commands", metadata: ["error": "\(error)"])
            }
            let snapshot = await onConnect?(queue.awaitingReceipt) ?? []
            perform(queue.connected(snapshot: snapshot, now: clock.now()))
        case .disconnected(let reason, let text):
            if queue.isConnected {
                // Code 0 is our own DISCONNECT at shutdown, not a fault.
                logger.log(level: reason == 0 ? .notice : .warning, "disconnected from broker",
                           metadata: ["reason": "\(text)", "code": "\(reason)"])
            }
            queue.disconnected()
            // A round-trip probe in flight lost its PUBACK with the connection.
            probe = nil
            linkNote = "disconnected: \(text)"
        case .connectFailed(let error, let retryIn):
            logger.warning("cannot reach broker", metadata: ["error": "\(error)", "retryIn": "\(retryIn)"])
            linkNote = "cannot reach the broker: \(error)"
        case .published(let mid, let reason):
            if let probe, probe.mid == mid {
                lastRTT = probe.sent.duration(to: clock.now())
                self.probe = nil
            } else {
                perform(queue.published(mid: mid, reason: reason, now: clock.now()))
            }
        case .subscribed(_, let granted):
            if granted.contains(where: { $0 >= 0x80 }) {
                logger.error("broker refused the command subscription", metadata: ["granted": "\(granted)"])
            }
        case .message(let message):
            return message
        case .closed:
            queue.disconnected()
        }
        return nil
    }

    // MARK: Receipts

    /// The hub's receipt for `ids`: each alarm it names leaves the outbox, wherever it is now
    /// (awaiting, queued to go again, or in flight again). Returns what to announce.
    public func receipt(_ ids: [String]) -> [ReceiptNotice] {
        perform(queue.receipt(ids, now: clock.now()))
    }

    /// A receipt that failed validation (counted; the caller answers it).
    public func receiptRefused() { queue.receiptRefused() }

    /// Publishes again every alarm whose receipt is overdue by its timeout; reports alarms that
    /// have waited past `delivery.receiptOverdue`. Called after ``receiptTickWait()``.
    public func tickReceipts() -> [ReceiptNotice] {
        guard delivery.retireOn == .receipt else { return [] }
        return perform(queue.tick(now: clock.now()))
    }

    /// How long the receipt ticker may sleep before ``tickReceipts()``: until the queue's next
    /// receipt timeout or overdue announcement, and never longer than one receipt timeout or the
    /// overdue time (whichever is shorter), so an alarm handed over while it sleeps is looked at
    /// in time. (A reconnect needs no tick: it sends every alarm awaiting a receipt again.) `nil`
    /// when alarms retire on PUBACK: nothing to tick.
    public func receiptTickWait() -> Duration? {
        guard delivery.retireOn == .receipt else { return nil }
        var wait = min(delivery.receiptTimeout, delivery.receiptOverdue)
        if let deadline = queue.deadline() { wait = min(wait, clock.now().duration(to: deadline)) }
        return max(wait, .milliseconds(1))
    }

    /// The hub asked for `rebirth`: every alarm awaiting a receipt goes again now.
    public func resendAwaiting() {
        perform(queue.resendAwaiting(now: clock.now()))
    }

    /// Alarms at the broker awaiting the hub's receipt.
    public var awaitingReceipt: Int { queue.awaitingReceipt }

    /// Every alarm not yet receipted (with `retireOn: puback`, not yet acknowledged by the
    /// broker): queued, in flight, or awaiting its receipt.
    public var alarmsOutstanding: Int { queue.alarmsOutstanding }

    private static func header(of message: Outgoing) -> AlarmHeader? {
        try? JSONDecoder().decode(AlarmHeader.self, from: Data(message.payload))
    }

    private struct AlarmHeader: Decodable {
        var seq: UInt64
        var bell: String
    }

    /// Publishes an empty QoS 1 message to the round-trip probe topic; its PUBACK times the broker.
    public func probeRoundTrip() {
        guard queue.isConnected, probe == nil else { return }
        if let mid = try? client.publish(topic: topics.rttProbe, payload: [], qos: 1, retain: false) {
            probe = (mid, clock.now())
        }
    }

    /// Times one broker round trip now (an empty QoS 1 publish and its PUBACK); nil when the
    /// link is down or no PUBACK comes within `timeout`.
    public func measureRoundTrip(timeout: Duration) async -> Duration? {
        guard queue.isConnected else { return nil }
        // One probe at a time: one already in flight (the heartbeat's) is as fresh as a new one.
        probeRoundTrip()
        guard probe != nil else { return nil }
        let deadline = clock.now() + timeout
        while clock.now() < deadline {
            try? await Task.sleep(for: .milliseconds(10))
            if probe == nil { return lastRTT }
        }
        return nil
    }

    /// Figures for telemetry.
    public func figures() -> (depth: Int, bytes: Int, drops: TelemetryPayload.Drops, rtt: Duration?, link: TelemetryPayload.Link,
                              receipts: TelemetryPayload.Receipts) {
        var receipts = queue.receipts
        receipts.awaiting = queue.awaitingReceipt
        let now = clock.now()
        receipts.oldestSeconds = queue.oldestAwaitingSince().map { Double($0.duration(to: now).milliseconds) / 1000 }
        return (queue.count, queue.bytes, queue.drops, lastRTT,
                TelemetryPayload.Link(connected: queue.isConnected, reconnects: reconnects, protocolVersion: protocolName), receipts)
    }

    /// Whether the broker link is up.
    public var isConnected: Bool { queue.isConnected }

    /// The last thing the connection reported, for the control socket's `status`.
    public private(set) var linkNote = "not connected yet"

    /// Messages held for delivery (queued and in flight).
    public var held: Int { queue.count }

    /// Publishes `last` (the offline status), waits up to `timeout` for everything in flight to be
    /// acknowledged, then disconnects cleanly.
    public func finish(with last: Outgoing, timeout: Duration) async {
        if queue.isConnected {
            send(last)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.drained() }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
                self.releaseWaiters()
            }
        }
        let left = queue.alarmsOutstanding - queue.awaitingReceipt
        if left > 0 { logger.critical("stopping with unacknowledged alarms", metadata: ["count": "\(left)"]) }
        if queue.awaitingReceipt > 0 {
            logger.notice("stopping with alarms awaiting the hub's receipt: kept in the outbox, sent again at the next start",
                          metadata: ["count": "\(queue.awaitingReceipt)"])
        }
        await client.stop()
    }

    private func drained() async {
        if queue.isDrained { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func releaseWaiters() {
        let ready = waiters
        waiters = []
        for waiter in ready { waiter.resume() }
    }
}
