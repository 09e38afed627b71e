import ArgumentParser
import Foundation
import HubConsole
import HubPostgres
import Logging
import MQTTAdapter
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
        subcommands: [Run.self, Alarms.self])
}

/// Where the broker is.
struct BrokerOptions: ParsableArguments {
    @Option(help: "The broker, host:port.")
    var broker = "127.0.0.1:1883"

    @Option(help: "MQTT client id (default: parkguard-hub-PID).")
    var clientId: String?

    func settings() throws -> MQTTSettings {
        guard let (host, port) = HostPort.parse(broker) else {
            throw ValidationError("--broker must be host:port, like 127.0.0.1:1883; got '\(broker)'")
        }
        return MQTTSettings(host: host, port: port, clientID: clientId ?? "parkguard-hub-\(getpid())",
                            reconnectInitial: .milliseconds(500), reconnectMax: .seconds(10), maxInflight: 100)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscribe to the fleet and keep the alarm log until SIGTERM/SIGINT.")

    @OptionGroup var broker: BrokerOptions

    @Option(help: "The alarm log: a SQLite file (created and migrated as needed) or postgres://user[:password]@host[:port]/database.")
    var db = "parkguard-hub.sqlite"

    @Option(help: "MQTT 5 shared-subscription group: hub instances in one group split the stream.")
    var sharedGroup: String?

    @Option(help: "Serve the control-room console here (host:port, port 0 picks a free one); none by default.")
    var console: String?

    @Option(help: "Seconds between lines with the ingest figures on stdout (0: none).")
    var statsInterval = 0.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "notice"

    func validate() throws {
        _ = try broker.settings()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
        guard statsInterval == 0 || statsInterval >= 0.05 else { throw ValidationError("--stats-interval must be 0 or at least 0.05 s") }
        if let console, consoleAddress(console) == nil {
            throw ValidationError("--console must be host:port, like 127.0.0.1:8080; got '\(console)'")
        }
        if let sharedGroup, sharedGroup.isEmpty || sharedGroup.contains(where: { "/+#".contains($0) }) {
            throw ValidationError("--shared-group must be a non-empty name without '/', '+' or '#'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parkguard-hub")
        let log = try await openLog(db, logger: logger)
        let hub = try Hub(settings: HubSettings(mqtt: try broker.settings(), sharedGroup: sharedGroup), log: log, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: hub)]
        if let console, let (host, port) = consoleAddress(console) {
            services.append(.init(service: Console(hub: hub, host: host, port: port, logger: logger) { bound in
                FileHandle.standardOutput.write(Data("console: http://\(host):\(bound)/\n".utf8))
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
func openLog(_ db: String, logger: Logger) async throws -> any AlarmLog {
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
/// the time, messages per second since the previous line, and the counts so far.
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
                struct Line: Encodable { var time: Double; var messagesPerSecond: Double; var counts: HubCore.Counts }
                let data = try JSONEncoder().encode(Line(time: now.timeIntervalSince1970, messagesPerSecond: rate, counts: counts))
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

    func validate() throws {
        _ = try sinceDate()
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func sinceDate(now: Date = Date()) throws -> Date {
        if let date = ISO8601DateFormatter().date(from: since) { return date }
        guard let unit = since.last, let value = Double(since.dropLast()), value >= 0,
              let seconds = ["s": 1.0, "m": 60, "h": 3600, "d": 86400][String(unit)] else {
            throw ValidationError("--since must be an RFC 3339 time like 2026-11-25T08:00:00Z or an age like 15m, 2h, 7d; got '\(since)'")
        }
        return now.addingTimeInterval(-value * seconds)
    }

    func run() async throws {
        if !db.hasPrefix("postgres"), !FileManager.default.fileExists(atPath: db) {
            FileHandle.standardError.write(Data("parkguard-hub: no alarm log at \(db)\n".utf8))
            throw ExitCode(66)
        }
        let log = try await openLog(db, logger: Logger(label: "parkguard-hub"))
        let alarms = open ? try await log.openAlarms(limit: limit) : try await log.alarms(since: try sinceDate(), limit: limit)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let time = ISO8601DateFormatter()
        for alarm in alarms {
            if json {
                FileHandle.standardOutput.write(try encoder.encode(alarm) + Data("\n".utf8))
            } else {
                let ack = alarm.acknowledgedAt.map { "acknowledged \(time.string(from: $0)) by \(alarm.acknowledgedBy ?? "?")" } ?? "not acknowledged"
                let cleared = alarm.clearedAt.map { ", cleared \(time.string(from: $0))" } ?? ""
                print("\(alarm.raisedAt)  \(alarm.unit)  \(alarm.bell)  \(alarm.kind.rawValue)  seq \(alarm.seq)  delivered \(time.string(from: alarm.deliveredAt))  \(ack)\(cleared)  \(alarm.id)")
            }
        }
    }
}
