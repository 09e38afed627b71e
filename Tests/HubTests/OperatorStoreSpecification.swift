import Foundation
import ParkGuardCore
import ParkGuardHub
import Testing

/// What every operator store must do, run against SQLite and PostgreSQL alike.
enum OperatorStoreSpecification {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func cli(_ action: AuditEntry.Action, _ name: String, at: Date) -> AuditEntry {
        AuditEntry(at: at, actor: "root", action: action, target: name, address: "cli")
    }

    /// Accounts are kept and replaced by name; sessions are found by their token's hash, touched,
    /// closed, and ended with their account's change; every change is in the audit trail in order.
    static func accountsSessionsAndAudit(_ store: any OperatorStore, reopen: () async throws -> any OperatorStore) async throws {
        let anna = OperatorAccount(name: "anna", role: .operator, passwordHash: "$2b$12$hash-a", language: .ko, createdAt: t0, changedAt: t0)
        try await store.save(anna, endingSessions: false, audit: cli(.operatorAdded, "anna", at: t0))
        try await store.save(OperatorAccount(name: "ben", role: .viewer, passwordHash: "$2b$12$hash-b", createdAt: t0, changedAt: t0),
                             endingSessions: false, audit: cli(.operatorAdded, "ben", at: t0.addingTimeInterval(1)))
        #expect(try await store.account(named: "anna") == anna)
        #expect(try await store.account(named: "nobody") == nil)
        #expect(try await store.accounts().map(\.name) == ["anna", "ben"])

        let session = ConsoleSession(tokenHash: "h1", operatorName: "anna", csrfToken: "c1", createdAt: t0.addingTimeInterval(2),
                                     lastSeenAt: t0.addingTimeInterval(2), address: "10.0.0.5")
        try await store.open(session, audit: AuditEntry(at: t0.addingTimeInterval(2), actor: "anna", action: .login, address: "10.0.0.5"))
        try await store.open(ConsoleSession(tokenHash: "h2", operatorName: "ben", csrfToken: "c2", createdAt: t0, lastSeenAt: t0, address: "10.0.0.6"),
                             audit: AuditEntry(at: t0.addingTimeInterval(3), actor: "ben", action: .login, address: "10.0.0.6"))
        #expect(try await store.session(tokenHash: "h1") == session)
        try await store.touch(tokenHash: "h1", at: t0.addingTimeInterval(60))
        #expect(try await store.session(tokenHash: "h1")?.lastSeenAt == t0.addingTimeInterval(60))

        // A changed account (here: promoted and disabled) ends its sessions in the same transaction.
        var changed = anna
        changed.role = .supervisor
        changed.disabled = true
        changed.changedAt = t0.addingTimeInterval(70)
        try await store.save(changed, endingSessions: true, audit: cli(.operatorDisabled, "anna", at: t0.addingTimeInterval(70)))
        #expect(try await store.session(tokenHash: "h1") == nil)
        #expect(try await store.session(tokenHash: "h2") != nil, "another operator's session is untouched")
        try await store.close(tokenHash: "h2", audit: AuditEntry(at: t0.addingTimeInterval(80), actor: "ben", action: .logout, address: "10.0.0.6"))
        #expect(try await store.session(tokenHash: "h2") == nil)
        try await store.record(AuditEntry(at: t0.addingTimeInterval(90), actor: "mallory", action: .loginFailed, detail: "unknown operator",
                                          address: "10.0.0.9"))

        let reopened = try await reopen()
        let kept = try #require(try await reopened.account(named: "anna"))
        #expect(kept.role == .supervisor && kept.disabled && kept.language == .ko && kept.createdAt == t0 && kept.changedAt == t0.addingTimeInterval(70))
        let trail = try await reopened.audit(since: t0, limit: 100)
        #expect(trail.map(\.action) == [.operatorAdded, .operatorAdded, .login, .login, .operatorDisabled, .logout, .loginFailed])
        #expect(trail.last == AuditEntry(at: t0.addingTimeInterval(90), actor: "mallory", action: .loginFailed, detail: "unknown operator",
                                         address: "10.0.0.9"))
        #expect(try await reopened.audit(since: t0.addingTimeInterval(2.5), limit: 2).map(\.action) == [.login, .operatorDisabled])
    }
}
