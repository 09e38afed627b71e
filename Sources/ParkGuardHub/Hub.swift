import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore
import ServiceLifecycle

/// How a hub instance connects and subscribes.
public struct HubSettings: Sendable {
    public var mqtt: MQTTSettings
    /// MQTT 5 shared-subscription group: hub instances in one group split the stream
    /// (`$share/{group}/parkguard/v1/#`); `nil` receives everything.
    public var sharedGroup: String?
    /// Who this hub signs its commands as (`by` of `ack`, `rebirth`).
    public var operatorName: String

    public init(mqtt: MQTTSettings, sharedGroup: String? = nil, operatorName: String = "parkguard-hub") {
        self.mqtt = mqtt
        self.sharedGroup = sharedGroup
        self.operatorName = operatorName
    }

    public var filter: String {
        sharedGroup.map { "$share/\($0)/parkguard/v1/#" } ?? "parkguard/v1/#"
    }
}

/// The reference consumer as a service: subscribes to the fleet's telemetry, runs every
/// message through the ``HubCore``, logs alarms in the ``AlarmLog``, asks units for rebirth, and
/// sends `ack` commands with correlation. Observers (the console) get every change.
public actor Hub: Service {
    private let settings: HubSettings
    private let client: MosquittoClient
    private let log: any AlarmLog
    private let logger: Logger
    private var core = HubCore()
    private var watchers: [UUID: AsyncStream<HubUpdate>.Continuation] = [:]
    private var pendingCommands: [String: CheckedContinuation<CommandOutcome, Never>] = [:]

    public init(settings: HubSettings, log: any AlarmLog, logger: Logger) throws {
        self.settings = settings
        self.log = log
        self.logger = logger
        client = try MosquittoClient(settings: settings.mqtt, logger: logger)
    }

    public nonisolated func run() async throws {
        client.start()
        await withGracefulShutdownHandler {
            for await event in client.events {
                await handle(event)
            }
        } onGracefulShutdown: { [client] in
            Task { await client.stop() }
        }
    }

    private func handle(_ event: MQTTEvent) async {
        switch event {
        case .connected(0, _):
            logger.notice("connected to broker", metadata: ["filter": "\(settings.filter)"])
            do { try client.subscribe(settings.filter, qos: 1) } catch {
                logger.error("cannot subscribe", metadata: ["filter": "\(settings.filter)", "error": "\(error)"])
            }
        case .connected(_, let text):
            logger.error("broker refused the connection", metadata: ["reason": "\(text)"])
        case .subscribed(_, let granted) where granted.contains { $0 >= 0x80 }:
            logger.critical("broker refused the subscription: this hub receives nothing", metadata: ["filter": "\(settings.filter)"])
        case .disconnected(let reason, let text) where reason != 0:
            logger.warning("disconnected from broker", metadata: ["reason": "\(text)"])
        case .connectFailed(let error, let retry):
            logger.warning("cannot reach broker", metadata: ["error": "\(error)", "retryIn": "\(retry)"])
        case .message(let message):
            await ingest(message)
        default:
            break
        }
    }

    private func ingest(_ message: MQTTMessage) async {
        let now = Date()
        for action in core.ingest(topic: message.topic, payload: message.payload, retained: message.retained, at: now) {
            await perform(action)
        }
    }

    private func perform(_ action: HubAction) async {
        do {
            switch action {
            case .alarmRaised(let alarm):
                if try await log.record(alarm) {
                    let level: Logger.Level = alarm.kind.opensAlarm ? .critical : .info
                    logger.log(level: level, "alarm \(alarm.kind.rawValue)", metadata: [
                        "unit": "\(alarm.unit)", "bell": "\(alarm.bell)", "id": "\(alarm.id)", "seq": "\(alarm.seq)"])
                    broadcast(.alarm(alarm))
                }
            case .alarmDuplicate:
                break
            case .alarmsAcknowledged(let unit, let bell, let by, let at):
                let count = try await log.acknowledge(unit: unit, bell: bell, by: by, at: at)
                logger.notice("alarms acknowledged", metadata: ["unit": "\(unit)", "bell": "\(bell)", "by": "\(by ?? "?")", "count": "\(count)"])
                broadcast(.alarmsChanged)
            case .alarmsCleared(let unit, let bell, let at):
                if try await log.clear(unit: unit, bell: bell, at: at) > 0 { broadcast(.alarmsChanged) }
            case .requestRebirth(let unit, let reason):
                logger.notice("asking for rebirth", metadata: ["unit": "\(unit)", "reason": "\(reason)"])
                _ = sendCommand(.rebirth, to: unit, bell: nil)
            case .unitChanged(let unit):
                if let view = core.units[unit] { broadcast(.unit(view)) }
            case .commandAnswered(let unit, let command, let ok, let correlation, let error):
                if let correlation, let waiter = pendingCommands.removeValue(forKey: correlation) {
                    waiter.resume(returning: CommandOutcome(ok: ok, error: error))
                }
                if !ok { logger.warning("command refused by unit", metadata: ["unit": "\(unit)", "command": "\(command)", "error": "\(error ?? "")"]) }
            case .refused(let error):
                logger.warning("message refused: outside the contract", metadata: ["topic": "\(error.topic.prefix(200))", "field": "\(error.field)", "error": "\(error.message)"])
            }
        } catch {
            // The log failing must not stop the hub: the alarm is still shown (and logged here).
            logger.critical("alarm log failed", metadata: ["error": "\(error)", "action": "\(action)"])
            if case .alarmRaised(let alarm) = action { broadcast(.alarm(alarm)) }
        }
    }

    // MARK: Commands

    /// The answer a unit gave to a command (or why there was none).
    public struct CommandOutcome: Sendable, Codable, Equatable {
        public var ok: Bool
        public var error: String?
    }

    /// Sends `ack` for `bell` of `unit` on behalf of `by`, and waits for the unit's answer.
    public func acknowledge(unit: UnitKey, bell: String, by: String, timeout: Duration = .seconds(10)) async -> CommandOutcome {
        guard let correlation = sendCommand(.ack, to: unit, bell: bell, by: by) else {
            return CommandOutcome(ok: false, error: "the hub could not publish the command")
        }
        core.expectAck(correlationID: correlation, unit: unit, bell: bell, by: by)
        return await waitForAnswer(correlation, timeout: timeout)
    }

    private func waitForAnswer(_ correlation: String, timeout: Duration) async -> CommandOutcome {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(correlation)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { pendingCommands[correlation] = $0 }
    }

    private func expire(_ correlation: String) {
        pendingCommands.removeValue(forKey: correlation)?.resume(returning: CommandOutcome(ok: false, error: "no answer from the unit within the timeout"))
    }

    private func sendCommand(_ name: Command.Name, to unit: UnitKey, bell: String?, by: String? = nil) -> String? {
        let correlation = UUID().uuidString.lowercased()
        var body: [String: String] = ["schema": "parkguard/cmd/1", "correlationId": correlation, "by": by ?? settings.operatorName]
        if let bell { body["bell"] = bell }
        let payload = (try? JSONEncoder().encode(body)).map { [UInt8]($0) } ?? []
        do {
            try client.publish(topic: "\(unit.topics.root)/cmd/\(name.rawValue)", payload: payload, qos: 1, retain: false,
                               correlationData: Array(correlation.utf8))
            return correlation
        } catch {
            logger.error("cannot send command", metadata: ["unit": "\(unit)", "command": "\(name.rawValue)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: Observers

    /// A change the console shows.
    public enum HubUpdate: Sendable {
        case unit(UnitView)
        case alarm(AlarmRecord)
        case alarmsChanged
    }

    /// Every change from now on.
    public func updates() -> AsyncStream<HubUpdate> {
        let (stream, continuation) = AsyncStream.makeStream(of: HubUpdate.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = UUID()
        watchers[id] = continuation
        continuation.onTermination = { [weak self] _ in Task { await self?.unwatch(id) } }
        return stream
    }

    private func unwatch(_ id: UUID) { watchers[id] = nil }

    private func broadcast(_ update: HubUpdate) {
        for watcher in watchers.values { watcher.yield(update) }
    }

    public var units: [UnitView] { core.units.values.sorted { $0.key < $1.key } }
    public var counts: HubCore.Counts { core.counts }
    public func openAlarms() async throws -> [AlarmRecord] { try await log.openAlarms(limit: 500) }
}
