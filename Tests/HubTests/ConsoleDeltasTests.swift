import Foundation
@testable import HubConsole
import ParkGuardHub
import Testing

@Suite("Console deltas")
struct ConsoleDeltasTests {
    func view(_ unit: String, online: Bool) -> UnitView {
        let json = #"{"key":{"site":"s","unit":"\#(unit)"},"online":\#(online),"lastSeen":0,"bells":{},"cameras":{}}"#
        return try! JSONDecoder().decode(UnitView.self, from: Data(json.utf8))
    }

    @Test("a unit that changed many times since the last flush is sent once, as it is now; a flush empties it")
    func coalesces() {
        var deltas = ConsoleDeltas()
        #expect(deltas.isEmpty)
        deltas.add(view("b", online: true))
        deltas.add(view("a", online: true))
        deltas.add(view("b", online: false))
        let taken = deltas.take()
        #expect(taken.map(\.key.unit) == ["a", "b"] && taken.last?.online == false)
        #expect(deltas.isEmpty && deltas.take().isEmpty)
    }
}
