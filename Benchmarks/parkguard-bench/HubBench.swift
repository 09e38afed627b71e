import Foundation
import Logging
import MQTTAdapter
import ParkGuardTestKit
import SimulatorKit

/// How fast one `parkguard-hub` instance ingests alarms with its SQLite log on, beside a raw
/// libmosquitto subscriber receiving the same stream in the same run.
struct HubIngestResults: Codable {
    var messages: Int
    var hubPerSecond: Double
    var hubSeconds: Double
    var logged: Int
    var baselinePerSecond: Double
    /// Transactions the hub committed (alarms per commit = logged / batches).
    var batches: Int
    /// The hub process's CPU time (user + system) over the run, per alarm logged.
    var hubCPUMicrosPerAlarm: Double

    var markdown: String {
        """
        | hub ingest (\(messages) alarms, QoS 1, from 100 units) | alarms per second |
        |---|---|
        | parkguard-hub: decode, validate, de-duplicate, fleet state, SQLite log (group commit: one synchronous transaction per batch), then a receipt per unit per batch — \(logged) logged in \(String(format: "%.1f", hubSeconds)) s | \(Int(hubPerSecond)) |
        | baseline: raw libmosquitto subscriber, same stream | \(Int(baselinePerSecond)) |
        | ratio | \(ratio(hubPerSecond, baselinePerSecond)) |

        Both rates run from the first alarm's arrival at the raw subscriber; the hub's ends when its stats line (every 50 ms) shows every alarm committed and receipted. \
        The hub committed \(batches) transactions (\(batches > 0 ? logged / batches : 0) alarms per commit on average) and used \(Int(hubCPUMicrosPerAlarm)) µs of CPU per alarm (all its threads: MQTT, decoding, SQLite). \
        The machine's 2 cores are shared by the broker, the publisher, the raw subscriber and the hub, so the baseline is what the broker delivers to two subscribers at once.
        """
    }
}

func hubIngest(messages: Int, hub: String, scratch: ScratchDirectory, brokerPort: Int, logger: Logger) async throws -> HubIngestResults {
    let db = scratch.file("hub-bench.sqlite")
    let child = try Child(hub, ["run", "--broker", "127.0.0.1:\(brokerPort)", "--db", db, "--stats-interval", "0.05",
                                "--client-id", "bench-hub-\(getpid())", "--log-level", "error"], in: scratch, name: "hub-bench")
    defer { child.signal(SIGTERM) }
    let arrivals = Inbox()
    let subscriber = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: brokerPort, clientID: "bench-hub-sub-\(getpid())"), logger: logger)
    subscriber.start()
    let reader = Task {
        for await event in subscriber.events {
            if case .connected(0, _) = event { _ = try? subscriber.subscribe("parkguard/v1/hubbench/#", qos: 1) }
            if case .message(let message) = event { arrivals.put(message, at: VirtualChip.monotonicNow()) }
        }
    }
    defer { reader.cancel() }
    let publisher = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: brokerPort, clientID: "bench-hub-pub-\(getpid())",
                                                               maxInflight: 100), logger: logger)
    publisher.start()
    let publisherEvents = Task { for await _ in publisher.events {} }
    defer { publisherEvents.cancel() }
    try await Task.sleep(for: .seconds(1))

    let ticksBefore = cpuTicks(child.process.processIdentifier)
    let started = Date()
    let startedMono = Int64(VirtualChip.monotonicNow())
    for index in 0 ..< messages {
        let unit = "u\(index % 100)"
        let payload = """
        {"schema":"parkguard/alarm/1","id":"\(UUID().uuidString.lowercased())","seq":\(index / 100 + 1),"session":1,"site":"hubbench",\
        "unit":"\(unit)","bell":"b1","kind":"\(index % 2 == 0 ? "press" : "release")","state":"\(index % 2 == 0 ? "alarm" : "idle")",\
        "time":"2026-11-25T10:00:00.000Z","mono":1,"clockSynced":true,"edgeMono":1,"cameras":[]}
        """
        try publisher.publish(topic: "parkguard/v1/hubbench/\(unit)/bell/b1/alarm", payload: Array(payload.utf8), qos: 1, retain: false)
    }
    // The hub's stats lines (every 50 ms, so the figure's quantisation stays a few percent):
    // when did its alarm count reach every message?
    // Committed in the log (and receipted), not only received.
    struct Stats: Decodable { var time: Double; var log: Counts; struct Counts: Decodable { var committed: Int; var receiptedIDs: Int; var batches: Int } }
    var reached: Double?
    let deadline = ContinuousClock.now + .seconds(600)
    while reached == nil, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(200))
        let lines = child.stdout.split(separator: "\n").compactMap { try? JSONDecoder().decode(Stats.self, from: Data($0.utf8)) }
        reached = lines.first { $0.log.committed >= messages && $0.log.receiptedIDs >= messages }?.time
        if !child.process.isRunning { break }
    }
    let times = arrivals.times { $0.topic.hasPrefix("parkguard/v1/hubbench/") && $0.topic.hasSuffix("/alarm") }
    let baseline = times.count > 1 ? Double(times.count - 1) / (Double(times.max()! - times.min()!) / 1e9) : 0
    let ticks = cpuTicks(child.process.processIdentifier) - ticksBefore
    let last = child.stdout.split(separator: "\n").compactMap { try? JSONDecoder().decode(Stats.self, from: Data($0.utf8)) }.last?.log
    let lastCount = last?.committed ?? 0
    // From the first arrival at the raw subscriber (the same moment the hub can first see one),
    // as the baseline's rate is; the monotonic arrival time mapped onto the wall clock.
    let firstArrival = times.min().map { started.timeIntervalSince1970 + Double(Int64($0) - startedMono) / 1e9 } ?? started.timeIntervalSince1970
    let seconds = (reached ?? Date().timeIntervalSince1970) - firstArrival
    await publisher.stop()
    await subscriber.stop()
    return HubIngestResults(messages: messages, hubPerSecond: Double(lastCount) / max(seconds, 0.001), hubSeconds: seconds, logged: lastCount,
                            baselinePerSecond: baseline,
                            batches: last?.batches ?? 0, hubCPUMicrosPerAlarm: Double(ticks) * 1e6 / Double(sysconf(Int32(_SC_CLK_TCK))) / Double(max(lastCount, 1)))
}
