import ParkGuardCore
import Testing

@Suite("Deadline queue")
struct DeadlineQueueTests {
    @Test("deadlines come out in order, each owner at most once, a new deadline replacing the old")
    func orderAndReplacement() {
        var queue = DeadlineQueue<String, Int, String>()
        queue.set("a", at: 30, "a1")
        queue.set("b", at: 10, "b1")
        queue.set("c", at: 20, "c1")
        queue.set("a", at: 5, "a2")  // replaces a's 30
        #expect(queue.count == 3)
        #expect(queue.earliest() == 5)
        #expect(queue.popDue(4) == nil, "nothing is due before its deadline")
        var taken: [String] = []
        while let (owner, value) = queue.popDue(100) { taken.append("\(owner):\(value)") }
        #expect(taken == ["a:a2", "b:b1", "c:c1"])
        #expect(queue.count == 0)
        #expect(queue.earliest() == nil)
    }

    @Test("a cancelled deadline never comes out, and cancelling leaves the others alone")
    func cancel() {
        var queue = DeadlineQueue<Int, Int, Void>()
        queue.set(1, at: 10, ())
        queue.set(2, at: 20, ())
        queue.cancel(1)
        queue.set(3, at: nil, ())  // nil: no deadline
        #expect(queue.earliest() == 20)
        #expect(queue.deadline(of: 1) == nil)
        #expect(queue.popDue(50).map(\.owner) == 2)
        #expect(queue.popDue(50) == nil)
    }

    @Test("equal deadlines come out in the order they were set")
    func ties() {
        var queue = DeadlineQueue<Int, Int, Void>()
        for owner in [5, 3, 9, 1] { queue.set(owner, at: 7, ()) }
        var taken: [Int] = []
        while let (owner, _) = queue.popDue(7) { taken.append(owner) }
        #expect(taken == [5, 3, 9, 1])
    }

    @Test("after many replacements and cancellations, each owner's last deadline comes out, in order")
    func churn() {
        var queue = DeadlineQueue<Int, Int, Int>()
        var expected: [Int: Int] = [:]
        var lastStep: [Int: Int] = [:]
        var random = SeededRandom(seed: 7)
        for step in 0 ..< 100_000 {
            let owner = Int(random.next() % 50)
            if random.next() % 5 == 0 {
                queue.cancel(owner)
                expected[owner] = nil
            } else {
                let deadline = Int(random.next() % 1_000_000)
                queue.set(owner, at: deadline, step)
                expected[owner] = deadline
                lastStep[owner] = step
            }
        }
        #expect(queue.count == expected.count)
        var last = Int.min
        var seen: [Int: Int] = [:]
        while let (owner, step) = queue.popDue(Int.max) {
            let deadline = expected[owner] ?? -1
            #expect(step == lastStep[owner], "the value set last comes out")
            #expect(deadline >= last)
            last = deadline
            seen[owner] = deadline
        }
        #expect(seen == expected)
    }
}
