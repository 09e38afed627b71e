import HeapModule

/// What a message for the broker is, which decides how it is queued while the broker is away.
public enum DeliveryClass: Sendable, Equatable, CaseIterable {
    /// Never dropped while memory allows; first in line after a reconnect.
    case alarm
    /// A command's answer.
    case result
    /// Agent lifecycle event.
    case event
    /// Retained state: not queued while offline, because the snapshot published at every
    /// connect supersedes it (a stale queued state must not overwrite a newer one).
    case retainedState
    /// QoS 0 heartbeat: kept while offline (coalesced, at QoS 1), handed over at once online.
    case telemetry
    /// A camera's picture for an alarm: behind everything else, held in memory only (never in
    /// the outbox), within its own byte share, and the first thing dropped for room.
    case snapshot
}

/// A message the ``DeliveryQueue`` can hold.
public protocol Deliverable: Sendable {
    var deliveryClass: DeliveryClass { get }
    /// The MQTT QoS; the queue raises offline telemetry to 1.
    var qos: Int32 { get set }
    /// What the message costs against the byte bound (topic and payload).
    var byteCount: Int { get }
    /// The alarm's id (alarms only): receipts name it.
    var alarmID: String? { get }
    /// The alarm's seq and bell, for the receipt notices.
    var alarmSeq: UInt64? { get }
    var alarmBell: String? { get }
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

    public init(kind: Kind, alarmID: String, seq: UInt64?, bell: String?, waited: Duration) {
        self.kind = kind
        self.alarmID = alarmID
        self.seq = seq
        self.bell = bell
        self.waited = waited
    }
}

/// The policy in front of the MQTT library, as a pure state machine: what is queued, handed over,
/// in flight (awaiting the broker's PUBACK), awaiting the hub's receipt, dropped and why; when an
/// alarm is published again; the order after a reconnect (alarms first, oldest first).
///
/// Events go in with their monotonic time; ``Action``s come out for the runtime to carry out.
/// Every ``Action/publish(_:_:)`` must be answered at once with ``handedOver(_:mid:now:)`` (the
/// library took it under that message id) or ``refused(_:now:)``. ``deadline`` says when
/// ``tick(now:)`` is due next.
///
/// Bounds: at most `maxInflight` QoS 1 messages handed over and unacknowledged; at most
/// `maxQueued` messages and `maxBytes` bytes held in all, of which at most `maxSnapshotBytes` in
/// snapshots. Over a bound, the oldest snapshot goes first, then the oldest telemetry, then
/// retained states, then events and results, alarms last (one the broker has before one it has
/// not); a message handed over is never dropped. Snapshots are handed over after everything
/// else, one at a time (the next once the broker has acknowledged the last). Offline telemetry is coalesced to a
/// quarter of `maxQueued`.
///
/// Cost: every event is O(log n) in the number of messages held, plus O(log n) for each message
/// it moves. The lanes are heaps with lazy removal: an entry that leaves a lane other than by
/// being taken from it stays there until it surfaces or the lane is rebuilt, which happens once
/// the stale entries outnumber the live ones (amortised O(1) per removal).
public struct DeliveryQueue<Message: Deliverable>: Sendable {
    /// Identifies a message inside the queue; increases in the order messages were enqueued,
    /// which is the order of the durable outbox.
    public typealias Ticket = UInt64

    /// The bounds and the receipt policy.
    public struct Limits: Sendable, Equatable {
        public var maxInflight: Int
        public var maxQueued: Int
        public var maxBytes: Int
        /// The bytes of snapshots held at most (queued or in flight), within `maxBytes`.
        public var maxSnapshotBytes: Int
        public var delivery: DeliveryConfig

        public init(maxInflight: Int, maxQueued: Int, maxBytes: Int, maxSnapshotBytes: Int? = nil, delivery: DeliveryConfig = DeliveryConfig()) {
            self.maxInflight = max(1, maxInflight)
            self.maxQueued = max(1, maxQueued)
            self.maxBytes = max(1, maxBytes)
            self.maxSnapshotBytes = max(1, maxSnapshotBytes ?? maxBytes)
            self.delivery = delivery
        }
    }

    /// Why a message left the queue without being delivered.
    public enum DropReason: Sendable, Equatable, CustomStringConvertible {
        /// The count or byte bound was exceeded.
        case queueFull
        /// A snapshot beyond the snapshots' byte share (the oldest queued goes).
        case snapshotShareFull
        /// Offline telemetry beyond its share of the queue (the oldest goes).
        case telemetryCoalesced
        /// The library refused the publish outright (never queued by it).
        case refusedByLibrary
        /// The broker's PUBACK carried this failure reason (≥ 0x80): it will never take it.
        case rejectedByBroker(reason: Int32)

        public var description: String {
            switch self {
            case .queueFull: "queue full"
            case .snapshotShareFull: "snapshots' share of the queue full"
            case .telemetryCoalesced: "telemetry coalesced"
            case .refusedByLibrary: "refused by the library"
            case .rejectedByBroker(let reason): "rejected by the broker (reason \(reason))"
            }
        }
    }

    /// What the runtime must do, in order.
    public enum Action: Sendable {
        /// Hand the message to the library now; answer with ``handedOver(_:mid:now:)`` or
        /// ``refused(_:now:)``.
        case publish(Ticket, Message)
        /// Done with: acknowledged (or receipted, or handed over at QoS 0); it leaves the outbox.
        case delivered(Message)
        /// Dropped (counted in ``drops``); it leaves the outbox too.
        case dropped(Message, DropReason)
        /// An alarm overdue for its receipt, or receipted after having been announced overdue.
        case notice(ReceiptNotice)
        /// This many alarms go out again: their receipt did not come in time.
        case republishing(count: Int)
        /// A receipt named this many alarms the queue does not hold (already receipted, or never sent).
        case unknownReceipts(count: Int)
    }

    // MARK: State

    private enum Lane: Int, CaseIterable {
        /// Alarms, oldest first.
        case alarms
        /// Retained states (and the connect snapshot), first in first out, after the alarms.
        case states
        /// Events and results, oldest first (interleaved with telemetry by age).
        case others
        /// Telemetry, oldest first.
        case telemetry
        /// Snapshots, oldest first, after everything else.
        case snapshots
    }

    private enum Place: Equatable {
        case queued(Lane)
        /// Given to the runtime in a `publish` action, not yet answered.
        case handing
        case inflight(mid: Int32)
        /// Acknowledged by the broker, awaiting the hub's receipt.
        case awaiting
    }

    private struct Entry {
        var message: Message
        var place: Place
        let bytes: Int
        /// First hand-over (alarms tracked for a receipt).
        var firstSent: MonotonicInstant?
        var attempts = 0
        /// When to publish it again if no receipt has come (set at its PUBACK).
        var due: MonotonicInstant?
        var overdueAnnounced = false
        /// The receipt came while it was in flight again: its PUBACK retires it.
        var receipted = false
    }

    public let limits: Limits
    public private(set) var isConnected = false
    public private(set) var drops = TelemetryPayload.Drops()
    public private(set) var receipts: TelemetryPayload.Receipts

    private var nextTicket: Ticket = 1
    private var entries: [Ticket: Entry] = [:]
    private var byAlarmID: [String: Ticket] = [:]
    private var byMid: [Int32: Ticket] = [:]
    private var lanes: [LazyHeap] = Lane.allCases.map { _ in LazyHeap() }
    /// Live entries per lane, by lane index.
    private var laneCounts = [Int](repeating: 0, count: Lane.allCases.count)
    /// Order of the retained-state lane (first in, first out).
    private var nextStateOrder: UInt64 = 0
    private var awaitingByAge = LazyHeap()
    private var dueTimes = LazyHeap()
    private var overdueTimes = LazyHeap()
    /// QoS 1 messages handed out (being handed over, or in flight): the window in use.
    private var windowUsed = 0
    private var awaitingCount = 0
    private var alarmCount = 0
    private var totalBytes = 0
    /// Bytes of the snapshots held, wherever they are.
    private var snapshotBytes = 0
    /// Snapshots with the library (being handed over or in flight): at most one, because the
    /// library writes its packets in order on one connection, and an alarm raised later must
    /// not wait behind a window full of pictures on a slow uplink.
    private var snapshotsOut = 0

    public init(limits: Limits) {
        self.limits = limits
        receipts = TelemetryPayload.Receipts(mode: limits.delivery.retireOn.rawValue)
    }

    private var tracksReceipts: Bool { limits.delivery.retireOn == .receipt }

    // MARK: Figures

    /// Every message held: queued, handed over, in flight, awaiting a receipt.
    public var count: Int { entries.count }
    /// Their bytes.
    public var bytes: Int { totalBytes }
    /// Alarms at the broker awaiting the hub's receipt.
    public var awaitingReceipt: Int { awaitingCount }
    /// Every alarm held (with `retireOn: puback`, every alarm not yet acknowledged by the broker).
    public var alarmsOutstanding: Int { alarmCount }
    /// QoS 1 messages handed over and not yet acknowledged.
    public var inflight: Int { windowUsed }
    /// Nothing queued or in flight (alarms awaiting a receipt do not count: they stay in the
    /// outbox and do not hold a shutdown).
    public var isDrained: Bool { entries.count == awaitingCount }

    /// When the oldest alarm awaiting a receipt was first sent.
    public mutating func oldestAwaitingSince() -> MonotonicInstant? {
        // Alarms are handed over in ticket order, so the oldest ticket was sent first.
        guard let ticket = awaitingByAge.peekValid(where: { [entries] in entries[$0]?.place == .awaiting }) else { return nil }
        return entries[ticket]?.firstSent
    }

    /// When ``tick(now:)`` must run next: a receipt timeout or an overdue announcement.
    public mutating func deadline() -> MonotonicInstant? {
        let due = isConnected ? dueTimes.peekValidKey(where: { [entries] in Self.isDue(entries, $0, $1) }) : nil
        let overdue = overdueTimes.peekValidKey(where: { [entries] in Self.isOverdueCandidate(entries, $0, $1) })
        return [due.map { MonotonicInstant(nanoseconds: $0.primary) },
                overdue.map { MonotonicInstant(nanoseconds: $0.primary + 1) }].compactMap { $0 }.min()
    }

    // MARK: Events

    /// Messages recovered from the outbox at start, in their original order (before any new one).
    public mutating func restore(_ messages: [Message], now: MonotonicInstant) -> [Action] {
        var actions: [Action] = []
        for message in messages where message.deliveryClass != .retainedState {
            insert(message, into: &actions)
        }
        pump(into: &actions)
        enforceBounds(into: &actions)
        return actions
    }

    /// A new message: handed over now if the link is up and the window has room, else queued.
    public mutating func enqueue(_ message: Message, now: MonotonicInstant) -> [Action] {
        var actions: [Action] = []
        switch message.deliveryClass {
        case .retainedState where !isConnected:
            // Superseded by the snapshot at the next connect.
            return []
        case .telemetry where isConnected:
            // Online heartbeats go at once, outside the window.
            let ticket = store(message)
            actions.append(.publish(ticket, message))
            return actions
        default:
            insert(message, into: &actions)
        }
        pump(into: &actions)
        enforceBounds(into: &actions)
        return actions
    }

    /// The library took `ticket` under message id `mid`.
    public mutating func handedOver(_ ticket: Ticket, mid: Int32, now: MonotonicInstant) -> [Action] {
        guard var entry = entries[ticket], entry.place == .handing else { return [] }
        guard entry.message.qos > 0 else {
            remove(ticket)
            return [.delivered(entry.message)]
        }
        if let other = byMid[mid], other != ticket {
            // The library reused an id still on the books: the older message goes again.
            enqueueLane(other)
        }
        if tracksReceipts, entry.message.deliveryClass == .alarm, entry.firstSent == nil {
            entry.firstSent = now
            entries[ticket] = entry
            overdueTimes.insert(now.advanced(by: limits.delivery.receiptOverdue).nanoseconds, ticket)
        }
        move(ticket, to: .inflight(mid: mid))
        return []
    }

    /// The library refused `ticket` outright: it will never go out, so it is counted and dropped.
    public mutating func refused(_ ticket: Ticket, now: MonotonicInstant) -> [Action] {
        guard let entry = entries[ticket], entry.place == .handing else { return [] }
        remove(ticket)
        drops.rejectedByBroker += 1
        var actions: [Action] = [.dropped(entry.message, .refusedByLibrary)]
        pump(into: &actions)
        return actions
    }

    /// The broker acknowledged message id `mid` with `reason` (≥ 0x80: a failure).
    public mutating func published(mid: Int32, reason: Int32, now: MonotonicInstant) -> [Action] {
        guard let ticket = byMid[mid], var entry = entries[ticket], entry.place == .inflight(mid: mid) else { return [] }
        var actions: [Action] = []
        if reason < 0x80, tracksReceipts, entry.message.deliveryClass == .alarm, !entry.receipted {
            // At the broker; held until the hub's receipt.
            entry.attempts += 1
            entry.due = now.advanced(by: receiptWait(attempt: entry.attempts))
            entries[ticket] = entry
            move(ticket, to: .awaiting)
        } else if reason >= 0x80 {
            remove(ticket)
            drops.rejectedByBroker += 1
            actions.append(.dropped(entry.message, .rejectedByBroker(reason: reason)))
        } else {
            remove(ticket)
            actions.append(.delivered(entry.message))
        }
        pump(into: &actions)
        return actions
    }

    /// The link came up. What was handed over and not acknowledged goes again (a duplicate is
    /// allowed, the hub de-duplicates by id, where a loss is not), and so do the alarms awaiting
    /// a receipt (the broker may have lost them). Alarms first, oldest first; then `snapshot`
    /// (the status and retained states, which supersede any state still queued or in flight);
    /// then the backlog, oldest first.
    public mutating func connected(snapshot: [Message], now: MonotonicInstant) -> [Action] {
        isConnected = true
        for ticket in Array(byMid.values) {
            if entries[ticket]?.message.deliveryClass == .retainedState { remove(ticket) } else { enqueueLane(ticket) }
        }
        while let ticket = take(from: .states) { remove(ticket) }
        requeueAwaiting()
        var actions: [Action] = []
        for message in snapshot {
            insert(message, into: &actions)
        }
        pump(into: &actions)
        enforceBounds(into: &actions)
        return actions
    }

    /// The link went down (or the connection closed).
    public mutating func disconnected() {
        isConnected = false
    }

    /// The hub's receipt for `ids`: each alarm it names leaves the queue, wherever it is now; one
    /// in flight again is retired by its PUBACK.
    public mutating func receipt(_ ids: [String], now: MonotonicInstant) -> [Action] {
        receipts.received += 1
        var actions: [Action] = []
        var unknown = 0
        for id in ids {
            guard let ticket = byAlarmID[id], var entry = entries[ticket], !entry.receipted else { unknown += 1; continue }
            if entry.overdueAnnounced, let first = entry.firstSent {
                actions.append(.notice(ReceiptNotice(kind: .received, alarmID: id, seq: entry.message.alarmSeq,
                                                     bell: entry.message.alarmBell, waited: first.duration(to: now))))
            }
            switch entry.place {
            case .awaiting, .queued:
                remove(ticket)
                actions.append(.delivered(entry.message))
            case .handing, .inflight:
                entry.receipted = true
                entries[ticket] = entry
            }
        }
        if unknown > 0 {
            receipts.unknownIds += UInt64(unknown)
            actions.append(.unknownReceipts(count: unknown))
        }
        compact()
        return actions
    }

    /// A receipt that failed validation (counted; the runtime answers it).
    public mutating func receiptRefused() { receipts.refused += 1 }

    /// Announces alarms that have waited past `receiptOverdue` (once each), and while connected
    /// publishes again every alarm whose receipt timeout has passed.
    public mutating func tick(now: MonotonicInstant) -> [Action] {
        var actions: [Action] = []
        while let key = overdueTimes.peekValidKey(where: { [entries] in Self.isOverdueCandidate(entries, $0, $1) }),
              key.primary < now.nanoseconds {
            overdueTimes.pop()
            guard var entry = entries[key.ticket], let first = entry.firstSent, let id = entry.message.alarmID else { continue }
            entry.overdueAnnounced = true
            entries[key.ticket] = entry
            actions.append(.notice(ReceiptNotice(kind: .overdue, alarmID: id, seq: entry.message.alarmSeq,
                                                 bell: entry.message.alarmBell, waited: first.duration(to: now))))
        }
        guard isConnected else { return actions }
        var again = 0
        while let key = dueTimes.peekValidKey(where: { [entries] in Self.isDue(entries, $0, $1) }), key.primary <= now.nanoseconds {
            dueTimes.pop()
            enqueueLane(key.ticket)
            again += 1
        }
        if again > 0 {
            actions.append(.republishing(count: again))
            pump(into: &actions)
        }
        return actions
    }

    /// Every alarm awaiting a receipt goes again now (the hub asked for `rebirth`).
    public mutating func resendAwaiting(now: MonotonicInstant) -> [Action] {
        requeueAwaiting()
        var actions: [Action] = []
        pump(into: &actions)
        return actions
    }

    /// The wait after the `attempt`-th PUBACK: the receipt timeout doubling per attempt, capped.
    public func receiptWait(attempt: Int) -> Duration {
        var wait = limits.delivery.receiptTimeout
        for _ in 1 ..< max(1, min(attempt, 20)) where wait < limits.delivery.receiptTimeoutMax { wait = wait * 2 }
        return min(wait, limits.delivery.receiptTimeoutMax)
    }

    /// Keys held in all heaps, live and stale (for the specification of the bound on memory).
    public var heapKeys: Int {
        lanes.reduce(0) { $0 + $1.count } + awaitingByAge.count + dueTimes.count + overdueTimes.count
    }

    // MARK: Internals

    private static func isDue(_ entries: [Ticket: Entry], _ ticket: Ticket, _ primary: UInt64) -> Bool {
        guard let entry = entries[ticket], entry.place == .awaiting else { return false }
        return entry.due?.nanoseconds == primary
    }

    private static func isOverdueCandidate(_ entries: [Ticket: Entry], _ ticket: Ticket, _ primary: UInt64) -> Bool {
        guard let entry = entries[ticket] else { return false }
        return !entry.overdueAnnounced && !entry.receipted
    }

    private static func lane(of kind: DeliveryClass) -> Lane {
        switch kind {
        case .alarm: .alarms
        case .retainedState: .states
        case .event, .result: .others
        case .telemetry: .telemetry
        case .snapshot: .snapshots
        }
    }

    /// Books a new message as being handed over (the caller queues it or publishes it).
    private mutating func store(_ message: Message) -> Ticket {
        let ticket = nextTicket
        nextTicket += 1
        let entry = Entry(message: message, place: .handing, bytes: message.byteCount)
        totalBytes += entry.bytes
        if message.deliveryClass == .snapshot { snapshotBytes += entry.bytes }
        if message.deliveryClass == .alarm {
            alarmCount += 1
            if let id = message.alarmID { byAlarmID[id] = ticket }
        }
        entries[ticket] = entry
        enter(entry, ticket)
        return ticket
    }

    private mutating func insert(_ message: Message, into actions: inout [Action]) {
        var message = message
        if message.deliveryClass == .telemetry {
            // Offline heartbeats drain at QoS 1: retired only by a PUBACK, and not subject to a
            // broker dropping QoS 0 toward a subscriber whose window is full while the backlog
            // floods it.
            message.qos = 1
            if laneCounts[Lane.telemetry.rawValue] >= max(1, limits.maxQueued / 4) {
                dropOldest(in: .telemetry, reason: .telemetryCoalesced, into: &actions)
            }
        }
        enqueueLane(store(message))
        if message.deliveryClass == .snapshot {
            // The newest picture may be the one that goes, if it alone is over the share.
            while snapshotBytes > limits.maxSnapshotBytes, laneCounts[Lane.snapshots.rawValue] > 0 {
                dropOldest(in: .snapshots, reason: .snapshotShareFull, into: &actions)
            }
        }
    }

    /// Puts a held entry (new, or back from the broker) into its lane.
    private mutating func enqueueLane(_ ticket: Ticket) {
        guard let entry = entries[ticket] else { return }
        move(ticket, to: .queued(Self.lane(of: entry.message.deliveryClass)))
    }

    private mutating func requeueAwaiting() {
        while let ticket = awaitingByAge.peekValid(where: { [entries] in entries[$0]?.place == .awaiting }) {
            awaitingByAge.pop()
            enqueueLane(ticket)
        }
    }

    /// Moves an entry from its place to `place`, keeping every count and index right.
    private mutating func move(_ ticket: Ticket, to place: Place) {
        guard var entry = entries[ticket] else { return }
        leave(entry, ticket)
        entry.place = place
        entries[ticket] = entry
        enter(entry, ticket)
    }

    private mutating func enter(_ entry: Entry, _ ticket: Ticket) {
        switch entry.place {
        case .queued(let lane):
            laneCounts[lane.rawValue] += 1
            if lane == .states {
                nextStateOrder += 1
                lanes[lane.rawValue].insert(nextStateOrder, ticket)
            } else {
                lanes[lane.rawValue].insert(ticket, ticket)
            }
        case .handing:
            if entry.message.qos > 0 { windowUsed += 1 }
            if entry.message.deliveryClass == .snapshot { snapshotsOut += 1 }
        case .inflight(let mid):
            windowUsed += 1
            byMid[mid] = ticket
            if entry.message.deliveryClass == .snapshot { snapshotsOut += 1 }
        case .awaiting:
            awaitingCount += 1
            awaitingByAge.insert(ticket, ticket)
            if let due = entry.due { dueTimes.insert(due.nanoseconds, ticket) }
        }
    }

    /// Heap keys are left behind (stale); the validity checks and ``compact()`` deal with them.
    private mutating func leave(_ entry: Entry, _ ticket: Ticket) {
        switch entry.place {
        case .queued(let lane): laneCounts[lane.rawValue] -= 1
        case .handing:
            if entry.message.qos > 0 { windowUsed -= 1 }
            if entry.message.deliveryClass == .snapshot { snapshotsOut -= 1 }
        case .inflight(let mid):
            windowUsed -= 1
            if byMid[mid] == ticket { byMid[mid] = nil }
            if entry.message.deliveryClass == .snapshot { snapshotsOut -= 1 }
        case .awaiting: awaitingCount -= 1
        }
    }

    /// Forgets an entry wherever it is.
    private mutating func remove(_ ticket: Ticket) {
        guard let entry = entries.removeValue(forKey: ticket) else { return }
        leave(entry, ticket)
        totalBytes -= entry.bytes
        if entry.message.deliveryClass == .snapshot { snapshotBytes -= entry.bytes }
        if entry.message.deliveryClass == .alarm {
            alarmCount -= 1
            if let id = entry.message.alarmID, byAlarmID[id] == ticket { byAlarmID[id] = nil }
        }
    }

    /// Takes the first valid ticket out of `lane`, as being handed over.
    private mutating func take(from lane: Lane) -> Ticket? {
        guard let ticket = peek(lane) else { return nil }
        lanes[lane.rawValue].pop()
        move(ticket, to: .handing)
        return ticket
    }

    private mutating func peek(_ lane: Lane) -> Ticket? {
        lanes[lane.rawValue].peekValid { [entries] in entries[$0]?.place == .queued(lane) }
    }

    /// Hands queued messages over while connected and the window allows: alarms first, then
    /// retained states, then the rest oldest first.
    private mutating func pump(into actions: inout [Action]) {
        while isConnected, windowUsed < limits.maxInflight {
            let next: Ticket?
            if let alarm = take(from: .alarms) {
                next = alarm
            } else if let state = take(from: .states) {
                next = state
            } else {
                switch (peek(.others), peek(.telemetry)) {
                case (let other?, let telemetry?): next = take(from: other < telemetry ? .others : .telemetry)
                case (_?, nil): next = take(from: .others)
                case (nil, _?): next = take(from: .telemetry)
                case (nil, nil): next = snapshotsOut == 0 ? take(from: .snapshots) : nil
                }
            }
            guard let ticket = next, let entry = entries[ticket] else { break }
            actions.append(.publish(ticket, entry.message))
        }
        compact()
    }

    private mutating func dropOldest(in lane: Lane, reason: DropReason, into actions: inout [Action]) {
        guard let ticket = take(from: lane), let entry = entries[ticket] else { return }
        remove(ticket)
        if entry.message.deliveryClass == .snapshot { drops.snapshots += 1 }
        else if reason == .telemetryCoalesced { drops.telemetryCoalesced += 1 } else { drops.queueFull += 1 }
        actions.append(.dropped(entry.message, reason))
    }

    /// Keeps the queue within its count and byte bounds.
    private mutating func enforceBounds(into actions: inout [Action]) {
        while entries.count > limits.maxQueued || totalBytes > limits.maxBytes {
            if laneCounts[Lane.snapshots.rawValue] > 0 {
                dropOldest(in: .snapshots, reason: .queueFull, into: &actions)
            } else if laneCounts[Lane.telemetry.rawValue] > 0 {
                dropOldest(in: .telemetry, reason: .queueFull, into: &actions)
            } else if laneCounts[Lane.states.rawValue] > 0 {
                dropOldest(in: .states, reason: .queueFull, into: &actions)
            } else if laneCounts[Lane.others.rawValue] > 0 {
                dropOldest(in: .others, reason: .queueFull, into: &actions)
            } else if let ticket = awaitingByAge.peekValid(where: { [entries] in entries[$0]?.place == .awaiting }),
                      let entry = entries[ticket] {
                // The oldest alarm goes: one the broker has (awaiting its receipt) before one it has not.
                awaitingByAge.pop()
                remove(ticket)
                drops.queueFull += 1
                actions.append(.dropped(entry.message, .queueFull))
            } else if laneCounts[Lane.alarms.rawValue] > 0 {
                dropOldest(in: .alarms, reason: .queueFull, into: &actions)
            } else {
                // Only messages handed over remain: they are never dropped.
                break
            }
        }
        compact()
    }

    /// Rebuilds a heap once its stale keys outnumber its live ones.
    private mutating func compact() {
        for lane in Lane.allCases where lanes[lane.rawValue].count > 2 * laneCounts[lane.rawValue] + 64 {
            lanes[lane.rawValue].rebuild { [entries] ticket, _ in entries[ticket]?.place == .queued(lane) }
        }
        if awaitingByAge.count > 2 * awaitingCount + 64 {
            awaitingByAge.rebuild { [entries] ticket, _ in entries[ticket]?.place == .awaiting }
        }
        if dueTimes.count > 2 * awaitingCount + 64 {
            dueTimes.rebuild { [entries] in Self.isDue(entries, $0, $1) }
        }
        if overdueTimes.count > 2 * alarmCount + 64 {
            overdueTimes.rebuild { [entries] in Self.isOverdueCandidate(entries, $0, $1) }
        }
    }
}

/// A min-heap of (primary, ticket) keys whose entries are removed lazily: the owner says which
/// keys are still valid when it looks at the top, or when it rebuilds the heap.
struct LazyHeap: Sendable {
    struct Key: Comparable, Sendable {
        var primary: UInt64
        var ticket: UInt64
        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.primary, lhs.ticket) < (rhs.primary, rhs.ticket)
        }
    }

    private var heap = Heap<Key>()

    var count: Int { heap.count }

    mutating func insert(_ primary: UInt64, _ ticket: UInt64) {
        heap.insert(Key(primary: primary, ticket: ticket))
    }

    /// The smallest valid key, after discarding the stale ones above it.
    mutating func peekValidKey(where valid: (UInt64, UInt64) -> Bool) -> Key? {
        while let top = heap.min {
            if valid(top.ticket, top.primary) { return top }
            heap.removeMin()
        }
        return nil
    }

    mutating func peekValid(where valid: (UInt64) -> Bool) -> UInt64? {
        peekValidKey { ticket, _ in valid(ticket) }?.ticket
    }

    mutating func pop() {
        _ = heap.popMin()
    }

    /// Keeps the valid keys, one per ticket (the smallest).
    mutating func rebuild(keeping valid: (UInt64, UInt64) -> Bool) {
        var kept: [UInt64: Key] = [:]
        for key in heap.unordered where valid(key.ticket, key.primary) {
            if let other = kept[key.ticket], other < key { continue }
            kept[key.ticket] = key
        }
        heap = Heap(kept.values)
    }
}
