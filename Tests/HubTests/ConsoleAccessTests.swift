import Foundation
import HubConsole
import ParkGuardHub
import ParkGuardTestKit
import Synchronization
import Testing

/// Password guessing is slowed per account and per address, never turned into a lockout.
@Suite("Login throttle")
struct LoginThrottleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("five failures of an account in the window leave it one attempt every 30 s; a success clears them")
    func perAccount() {
        var throttle = LoginThrottle()
        for i in 0 ..< 4 { throttle.failed(account: "anna", address: "10.0.0.\(i)", now: t0) }
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.9", now: t0) == nil, "four failures: still free")
        throttle.failed(account: "anna", address: "10.0.0.4", now: t0)
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.9", now: t0.addingTimeInterval(10)) == 20)
        #expect(throttle.retryAfter(account: "ben", address: "10.0.0.9", now: t0.addingTimeInterval(10)) == nil, "other accounts are free")
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.9", now: t0.addingTimeInterval(30)) == nil, "one attempt after the spacing")
        throttle.failed(account: "anna", address: "10.0.0.9", now: t0.addingTimeInterval(30))
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.9", now: t0.addingTimeInterval(31)) == 29)
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.9", now: t0.addingTimeInterval(16 * 60)) == nil, "the window passes")
        throttle.succeeded(account: "anna", address: "10.0.0.9")
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.9", now: t0.addingTimeInterval(31)) == nil, "a success clears the account")
    }

    @Test("twenty failures from one address slow that address for every account")
    func perAddress() {
        var throttle = LoginThrottle()
        for i in 0 ..< 20 { throttle.failed(account: "guess\(i)", address: "203.0.113.7", now: t0) }
        #expect(throttle.retryAfter(account: "anna", address: "203.0.113.7", now: t0.addingTimeInterval(1)) == 29)
        #expect(throttle.retryAfter(account: "anna", address: "10.0.0.1", now: t0.addingTimeInterval(1)) == nil)
    }

    @Test("memory stays bounded however many names and addresses are tried")
    func bounded() {
        var limits = LoginThrottle.Limits()
        limits.maxTracked = 100
        var throttle = LoginThrottle(limits: limits)
        for i in 0 ..< 5000 { throttle.failed(account: "n\(i)", address: "a\(i)", now: t0.addingTimeInterval(Double(i) / 100)) }
        #expect(throttle.tracked <= 101)
        // The newest keys are kept.
        for _ in 0 ..< 5 { throttle.failed(account: "n4999", address: "x", now: t0.addingTimeInterval(50)) }
        #expect(throttle.retryAfter(account: "n4999", address: "y", now: t0.addingTimeInterval(51)) != nil)
    }
}

/// Logins, sessions and what they let through, against a real SQLite store and bcrypt, on an
/// injected clock.
@Suite("Console access")
struct ConsoleAccessTests {
    final class Clock: Sendable {
        let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        var now: Date { time.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    func store(_ directory: ScratchDirectory, _ accounts: [(String, OperatorRole, Bool)]) async throws -> SQLiteAlarmLog {
        let store = try SQLiteAlarmLog(path: directory.file("hub.sqlite"))
        let hash = try await OperatorPassword.hash("correct horse battery")
        for (name, role, disabled) in accounts {
            try await store.save(OperatorAccount(name: name, role: role, passwordHash: hash, disabled: disabled, createdAt: Date(), changedAt: Date()),
                                 endingSessions: false, audit: AuditEntry(at: Date(), actor: "test", action: .operatorAdded, target: name, address: "cli"))
        }
        return store
    }

    func refusal(_ body: () async throws -> Void) async -> ConsoleAccess.Refusal? {
        do { try await body(); return nil } catch { return error as? ConsoleAccess.Refusal }
    }

    @Test("the right password opens a session whose token gives back the operator and role; a wrong one, an unknown name and a disabled account get one answer")
    func login() async throws {
        let directory = try ScratchDirectory()
        let log = try await store(directory, [("anna", .operator, false), ("old", .supervisor, true)])
        let clock = Clock()
        let access = ConsoleAccess(store: log, now: { clock.now })
        let (token, anna) = try await access.login(name: "anna", password: "correct horse battery", address: "10.0.0.5")
        #expect(anna.name == "anna" && anna.role == .operator && anna.csrfToken.count >= 43 && token.count >= 43)
        #expect(try await access.authenticate(token: token, address: "10.0.0.5") == anna)
        let answers = [
            await refusal { _ = try await access.login(name: "anna", password: "wrong password!", address: "10.0.0.5") },
            await refusal { _ = try await access.login(name: "nobody", password: "correct horse battery", address: "10.0.0.5") },
            await refusal { _ = try await access.login(name: "old", password: "correct horse battery", address: "10.0.0.5") },
            await refusal { _ = try await access.login(name: "Robert'); DROP", password: "x", address: "10.0.0.5") },
        ]
        #expect(answers.allSatisfy { $0 == ConsoleAccess.Refusal(status: 401, message: "wrong name or password", retryAfter: nil) }, "\(answers)")
        let trail = try await log.audit(since: .distantPast, limit: 100).filter { $0.action == .loginFailed }
        #expect(trail.map(\.detail) == ["wrong password", "unknown operator", "account disabled", "unknown operator"])
        #expect(trail.last?.actor == "Robert'); DROP")
        #expect(await refusal { _ = try await access.authenticate(token: nil, address: "x") }?.status == 401)
        #expect(await refusal { _ = try await access.authenticate(token: "forged", address: "x") }?.status == 401)
        #expect(try await log.session(tokenHash: token) == nil, "the store keeps the token's hash, never the token")
    }

    @Test("after five wrong passwords the account answers 429 with Retry-After without checking, and the right password works after the spacing")
    func throttled() async throws {
        let directory = try ScratchDirectory()
        let log = try await store(directory, [("anna", .operator, false)])
        let clock = Clock()
        let access = ConsoleAccess(store: log, now: { clock.now })
        for _ in 0 ..< 5 { _ = await refusal { _ = try await access.login(name: "anna", password: "wrong password!", address: "10.0.0.5") } }
        let refused = await refusal { _ = try await access.login(name: "anna", password: "correct horse battery", address: "10.0.0.6") }
        #expect(refused?.status == 429 && refused?.retryAfter == 30, "\(String(describing: refused))")
        #expect(try await log.audit(since: .distantPast, limit: 100).last?.detail == "throttled")
        clock.advance(30)
        _ = try await access.login(name: "anna", password: "correct horse battery", address: "10.0.0.6")
    }

    @Test("a session idle past the timeout ends, and the audit trail says so; activity keeps it")
    func idleTimeout() async throws {
        let directory = try ScratchDirectory()
        let log = try await store(directory, [("anna", .operator, false)])
        let clock = Clock()
        let access = ConsoleAccess(store: log, settings: .init(idleTimeout: 600), now: { clock.now })
        let (token, _) = try await access.login(name: "anna", password: "correct horse battery", address: "10.0.0.5")
        for _ in 0 ..< 5 {
            clock.advance(500)
            _ = try await access.authenticate(token: token, address: "10.0.0.5")
        }
        clock.advance(601)
        let ended = await refusal { _ = try await access.authenticate(token: token, address: "10.0.0.5") }
        #expect(ended?.status == 401 && ended?.message.contains("10 min without activity") == true, "\(String(describing: ended))")
        #expect(try await log.audit(since: .distantPast, limit: 100).last?.action == .sessionExpired)
        #expect(await refusal { _ = try await access.authenticate(token: token, address: "10.0.0.5") }?.message == "your session has ended: log in again")
    }

    @Test("a changed role takes effect at the next request; a disabled account's session ends at once; logout ends it")
    func accountChanges() async throws {
        let directory = try ScratchDirectory()
        let log = try await store(directory, [("anna", .operator, false)])
        let access = ConsoleAccess(store: log)
        let (token, _) = try await access.login(name: "anna", password: "correct horse battery", address: "10.0.0.5")
        var account = try #require(try await log.account(named: "anna"))
        account.role = .viewer
        try await log.save(account, endingSessions: false, audit: AuditEntry(at: Date(), actor: "t", action: .roleChanged, address: "cli"))
        #expect(try await access.authenticate(token: token, address: "x").role == .viewer)
        account.disabled = true
        try await log.save(account, endingSessions: false, audit: AuditEntry(at: Date(), actor: "t", action: .operatorDisabled, address: "cli"))
        #expect(await refusal { _ = try await access.authenticate(token: token, address: "x") }?.message == "your account is disabled")

        account.disabled = false
        try await log.save(account, endingSessions: false, audit: AuditEntry(at: Date(), actor: "t", action: .operatorEnabled, address: "cli"))
        let (again, user) = try await access.login(name: "anna", password: "correct horse battery", address: "10.0.0.5")
        #expect(!ConsoleAccess.csrfMatches(nil, user) && !ConsoleAccess.csrfMatches("x", user) && ConsoleAccess.csrfMatches(user.csrfToken, user))
        try await access.logout(user, address: "10.0.0.5")
        #expect(await refusal { _ = try await access.authenticate(token: again, address: "x") }?.status == 401)
    }

    @Test("passwords are 10 to 72 bytes on one line; bcrypt verifies what it hashed")
    func passwords() async throws {
        #expect(OperatorPassword.problem(with: "short") != nil)
        #expect(OperatorPassword.problem(with: String(repeating: "é", count: 37)) != nil, "74 bytes")
        #expect(OperatorPassword.problem(with: "two\nlines here") != nil)
        #expect(OperatorPassword.problem(with: "correct horse battery") == nil)
        let hash = try await OperatorPassword.hash("correct horse battery")
        #expect(hash.hasPrefix("$2b$12$"))
        #expect(try await OperatorPassword.verify("correct horse battery", hash: hash))
        #expect(try await !OperatorPassword.verify("correct horse batterY", hash: hash))
    }
}
