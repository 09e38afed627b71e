import ParkGuardHub

/// What one console's live stream owes its page since the last flush: the latest view of each
/// unit that changed (a unit that changed ten times is sent once) and whether incidents changed
/// (the stream itself signals those at once; the flag serves a caller that batches them too).
/// Pure; the stream flushes it every ``ConsoleDeltas/interval``, so a fleet of 15,000 units
/// reporting costs the page a few batched events a second, not one event per message.
struct ConsoleDeltas {
    /// How often a stream sends what gathered.
    static let interval: Duration = .milliseconds(250)

    private var units: [UnitKey: UnitView] = [:]
    private var incidentsChanged = false

    mutating func add(_ update: Hub.HubUpdate) {
        switch update {
        case .unit(let view): units[view.key] = view
        case .alarm, .alarmsChanged: incidentsChanged = true
        }
    }

    /// What gathered since the last call (units in key order), and empties it.
    mutating func take() -> (units: [UnitView], incidentsChanged: Bool) {
        defer { units.removeAll(keepingCapacity: true); incidentsChanged = false }
        return (units.values.sorted { $0.key < $1.key }, incidentsChanged)
    }

    var isEmpty: Bool { units.isEmpty && !incidentsChanged }
}
