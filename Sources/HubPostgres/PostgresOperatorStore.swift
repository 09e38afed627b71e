import Foundation
import ParkGuardHub
import PostgresNIO

/// Operators, console sessions and the audit trail in the alarm log's PostgreSQL database
/// (migration 3): shared by every hub instance on the database.
extension PostgresAlarmLog {
    private static let accountColumns = "name, role, password_hash, disabled, language, created_at, changed_at"

    public func account(named name: String) async throws -> OperatorAccount? {
        try await accounts(client.query("SELECT \(unescaped: Self.accountColumns) FROM operator WHERE name = \(name)", logger: Self.quiet)).first
    }

    public func accounts() async throws -> [OperatorAccount] {
        try await accounts(client.query("SELECT \(unescaped: Self.accountColumns) FROM operator ORDER BY name", logger: Self.quiet))
    }

    public func save(_ account: OperatorAccount, endingSessions: Bool, audit: AuditEntry) async throws {
        try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                INSERT INTO operator (name, role, password_hash, disabled, language, created_at, changed_at)
                VALUES (\(account.name), \(account.role.rawValue), \(account.passwordHash), \(account.disabled), \(account.language.rawValue),
                        \(account.createdAt.timeIntervalSince1970), \(account.changedAt.timeIntervalSince1970))
                ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,
                  disabled = excluded.disabled, language = excluded.language, changed_at = excluded.changed_at
                """, logger: Self.quiet)
            if endingSessions { try await connection.query("DELETE FROM console_session WHERE operator = \(account.name)", logger: Self.quiet) }
            try await Self.insert(audit, on: connection)
        }
    }

    public func open(_ session: ConsoleSession, audit: AuditEntry) async throws {
        try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("""
                INSERT INTO console_session (token_hash, operator, csrf_token, created_at, last_seen_at, address)
                VALUES (\(session.tokenHash), \(session.operatorName), \(session.csrfToken), \(session.createdAt.timeIntervalSince1970),
                        \(session.lastSeenAt.timeIntervalSince1970), \(session.address))
                """, logger: Self.quiet)
            try await Self.insert(audit, on: connection)
        }
    }

    public func session(tokenHash: String) async throws -> ConsoleSession? {
        let rows = try await client.query("""
            SELECT token_hash, operator, csrf_token, created_at, last_seen_at, address FROM console_session WHERE token_hash = \(tokenHash)
            """, logger: Self.quiet)
        for try await (hash, name, csrf, created, seen, address) in rows.decode((String, String, String, Double, Double, String).self) {
            return ConsoleSession(tokenHash: hash, operatorName: name, csrfToken: csrf, createdAt: Date(timeIntervalSince1970: created),
                                  lastSeenAt: Date(timeIntervalSince1970: seen), address: address)
        }
        return nil
    }

    public func touch(tokenHash: String, at: Date) async throws {
        try await client.query("UPDATE console_session SET last_seen_at = \(at.timeIntervalSince1970) WHERE token_hash = \(tokenHash)",
                               logger: Self.quiet)
    }

    public func close(tokenHash: String, audit: AuditEntry) async throws {
        try await client.withTransaction(logger: Self.quiet) { connection in
            try await connection.query("DELETE FROM console_session WHERE token_hash = \(tokenHash)", logger: Self.quiet)
            try await Self.insert(audit, on: connection)
        }
    }

    public func record(_ entry: AuditEntry) async throws {
        try await client.withConnection { connection in try await Self.insert(entry, on: connection) }
    }

    public func audit(since: Date, limit: Int) async throws -> [AuditEntry] {
        let rows = try await client.query("""
            SELECT at, actor, action, target, detail, address FROM audit WHERE at >= \(since.timeIntervalSince1970) ORDER BY at, id LIMIT \(limit)
            """, logger: Self.quiet)
        var entries: [AuditEntry] = []
        for try await (at, actor, action, target, detail, address) in rows.decode((Double, String, String, String, String, String).self) {
            guard let action = AuditEntry.Action(rawValue: action) else { throw AlarmLogError("audit entry at \(at): unknown action '\(action)'") }
            entries.append(AuditEntry(at: Date(timeIntervalSince1970: at), actor: actor, action: action, target: target, detail: detail, address: address))
        }
        return entries
    }

    static func insert(_ entry: AuditEntry, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO audit (at, actor, action, target, detail, address)
            VALUES (\(entry.at.timeIntervalSince1970), \(entry.actor), \(entry.action.rawValue), \(entry.target), \(entry.detail), \(entry.address))
            """, logger: quiet)
    }

    private func accounts(_ rows: PostgresRowSequence) async throws -> [OperatorAccount] {
        var result: [OperatorAccount] = []
        for try await (name, role, hash, disabled, language, created, changed) in rows.decode((String, String, String, Bool, String, Double, Double).self) {
            guard let role = OperatorRole(rawValue: role), let language = ConsoleLanguage(rawValue: language) else {
                throw AlarmLogError("operator \(name): unknown role '\(role)' or language '\(language)'")
            }
            result.append(OperatorAccount(name: name, role: role, passwordHash: hash, disabled: disabled, language: language,
                                          createdAt: Date(timeIntervalSince1970: created), changedAt: Date(timeIntervalSince1970: changed)))
        }
        return result
    }
}
