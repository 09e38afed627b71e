import ParkGuardTestKit
import ParkGuardCore
import Testing

private func message(_ n: Int) -> OutboxFormat.Message {
    OutboxFormat.Message(kind: UInt8(n % 4), qos: 1, retain: false, topic: "parkguard/v1/s/u/bell/b\(n)/alarm",
                         correlationData: n % 3 == 0 ? [1, 2, UInt8(n % 256)] : nil, alarmID: n % 2 == 0 ? "id-\(n)" : nil,
                         payload: Array("{\"n\":\(n)}".utf8))
}

private func log(_ records: [OutboxFormat.Record]) -> [UInt8] {
    OutboxFormat.header + records.flatMap(OutboxFormat.encode)
}


@Suite("Outbox format")
struct OutboxFormatTests {
    @Test("CRC-32C matches the standard check value")
    func crcCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test("records round-trip: puts with every optional field, and dones")
    func roundTrip() throws {
        let records: [OutboxFormat.Record] = (1 ... 20).map { .put(id: UInt64($0), message($0)) } + [.done(id: 3), .done(id: 7)]
        let scan = try OutboxFormat.scan(log(records))
        #expect(scan.records == records)
        #expect(scan.problem == nil)
        #expect(scan.goodLength == log(records).count)
    }

    @Test("a log cut at any byte keeps exactly the whole records before the cut")
    func truncationAtEveryOffset() throws {
        let records: [OutboxFormat.Record] = (1 ... 6).map { .put(id: UInt64($0), message($0)) }
        let bytes = log(records)
        var boundaries = [OutboxFormat.headerSize]
        for record in records { boundaries.append(boundaries.last! + OutboxFormat.encode(record).count) }
        for cut in OutboxFormat.headerSize ... bytes.count {
            let scan = try OutboxFormat.scan(Array(bytes[0 ..< cut]))
            let whole = boundaries.filter { $0 <= cut }.count - 1
            #expect(scan.records.count == whole, "cut at \(cut)")
            #expect(scan.goodLength == boundaries[whole])
            #expect((scan.problem == nil) == (cut == boundaries[whole]))
        }
    }

    @Test("a flipped bit anywhere in a record is caught and the records before it are kept")
    func garbledRecordIsCaught() throws {
        let records: [OutboxFormat.Record] = (1 ... 4).map { .put(id: UInt64($0), message($0)) }
        let bytes = log(records)
        let secondStart = OutboxFormat.headerSize + OutboxFormat.encode(records[0]).count
        for offset in secondStart ..< bytes.count {
            var damaged = bytes
            damaged[offset] ^= 0x10
            let scan = try OutboxFormat.scan(damaged)
            #expect(scan.records.first == records[0], "offset \(offset)")
            #expect(scan.goodLength >= secondStart)
            #expect(scan.records.count < records.count || scan.problem == nil)
        }
    }

    @Test("an unusable header is refused with a reason")
    func badHeaders() {
        #expect(throws: OutboxFormat.HeaderProblem.tooShort(3)) { try OutboxFormat.scan([1, 2, 3]) }
        #expect(throws: OutboxFormat.HeaderProblem.badMagic) { try OutboxFormat.scan(Array(repeating: 0, count: 16)) }
        var future = OutboxFormat.header
        future[8] = 9
        #expect(throws: OutboxFormat.HeaderProblem.unsupportedVersion(9)) { try OutboxFormat.scan(future) }
    }

    @Test("10,000 random tails and random files never crash the scanner")
    func fuzzScanner() {
        var random = SeededRandom(seed: 0x5EED)
        let valid = log((1 ... 5).map { .put(id: UInt64($0), message($0)) })
        for round in 0 ..< 10_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = OutboxFormat.header + (0 ..< Int.random(in: 0 ... 200, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
            case 1:
                bytes = valid
                for _ in 0 ..< Int.random(in: 1 ... 8, using: &random) {
                    let index = Int.random(in: OutboxFormat.headerSize ..< bytes.count, using: &random)
                    bytes[index] = UInt8.random(in: 0 ... 255, using: &random)
                }
            default:
                bytes = Array(valid.prefix(Int.random(in: 0 ... valid.count, using: &random)))
            }
            if let scan = try? OutboxFormat.scan(bytes) {
                #expect(scan.goodLength <= bytes.count)
                #expect(scan.goodLength >= OutboxFormat.headerSize)
            }
        }
    }
}
