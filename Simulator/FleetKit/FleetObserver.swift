import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore

/// The hub's side of a fleet run: subscribes to a site's status, telemetry and alarms, and
/// keeps what a verdict needs — which units are online, when each heartbeat arrived, and every
/// press alarm by id (duplicates counted, not double-counted).
public final class FleetObserver: Sendable {
    private let client: MosquittoClient
    private let site: String
    private let state = Shared()
    private let origin = ContinuousClock.now
    private let reader: Task<Void, Never>

    /// The tallies, in a class of their own so the reader task can hold them before `self` exists.
    private final class Shared: Sendable {
        let mutex = Locked(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    private struct State {
        var online: Set<String> = []
        var onlineSince: [String: Double] = [:]
        var heartbeats: [String: [Double]] = [:]
        var pressAlarms: [String: Set<String>] = [:]
        var duplicateAlarms = 0
        var alarmLatest: Double = 0
        var messages = 0
    }

    public init(host: String, port: Int, site: String, logger: Logger) throws {
        self.site = site
        client = try MosquittoClient(settings: MQTTSettings(host: host, port: port, clientID: "fleet-observer-\(getpid())-\(site)",
                                                            keepalive: .seconds(30), reconnectInitial: .milliseconds(200),
                                                            reconnectMax: .seconds(1)), logger: logger)
        let root = "parkguard/v1/\(site)/"
        reader = Task { [client, state, origin] in
            let decoder = JSONDecoder()
            for await event in client.events {
                switch event {
                case .connected(0, _):
                    _ = try? client.subscribe(root + "+/status", qos: 1)
                    _ = try? client.subscribe(root + "+/telemetry", qos: 0)
                    _ = try? client.subscribe(root + "+/bell/+/alarm", qos: 1)
                case .message(let message):
                    let now = Double(origin.duration(to: .now).nanoseconds) / 1e9
                    let parts = message.topic.split(separator: "/")
                    guard parts.count >= 5 else { continue }
                    let unit = String(parts[3])
                    let leaf = parts.last.map(String.init) ?? ""
                    let alarm = leaf == "alarm" ? try? decoder.decode(AlarmHead.self, from: Data(message.payload)) : nil
                    let online = leaf == "status" ? (try? decoder.decode(StatusHead.self, from: Data(message.payload)))?.state == "online" : nil
                    state.withLock { state in
                        state.messages += 1
                        switch leaf {
                        case "status":
                            if online == true {
                                state.online.insert(unit)
                                state.onlineSince[unit] = now
                            } else {
                                state.online.remove(unit)
                            }
                        case "telemetry":
                            state.heartbeats[unit, default: []].append(now)
                        case "alarm":
                            guard let alarm, alarm.kind == "press" else { break }
                            if !state.pressAlarms[unit, default: []].insert(alarm.id).inserted { state.duplicateAlarms += 1 }
                            state.alarmLatest = now
                        default:
                            break
                        }
                    }
                default:
                    break
                }
            }
        }
        client.start()
    }

    deinit { reader.cancel() }

    /// Seconds since the observer started: the time base of every figure it returns.
    public var now: Double { Double(origin.duration(to: .now).nanoseconds) / 1e9 }

    public var onlineCount: Int { state.withLock { $0.online.count } }
    public var messageCount: Int { state.withLock { $0.messages } }

    /// Units whose latest `online` status arrived after `time`.
    public func onlineSince(_ time: Double) -> Int {
        state.withLock { state in state.online.filter { (state.onlineSince[$0] ?? 0) > time }.count }
    }

    /// Forgets who is online (before a broker restart: the new broker has no retained state).
    public func forgetOnline() { state.withLock { $0.online.removeAll() } }

    /// Press alarms received (distinct ids) per unit.
    public var pressAlarms: [String: Int] { state.withLock { $0.pressAlarms.mapValues(\.count) } }
    public var duplicateAlarms: Int { state.withLock { $0.duplicateAlarms } }
    /// Seconds (observer time) of the latest press alarm.
    public var latestAlarm: Double { state.withLock { $0.alarmLatest } }

    /// Heartbeats over `from ..< to` against the interval: every unit in `units` must show no gap
    /// longer than `interval + tolerance` (the window's edges count as beats) and at least
    /// `floor(window / (interval + tolerance))` beats.
    public func heartbeatVerdict(units: [String], from: Double, to: Double, interval: Double, tolerance: Double) -> HeartbeatVerdict {
        state.withLock { state in
            var verdict = HeartbeatVerdict(units: units.count, received: 0, lateUnits: 0, missingUnits: 0, worstGap: 0)
            // As many beats as fit when each may come up to `tolerance` late (the gap check above
            // is the real test; this only catches a unit that fell silent at the window's end).
            let expected = Int((to - from) / (interval + tolerance))
            for unit in units {
                let beats = (state.heartbeats[unit] ?? []).filter { $0 >= from && $0 < to }
                verdict.received += beats.count
                var previous = from
                var worst = 0.0
                for beat in beats + [to] {
                    worst = max(worst, beat - previous)
                    previous = beat
                }
                verdict.worstGap = max(verdict.worstGap, worst)
                if beats.count < expected { verdict.missingUnits += 1 }
                if worst > interval + tolerance { verdict.lateUnits += 1 }
            }
            return verdict
        }
    }

    public func stop() async {
        await client.stop()
    }

    private struct AlarmHead: Decodable {
        var id: String
        var kind: String
    }

    private struct StatusHead: Decodable {
        var state: String
    }
}

/// Whether every heartbeat of a window arrived on time.
public struct HeartbeatVerdict: Codable, Sendable {
    public var units: Int
    public var received: Int
    /// Units with a gap longer than the interval plus the tolerance.
    public var lateUnits: Int
    /// Units with fewer beats than the window holds.
    public var missingUnits: Int
    /// The longest gap seen, in seconds.
    public var worstGap: Double

    public var onTime: Bool { lateUnits == 0 && missingUnits == 0 }
}
