import Foundation

/// What a console account may do. Each role includes the ones below it.
public enum OperatorRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Sees the fleet, the alarms and the incidents; changes nothing.
    case viewer
    /// Also acknowledges alarms (and, as they come, notes and resolves incidents).
    case `operator`
    /// Also silences and tests units, and reads the audit trail.
    case supervisor

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// The languages of the console's page: every string of it is in both.
public enum ConsoleLanguage: String, Sendable, Codable, CaseIterable {
    case en, ko
}

/// A person who logs in to the console. The password is kept only as a bcrypt hash.
public struct OperatorAccount: Sendable, Equatable {
    /// The login name: 1 to 32 of `a-z`, `0-9`, `.`, `_`, `-` (see ``OperatorAccount/isValidName(_:)``).
    public var name: String
    public var role: OperatorRole
    public var passwordHash: String
    public var disabled: Bool
    /// The language the console's page speaks to this operator.
    public var language: ConsoleLanguage
    public var createdAt: Date
    public var changedAt: Date

    public init(name: String, role: OperatorRole, passwordHash: String, disabled: Bool = false, language: ConsoleLanguage = .en,
                createdAt: Date, changedAt: Date) {
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.disabled = disabled
        self.language = language
        self.createdAt = createdAt
        self.changedAt = changedAt
    }

    /// Login names are short and unambiguous in a log line, a table and a URL.
    public static func isValidName(_ name: String) -> Bool {
        (1 ... 32).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (0x61 ... 0x7a).contains(byte) || (0x30 ... 0x39).contains(byte) || byte == 0x2e || byte == 0x5f || byte == 0x2d
        }
    }
}

/// A logged-in browser. The cookie holds a random token; the store keeps only its SHA-256, so a
/// copy of the database does not log anyone in.
public struct ConsoleSession: Sendable, Equatable {
    /// Hex SHA-256 of the session cookie's token.
    public var tokenHash: String
    public var operatorName: String
    /// Sent back by the page in a header with every state change (the cookie alone is not enough).
    public var csrfToken: String
    public var createdAt: Date
    public var lastSeenAt: Date
    /// The address the session logged in from.
    public var address: String

    public init(tokenHash: String, operatorName: String, csrfToken: String, createdAt: Date, lastSeenAt: Date, address: String) {
        self.tokenHash = tokenHash
        self.operatorName = operatorName
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.address = address
    }
}

/// One line of the audit trail: who did what, when, from where.
public struct AuditEntry: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable, CaseIterable {
        case login, logout, loginFailed, sessionExpired, acknowledge, note, resolve, silence, selfTest
        case operatorAdded, passwordChanged, operatorDisabled, operatorEnabled, roleChanged, languageChanged
    }

    public var at: Date
    /// The operator who acted; for a failed login, the name that was tried.
    public var actor: String
    public var action: Action
    /// What the action was on: `site/unit/bell`, an operator's name, or empty.
    public var target: String
    /// The outcome or reason, short (a unit's refusal, "wrong password", "throttled").
    public var detail: String
    /// The client's address, or `cli` for the command line.
    public var address: String

    public init(at: Date, actor: String, action: Action, target: String = "", detail: String = "", address: String) {
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
        self.address = address
    }
}

/// Where the hub keeps its operators, their console sessions and the audit trail: the same
/// database as the alarm log (``SQLiteAlarmLog``, or PostgreSQL), so hub instances that share a
/// log share their operators and sessions too.
public protocol OperatorStore: Sendable {
    func account(named name: String) async throws -> OperatorAccount?
    /// Every account, by name.
    func accounts() async throws -> [OperatorAccount]
    /// Inserts or replaces `account` and records `audit`, in one transaction. With
    /// `endingSessions` the account's console sessions end in it too (a new password, a
    /// disabled account or a lower role take effect at once).
    func save(_ account: OperatorAccount, endingSessions: Bool, audit: AuditEntry) async throws
    /// Stores a new session and records the login, in one transaction.
    func open(_ session: ConsoleSession, audit: AuditEntry) async throws
    func session(tokenHash: String) async throws -> ConsoleSession?
    /// Moves the session's last activity to `at`.
    func touch(tokenHash: String, at: Date) async throws
    /// Ends the session and records why, in one transaction.
    func close(tokenHash: String, audit: AuditEntry) async throws
    func record(_ entry: AuditEntry) async throws
    /// Audit entries at or after `since`, oldest first, at most `limit`.
    func audit(since: Date, limit: Int) async throws -> [AuditEntry]
}
