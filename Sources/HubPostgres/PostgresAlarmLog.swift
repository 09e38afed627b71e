import Foundation
import Logging
import ParkGuardCore
import ParkGuardHub
import PostgresNIO

/// The alarm log in PostgreSQL (postgres-nio), for a district whose hub instances share one log.
/// Same table and lifecycle as ``SQLiteAlarmLog``; migrations are numbered and recorded in
/// `parkguard_migrations`, applied in one transaction each. The operators, their sessions and the
/// audit trail are in the same database (`PostgresOperatorStore.swift`).
public final class PostgresAlarmLog: HubDatabase {
    let client: PostgresClient
    private let runner: Task<Void, Never>
    private let name: String

    /// Connects (the pool runs until the log is released) and migrates.
    /// - Throws: ``AlarmLogError`` naming the server and what failed.
    public init(host: String, port: Int, user: String, password: String?, database: String, logger: Logger) async throws {
        name = "postgres://\(user)@\(host):\(port)/\(database)"
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        // The pool retries failed connections on its own; its per-attempt messages are noise
        // next to the one error this initialiser throws or the failing queries report.
        var background = logger
        background.logLevel = .critical
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        runner = Task { await client.run() }
        do {
            // A server that is not there would make the first query wait for ever.
            try await withThrowingTaskGroup(of: Void.self) { [self] group in
                group.addTask { try await self.migrate() }
                group.addTask {
                    try await Task.sleep(for: .seconds(10))
                    throw AlarmLogError("no answer within 10 s")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            runner.cancel()
            throw AlarmLogError("alarm log \(name): \(String(describing: error).prefix(400))")
        }
    }

    deinit { runner.cancel() }

    /// Parses `postgres://user[:password]@host[:port]/database`.
    public static func parse(url: String) -> (host: String, port: Int, user: String, password: String?, database: String)? {
        guard let components = URLComponents(string: url), components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else { return nil }
        let database = String(components.path.dropFirst())
        guard !database.isEmpty, !database.contains("/") else { return nil }
        return (host, components.port ?? 5432, user, components.password, database)
    }

    private func migrate() async throws {
        try await client.query("CREATE TABLE IF NOT EXISTS parkguard_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
        var applied: Set<Int> = []
        for try await version in try await client.query("SELECT version FROM parkguard_migrations").decode(Int.self) { applied.insert(version) }
        let now = Date().timeIntervalSince1970
        if !applied.contains(1) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                CREATE TABLE alarm (
                  id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, bell TEXT NOT NULL, kind TEXT NOT NULL,
                  seq BIGINT NOT NULL, session BIGINT NOT NULL, raised_at TEXT NOT NULL, delivered_at DOUBLE PRECISION NOT NULL,
                  acknowledged_at DOUBLE PRECISION, acknowledged_by TEXT, cleared_at DOUBLE PRECISION, cameras TEXT NOT NULL)
                """, logger: Self.quiet)
            try await connection.query("CREATE INDEX alarm_delivered ON alarm (delivered_at)", logger: Self.quiet)
            try await connection.query("CREATE INDEX alarm_bell ON alarm (site, unit, bell, cleared_at)", logger: Self.quiet)
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (1, \(now))", logger: Self.quiet)
        } }
        if !applied.contains(2) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("CREATE INDEX alarm_unit_seq ON alarm (site, unit, seq)", logger: Self.quiet)
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (2, \(now))", logger: Self.quiet)
        } }
        if !applied.contains(3) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                CREATE TABLE operator (
                  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, disabled BOOLEAN NOT NULL, language TEXT NOT NULL DEFAULT 'en',
                  created_at DOUBLE PRECISION NOT NULL, changed_at DOUBLE PRECISION NOT NULL)
                """, logger: Self.quiet)
            try await connection.query("""
                CREATE TABLE console_session (
                  token_hash TEXT PRIMARY KEY, operator TEXT NOT NULL REFERENCES operator (name) ON DELETE CASCADE,
                  csrf_token TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, last_seen_at DOUBLE PRECISION NOT NULL, address TEXT NOT NULL)
                """, logger: Self.quiet)
            try await connection.query("CREATE INDEX console_session_operator ON console_session (operator)", logger: Self.quiet)
            try await connection.query("""
                CREATE TABLE audit (
                  id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                  target TEXT NOT NULL, detail TEXT NOT NULL, address TEXT NOT NULL)
                """, logger: Self.quiet)
            try await connection.query("CREATE INDEX audit_at ON audit (at)", logger: Self.quiet)
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (3, \(now))", logger: Self.quiet)
        } }
        if !applied.contains(4) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                CREATE TABLE incident (
                  id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, bell TEXT NOT NULL, kind TEXT NOT NULL, raised_at TEXT NOT NULL,
                  opened_at DOUBLE PRECISION NOT NULL, last_event_at DOUBLE PRECISION NOT NULL, events INTEGER NOT NULL,
                  acknowledged_at DOUBLE PRECISION, acknowledged_by TEXT, resolved_at DOUBLE PRECISION, resolved_by TEXT, outcome TEXT, note TEXT,
                  cameras TEXT NOT NULL, location TEXT)
                """, logger: Self.quiet)
            // At most one open incident per bell, whichever hub instance opens it.
            try await connection.query("CREATE UNIQUE INDEX incident_open_bell ON incident (site, unit, bell) WHERE resolved_at IS NULL", logger: Self.quiet)
            try await connection.query("CREATE INDEX incident_opened ON incident (opened_at)", logger: Self.quiet)
            try await connection.query("ALTER TABLE alarm ADD COLUMN incident TEXT", logger: Self.quiet)
            try await connection.query("CREATE INDEX alarm_incident ON alarm (incident)", logger: Self.quiet)
            // The log's alarms so far, grouped as the rule would have (read at once: a migration runs once).
            let alarms = try await records(connection.query("SELECT \(unescaped: Self.columns) FROM alarm ORDER BY delivered_at, seq", logger: Self.quiet))
            for (incident, ids) in IncidentRule.migrate(alarms) {
                try await Self.insert(incident, on: connection)
                try await connection.query("UPDATE alarm SET incident = \(incident.id) WHERE id = ANY(\(ids)::text[])", logger: Self.quiet)
            }
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (4, \(now))", logger: Self.quiet)
        } }
        if !applied.contains(5) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                CREATE TABLE self_test (
                  site TEXT NOT NULL, unit TEXT NOT NULL, time TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL, trigger TEXT NOT NULL,
                  passed BOOLEAN NOT NULL, problems TEXT NOT NULL, next_due TEXT, PRIMARY KEY (site, unit, time))
                """, logger: Self.quiet)
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (5, \(now))", logger: Self.quiet)
        } }
        if !applied.contains(6) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                CREATE TABLE snapshot (
                  id BIGSERIAL PRIMARY KEY, alarm_id TEXT NOT NULL, site TEXT NOT NULL, unit TEXT NOT NULL, camera TEXT NOT NULL,
                  stage TEXT NOT NULL, taken_at TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL, width INTEGER NOT NULL,
                  height INTEGER NOT NULL, bytes INTEGER NOT NULL, scaled BOOLEAN NOT NULL, jpeg BYTEA NOT NULL,
                  UNIQUE (site, unit, alarm_id, camera, stage))
                """, logger: Self.quiet)
            try await connection.query("CREATE INDEX snapshot_received ON snapshot (received_at)", logger: Self.quiet)
            try await connection.query("CREATE INDEX snapshot_alarm ON snapshot (alarm_id)", logger: Self.quiet)
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (6, \(now))", logger: Self.quiet)
        } }
        if !applied.contains(7) { try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                CREATE TABLE camera_event (
                  alarm_id TEXT NOT NULL, site TEXT NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, camera TEXT NOT NULL, target TEXT NOT NULL,
                  outcome TEXT NOT NULL, detail TEXT, milliseconds INTEGER, received_at DOUBLE PRECISION NOT NULL,
                  PRIMARY KEY (site, unit, alarm_id, kind, camera, target))
                """, logger: Self.quiet)
            try await connection.query("INSERT INTO parkguard_migrations (version, applied_at) VALUES (7, \(now))", logger: Self.quiet)
        } }
    }

    static let quiet = Logger(label: "parkguard-hub.postgres")

    public func commit(_ changes: [LogChange]) async throws -> [Int] {
        guard !changes.isEmpty else { return [] }
        // In order: each run of alarms is one statement (parallel arrays unnested), each
        // acknowledgement or clear one more; the whole batch is one transaction (one WAL flush).
        var steps: [[LogChange]] = []
        for change in changes {
            if case .alarm = change, case .alarm? = steps.last?.first { steps[steps.count - 1].append(change) } else { steps.append([change]) }
        }
        let planned = steps
        return try await client.withTransaction(logger: Self.quiet) { connection in
            var counts: [Int] = []
            for step in planned {
                switch step[0] {
                case .alarm:
                    let alarms = step.compactMap { change -> AlarmRecord? in if case .alarm(let alarm) = change { alarm } else { nil } }
                    var fresh = try await Self.insert(alarms, on: connection)
                    // 1 for the first copy of a new id, 0 for an id already there or repeated.
                    for alarm in alarms {
                        let new = fresh.remove(alarm.id) != nil
                        if new { try await Self.place(alarm, on: connection) }
                        counts.append(new ? 1 : 0)
                    }
                case .acknowledge(let unit, let bell, let by, let at):
                    counts.append(try await Self.count(connection.query("""
                        UPDATE alarm SET acknowledged_at = \(at.timeIntervalSince1970), acknowledged_by = \(by)
                        WHERE site = \(unit.site) AND unit = \(unit.unit) AND bell = \(bell) AND acknowledged_at IS NULL AND cleared_at IS NULL
                          AND kind IN ('press', 'stuck', 'lineFault', 'tamper')
                        RETURNING id
                        """, logger: Self.quiet)))
                    try await connection.query("""
                        UPDATE incident SET acknowledged_at = \(at.timeIntervalSince1970), acknowledged_by = \(by)
                        WHERE site = \(unit.site) AND unit = \(unit.unit) AND bell = \(bell) AND resolved_at IS NULL AND acknowledged_at IS NULL
                        """, logger: Self.quiet)
                case .clear(let unit, let bell, let at):
                    counts.append(try await Self.count(connection.query("""
                        UPDATE alarm SET cleared_at = \(at.timeIntervalSince1970)
                        WHERE site = \(unit.site) AND unit = \(unit.unit) AND bell = \(bell) AND cleared_at IS NULL AND acknowledged_at IS NOT NULL
                        RETURNING id
                        """, logger: Self.quiet)))
                }
            }
            return counts
        }
    }

    private static func insert(_ alarms: [AlarmRecord], on connection: PostgresConnection) async throws -> Set<String> {
        let encoder = JSONEncoder()
        var ids: [String] = [], sites: [String] = [], units: [String] = [], bells: [String] = [], kinds: [String] = []
        var seqs: [Int64] = [], sessions: [Int64] = [], raised: [String] = [], delivered: [Double] = [], cameras: [String] = []
        for alarm in alarms {
            ids.append(alarm.id); sites.append(alarm.unit.site); units.append(alarm.unit.unit); bells.append(alarm.bell)
            kinds.append(alarm.kind.rawValue); seqs.append(Int64(alarm.seq)); sessions.append(Int64(alarm.session))
            raised.append(alarm.raisedAt); delivered.append(alarm.deliveredAt.timeIntervalSince1970)
            cameras.append(String(decoding: try encoder.encode(alarm.cameras), as: UTF8.self))
        }
        let rows = try await connection.query("""
            INSERT INTO alarm (id, site, unit, bell, kind, seq, session, raised_at, delivered_at, cameras)
            SELECT * FROM unnest(\(ids)::text[], \(sites)::text[], \(units)::text[], \(bells)::text[], \(kinds)::text[],
                                 \(seqs)::bigint[], \(sessions)::bigint[], \(raised)::text[], \(delivered)::double precision[], \(cameras)::text[])
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, logger: Self.quiet)
        var inserted: Set<String> = []
        for try await id in rows.decode(String.self) { inserted.insert(id) }
        return inserted
    }

    public func watermarks() async throws -> [UnitKey: SeqWatermark] {
        let rows = try await client.query("""
            SELECT DISTINCT ON (site, unit) site, unit, session, seq FROM alarm ORDER BY site, unit, seq DESC
            """)
        var result: [UnitKey: SeqWatermark] = [:]
        for try await (site, unit, session, seq) in rows.decode((String, String, Int64, Int64).self) {
            result[UnitKey(site: site, unit: unit)] = SeqWatermark(session: UInt64(session), seq: UInt64(seq))
        }
        return result
    }

    public func alarms(since: Date, limit: Int) async throws -> [AlarmRecord] {
        try await records(client.query("""
            SELECT \(unescaped: Self.columns) FROM alarm WHERE delivered_at >= \(since.timeIntervalSince1970)
            ORDER BY delivered_at, seq LIMIT \(limit)
            """))
    }

    public func openAlarms(limit: Int) async throws -> [AlarmRecord] {
        try await records(client.query("""
            SELECT \(unescaped: Self.columns) FROM alarm WHERE acknowledged_at IS NULL AND cleared_at IS NULL
              AND kind IN ('press', 'stuck', 'lineFault', 'tamper')
            ORDER BY delivered_at DESC LIMIT \(limit)
            """))
    }

    static let columns = "id, site, unit, bell, kind, seq, session, raised_at, delivered_at, acknowledged_at, acknowledged_by, cleared_at, cameras"

    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    func records(_ rows: PostgresRowSequence) async throws -> [AlarmRecord] {
        var result: [AlarmRecord] = []
        let decoded = rows.decode((String, String, String, String, String, Int64, Int64, String, Double, Double?, String?, Double?, String).self)
        for try await (id, site, unit, bell, kind, seq, session, raised, delivered, acknowledged, by, cleared, cameras) in decoded {
            guard let kind = AlarmKind(rawValue: kind) else { throw AlarmLogError("alarm \(id): unknown kind '\(kind)'") }
            result.append(AlarmRecord(
                id: id, unit: UnitKey(site: site, unit: unit), bell: bell, kind: kind, seq: UInt64(seq), session: UInt64(session),
                raisedAt: raised, deliveredAt: Date(timeIntervalSince1970: delivered),
                acknowledgedAt: acknowledged.map(Date.init(timeIntervalSince1970:)), acknowledgedBy: by,
                clearedAt: cleared.map(Date.init(timeIntervalSince1970:)),
                cameras: (try? JSONDecoder().decode([CameraLink].self, from: Data(cameras.utf8))) ?? []))
        }
        return result
    }
}
