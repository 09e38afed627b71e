import ArgumentParser
import Crypto
import Foundation
import HubConsole
import HubPostgres
import Logging
import MQTTAdapter
import NIOSSL
import ParkGuardCore
import ParkGuardHub
import ServiceLifecycle
import UnixSignals

/// `parkguard-hub`: the reference consumer of ParkGuard telemetry and its alarm log.
@main
struct ParkGuardHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguard-hub",
        abstract: "Consume a ParkGuard fleet's telemetry: fleet state, de-duplicated alarm log, rebirth requests.",
        version: ParkGuardVersion.current,
        subcommands: [Run.self, Alarms.self, Incidents.self, Snapshots.self, Operator.self, Audit.self])
}

/// Where the broker is and who the hub is there.
struct BrokerOptions: ParsableArguments {
    @Option(help: "The broker, host:port.")
    var broker = "127.0.0.1:1883"

    @Option(help: "MQTT client id, fixed and unique per hub instance: the broker keeps this hub's session under it (default: parkguard-hub-HOSTNAME).")
    var clientId: String?

    @Option(help: "Seconds the broker keeps this hub's session, and queues for it, while the hub is stopped (MQTT 5 session expiry; 0: a clean session).")
    var sessionExpiry = 604_800

    @Option(help: "The district CA certificate (PEM): connect over TLS and verify the broker with it.")
    var caFile: String?

    @Option(help: "The hub's certificate (PEM) for mutual TLS, from parkguard-provision hub create.")
    var certFile: String?

    @Option(help: "The hub's private key (PEM) for mutual TLS; must not be readable by others.")
    var keyFile: String?

    @Option(help: "Broker username (with --password-file), instead of or besides a certificate.")
    var username: String?

    @Option(help: "File holding the broker password (one line; must not be readable by others).")
    var passwordFile: String?

    func settings() throws -> MQTTSettings {
        guard let (host, port) = HostPort.parse(broker) else {
            throw ValidationError("--broker must be host:port, like 127.0.0.1:1883; got '\(broker)'")
        }
        guard (0 ... 4_294_967_295).contains(sessionExpiry) else { throw ValidationError("--session-expiry must be from 0 to 4294967295 seconds") }
        if let clientId, clientId.isEmpty || clientId.utf8.count > 128 { throw ValidationError("--client-id must be 1 to 128 characters") }
        guard (certFile == nil) == (keyFile == nil) else { throw ValidationError("--cert-file and --key-file go together: give both or neither") }
        if certFile != nil, caFile == nil { throw ValidationError("--cert-file needs --ca-file (mutual TLS verifies the broker too)") }
        guard (username == nil) == (passwordFile == nil) || passwordFile == nil else {
            throw ValidationError("--password-file needs --username")
        }
        for (option, path) in [("--ca-file", caFile), ("--cert-file", certFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) { throw ValidationError("\(option) \(path): cannot be read") }
        }
        if let keyFile { try checkPrivate(keyFile, option: "--key-file") }
        var password: String?
        if let passwordFile {
            try checkPrivate(passwordFile, option: "--password-file")
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw ValidationError("--password-file \(passwordFile): cannot be read as UTF-8 text")
            }
            password = text.trimmingCharacters(in: .newlines)
        }
        let host64 = ConsoleRequestPolicy.machineName().filter { $0.isLetter || $0.isNumber || $0 == "-" }.prefix(48)
        var settings = MQTTSettings(host: host, port: port, clientID: clientId ?? "parkguard-hub-\(host64.isEmpty ? "host" : String(host64))",
                                    username: username, password: password, caFile: caFile, certFile: certFile, keyFile: keyFile,
                                    reconnectInitial: .milliseconds(500), reconnectMax: .seconds(10), maxInflight: 100)
        // A persistent session: the broker queues what arrives while this hub is stopped.
        settings.cleanSession = sessionExpiry == 0
        settings.sessionExpiry = sessionExpiry == 0 ? nil : .seconds(sessionExpiry)
        return settings
    }
}

/// Refuses a secret file others can read (group read is allowed, for a service group).
func checkPrivate(_ path: String, option: String) throws {
    var info = stat()
    guard stat(path, &info) == 0 else { throw ValidationError("\(option) \(path): \(String(cString: strerror(errno)))") }
    if info.st_mode & 0o007 != 0 {
        throw ValidationError("\(option) \(path): permissions \(String(info.st_mode & 0o777, radix: 8)) let others read it; chmod 600 it")
    }
}

/// The key receipts and commands are signed with.
struct SigningOptions: ParsableArguments {
    @Option(help: "The hub's P-256 private key (PEM, e.g. hub.key from parkguard-provision hub create): sign receipts and commands, for units with commands.hubKeys.")
    var signingKey: String?

    @Option(help: "The name units know the signing key under (their commands.hubKeys entry).")
    var signingName: String?

    func signing() throws -> (name: String, rawKey: Data)? {
        guard let signingKey else {
            if signingName != nil { throw ValidationError("--signing-name needs --signing-key") }
            return nil
        }
        guard let name = signingName, Identifier.isValid(name) else {
            throw ValidationError("--signing-key needs --signing-name, the hub's name in the units' commands.hubKeys ([a-z0-9-]{1,32})")
        }
        try checkPrivate(signingKey, option: "--signing-key")
        guard let text = try? String(contentsOfFile: signingKey, encoding: .utf8),
              let key = try? P256.Signing.PrivateKey(pemRepresentation: text) else {
            throw ValidationError("--signing-key \(signingKey): not a PEM P-256 private key")
        }
        return (name, key.rawRepresentation)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscribe to the fleet and keep the alarm log until SIGTERM/SIGINT.")

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var signing: SigningOptions

    @Option(help: "The alarm log: a SQLite file (created and migrated as needed) or postgres://user[:password]@host[:port]/database.")
    var db = "parkguard-hub.sqlite"

    @Option(help: "MQTT 5 shared-subscription group: hub instances in one group split the stream.")
    var sharedGroup: String?

    @Option(help: "The console lists a unit whose last self-test is older than this (days, 1 to 365) when its report does not say when the next is due (then a day past that).")
    var selfTestMaxAge = 8

    @Option(help: "Serve the control-room console here (host:port, port 0 picks a free one); none by default.")
    var console: String?

    @Option(name: .customLong("console-name"), help: ArgumentHelp(
        "A host name the console answers to (repeatable), besides loopback, the --console address and this machine's name; requests under any other Host are refused (against DNS rebinding).",
        valueName: "name"))
    var consoleNames: [String] = []

    @Option(help: "The control room's time zone, for the console's times (an IANA name such as Asia/Seoul; default: this machine's).")
    var timeZone = TimeZone.current.identifier

    @Flag(help: "Serve the console over plain HTTP on an address other than loopback (passwords and session cookies then cross the network in clear).")
    var consoleInsecureHTTP = false

    @Option(help: ArgumentHelp("The console's TLS certificate (PEM, the server's first, then intermediates; 'parkguard-provision hub console' issues one). With --console-key the console speaks HTTPS, on any address.",
                               valueName: "file"))
    var consoleCert: String?

    @Option(help: ArgumentHelp("The console certificate's private key (PEM, mode 0600).", valueName: "file"))
    var consoleKey: String?

    @Option(help: ArgumentHelp("The district's map tile server, as a URL template (https://tiles.example/{z}/{x}/{y}.png): the console draws each located incident on it. None by default: the console loads nothing from anywhere else.",
                               valueName: "template"))
    var mapTiles: String?

    @Option(help: "How long a console session lasts without a request (an open console's event stream counts): 90s, 15m, 8h.")
    var sessionIdle = "15m"

    @Option(help: "How long the cameras' pictures of the alarms are kept: an age (30d, 12h).")
    var snapshotKeep = "90d"

    @Option(name: .customLong("snapshot-max-mib"), help: "The most the cameras' pictures may take in the database, MiB; beyond, the oldest go.")
    var snapshotMaxMiB = 2048

    @Option(help: "Seconds between lines with the ingest figures on stdout (0: none).")
    var statsInterval = 0.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "notice"

    func validate() throws {
        _ = try broker.settings()
        _ = try signing.signing()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
        guard statsInterval == 0 || statsInterval >= 0.05 else { throw ValidationError("--stats-interval must be 0 or at least 0.05 s") }
        guard let keep = Age.seconds(snapshotKeep), keep >= 3600, keep <= 10 * 365 * 86_400 else {
            throw ValidationError("--snapshot-keep must be an age from 1h to 3650d, like 30d; got '\(snapshotKeep)'")
        }
        guard (1 ... 1 << 20).contains(snapshotMaxMiB) else { throw ValidationError("--snapshot-max-mib must be from 1 to 1048576") }
        guard (1 ... 365).contains(selfTestMaxAge) else { throw ValidationError("--self-test-max-age must be from 1 to 365 days") }
        if let console {
            guard let (host, _) = consoleAddress(console) else {
                throw ValidationError("--console must be host:port, like 127.0.0.1:8080; got '\(console)'")
            }
            guard Self.isLoopback(host) || consoleInsecureHTTP || consoleCert != nil else {
                throw ValidationError("--console \(console): off loopback, plain HTTP carries operators' passwords and session cookies in clear; "
                    + "give --console-cert and --console-key, serve it on 127.0.0.1 behind a TLS proxy, "
                    + "or give --console-insecure-http on a network that is the control room's own")
            }
        }
        guard (consoleCert == nil) == (consoleKey == nil) else {
            throw ValidationError("--console-cert and --console-key go together: the certificate and its private key")
        }
        guard consoleCert == nil || !consoleInsecureHTTP else {
            throw ValidationError("--console-insecure-http contradicts --console-cert: the console serves HTTPS with a certificate")
        }
        guard consoleCert == nil || console != nil else { throw ValidationError("--console-cert needs --console (where to serve it)") }
        if let consoleKey { try checkPrivate(consoleKey, option: "--console-key") }
        if let mapTiles, Console.tileOrigin(of: mapTiles) == nil {
            throw ValidationError("--map-tiles '\(mapTiles.prefix(80))': an http or https URL with {z}, {x} and {y}, like https://tiles.example/{z}/{x}/{y}.png")
        }
        for name in consoleNames where name.isEmpty || name.utf8.count > 253 || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }) {
            throw ValidationError("--console-name '\(name.prefix(64))': a host name or address (letters, digits, '.', '-', ':', '[]'; at most 253)")
        }
        guard TimeZone(identifier: timeZone) != nil, timeZone.utf8.count <= 64 else {
            throw ValidationError("--time-zone '\(timeZone.prefix(64))': not a time zone name (like Asia/Seoul or UTC)")
        }
        guard let idle = Age.seconds(sessionIdle), idle >= 1, idle <= 7 * 86400 else {
            throw ValidationError("--session-idle must be an age from 1s to 7d, like 90s, 15m or 8h; got '\(sessionIdle)'")
        }
        if let sharedGroup, sharedGroup.isEmpty || sharedGroup.contains(where: { "/+#".contains($0) }) {
            throw ValidationError("--shared-group must be a non-empty name without '/', '+' or '#'")
        }
    }

    /// 127.0.0.0/8, ::1 and localhost: the only places plain HTTP serves the console by default.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare == "::1" { return true }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parkguard-hub")
        // The console's certificate and key are checked before anything is opened or created.
        var tls: TLSConfiguration?
        if let consoleCert, let consoleKey {
            do { tls = try ConsoleTLS.load(certificate: consoleCert, key: consoleKey) } catch let problem as ConsoleTLS.Problem {
                FileHandle.standardError.write(Data("parkguard-hub: \(problem)\n".utf8))
                throw ExitCode(78)
            }
        }
        let log = try await openLog(db, logger: logger)
        let retention = SnapshotRetention(maxAge: .seconds(Int64(Age.seconds(snapshotKeep) ?? 90 * 86_400)), maxBytes: Int64(snapshotMaxMiB) << 20)
        let hub = try Hub(settings: HubSettings(mqtt: try broker.settings(), sharedGroup: sharedGroup, signing: try signing.signing(),
                                                snapshotRetention: retention),
                          log: log, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: hub)]
        if let console, let (host, port) = consoleAddress(console) {
            let scheme = tls == nil ? "http" : "https"
            let access = ConsoleAccess(store: log, settings: .init(idleTimeout: Age.seconds(sessionIdle) ?? 900))
            if try await log.accounts().isEmpty {
                logger.warning("the console has no operators yet: add one with 'parkguard-hub operator add NAME --role supervisor'")
            }
            services.append(.init(service: Console(hub: hub, access: access, incidents: log, host: host, port: port, names: consoleNames, timeZone: timeZone, tls: tls, mapTiles: mapTiles,
                                                  selfTestMaxAge: TimeInterval(selfTestMaxAge) * 86_400, logger: logger) { bound in
                FileHandle.standardOutput.write(Data("console: \(scheme)://\(host):\(bound)/\n".utf8))
            }, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        if statsInterval > 0 { services.append(.init(service: IngestStats(hub: hub, interval: statsInterval), successTerminationBehavior: .ignore)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      cancellationSignals: [], logger: logger))
        try await group.run()
    }
}

/// Opens the log `db` names: a postgres:// URL or a SQLite file. Exit 64 for a malformed URL,
/// 74 for a log that cannot be opened.
func openLog(_ db: String, logger: Logger) async throws -> any HubDatabase {
    do {
        if db.hasPrefix("postgres:") || db.hasPrefix("postgresql:") {
            guard let target = PostgresAlarmLog.parse(url: db) else {
                FileHandle.standardError.write(Data("parkguard-hub: --db: '\(db)' is not postgres://user[:password]@host[:port]/database\n".utf8))
                throw ExitCode(64)
            }
            return try await PostgresAlarmLog(host: target.host, port: target.port, user: target.user, password: target.password,
                                              database: target.database, logger: logger)
        }
        return try SQLiteAlarmLog(path: db)
    } catch let error as AlarmLogError {
        FileHandle.standardError.write(Data("parkguard-hub: \(error)\n".utf8))
        throw ExitCode(74)
    }
}

func consoleAddress(_ text: String) -> (String, Int)? { HostPort.parse(text, ports: 0 ... 65535) }

/// Prints the hub's counters every `interval` seconds, as one JSON object per line on stdout:
/// the time, messages per second since the previous line, the counts so far, and the log's
/// figures (batches, alarms committed, receipts sent, commit failures).
struct IngestStats: Service {
    let hub: Hub
    let interval: Double

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var previous = (await hub.counts, Date())
            while true {
                try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                let counts = await hub.counts
                let now = Date()
                let rate = Double(counts.messages - previous.0.messages) / now.timeIntervalSince(previous.1)
                previous = (counts, now)
                struct Line: Encodable { var time: Double; var messagesPerSecond: Double; var counts: HubCore.Counts; var log: Hub.Figures }
                let data = try JSONEncoder().encode(Line(time: now.timeIntervalSince1970, messagesPerSecond: rate, counts: counts,
                                                         log: await hub.ingestFigures))
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
        }
    }
}

struct Alarms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List logged alarms with their lifecycle.")

    @Option(help: "The alarm log: a SQLite file or postgres://user[:password]@host[:port]/database.")
    var db = "parkguard-hub.sqlite"

    @Option(help: "From when: an RFC 3339 time (2026-11-25T08:00:00Z) or an age (90s, 15m, 2h, 7d).")
    var since = "24h"

    @Option(help: "At most this many alarms.")
    var limit = 1000

    @Flag(help: "Only alarms still to be acted on.")
    var open = false

    @Flag(help: "JSON lines instead of a table.")
    var json = false

    @OptionGroup var language: LanguageOption

    func validate() throws {
        _ = try sinceDate()
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func sinceDate(now: Date = Date()) throws -> Date { try Age.since(since, now: now) }

    func run() async throws {
        let log = try await openExistingLog(db)
        let alarms = open ? try await log.openAlarms(limit: limit) : try await log.alarms(since: try sinceDate(), limit: limit)
        for alarm in alarms {
            if json {
                try printJSONLine(alarm)
            } else {
                print(ControlRoomText.alarm(alarm, language.language))
            }
        }
    }
}

/// Ages on the command line: `90s`, `15m`, `2h`, `7d`.
enum Age {
    /// The age in seconds; nil unless a finite number of s, m, h or d of at most 100 years
    /// (`inf` and `1e300d` are refused rather than turned into a date no log can hold).
    static func seconds(_ text: String) -> Double? {
        guard let unit = text.last, let value = Double(text.dropLast()), value.isFinite, value >= 0,
              let seconds = ["s": 1.0, "m": 60, "h": 3600, "d": 86400][String(unit)],
              value * seconds <= 100 * 365.25 * 86400 else { return nil }
        return value * seconds
    }

    /// `--since`: an RFC 3339 time or an age before `now`.
    static func since(_ text: String, now: Date = Date()) throws -> Date {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        guard let seconds = seconds(text) else {
            throw ValidationError("--since must be an RFC 3339 time like 2026-11-25T08:00:00Z or an age like 15m, 2h, 7d; got '\(text)'")
        }
        return now.addingTimeInterval(-seconds)
    }
}

/// Opens the log of a command that reads or edits it: a SQLite file must exist already (exit 66).
func openExistingLog(_ db: String) async throws -> any HubDatabase {
    if !db.hasPrefix("postgres"), !FileManager.default.fileExists(atPath: db) {
        FileHandle.standardError.write(Data("parkguard-hub: no alarm log at \(db) (parkguard-hub run creates it; or give --db)\n".utf8))
        throw ExitCode(66)
    }
    return try await openLog(db, logger: Logger(label: "parkguard-hub"))
}
