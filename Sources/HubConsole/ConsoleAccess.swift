import Crypto
import Foundation
import ParkGuardHub

/// Who may use the console: logs operators in against the ``OperatorStore`` (bcrypt, throttled),
/// hands out session tokens, and turns a request's cookie back into the operator behind it.
/// Every login, failed login, logout and expiry is in the audit trail.
///
/// Sessions live in the database, not in this process: a hub restart logs nobody out, and hub
/// instances sharing a database share their sessions. A session ends on logout, after
/// ``Settings/idleTimeout`` without a request (an open console's event stream counts as one),
/// and at once when its operator's password changes or the account is disabled.
public actor ConsoleAccess {
    public struct Settings: Sendable {
        /// Seconds without a request after which a session ends.
        public var idleTimeout: TimeInterval = 15 * 60
        public var throttle = LoginThrottle.Limits()
        public init(idleTimeout: TimeInterval = 15 * 60) { self.idleTimeout = idleTimeout }
    }

    /// The operator behind a request.
    public struct Operator: Sendable, Equatable {
        public var name: String
        public var role: OperatorRole
        public var language: ConsoleLanguage
        public var csrfToken: String
        var tokenHash: String
    }

    /// Why a request or a login is refused: its HTTP status, a short message, and for a throttled
    /// login when to try again.
    public struct Refusal: Error, Sendable, Equatable {
        public var status: Int
        public var message: String
        public var retryAfter: Int?
        public init(status: Int, message: String, retryAfter: Int? = nil) {
            self.status = status
            self.message = message
            self.retryAfter = retryAfter
        }
    }

    let store: any OperatorStore
    public let settings: Settings
    private let now: @Sendable () -> Date
    private var throttle: LoginThrottle

    public init(store: any OperatorStore, settings: Settings = Settings(), now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.settings = settings
        self.now = now
        throttle = LoginThrottle(limits: settings.throttle)
    }

    /// Checks `name` and `password`; on success opens a session and returns its cookie token.
    public func login(name: String, password: String, address: String) async throws -> (token: String, operator: Operator) {
        let tried = Self.printable(name)
        let started = now()
        if let wait = throttle.retryAfter(account: tried, address: address, now: started) {
            try await store.record(AuditEntry(at: started, actor: tried, action: .loginFailed, detail: "throttled", address: address))
            throw Refusal(status: 429, message: "too many failed logins: try again in \(Int(wait.rounded(.up))) s", retryAfter: Int(wait.rounded(.up)))
        }
        // Counted as failed before the check: the actor is reentrant while bcrypt runs, and
        // attempts sent together must not all pass the throttle before the first one fails.
        throttle.failed(account: tried, address: address, now: started)
        // Every refusal takes one bcrypt check and says the same thing, so the answer tells
        // neither which names exist nor which accounts are disabled; the audit trail says why.
        let account = OperatorAccount.isValidName(name) ? try await store.account(named: name) : nil
        let why: String?
        if let account {
            let matches = try await OperatorPassword.verify(password, hash: account.passwordHash)
            why = !matches ? "wrong password" : account.disabled ? "account disabled" : nil
        } else {
            try await OperatorPassword.verifyNothing(password)
            why = "unknown operator"
        }
        let at = now()
        guard let account, why == nil else {
            try await store.record(AuditEntry(at: at, actor: tried, action: .loginFailed, detail: why ?? "", address: address))
            throw Refusal(status: 401, message: "wrong name or password", retryAfter: nil)
        }
        throttle.succeeded(account: tried, address: address)
        let token = Self.randomToken()
        let session = ConsoleSession(tokenHash: Self.hash(token), operatorName: name, csrfToken: Self.randomToken(), createdAt: at,
                                     lastSeenAt: at, address: address)
        try await store.open(session, audit: AuditEntry(at: at, actor: name, action: .login, detail: account.role.rawValue, address: address))
        return (token, Operator(name: name, role: account.role, language: account.language, csrfToken: session.csrfToken, tokenHash: session.tokenHash))
    }

    /// The operator whose session `token` is, with the account's current role; refused (401)
    /// when there is no such session, it has been idle too long, or the account is disabled.
    /// Counts as activity.
    public func authenticate(token: String?, address: String) async throws -> Operator {
        guard let token, !token.isEmpty, token.utf8.count <= 128 else { throw Refusal(status: 401, message: "log in first", retryAfter: nil) }
        let hash = Self.hash(token)
        guard let session = try await store.session(tokenHash: hash) else {
            throw Refusal(status: 401, message: "your session has ended: log in again", retryAfter: nil)
        }
        let at = now()
        let idle = at.timeIntervalSince(session.lastSeenAt)
        if idle > settings.idleTimeout {
            try await store.close(tokenHash: hash, audit: AuditEntry(at: at, actor: session.operatorName, action: .sessionExpired,
                                                                     detail: "idle \(Int(idle)) s", address: address))
            throw Refusal(status: 401, message: "your session ended after \(Self.duration(settings.idleTimeout)) without activity: log in again",
                          retryAfter: nil)
        }
        guard let account = try await store.account(named: session.operatorName), !account.disabled else {
            try await store.close(tokenHash: hash, audit: AuditEntry(at: at, actor: session.operatorName, action: .sessionExpired,
                                                                     detail: "account disabled", address: address))
            throw Refusal(status: 401, message: "your account is disabled", retryAfter: nil)
        }
        // One write per quarter of the idle timeout (at most one a minute) is enough to keep it.
        if idle > min(60, settings.idleTimeout / 4) { try await store.touch(tokenHash: hash, at: at) }
        return Operator(name: account.name, role: account.role, language: account.language, csrfToken: session.csrfToken, tokenHash: hash)
    }

    /// Ends the operator's session.
    public func logout(_ user: Operator, address: String) async throws {
        try await store.close(tokenHash: user.tokenHash, audit: AuditEntry(at: now(), actor: user.name, action: .logout, address: address))
    }

    /// Records an action the operator took.
    public func record(_ action: AuditEntry.Action, by user: Operator, target: String, detail: String, address: String) async throws {
        try await store.record(AuditEntry(at: now(), actor: user.name, action: action, target: target, detail: detail, address: address))
    }

    public func audit(since: Date, limit: Int) async throws -> [AuditEntry] { try await store.audit(since: since, limit: limit) }

    /// Whether `sent` is the session's CSRF token (compared in constant time).
    public static func csrfMatches(_ sent: String?, _ user: Operator) -> Bool {
        guard let sent else { return false }
        let a = Array(sent.utf8), b = Array(user.csrfToken.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// 32 random bytes (the system's CSPRNG), base64url without padding: safe in a cookie and a header.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0 ..< 32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A name as the audit trail and messages show it: printable ASCII, at most 64 characters.
    public static func printable(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.prefix(64).map { (0x20 ... 0x7e).contains($0.value) ? $0 : "?" }))
    }

    static func duration(_ seconds: TimeInterval) -> String {
        seconds >= 120 ? "\(Int(seconds / 60)) min" : "\(Int(seconds)) s"
    }
}
