import AgentRuntime
import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit

/// Outbox append throughput with fsync (group commit) beside the naive floor of one fsync per
/// record on the same file system, in the same run; and the rate at which done marks retire them.
func outboxThroughput(records: Int, directory: String) -> String {
    let logger = Logger(label: "bench")
    let message = OutboxFormat.Message(kind: 0, qos: 1, retain: false, topic: "parkguard/v1/bench/unit-1/bell/b1/alarm",
                                       correlationData: nil, alarmID: UUID().uuidString.lowercased(),
                                       payload: [UInt8](repeating: UInt8(ascii: "x"), count: 420))
    // Group commit: every append written at once, fsyncs batched by the writer thread.
    let path = directory + "/outbox-bench"
    var (outbox, _) = Outbox.open(path: path, logger: logger) { _ in }
    var start = ContinuousClock.now
    var ids: [UInt64] = []
    for _ in 0 ..< records {
        let id = outbox.reserveID()
        outbox.append(message, id: id, now: true)
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
    return """
    | outbox (\(records) alarm records of \(record.count) bytes) | per second | fsyncs |
    |---|---|---|
    | append, written at once, group fsync (parkguardd) | \(Int(Double(records) / appendSeconds)) | \(syncs) |
    | append with one fsync per record (naive floor, \(naiveCount) records) | \(Int(Double(naiveCount) / naiveSeconds)) | \(naiveCount) |
    | retire after PUBACK (done marks, batched) | \(Int(Double(records) / doneSeconds)) | |
    """
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
