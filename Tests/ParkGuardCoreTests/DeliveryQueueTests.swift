import ParkGuardCore
import Testing

/// A message as the queue sees it: a class, a QoS, a size, and for alarms an id.
private struct Parcel: Deliverable, Equatable {
    var deliveryClass: DeliveryClass
    var qos: Int32
    var name: String
    var size = 10
    var alarmID: String?
    var alarmSeq: UInt64?
    var alarmBell: String?
    var byteCount: Int { size }

    static func alarm(_ name: String, size: Int = 10) -> Parcel {
        Parcel(deliveryClass: .alarm, qos: 1, name: name, size: size, alarmID: name, alarmSeq: 7, alarmBell: "b1")
    }
    static func event(_ name: String, size: Int = 10) -> Parcel { Parcel(deliveryClass: .event, qos: 1, name: name, size: size) }
    static func result(_ name: String) -> Parcel { Parcel(deliveryClass: .result, qos: 1, name: name) }
    static func state(_ name: String) -> Parcel { Parcel(deliveryClass: .retainedState, qos: 1, name: name) }
    static func telemetry(_ name: String) -> Parcel { Parcel(deliveryClass: .telemetry, qos: 0, name: name) }
    static func picture(_ name: String, size: Int = 100) -> Parcel { Parcel(deliveryClass: .snapshot, qos: 1, name: name, size: size) }
}

private typealias Queue = DeliveryQueue<Parcel>

/// Plays the MQTT library and the runtime around a queue: answers every publish at once with
/// a fresh message id (or a refusal), and records what came out.
private struct Rig {
    var queue: Queue
    var now = MonotonicInstant(nanoseconds: 1_000_000_000)
    var nextMid: Int32 = 1
    var refuse: Set<String> = []
    /// Every hand-over, in order: name, QoS and message id.
    var handed: [(name: String, qos: Int32, mid: Int32)] = []
    var delivered: [String] = []
    var dropped: [(name: String, reason: Queue.DropReason)] = []
    var notices: [ReceiptNotice] = []
    var republished: [Int] = []
    var unknown = 0
    /// Set when one batch of actions published a non-alarm before an alarm.
    var alarmBehindOther = false

    init(inflight: Int = 4, queued: Int = 100, bytes: Int = 1_000_000, snapshotBytes: Int? = nil, delivery: DeliveryConfig = DeliveryConfig()) {
        queue = Queue(limits: .init(maxInflight: inflight, maxQueued: queued, maxBytes: bytes, maxSnapshotBytes: snapshotBytes, delivery: delivery))
    }

    mutating func run(_ actions: [Queue.Action]) {
        var work = actions[...]
        var otherPublished = false
        while let action = work.popFirst() {
            switch action {
            case .publish(let ticket, let parcel):
                if parcel.deliveryClass == .alarm, otherPublished { alarmBehindOther = true }
                if parcel.deliveryClass != .alarm { otherPublished = true }
                if refuse.contains(parcel.name) {
                    work.append(contentsOf: queue.refused(ticket, now: now))
                } else {
                    handed.append((parcel.name, parcel.qos, nextMid))
                    work.append(contentsOf: queue.handedOver(ticket, mid: nextMid, now: now))
                    nextMid += 1
                }
            case .delivered(let parcel): delivered.append(parcel.name)
            case .dropped(let parcel, let reason): dropped.append((parcel.name, reason))
            case .notice(let notice): notices.append(notice)
            case .republishing(let count): republished.append(count)
            case .unknownReceipts(let count): unknown += count
            }
        }
    }

    mutating func send(_ parcels: Parcel...) {
        for parcel in parcels { run(queue.enqueue(parcel, now: now)) }
    }

    mutating func connect(snapshot: [Parcel] = []) { run(queue.connected(snapshot: snapshot, now: now)) }
    mutating func disconnect() { queue.disconnected() }

    /// The broker's PUBACK for the latest hand-over of `name`.
    mutating func ack(_ name: String, reason: Int32 = 0) {
        guard let mid = handed.last(where: { $0.name == name })?.mid else { Issue.record("\(name) was never handed over"); return }
        run(queue.published(mid: mid, reason: reason, now: now))
    }

    mutating func ackAll() {
        for name in inFlightNames() { ack(name) }
    }

    /// Names handed over whose latest hand-over has no PUBACK yet (as far as the rig tracks).
    var acked: Set<Int32> = []
    mutating func inFlightNames() -> [String] {
        let unacked = handed.filter { !acked.contains($0.mid) && $0.qos > 0 }
        acked.formUnion(unacked.map(\.mid))
        return unacked.map(\.name)
    }

    mutating func receipt(_ ids: String...) { run(queue.receipt(ids, now: now)) }

    mutating func advance(_ duration: Duration) {
        now = now.advanced(by: duration)
        run(queue.tick(now: now))
    }

    /// Names handed over since the last call.
    var seen = 0
    mutating func newlyHanded() -> [String] {
        defer { seen = handed.count }
        return handed[seen...].map(\.name)
    }
}

@Suite("Delivery queue")
struct DeliveryQueueTests {
    @Test("offline nothing is handed over; at the connect alarms go first, oldest first, then the snapshot, then the backlog oldest first")
    func offlineThenConnect() {
        var rig = Rig(inflight: 100)
        rig.send(.event("e1"), .alarm("a1"), .result("r1"), .telemetry("t1"), .alarm("a2"), .state("s-stale"))
        #expect(rig.handed.isEmpty)
        rig.connect(snapshot: [.state("status"), .state("bell")])
        #expect(rig.newlyHanded() == ["a1", "a2", "status", "bell", "e1", "r1", "t1"])
        #expect(!rig.alarmBehindOther)
    }

    @Test("camera pictures go behind everything else, one at a time: at the connect after alarms, states, events and telemetry; online after what was queued before them")
    func picturesGoLast() {
        var rig = Rig(inflight: 100)
        rig.send(.picture("p1"), .event("e1"), .alarm("a1"), .telemetry("t1"), .picture("p2"))
        rig.connect(snapshot: [.state("status")])
        // One picture at a time with the library: an alarm raised meanwhile waits behind one at most.
        #expect(rig.newlyHanded() == ["a1", "status", "e1", "t1", "p1"])
        rig.send(.alarm("a2"))
        #expect(rig.newlyHanded() == ["a2"])
        rig.ack("p1")
        #expect(rig.newlyHanded() == ["p2"])
        var narrow = Rig(inflight: 1, delivery: DeliveryConfig(retireOn: .puback))
        narrow.connect()
        narrow.send(.event("e1"), .picture("p1"), .alarm("a1"), .event("e2"))
        narrow.ack("e1")
        narrow.ack("a1")
        narrow.ack("e2")
        #expect(narrow.handed.map(\.name) == ["e1", "a1", "e2", "p1"])
    }

    @Test("pictures are the first thing dropped for room, counted apart; beyond their share the oldest queued picture goes; one handed over stays")
    func picturesDroppedFirst() {
        var rig = Rig(inflight: 1, bytes: 1_000, snapshotBytes: 250, delivery: DeliveryConfig(retireOn: .puback))
        rig.connect()
        rig.send(.picture("p1"), .picture("p2"), .picture("p3"))
        // p1 is in flight; p2 and p3 would make 300 bytes of pictures: the oldest queued one goes.
        #expect(rig.dropped.map(\.name) == ["p2"] && rig.dropped.first?.reason == .snapshotShareFull)
        #expect(rig.queue.drops.snapshots == 1 && rig.queue.drops.queueFull == 0)
        // Over the whole queue's bytes, the queued picture goes before the telemetry and the alarm.
        rig.disconnect()
        rig.send(.telemetry("t1"), .alarm("a1", size: 850))
        #expect(rig.dropped.map(\.name) == ["p2", "p3"] && rig.queue.drops.snapshots == 2)
        #expect(rig.queue.alarmsOutstanding == 1)
        // A picture over the share on its own is dropped at once.
        rig.send(.picture("big", size: 300))
        #expect(rig.dropped.last?.name == "big" && rig.queue.drops.snapshots == 3)
    }

    @Test("at most maxInflight QoS 1 messages are handed over unacknowledged; each PUBACK lets the next go, alarms still first")
    func inflightWindow() {
        var rig = Rig(inflight: 2, delivery: DeliveryConfig(retireOn: .puback))
        rig.connect()
        rig.send(.event("e1"), .event("e2"), .event("e3"), .alarm("a1"))
        #expect(rig.newlyHanded() == ["e1", "e2"])
        #expect(rig.queue.inflight == 2)
        rig.ack("e1")
        #expect(rig.newlyHanded() == ["a1"])
        rig.ack("e2")
        #expect(rig.newlyHanded() == ["e3"])
        rig.ack("a1")
        rig.ack("e3")
        #expect(rig.delivered == ["e1", "e2", "a1", "e3"])
        #expect(rig.queue.count == 0 && rig.queue.isDrained)
    }

    @Test("retained states are not queued offline (the snapshot supersedes them); online they go ahead of events, first in first out")
    func retainedStates() {
        var rig = Rig(inflight: 1)
        rig.send(.state("offline"))
        #expect(rig.queue.count == 0)
        rig.connect()
        rig.send(.event("e1"), .event("e2"), .state("s1"), .state("s2"))
        rig.ackAll()
        rig.ackAll()
        rig.ackAll()
        rig.ackAll()
        #expect(rig.handed.map(\.name) == ["e1", "s1", "s2", "e2"])
    }

    @Test("online telemetry is handed over at once at QoS 0, outside the window, and is done at the hand-over")
    func onlineTelemetry() {
        var rig = Rig(inflight: 1)
        rig.connect()
        rig.send(.event("e1"), .telemetry("t1"))
        #expect(rig.handed.map(\.name) == ["e1", "t1"])
        #expect(rig.handed.last?.qos == 0)
        #expect(rig.delivered == ["t1"])
        #expect(rig.queue.count == 1)
    }

    @Test("offline telemetry is kept at QoS 1 and coalesced to a quarter of the queue, the oldest merged away and counted")
    func offlineTelemetry() {
        var rig = Rig(inflight: 100, queued: 12)
        for index in 1 ... 5 { rig.send(.telemetry("t\(index)")) }
        #expect(rig.dropped.map(\.name) == ["t1", "t2"])
        #expect(rig.dropped.allSatisfy { $0.reason == .telemetryCoalesced })
        #expect(rig.queue.drops.telemetryCoalesced == 2)
        rig.connect()
        #expect(rig.handed.map(\.name) == ["t3", "t4", "t5"])
        #expect(rig.handed.allSatisfy { $0.qos == 1 })
    }

    @Test("with receipts, a PUBACK only moves an alarm to awaiting; the receipt retires it")
    func pubackThenReceipt() {
        var rig = Rig()
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")
        #expect(rig.delivered.isEmpty)
        #expect(rig.queue.awaitingReceipt == 1)
        #expect(rig.queue.alarmsOutstanding == 1)
        #expect(rig.queue.isDrained, "an alarm awaiting its receipt does not hold a shutdown")
        rig.receipt("a1")
        #expect(rig.delivered == ["a1"])
        #expect(rig.queue.count == 0 && rig.queue.awaitingReceipt == 0)
        #expect(rig.queue.receipts.received == 1)
    }

    @Test("a receipt for an alarm still queued (offline) retires it without sending it")
    func receiptForQueuedAlarm() {
        var rig = Rig()
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")
        rig.disconnect()
        rig.connect()  // a1 is queued again and handed over again
        rig.disconnect()
        rig.send(.alarm("a2"))
        rig.receipt("a2")
        #expect(rig.delivered == ["a2"])
        rig.connect()
        #expect(!rig.handed.map(\.name).contains("a2"))
    }

    @Test("a receipt for an alarm in flight again is honoured at its PUBACK")
    func receiptWhileInFlight() {
        var rig = Rig()
        rig.connect()
        rig.send(.alarm("a1"))
        rig.receipt("a1")
        #expect(rig.delivered.isEmpty)
        rig.ack("a1")
        #expect(rig.delivered == ["a1"])
        #expect(rig.queue.awaitingReceipt == 0 && rig.queue.count == 0)
        rig.receipt("a1")
        #expect(rig.unknown == 1)
    }

    @Test("no receipt: the alarm goes again after the receipt timeout, which doubles per attempt up to its cap")
    func receiptTimeoutDoubles() {
        var rig = Rig(delivery: DeliveryConfig(receiptTimeout: .seconds(10), receiptTimeoutMax: .seconds(35), receiptOverdue: .seconds(1000)))
        rig.connect()
        rig.send(.alarm("a1"))
        _ = rig.newlyHanded()
        var gaps: [Int64] = []
        var last = rig.now
        for _ in 0 ..< 5 {
            rig.ack("a1")
            var waited = 0
            while rig.handed.count == rig.seen, waited < 100 {
                rig.advance(.seconds(1))
                waited += 1
            }
            _ = rig.newlyHanded()
            gaps.append(last.duration(to: rig.now).milliseconds / 1000)
            last = rig.now
        }
        // 10, 20, then 35 (the cap) s after each PUBACK (the first gap starts with the send).
        #expect(gaps == [10, 20, 35, 35, 35])
        #expect(rig.republished == [1, 1, 1, 1, 1])
        #expect(rig.queue.receiptWait(attempt: 1) == .seconds(10))
        #expect(rig.queue.receiptWait(attempt: 3) == .seconds(35))
    }

    @Test("offline, an alarm awaiting its receipt is not sent again until the connect; its timeout still counts for the overdue notice")
    func noResendOffline() {
        var rig = Rig(delivery: DeliveryConfig(receiptTimeout: .seconds(10), receiptOverdue: .seconds(30)))
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")
        _ = rig.newlyHanded()
        rig.disconnect()
        rig.advance(.seconds(31))
        #expect(rig.newlyHanded().isEmpty)
        #expect(rig.notices.map(\.kind) == [.overdue])
        rig.connect()
        #expect(rig.newlyHanded() == ["a1"])
    }

    @Test("an alarm overdue for its receipt is announced once with its seq and bell; its late receipt is announced as received")
    func overdueNotices() {
        var rig = Rig(delivery: DeliveryConfig(receiptTimeout: .seconds(10), receiptTimeoutMax: .seconds(10), receiptOverdue: .seconds(60)))
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")
        for _ in 0 ..< 59 { rig.advance(.seconds(1)); rig.ackAll() }
        #expect(rig.notices.isEmpty)
        #expect(rig.queue.deadline() != nil)
        for _ in 0 ..< 30 { rig.advance(.seconds(1)); rig.ackAll() }
        #expect(rig.notices.count == 1)
        // Announced at the first tick past the 60 s.
        #expect(rig.notices.first == ReceiptNotice(kind: .overdue, alarmID: "a1", seq: 7, bell: "b1", waited: .seconds(61)))
        rig.receipt("a1")
        #expect(rig.notices.count == 2)
        #expect(rig.notices.last?.kind == .received)
        #expect(rig.notices.last?.waited == .seconds(89))
    }

    @Test("a reconnect sends again what was in flight and what awaits a receipt, alarms first in their original order; states in flight are superseded by the snapshot")
    func reconnectOrder() {
        var rig = Rig(inflight: 3)
        rig.connect()
        rig.send(.alarm("a1"), .alarm("a2"), .event("e1"), .state("s1"), .alarm("a3"), .event("e2"))
        rig.ack("a1")  // awaiting; lets s... go next
        _ = rig.newlyHanded()
        rig.disconnect()
        rig.send(.alarm("a4"))
        rig.connect(snapshot: [.state("status")])
        #expect(rig.newlyHanded() == ["a1", "a2", "a3"])
        rig.ackAll()
        rig.ackAll()
        rig.ackAll()
        #expect(rig.handed[rig.seen...].map(\.name) == ["a4", "status", "e1", "e2"])
        #expect(!rig.handed.map(\.name).dropFirst(3).contains("s1"), "the stale state is never sent again")
        #expect(!rig.alarmBehindOther)
    }

    @Test("rebirth sends every alarm awaiting a receipt again at once, oldest first")
    func rebirth() {
        var rig = Rig()
        rig.connect()
        rig.send(.alarm("a1"), .alarm("a2"))
        rig.ack("a2")
        rig.ack("a1")
        _ = rig.newlyHanded()
        rig.run(rig.queue.resendAwaiting(now: rig.now))
        #expect(rig.newlyHanded() == ["a1", "a2"])
        #expect(rig.queue.awaitingReceipt == 0)
    }

    @Test("over the count bound: the oldest telemetry goes first, then states, events and results, then the oldest alarm the broker has, then the oldest queued alarm; a message in flight never")
    func countBound() {
        var rig = Rig(inflight: 1, queued: 6)
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")  // awaiting its receipt
        rig.send(.alarm("a2"))  // in flight
        rig.disconnect()
        rig.send(.alarm("a3"), .event("e1"), .telemetry("t1"), .result("r1"))
        #expect(rig.queue.count == 6)
        rig.send(.alarm("a4"))
        rig.send(.alarm("a5"))
        rig.send(.alarm("a6"))
        rig.send(.alarm("a7"))
        rig.send(.alarm("a8"))
        #expect(rig.dropped.map(\.name) == ["t1", "e1", "r1", "a1", "a3"])
        #expect(rig.dropped.allSatisfy { $0.reason == .queueFull })
        #expect(rig.queue.drops.queueFull == 5)
        #expect(rig.queue.count == 6)
        rig.connect()
        #expect(rig.newlyHanded().contains("a2"), "the alarm in flight was kept and goes again")
    }

    @Test("over the byte bound the same order applies")
    func byteBound() {
        var rig = Rig(inflight: 10, queued: 100, bytes: 100)
        rig.send(.event("e1", size: 40), .alarm("a1", size: 40))
        rig.send(.alarm("a2", size: 40))
        #expect(rig.dropped.map(\.name) == ["e1"])
        rig.send(.alarm("a3", size: 40))
        #expect(rig.dropped.map(\.name) == ["e1", "a1"])
        #expect(rig.queue.bytes == 80)
    }

    @Test("a publish the library refuses is dropped and counted, and the next message goes")
    func refusedByLibrary() {
        var rig = Rig(inflight: 1)
        rig.refuse = ["bad"]
        rig.connect()
        rig.send(.event("bad"), .event("e2"))
        #expect(rig.dropped.map(\.name) == ["bad"])
        #expect(rig.dropped.first?.reason == .refusedByLibrary)
        #expect(rig.handed.map(\.name) == ["e2"])
        #expect(rig.queue.drops.rejectedByBroker == 1)
    }

    @Test("a PUBACK with a failure reason drops the message and counts it; retrying is pointless")
    func rejectedByBroker() {
        var rig = Rig()
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1", reason: 0x87)
        #expect(rig.dropped.map(\.name) == ["a1"])
        #expect(rig.dropped.first?.reason == .rejectedByBroker(reason: 0x87))
        #expect(rig.queue.alarmsOutstanding == 0)
    }

    @Test("with retireOn puback the PUBACK retires an alarm and no receipt is awaited")
    func retireOnPuback() {
        var rig = Rig(delivery: DeliveryConfig(retireOn: .puback))
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")
        #expect(rig.delivered == ["a1"])
        #expect(rig.queue.awaitingReceipt == 0)
        rig.advance(.seconds(600))
        #expect(rig.handed.count == 1 && rig.notices.isEmpty)
        #expect(rig.queue.receipts.mode == "puback")
    }

    @Test("receipt ids the queue does not hold are counted and reported; a refused receipt is counted")
    func unknownReceipts() {
        var rig = Rig()
        rig.connect()
        rig.send(.alarm("a1"))
        rig.ack("a1")
        rig.receipt("a1", "zz", "a1")
        #expect(rig.delivered == ["a1"])
        #expect(rig.unknown == 2)
        #expect(rig.queue.receipts.unknownIds == 2)
        rig.queue.receiptRefused()
        #expect(rig.queue.receipts.refused == 1)
    }

    @Test("the deadline is the next receipt timeout while connected, or the next overdue announcement")
    func deadline() {
        var rig = Rig(delivery: DeliveryConfig(receiptTimeout: .seconds(10), receiptOverdue: .seconds(60)))
        #expect(rig.queue.deadline() == nil)
        rig.connect()
        let sent = rig.now
        rig.send(.alarm("a1"))
        #expect(rig.queue.deadline() == sent.advanced(by: .seconds(60)).advanced(by: .nanoseconds(1)))
        rig.now = rig.now.advanced(by: .seconds(2))
        rig.ack("a1")
        #expect(rig.queue.deadline() == sent.advanced(by: .seconds(12)))
        rig.disconnect()
        #expect(rig.queue.deadline() == sent.advanced(by: .seconds(60)).advanced(by: .nanoseconds(1)))
        #expect(rig.queue.oldestAwaitingSince() == sent)
    }

    @Test("outbox messages restored at start go out first, in their original order, ahead of new ones")
    func restoreOrder() {
        var rig = Rig(inflight: 10)
        rig.run(rig.queue.restore([.event("old-e"), .alarm("old-a"), .state("never")], now: rig.now))
        rig.send(.alarm("new-a"), .event("new-e"))
        rig.connect()
        #expect(rig.handed.map(\.name) == ["old-a", "new-a", "old-e", "new-e"])
    }

    @Test("50,000 alarms through the queue with receipts: every one delivered once, and the heaps hold no more than twice the live keys")
    func manyAlarms() {
        var rig = Rig(inflight: 20, queued: 100_000, bytes: 100_000_000)
        rig.connect()
        for index in 0 ..< 50_000 {
            rig.send(.alarm("a\(index)"))
            if index % 20 == 19 {
                for name in rig.inFlightNames() { rig.ack(name); rig.receipt(name) }
            }
            #expect(rig.queue.heapKeys <= 4 * rig.queue.count + 6 * 64 + 8)
        }
        #expect(Set(rig.delivered).count == 50_000 && rig.delivered.count == 50_000)
        #expect(rig.queue.count == 0)
    }

    @Test("a model check: 20,000 random events keep the window, the bounds and the books; nothing is lost unseen or delivered twice; alarms are never behind other messages")
    func randomEvents() {
        for seed: UInt64 in [1, 2, 3, 42] {
            var random = SeededRandom(seed: seed)
            var rig = Rig(inflight: 3, queued: 40, bytes: 400,
                          delivery: DeliveryConfig(receiptTimeout: .seconds(2), receiptTimeoutMax: .seconds(8), receiptOverdue: .seconds(5)))
            var sent: [String: DeliveryClass] = [:]
            var inFlight: [Int32] = []
            for step in 0 ..< 5_000 {
                let before = rig.handed.count
                switch random.next() % 12 {
                case 0, 1, 2:
                    let name = "a\(step)"
                    sent[name] = .alarm
                    rig.send(.alarm(name, size: Int(random.next() % 20)))
                case 3:
                    let name = "e\(step)"
                    sent[name] = .event
                    rig.send(.event(name, size: Int(random.next() % 20)))
                case 4:
                    let name = "t\(step)"
                    sent[name] = .telemetry
                    rig.send(.telemetry(name))
                case 5:
                    rig.send(.state("s\(step)"))
                case 6, 7:
                    if let mid = inFlight.randomElement(using: &random) {
                        inFlight.removeAll { $0 == mid }
                        rig.run(rig.queue.published(mid: mid, reason: random.next() % 10 == 0 ? 0x80 : 0, now: rig.now))
                    }
                case 8:
                    let ids = sent.keys.filter { $0.hasPrefix("a") }.shuffled(using: &random).prefix(3)
                    rig.run(rig.queue.receipt(Array(ids), now: rig.now))
                case 9:
                    rig.advance(.milliseconds(Int64(random.next() % 3000)))
                case 10:
                    if rig.queue.isConnected { rig.disconnect(); inFlight = [] } else { rig.connect(snapshot: [.state("status\(step)")]) }
                default:
                    rig.run(rig.queue.resendAwaiting(now: rig.now))
                }
                inFlight += rig.handed[before...].filter { $0.qos > 0 }.map(\.mid)
                #expect(rig.queue.inflight <= 3)
                #expect(rig.queue.count <= 40 || rig.queue.count <= rig.queue.inflight)
                #expect(rig.queue.bytes <= 400 || rig.queue.count <= rig.queue.inflight)
                #expect(rig.queue.heapKeys <= 4 * rig.queue.count + 6 * 64 + 8)
            }
            let done = rig.delivered.filter { sent[$0] != nil } + rig.dropped.map(\.name).filter { sent[$0] != nil }
            #expect(Set(done).count == done.count, "seed \(seed): a message left the queue twice")
            #expect(Set(done).isSubset(of: Set(sent.keys)))
            // Every alarm sent is delivered, dropped (and counted), or still held: none vanishes.
            let alarmsSent = sent.values.filter { $0 == .alarm }.count
            let alarmsDone = Set(done.filter { $0.hasPrefix("a") }).count
            #expect(alarmsSent == alarmsDone + rig.queue.alarmsOutstanding, "seed \(seed)")
            #expect(!rig.alarmBehindOther, "seed \(seed): an alarm waited behind another message")
            let counted = rig.queue.drops.queueFull + rig.queue.drops.telemetryCoalesced + rig.queue.drops.rejectedByBroker
            #expect(Int(counted) == rig.dropped.count, "seed \(seed): every drop is counted")
        }
    }
}
