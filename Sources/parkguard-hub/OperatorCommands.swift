import ArgumentParser
import Foundation
import HubConsole
import Logging
import ParkGuardHub

/// `parkguard-hub operator add|passwd|role|disable|enable|list`: the console's accounts, in the
/// hub's database. Passwords come from standard input (typed twice without echo on a terminal).
struct Operator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Manage the console's operators (viewer, operator, supervisor).",
        subcommands: [Add.self, Passwd.self, Role.self, Language.self, Disable.self, Enable.self, List.self])

    struct Target: ParsableArguments {
        @Option(help: "The hub's database: a SQLite file or postgres://user[:password]@host[:port]/database.")
        var db = "parkguard-hub.sqlite"

        @Argument(help: "The operator's login name: 1 to 32 of a-z, 0-9, '.', '_', '-'.")
        var name: String

        func validate() throws {
            guard OperatorAccount.isValidName(name) else {
                throw ValidationError("name '\(ConsoleAccess.printable(name))': 1 to 32 of a-z, 0-9, '.', '_', '-'")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an operator; the password is read from standard input.")
        @OptionGroup var target: Target
        @Option(help: "viewer (reads), operator (also acknowledges), supervisor (also silences, tests, reads the audit trail).")
        var role: OperatorRole
        @Option(help: "The console's language for this operator: en or ko.")
        var language: ConsoleLanguage = .en

        func run() async throws {
            let store = try await openLog(target.db, logger: .init(label: "parkguard-hub"))
            if try await store.account(named: target.name) != nil {
                fail("operator \(target.name) exists already (parkguard-hub operator passwd or role changes it)", code: 65)
            }
            let hash = try await OperatorPassword.hash(try readPassword(for: target.name))
            let now = Date()
            try await store.save(OperatorAccount(name: target.name, role: role, passwordHash: hash, language: language, createdAt: now, changedAt: now),
                                 endingSessions: false, audit: cliAudit(.operatorAdded, target.name, detail: role.rawValue, at: now))
            print("operator \(target.name) added as \(role.rawValue)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set an operator's password (read from standard input); ends their sessions.")
        @OptionGroup var target: Target

        func run() async throws {
            let (store, account) = try await existing(target)
            var changed = account
            changed.passwordHash = try await OperatorPassword.hash(try readPassword(for: target.name))
            changed.changedAt = Date()
            try await store.save(changed, endingSessions: true, audit: cliAudit(.passwordChanged, target.name, at: changed.changedAt))
            print("password of \(target.name) changed; their console sessions have ended")
        }
    }

    struct Role: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an operator's role; ends their sessions.")
        @OptionGroup var target: Target
        @Argument(help: "viewer, operator or supervisor.")
        var role: OperatorRole

        func run() async throws {
            let (store, account) = try await existing(target)
            var changed = account
            changed.role = role
            changed.changedAt = Date()
            try await store.save(changed, endingSessions: true,
                                 audit: cliAudit(.roleChanged, target.name, detail: "\(account.role.rawValue) -> \(role.rawValue)", at: changed.changedAt))
            print("\(target.name) is now a \(role.rawValue)")
        }
    }

    struct Language: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the language the console speaks to an operator (from their next page load).")
        @OptionGroup var target: Target
        @Argument(help: "en or ko.")
        var language: ConsoleLanguage

        func run() async throws {
            let (store, account) = try await existing(target)
            var changed = account
            changed.language = language
            changed.changedAt = Date()
            try await store.save(changed, endingSessions: false,
                                 audit: cliAudit(.languageChanged, target.name, detail: "\(account.language.rawValue) -> \(language.rawValue)", at: changed.changedAt))
            print("\(target.name) now sees the console in \(language.rawValue)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an operator: they cannot log in, and their sessions end at once.")
        @OptionGroup var target: Target

        func run() async throws {
            let (store, account) = try await existing(target)
            var changed = account
            changed.disabled = true
            changed.changedAt = Date()
            try await store.save(changed, endingSessions: true, audit: cliAudit(.operatorDisabled, target.name, at: changed.changedAt))
            print("operator \(target.name) disabled")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled operator log in again.")
        @OptionGroup var target: Target

        func run() async throws {
            let (store, account) = try await existing(target)
            var changed = account
            changed.disabled = false
            changed.changedAt = Date()
            try await store.save(changed, endingSessions: false, audit: cliAudit(.operatorEnabled, target.name, at: changed.changedAt))
            print("operator \(target.name) enabled")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the operators (never their password hashes).")
        @Option(help: "The hub's database: a SQLite file or postgres://user[:password]@host[:port]/database.")
        var db = "parkguard-hub.sqlite"
        @Flag(help: "JSON lines instead of a table.")
        var json = false

        func run() async throws {
            let store = try await openExistingLog(db)
            let time = ISO8601DateFormatter()
            for account in try await store.accounts() {
                if json {
                    struct Line: Encodable {
                        var name: String; var role: OperatorRole; var disabled: Bool; var language: ConsoleLanguage; var createdAt: String; var changedAt: String
                    }
                    let line = Line(name: account.name, role: account.role, disabled: account.disabled, language: account.language,
                                    createdAt: time.string(from: account.createdAt), changedAt: time.string(from: account.changedAt))
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(decoding: try encoder.encode(line), as: UTF8.self))
                } else {
                    print([account.name.padding(toLength: 20, withPad: " ", startingAt: 0), account.role.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0),
                           account.disabled ? "disabled" : "active  ", account.language.rawValue, "changed \(time.string(from: account.changedAt))"].joined(separator: "  "))
                }
            }
        }
    }
}

extension OperatorRole: ExpressibleByArgument {}
extension ConsoleLanguage: ExpressibleByArgument {}

/// The store and the account `target` names; exit 67 when there is no such operator.
private func existing(_ target: Operator.Target) async throws -> (any HubDatabase, OperatorAccount) {
    let store = try await openExistingLog(target.db)
    guard let account = try await store.account(named: target.name) else {
        fail("no operator \(target.name) (parkguard-hub operator list shows them)", code: 67)
    }
    return (store, account)
}

/// An audit entry for a change made on the command line, by the system user who ran it.
private func cliAudit(_ action: AuditEntry.Action, _ name: String, detail: String = "", at: Date) -> AuditEntry {
    AuditEntry(at: at, actor: ProcessInfo.processInfo.userName, action: action, target: name, detail: detail, address: "cli")
}

private func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("parkguard-hub: \(message)\n".utf8))
    Foundation.exit(code)
}

/// The new password: typed twice without echo on a terminal, or the first line of standard
/// input otherwise (at most 1 KiB is read). Exit 65 for a password that cannot be one.
private func readPassword(for name: String) throws -> String {
    let password: String
    if isatty(STDIN_FILENO) == 1 {
        let first = readHidden("new password for \(name): ")
        let second = readHidden("again: ")
        guard first == second else { fail("the two passwords differ; nothing changed", code: 65) }
        password = first
    } else {
        let data = FileHandle.standardInput.readData(ofLength: 1024)
        guard let text = String(data: data, encoding: .utf8) else { fail("standard input: the password is not UTF-8 text", code: 65) }
        password = String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
    }
    if let problem = OperatorPassword.problem(with: password) { fail("standard input: \(problem); nothing changed", code: 65) }
    return password
}

private func readHidden(_ prompt: String) -> String {
    FileHandle.standardError.write(Data(prompt.utf8))
    var saved = termios()
    tcgetattr(STDIN_FILENO, &saved)
    var quiet = saved
    quiet.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    return readLine(strippingNewline: true) ?? ""
}

/// `parkguard-hub audit`: every operator action with who, when and from where.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export the audit trail: logins, failed logins, acknowledgements, operator changes.")

    @Option(help: "The hub's database: a SQLite file or postgres://user[:password]@host[:port]/database.")
    var db = "parkguard-hub.sqlite"

    @Option(help: "From when: an RFC 3339 time (2026-11-25T08:00:00Z) or an age (90s, 15m, 2h, 7d).")
    var since = "24h"

    @Option(help: "At most this many entries.")
    var limit = 10_000

    @Flag(help: "JSON lines instead of a table.")
    var json = false

    @OptionGroup var language: LanguageOption

    func validate() throws {
        _ = try Age.since(since)
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        let store = try await openExistingLog(db)
        for entry in try await store.audit(since: try Age.since(since), limit: limit) {
            if json {
                try printJSONLine(entry)
            } else {
                print(ControlRoomText.audit(entry, language.language))
            }
        }
    }
}
