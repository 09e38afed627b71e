import ParkGuardCore
import Testing

@Suite("Alarm ids")
struct AlarmIDTests {
    @Test("alarm ids are RFC 4122 version 4 UUIDs in lowercase, and 100,000 of them are all distinct")
    func distinctVersion4() {
        var seen = Set<String>()
        for _ in 0 ..< 100_000 {
            let id = AlarmID.make()
            #expect(id.count == 36)
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
        let sample = AlarmID.make()
        let parts = sample.split(separator: "-")
        #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
        #expect(parts[2].first == "4")
        #expect("89ab".contains(parts[3].first!))
        #expect(sample == sample.lowercased())
    }

    @Test("a seeded generator gives the same id twice, so ids are made only from the generator's bytes")
    func deterministicFromGenerator() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42)
        #expect(AlarmID.make(using: &a) == AlarmID.make(using: &b))
    }
}
