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

    @Test("a unit that changed many times since the last flush is sent once, as it is now; incidents are one flag; a flush empties it")
    func coalesces() {
        var deltas = ConsoleDeltas()
        #expect(deltas.isEmpty)
        deltas.add(.unit(view("b", online: true)))
        deltas.add(.unit(view("a", online: true)))
        deltas.add(.unit(view("b", online: false)))
        deltas.add(.alarmsChanged)
        deltas.add(.alarmsChanged)
        let taken = deltas.take()
        #expect(taken.units.map(\.key.unit) == ["a", "b"] && taken.units.last?.online == false && taken.incidentsChanged)
        #expect(deltas.isEmpty && deltas.take().units.isEmpty)
    }
}
