import Foundation
import GRDB

/// Operators, console sessions and the audit trail in the alarm log's SQLite file (migration v3).
extension SQLiteAlarmLog {
    public func account(named name: String) async throws -> OperatorAccount? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM operator WHERE name = ?", arguments: [name]).map(Self.account)
        }
    }

    public func accounts() async throws -> [OperatorAccount] {
        try await database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM operator ORDER BY name").map(Self.account) }
    }

    public func save(_ account: OperatorAccount, endingSessions: Bool, audit: AuditEntry) async throws {
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO operator (name, role, passwordHash, disabled, language, createdAt, changedAt) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET role = excluded.role, passwordHash = excluded.passwordHash,
                  disabled = excluded.disabled, language = excluded.language, changedAt = excluded.changedAt
                """, arguments: [account.name, account.role.rawValue, account.passwordHash, account.disabled, account.language.rawValue,
                                 account.createdAt.timeIntervalSince1970, account.changedAt.timeIntervalSince1970])
            if endingSessions { try db.execute(sql: "DELETE FROM console_session WHERE operator = ?", arguments: [account.name]) }
            try Self.insert(audit, db)
        }
    }

    public func open(_ session: ConsoleSession, audit: AuditEntry) async throws {
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO console_session (tokenHash, operator, csrfToken, createdAt, lastSeenAt, address) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [session.tokenHash, session.operatorName, session.csrfToken, session.createdAt.timeIntervalSince1970,
                                 session.lastSeenAt.timeIntervalSince1970, session.address])
            try Self.insert(audit, db)
        }
    }

    public func session(tokenHash: String) async throws -> ConsoleSession? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM console_session WHERE tokenHash = ?", arguments: [tokenHash]).map { row in
                ConsoleSession(tokenHash: row["tokenHash"], operatorName: row["operator"], csrfToken: row["csrfToken"],
                               createdAt: Date(timeIntervalSince1970: row["createdAt"]), lastSeenAt: Date(timeIntervalSince1970: row["lastSeenAt"]),
                               address: row["address"])
            }
        }
    }

    public func touch(tokenHash: String, at: Date) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE console_session SET lastSeenAt = ? WHERE tokenHash = ?", arguments: [at.timeIntervalSince1970, tokenHash])
        }
    }

    public func close(tokenHash: String, audit: AuditEntry) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM console_session WHERE tokenHash = ?", arguments: [tokenHash])
            try Self.insert(audit, db)
        }
    }

    public func record(_ entry: AuditEntry) async throws {
        try await database.write { db in try Self.insert(entry, db) }
    }

    public func audit(since: Date, limit: Int) async throws -> [AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE at >= ? ORDER BY at, id LIMIT ?", arguments: [since.timeIntervalSince1970, limit])
                .map { row in
                    guard let action = AuditEntry.Action(rawValue: row["action"]) else {
                        throw AlarmLogError("audit entry \(row["id"] as Int64? ?? 0): unknown action")
                    }
                    return AuditEntry(at: Date(timeIntervalSince1970: row["at"]), actor: row["actor"], action: action, target: row["target"],
                                      detail: row["detail"], address: row["address"])
                }
        }
    }

    static func insert(_ entry: AuditEntry, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO audit (at, actor, action, target, detail, address) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [entry.at.timeIntervalSince1970, entry.actor, entry.action.rawValue, entry.target, entry.detail, entry.address])
    }

    private static func account(_ row: Row) throws -> OperatorAccount {
        guard let role = OperatorRole(rawValue: row["role"]), let language = ConsoleLanguage(rawValue: row["language"]) else {
            throw AlarmLogError("operator \(row["name"] as String? ?? "?"): unknown role or language")
        }
        return OperatorAccount(name: row["name"], role: role, passwordHash: row["passwordHash"], disabled: row["disabled"], language: language,
                               createdAt: Date(timeIntervalSince1970: row["createdAt"]), changedAt: Date(timeIntervalSince1970: row["changedAt"]))
    }
}
