import HeapModule

/// At most one deadline per owner, taken in deadline order: setting an owner's deadline replaces
/// the one it had. A min-heap with lazy removal, so setting, replacing, cancelling and taking
/// the earliest cost O(log n) whatever the number of owners (the fleet simulator's network loop
/// holds one per agent, thousands, and used to scan and copy them all on every turn).
public struct DeadlineQueue<Owner: Hashable, Deadline: Comparable, Value> {
    private struct Key: Comparable {
        let deadline: Deadline
        let sequence: UInt64
        let owner: Owner
        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.deadline, lhs.sequence) < (rhs.deadline, rhs.sequence) }
        static func == (lhs: Key, rhs: Key) -> Bool { lhs.sequence == rhs.sequence }
    }

    private var heap = Heap<Key>()
    /// The live deadline of each owner: its sequence number (a heap key with another one is stale).
    private var current: [Owner: (sequence: UInt64, deadline: Deadline, value: Value)] = [:]
    private var nextSequence: UInt64 = 0

    public init() {}

    /// Owners with a deadline.
    public var count: Int { current.count }

    /// The deadline `owner` has, if any.
    public func deadline(of owner: Owner) -> Deadline? { current[owner]?.deadline }

    /// Sets (or replaces) `owner`'s deadline; `nil` cancels it.
    public mutating func set(_ owner: Owner, at deadline: Deadline?, _ value: Value) {
        guard let deadline else {
            current[owner] = nil
            return
        }
        nextSequence += 1
        current[owner] = (nextSequence, deadline, value)
        heap.insert(Key(deadline: deadline, sequence: nextSequence, owner: owner))
        // Replaced and cancelled keys stay until they reach the top: rebuild before they dominate.
        if heap.count > 2 * current.count + 64 {
            heap = Heap(current.map { Key(deadline: $0.value.deadline, sequence: $0.value.sequence, owner: $0.key) })
        }
    }

    /// Cancels `owner`'s deadline.
    public mutating func cancel(_ owner: Owner) { current[owner] = nil }

    /// The earliest live deadline.
    public mutating func earliest() -> Deadline? { liveTop()?.deadline }

    /// Takes the earliest deadline if it is at or before `now`.
    public mutating func popDue(_ now: Deadline) -> (owner: Owner, value: Value)? {
        guard let top = liveTop(), top.deadline <= now, let entry = current.removeValue(forKey: top.owner) else { return nil }
        heap.removeMin()
        return (top.owner, entry.value)
    }

    /// The heap's top after discarding stale keys.
    private mutating func liveTop() -> Key? {
        while let top = heap.min {
            if current[top.owner]?.sequence == top.sequence { return top }
            heap.removeMin()
        }
        return nil
    }
}
