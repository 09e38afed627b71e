import FleetKit
import Foundation
import Logging
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// One fleet size tried: whether every heartbeat was on time and every alarm delivered, and
/// how long the whole fleet took to come back after the broker restarted.
struct FleetTrial: Codable {
    var units: Int
    var processes: Int
    var passed: Bool
    var failure: String?
    var started: Int
    var heartbeats: HeartbeatVerdict
    var heartbeatIntervalSeconds: Int
    var presses: Int
    var stormPresses: Int
    var alarmsDelivered: Int
    var alarmsMissing: Int
    var duplicateAlarms: Int
    /// Broker restart (listening again) to every unit's `online` seen again.
    var massReconnectSeconds: Double?
    var fleetCPUPercent: Double
    var brokerCPUPercent: Double
    var fleetRSSKiB: Int
    /// The hub console during the heartbeat window: /api/state (the first page of open incidents and the counts) response times.
    /// The units reach the page over the live stream (Benchmarks/console_load.py measures that in Chromium).
    var console: ConsoleProbe?
}

struct ConsoleProbe: Codable {
    var requests: Int
    var failures: Int
    var openIncidents: Int
    var p50Milliseconds: Double
    var maxMilliseconds: Double
}

struct FleetResults: Codable {
    var trials: [FleetTrial]
    var largestPassing: Int?
    var massReconnectSeconds: Double?

    var markdown: String {
        var lines = [
            "| fleet units (processes) | heartbeats on time | alarms delivered / pressed (storm) | duplicates | mass reconnect | fleet CPU | broker CPU | fleet RSS | hub console /api/state p50 / max (open incidents) | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t in trials {
            let beats = "\(t.heartbeats.onTime ? "yes" : "no") (\(t.heartbeats.received) beats, worst gap \(String(format: "%.1f", t.heartbeats.worstGap)) s / \(t.heartbeatIntervalSeconds) s)"
            let reconnect = t.massReconnectSeconds.map { String(format: "%.1f s", $0) } ?? "not complete"
            lines.append("| \(t.units) (\(t.processes)) | \(beats) | \(t.alarmsDelivered) / \(t.presses) (\(t.stormPresses)) | \(t.duplicateAlarms) | \(reconnect) | \(String(format: "%.0f", t.fleetCPUPercent)) % | \(String(format: "%.0f", t.brokerCPUPercent)) % | \(t.fleetRSSKiB / 1024) MiB | \(t.console.map { String(format: "%.0f / %.0f ms (%d open, %d failed)", $0.p50Milliseconds, $0.maxMilliseconds, $0.openIncidents, $0.failures) } ?? "") | \(t.passed ? "pass" : "fail: \(t.failure ?? "")") |")
        }
        lines.append("")
        if let largestPassing {
            lines.append("Largest fleet with every heartbeat on time and every alarm delivered: **\(largestPassing) units**; mass reconnect after a broker restart: **\(String(format: "%.1f", massReconnectSeconds ?? 0)) s**. CPU figures are % of one core over the run (the machine has \(ProcessInfo.processInfo.activeProcessorCount)).")
        } else {
            lines.append("No fleet size passed.")
        }
        return lines.joined(separator: "\n")
    }
}

/// Runs fleets of growing size against a fresh broker each, until one fails.
func fleetScale(sizes: [Int], heartbeat: Int, sim: String, hub: String?, scratch: ScratchDirectory, logger: Logger) async throws -> FleetResults {
    var results = FleetResults(trials: [], largestPassing: nil, massReconnectSeconds: nil)
    for size in sizes {
        let trial = try await fleetTrial(units: size, heartbeat: heartbeat, sim: sim, hub: hub, scratch: scratch, logger: logger)
        print("fleet \(size): \(trial.passed ? "pass" : "fail: \(trial.failure ?? "")")")
        results.trials.append(trial)
        guard trial.passed else { break }
        results.largestPassing = size
        results.massReconnectSeconds = trial.massReconnectSeconds
    }
    return results
}

private func fleetTrial(units: Int, heartbeat: Int, sim: String, hub: String?, scratch: ScratchDirectory, logger: Logger) async throws -> FleetTrial {
    // One process per core at least, and few enough units per process for its descriptor limit.
    let processes = max(ProcessInfo.processInfo.activeProcessorCount, (units + 3999) / 4000)
    let broker = try await Broker(in: scratch)
    defer { Task { try? await broker.stop() } }
    let site = "fleet\(units)"
    let observer = try FleetObserver(host: "127.0.0.1", port: broker.port, site: site, logger: logger)
    // The control room's hub with its console, ingesting the whole fleet during the run.
    var hubChild: Child?
    if let hub {
        // The console needs a login: one viewer, logged in below.
        let added = try await run("/bin/sh", ["-c", "echo 'bench viewer password' | \"$0\" operator add bench --role viewer --db \"$1\"",
                                              hub, scratch.file("\(site)-hub.sqlite")])
        guard added.status == 0 else { throw HarnessError("parkguard-hub operator add: \(added.error)") }
        hubChild = try Child(hub, ["run", "--broker", "127.0.0.1:\(broker.port)", "--db", scratch.file("\(site)-hub.sqlite"),
                                   "--console", "127.0.0.1:0", "--client-id", "bench-console-\(site)", "--log-level", "error"],
                             in: scratch, name: "\(site)-hub")
    }
    defer { hubChild?.signal(SIGTERM) }
    try await Task.sleep(for: .milliseconds(500))
    let consolePort = hubChild.flatMap { child in
        child.stdout.split(separator: "\n").first { $0.hasPrefix("console: http://127.0.0.1:") }
            .flatMap { Int($0.dropFirst("console: http://127.0.0.1:".count).prefix { $0.isNumber }) }
    }

    let hb = Double(heartbeat)
    let perProcess = (units + processes - 1) / processes
    let ramp = max(1, Double(perProcess) / 500)
    let window = 2 * hb + max(5, hb / 2)  // at least two beats of every unit
    let reconnectAllowance = max(30, hb)
    let duration = window + reconnectAllowance
    let stormAfter = max(0, (window - 7) / 2)  // in the middle of the pressing time
    var shards: [Child] = []
    var first = 0
    while first < units {
        let count = min(perProcess, units - first)
        let directory = scratch.file("\(site)-\(first)")
        shards.append(try Child(sim, [
            "fleet", "--units", "\(count)", "--first-unit", "\(first)", "--site", site, "--broker", "127.0.0.1:\(broker.port)",
            "--state-dir", directory, "--ramp", "\(ramp)", "--heartbeat", "\(heartbeat)", "--cameras", "16", "--camera-interval", "300",
            "--rate", "\(max(1, Double(units) / 1000))", "--storm-after", "\(stormAfter)", "--storm-fraction", "0.1",
            "--duration", "\(duration)", "--drain", "\(reconnectAllowance + 5)", "--seed", "\(first + 1)",
        ], in: scratch, name: "\(site)-\(first)"))
        first += count
    }
    defer { shards.forEach { $0.signal(SIGKILL) } }
    let pids = shards.map(\.process.processIdentifier)
    let brokerAtStart = broker.pid.map(cpuTicks) ?? 0
    let started = observer.now

    // All online, then the heartbeat window.
    _ = try? await waitUntil(timeout: .seconds(Int(ramp) + 30)) { observer.onlineCount >= units }
    let windowStart = max(observer.now, started + ramp + 2) + hb / 2
    let windowEnd = started + ramp + window
    var consoleTimes: [Double] = []
    var consoleFailures = 0
    var openIncidents = 0
    var cookie: [(String, String)] = []
    if let consolePort, let (status, headers, _) = try? await ControlClient.exchange(
        host: "127.0.0.1", port: consolePort, method: "POST", path: "/api/login", body: #"{"name":"bench","password":"bench viewer password"}"#),
        status == 200, let session = headers.first(where: { $0.0.lowercased() == "set-cookie" })?.1.split(separator: ";").first {
        cookie = [("Cookie", String(session))]
    }
    while observer.now < windowEnd {
        if let consolePort {
            let start = ContinuousClock.now
            if let (status, _, body) = try? await ControlClient.exchange(host: "127.0.0.1", port: consolePort, method: "GET", path: "/api/state",
                                                                          headers: cookie), status == 200 {
                consoleTimes.append(Double((ContinuousClock.now - start).nanoseconds) / 1e6)
                struct State: Decodable { var incidents: Page; struct Page: Decodable { var total: Int } }
                openIncidents = (try? JSONDecoder().decode(State.self, from: Data(body.utf8)))?.incidents.total ?? openIncidents
            } else {
                consoleFailures += 1
            }
        }
        try await Task.sleep(for: .seconds(1))
    }
    let console = consolePort.map { _ in
        ConsoleProbe(requests: consoleTimes.count + consoleFailures, failures: consoleFailures, openIncidents: openIncidents,
                     p50Milliseconds: percentile(consoleTimes, 0.5), maxMilliseconds: consoleTimes.max() ?? 0)
    }
    let rss = pids.map { residentKiB(pid: $0) }.reduce(0, +)  // all shards, at the end of the window
    var ticksBroker = (broker.pid.map(cpuTicks) ?? 0) - brokerAtStart

    // Mass reconnect: the broker dies and comes back on the same port.
    let verdict = observer.heartbeatVerdict(units: (0 ..< units).map(FleetPlan.unitID), from: windowStart, to: windowEnd,
                                            interval: hb, tolerance: max(2, hb / 10))
    try await broker.stop()
    observer.forgetOnline()
    try await Task.sleep(for: .seconds(1))
    try await broker.restart()
    let restarted = observer.now
    let back: Void? = try? await waitUntil(timeout: .seconds(Int(reconnectAllowance))) { observer.onlineSince(restarted) >= units }
    let reconnect = back != nil ? observer.now - restarted : nil
    // Counted now: once the shards stop, their offline statuses empty the count.
    let backInTime = observer.onlineSince(restarted)
    let brokerAgain = broker.pid.map(cpuTicks) ?? 0
    // A few beats after the reconnect, then the fleet shuts down cleanly and reports.
    try await Task.sleep(for: .seconds(min(5, hb)))
    shards.forEach { $0.signal(SIGTERM) }

    // The end of the run: the shards print their reports.
    var reports: [FleetReport] = []
    var failure: String?
    for shard in shards {
        let status = try await shard.exitStatus(within: .seconds(Int(duration) + 60))
        if let report = try? JSONDecoder().decode(FleetReport.self, from: Data(shard.stdout.utf8)) {
            reports.append(report)
        } else {
            failure = failure ?? "a fleet process exited \(status.map(String.init) ?? "late") without a report: \(shard.stderr.suffix(300))"
        }
    }
    ticksBroker += (broker.pid.map(cpuTicks) ?? 0) - brokerAgain
    let elapsed = observer.now - started
    try await Task.sleep(for: .seconds(2))
    let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    // The fleet processes have exited: their own CPU time comes with their reports.
    let fleetCPU = reports.reduce(0) { $0 + $1.cpuSeconds } / elapsed * 100
    let brokerCPU = Double(ticksBroker) / ticksPerSecond / elapsed * 100

    var pressed: [String: Int] = [:]
    for report in reports { pressed.merge(report.pressesByUnit) { $0 + $1 } }
    let delivered = observer.pressAlarms
    let missing = pressed.reduce(0) { $0 + max(0, $1.value - (delivered[$1.key] ?? 0)) }
    let startedUnits = reports.reduce(0) { $0 + $1.started }
    if failure == nil, startedUnits < units { failure = "\(units - startedUnits) units did not start: \(reports.flatMap(\.startFailures).prefix(2))" }
    if failure == nil, !verdict.onTime { failure = "\(verdict.lateUnits) units had a late heartbeat, \(verdict.missingUnits) missed one" }
    if failure == nil, missing > 0 { failure = "\(missing) alarms not delivered" }
    if failure == nil, reconnect == nil { failure = "only \(backInTime) of \(units) units back within \(Int(reconnectAllowance)) s of the broker restart" }
    await observer.stop()
    return FleetTrial(units: units, processes: processes, passed: failure == nil, failure: failure, started: startedUnits, heartbeats: verdict,
                      heartbeatIntervalSeconds: heartbeat, presses: pressed.values.reduce(0, +),
                      stormPresses: reports.reduce(0) { $0 + $1.stormPresses }, alarmsDelivered: delivered.values.reduce(0, +),
                      alarmsMissing: missing, duplicateAlarms: observer.duplicateAlarms, massReconnectSeconds: reconnect,
                      fleetCPUPercent: fleetCPU, brokerCPUPercent: brokerCPU, fleetRSSKiB: rss, console: console)
}
