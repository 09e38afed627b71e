import Foundation
import ParkGuardTestKit

/// An alarm as `parkguard-hub alarms --json` prints it (the fields the hub tests check).
struct LoggedAlarm: Decodable {
    var id: String
    var kind: String
    var unit: Unit
    struct Unit: Decodable { var site: String; var unit: String }
}

/// Every alarm of the last hour in `db` (a SQLite file or a postgres:// URL), read by the real
/// `parkguard-hub alarms`.
func loggedAlarms(in db: String) async throws -> [LoggedAlarm] {
    let result = try await run(Products.path("parkguard-hub"), ["alarms", "--db", db, "--since", "1h", "--limit", "1000000", "--json"])
    guard result.status == 0 else { throw HarnessError("parkguard-hub alarms --db \(db): \(result.error)") }
    return try result.output.split(separator: "\n").map { try JSONDecoder().decode(LoggedAlarm.self, from: Data($0.utf8)) }
}
