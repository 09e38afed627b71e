import ParkGuardHub

/// The unit rows one console's live stream owes its page since the last flush: the latest view
/// of each unit that changed (a unit that changed ten times is sent once). Pure; the stream
/// flushes it every ``ConsoleDeltas/interval``, so a fleet of 15,000 units reporting costs the
/// page a few batched events a second, not one event per message. (Incidents are not batched:
/// the stream signals them at once.)
struct ConsoleDeltas {
    /// How often a stream sends what gathered.
    static let interval: Duration = .milliseconds(250)

    private var units: [UnitKey: UnitView] = [:]

    mutating func add(_ view: UnitView) { units[view.key] = view }

    /// The units that changed since the last call, in key order; empties it.
    mutating func take() -> [UnitView] {
        defer { units.removeAll(keepingCapacity: true) }
        return units.values.sorted { $0.key < $1.key }
    }

    var isEmpty: Bool { units.isEmpty }
}
