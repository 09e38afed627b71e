import AgentRuntime
import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// Outbox append throughput with fsync (group commit) beside the naive floor of one fsync per
/// record on the same file system, in the same run; and the rate at which done marks retire them.
func outboxThroughput(records: Int, directory: String) -> OutboxResults {
    let logger = Logger(label: "bench")
    let message = OutboxFormat.Message(kind: 0, qos: 1, retain: false, topic: "parkguard/v1/bench/unit-1/bell/b1/alarm",
                                       correlationData: nil, alarmID: UUID().uuidString.lowercased(),
                                       payload: [UInt8](repeating: UInt8(ascii: "x"), count: 420))
    // Group commit: appends written and fsynced in batches by the writer thread.
    let path = directory + "/outbox-bench"
    var (outbox, _) = Outbox.open(path: path, logger: logger) { _ in }
    var start = ContinuousClock.now
    var ids: [UInt64] = []
    for _ in 0 ..< records {
        let id = outbox.reserveID()
        outbox.append(message, id: id)
        ids.append(id)
    }
    outbox.close()  // returns once everything is written and fsynced
    let appendSeconds = seconds(ContinuousClock.now - start)
    let syncs = outbox.figures.syncs

    // Retiring them (what a drain does after each PUBACK), then reopening (recovery scan).
    (outbox, _) = Outbox.open(path: path, logger: logger) { _ in }
    start = ContinuousClock.now
    for id in ids { outbox.done(id) }
    outbox.close()
    let doneSeconds = seconds(ContinuousClock.now - start)

    // The floor a naive outbox would have: write + fsync per record.
    let naiveCount = min(records, 2000)
    let fd = open(directory + "/naive-bench", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    let record = OutboxFormat.encode(.put(id: 1, message))
    start = ContinuousClock.now
    for _ in 0 ..< naiveCount {
        _ = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
    }
    let naiveSeconds = seconds(ContinuousClock.now - start)
    close(fd)
    return OutboxResults(records: records, recordBytes: record.count, appendPerSecond: Double(records) / appendSeconds, appendFsyncs: Int(syncs),
                         naiveRecords: naiveCount, naivePerSecond: Double(naiveCount) / naiveSeconds, donePerSecond: Double(records) / doneSeconds)
}

struct OutboxResults: Codable {
    var records: Int
    var recordBytes: Int
    var appendPerSecond: Double
    var appendFsyncs: Int
    var naiveRecords: Int
    var naivePerSecond: Double
    var donePerSecond: Double
    var drain: DrainResults?

    var markdown: String {
        var text = """
        | outbox (\(records) alarm records of \(recordBytes) bytes) | per second | fsyncs |
        |---|---|---|
        | append, written at once, group fsync (parkguardd) | \(Int(appendPerSecond)) | \(appendFsyncs) |
        | append with one fsync per record (naive floor, \(naiveRecords) records) | \(Int(naivePerSecond)) | \(naiveRecords) |
        | ratio | \(ratio(appendPerSecond, naivePerSecond)) | |
        | retire after PUBACK (done marks, batched) | \(Int(donePerSecond)) | |
        """
        if let drain { text += "\n\n" + drain.markdown }
        return text
    }
}

struct DrainResults: Codable {
    var records: Int
    var delivered: Int
    var perSecond: Double
    var baselinePerSecond: Double
    var inflight: Int

    var markdown: String {
        """
        | outbox drain to the broker (\(records) alarms left by a previous run) | alarms per second |
        |---|---|
        | parkguardd start-up drain (QoS 1, \(inflight) in flight, each retired in the outbox on PUBACK), \(delivered) delivered | \(Int(perSecond)) |
        | baseline: raw libmosquitto QoS 1 publish to the same subscriber, \(inflight) in flight | \(Int(baselinePerSecond)) |
        | ratio | \(ratio(perSecond, baselinePerSecond)) |
        """
    }
}

/// Resident memory of the daemon before, at the end of, and after an outage during which its
/// heartbeats (every second here) queue: 60 s at 1 s holds as many as 30 min at the default 30 s.
func outageMemory(seconds outage: Int, daemon: String, scratch: ScratchDirectory, brokerPort: Int, socket: String) async throws -> String {
    let proxy = try LinkProxy(upstreamPort: brokerPort)
    let config = benchConfig(port: proxy.port, socket: socket, state: scratch.file("outage-state"))
        .replacingOccurrences(of: "heartbeatInterval: 30s", with: "heartbeatInterval: 1s")
        .replacingOccurrences(of: "clientId: bench-agent-", with: "clientId: bench-outage-")
    try config.write(toFile: scratch.file("outage.yaml"), atomically: true, encoding: .utf8)
    let agent = try Child(daemon, ["--config", scratch.file("outage.yaml"), "--log-level", "warning"], in: scratch, name: "outage-agent")
    defer { agent.signal(SIGTERM) }
    try await Task.sleep(for: .seconds(3))
    let before = residentKiB(pid: agent.process.processIdentifier)
    proxy.set(.drop)
    try await Task.sleep(for: .seconds(outage))
    let during = residentKiB(pid: agent.process.processIdentifier)
    proxy.set(.pass)
    try await Task.sleep(for: .seconds(5))
    let after = residentKiB(pid: agent.process.processIdentifier)
    return """
    parkguardd resident memory, outage of \(outage) s with 1 s heartbeats (\(outage) queued, as many as \(outage / 2) min at 30 s): \
    before \(before) KiB, end of outage \(during) KiB, 5 s after reconnect \(after) KiB
    """
}

private func seconds(_ duration: Duration) -> Double { Double(duration.nanoseconds) / 1e9 }

/// How fast a backlog left in the outbox reaches a subscriber when the daemon starts: `records`
/// alarms written to a unit's outbox (as a run that lost its broker would leave them), then the
/// daemon started; the rate is taken from the first to the last arrival. The baseline publishes
/// as many QoS 1 messages with raw libmosquitto and the same in-flight window, in the same run.
func outboxDrain(records: Int, daemon: String, scratch: ScratchDirectory, brokerPort: Int, socket: String, logger: Logger) async throws -> DrainResults {
    let logger = Logger(label: "bench")
    let state = scratch.file("drain-state")
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let topic = "parkguard/v1/bench/drain/bell/b1/alarm"
    let payload = Array(#"{"bell":"b1","kind":"press","schema":"parkguard/alarm/1","site":"bench","unit":"drain"}"#.utf8)
    let (outbox, _) = Outbox.open(path: state + "/outbox", logger: logger) { _ in }
    for _ in 0 ..< records {
        let message = OutboxFormat.Message(kind: 0, qos: 1, retain: false, topic: topic, correlationData: nil,
                                           alarmID: UUID().uuidString.lowercased(), payload: payload)
        outbox.append(message, id: outbox.reserveID())
    }
    outbox.close()

    let arrivals = Inbox()
    let subscriber = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: brokerPort, clientID: "bench-drain-sub-\(getpid())"), logger: logger)
    subscriber.start()
    let reader = Task {
        for await event in subscriber.events {
            if case .connected(0, _) = event {
                _ = try? subscriber.subscribe(topic, qos: 1)
                _ = try? subscriber.subscribe("bench/drain-raw", qos: 1)
            }
            if case .message(let message) = event { arrivals.put(message, at: VirtualChip.monotonicNow()) }
        }
    }
    defer { reader.cancel() }
    try await Task.sleep(for: .milliseconds(300))

    func rate(topic: String) async throws -> (count: Int, perSecond: Double) {
        let deadline = ContinuousClock.now + .seconds(120)
        var last = -1
        while ContinuousClock.now < deadline {
            let count = arrivals.count { $0.topic == topic }
            if count >= records || (count == last && count > 0 && ContinuousClock.now > deadline - .seconds(110)) { break }
            last = count
            try await Task.sleep(for: .milliseconds(100))
        }
        let times = arrivals.times { $0.topic == topic }
        guard let first = times.min(), let end = times.max(), end > first else { return (times.count, 0) }
        return (times.count, Double(times.count - 1) / (Double(end - first) / 1e9))
    }

    let yaml = benchConfig(port: brokerPort, socket: socket, state: state)
        .replacingOccurrences(of: "unit: unit-1", with: "unit: drain")
        .replacingOccurrences(of: "clientId: bench-agent-", with: "clientId: bench-drain-")
    try yaml.write(toFile: scratch.file("drain.yaml"), atomically: true, encoding: .utf8)
    let agent = try Child(daemon, ["--config", scratch.file("drain.yaml"), "--log-level", "warning"], in: scratch, name: "drain-agent")
    defer { agent.signal(SIGTERM) }
    let drained = try await rate(topic: topic)

    let publisher = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: brokerPort, clientID: "bench-drain-pub-\(getpid())",
                                                               maxInflight: 20), logger: logger)
    publisher.start()
    let publisherEvents = Task { for await _ in publisher.events {} }
    defer { publisherEvents.cancel() }
    try await Task.sleep(for: .milliseconds(300))
    for _ in 0 ..< records { try publisher.publish(topic: "bench/drain-raw", payload: payload, qos: 1, retain: false) }
    let raw = try await rate(topic: "bench/drain-raw")
    await publisher.stop()
    await subscriber.stop()
    return DrainResults(records: records, delivered: drained.count, perSecond: drained.perSecond, baselinePerSecond: raw.perSecond, inflight: 20)
}
