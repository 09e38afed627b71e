import ArgumentParser
import Foundation
import HubConsole
import ParkGuardHub

/// One JSON object per line, keys sorted, dates RFC 3339: what every `--json` of the CLI prints.
func printJSONLine<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `--language`: the words of the table (the console's catalogue); JSON and CSV stay as they are.
struct LanguageOption: ParsableArguments {
    @Option(help: ArgumentHelp("The table's language: \(ConsoleLanguage.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "code"))
    var language: ConsoleLanguage = .en
}

/// `parkguard-hub incidents`: the incidents of a period, as a table, JSON lines or CSV.
struct Incidents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List incidents (calls, faults, tamper) with who acknowledged and resolved them; export a period as CSV.")

    @Option(help: "The hub's database: a SQLite file or postgres://user[:password]@host[:port]/database.")
    var db = "parkguard-hub.sqlite"

    @Option(help: "Opened from when: an RFC 3339 time (2026-11-25T08:00:00Z) or an age (90s, 15m, 2h, 7d).")
    var since = "24h"

    @Option(help: "Opened before when (RFC 3339 time or age; default: now).")
    var until: String?

    @Option(help: "At most this many incidents.")
    var limit = 10_000

    @Flag(help: "Only unresolved incidents.")
    var open = false

    @Flag(help: "JSON lines instead of a table.")
    var json = false

    @Flag(help: "CSV (RFC 4180, a header line) instead of a table.")
    var csv = false

    @OptionGroup var language: LanguageOption

    func validate() throws {
        let (from, to) = try period()
        guard from <= to else { throw ValidationError("--until must not be before --since") }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        guard !(json && csv) else { throw ValidationError("--json and --csv exclude each other") }
    }

    func period(now: Date = Date()) throws -> (Date, Date) {
        let from = try Age.since(since, now: now)
        guard let until else { return (from, now) }
        do {
            return (from, try Age.since(until, now: now))
        } catch {
            throw ValidationError("--until must be an RFC 3339 time like 2026-11-25T08:00:00Z or an age like 15m, 2h, 7d; got '\(until)'")
        }
    }

    func run() async throws {
        let log = try await openExistingLog(db)
        let (from, to) = try period()
        let incidents = try await log.incidents(since: from, limit: limit, openOnly: open).filter { $0.openedAt < to }
        if csv { print(IncidentCSV.header, terminator: "\r\n") }
        for incident in incidents {
            if json {
                try printJSONLine(incident)
            } else if csv {
                print(IncidentCSV.row(incident), terminator: "\r\n")
            } else {
                print(ControlRoomText.incident(incident, language.language))
            }
        }
    }
}
