import ArgumentParser
import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore
import ParkGuardTestKit
import SimulatorKit

/// `parkguard-bench`: every figure of docs/performance.md, each beside a baseline measured in the
/// same run on the same machine — press-to-subscriber latency against the raw libmosquitto
/// floor, idle cost against `mosquitto_sub` and the mqtt-io peer, outbox append and drain
/// against naive fsync and raw publishing, camera probe cost against a daemon without cameras,
/// and the largest fleet one machine runs. Starts its own mosquitto on a free loopback port.
@main
struct ParkGuardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguard-bench",
        abstract: "Measure parkguardd against baselines from the same run; write JSON and Markdown.")

    @Flag(help: "A seconds-long run of every benchmark (CI), with small counts; figures are not meaningful.")
    var smoke = false

    @Option(help: "Presses to measure (each press and its release are two alarms; presses are timed; 0 skips it).")
    var presses = 10000

    @Option(help: "Messages for the raw libmosquitto floor.")
    var baseline = 10000

    @Option(help: "Outbox records to append for the throughput figure (0 skips it).")
    var outboxRecords = 10000

    @Option(help: "Alarms left in an outbox for the drain figure (0 skips it).")
    var drainRecords = 5000

    @Option(help: "Seconds of broker outage for the memory figure (0 skips it).")
    var outageSeconds = 0

    @Option(help: "Seconds over which idle CPU and memory are measured (0 skips it).")
    var idleSeconds = 60

    @Flag(help: "Do not measure the mqtt-io peer.")
    var noPeer = false

    @Option(help: "The mqtt-io peer script (default: Benchmarks/peers/mqtt_io_peer.py under the current directory).")
    var peerScript = "Benchmarks/peers/mqtt_io_peer.py"

    @Option(help: "Presses timed from the contact to the PTZ camera's GotoPreset (0 skips it).")
    var ptzPresses = 200

    @Option(help: "Presses timed with pictures on and off, and to the first picture in the hub's log (0 skips it).")
    var snapshotPresses = 100

    @Option(help: "Simulated cameras for the probe-cost figure (0 skips it).")
    var cameras = 64

    @Option(help: "Seconds between probes of each camera.")
    var cameraInterval = 5

    @Option(help: "Seconds over which the probing daemon's CPU is measured.")
    var cameraSeconds = 60

    @Option(help: "Fleet sizes to try in order, comma-separated; the run stops at the first that fails (empty skips it).")
    var fleetSizes = "2500,5000,7500,10000,15000"

    @Option(help: "Heartbeat interval of the fleet's units, seconds.")
    var fleetHeartbeat = 30

    @Option(help: "Alarms for the hub ingest figure (0 skips it).")
    var hubMessages = 20000

    @Option(help: "Write the results as JSON here.")
    var json: String?

    @Option(help: "Write the results as a Markdown page here.")
    var markdown: String?

    @Option(help: "Directory with parkguardd and parkguard-sim (default: next to this binary).")
    var binDir: String?

    @Option(help: "The daemon to measure (default: parkguardd in --bin-dir; Benchmarks/run.sh passes the static build the package ships).")
    var daemon: String?

    func validate() throws {
        guard presses == 0 || presses >= 10, baseline >= 10 else { throw ValidationError("--presses (0 skips the latency figure) and --baseline must be at least 10") }
        guard parsedFleetSizes != nil else { throw ValidationError("--fleet-sizes must be positive integers separated by commas, like 1000,2500") }
    }

    private var parsedFleetSizes: [Int]? {
        let parts = fleetSizes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(where: { ($0 ?? 0) <= 0 }) ? nil : parts.compactMap { $0 }
    }

    func run() async throws {
        var options = self
        if smoke {
            options.presses = 200; options.baseline = 200; options.outboxRecords = 1000; options.drainRecords = 200
            options.outageSeconds = 0; options.idleSeconds = 3; options.cameras = 4; options.cameraInterval = 1
            options.cameraSeconds = 3; options.fleetSizes = "20"; options.fleetHeartbeat = 2; options.hubMessages = 500
            options.ptzPresses = 10; options.snapshotPresses = 6
        }
        try await options.measureAll()
    }

    private func measureAll() async throws {
        let logger = Logger(label: "bench")
        let dir = binDir ?? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map { ($0 as NSString).deletingLastPathComponent } ?? ".")
        let scratch = try ScratchDirectory()
        let broker = try await Broker(in: scratch)
        var report = BenchReport(machine: MachineInfo.current(), command: CommandLine.arguments.joined(separator: " "), smoke: smoke)
        do {
            try await measure(into: &report, scratch: scratch, port: broker.port, dir: dir, logger: logger)
        } catch {
            try? await broker.stop()
            throw error
        }
        // Stopped here, not in a defer: nothing deferred runs when the process exits.
        try await broker.stop()
        print("")
        print(report.markdown)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let json { try encoder.encode(report).write(to: URL(fileURLWithPath: json)) }
        if let markdown { try report.markdown.write(toFile: markdown, atomically: true, encoding: .utf8) }
        let broken = report.brokenBenchmarks
        if !broken.isEmpty {
            FileHandle.standardError.write(Data("parkguard-bench: \(broken.joined(separator: "; "))\n".utf8))
            throw ExitCode(1)
        }
    }

    private func daemonPath(_ dir: String) -> String { daemon ?? dir + "/parkguardd" }

    private func measure(into report: inout BenchReport, scratch: ScratchDirectory, port: Int, dir: String, logger: Logger) async throws {
        let work = scratch.path
        // The simulator's chip, in process, so the press instant is known to the nanosecond.
        let config = benchConfig(port: port, socket: work + "/gpio.sock", state: work + "/state")
        try config.write(toFile: work + "/agent.yaml", atomically: true, encoding: .utf8)
        let chip = VirtualChip()
        let server = Task { try await GPIOSocketServer(chip: chip, path: work + "/gpio.sock", logger: logger).run() }
        defer { server.cancel() }
        try await waitUntil { FileManager.default.fileExists(atPath: work + "/gpio.sock") }

        report.unitBinaries = try UnitBinaries.measure([daemonPath(dir)], scratch: work)
        print("stripped binaries installed on the unit: \(report.unitBinaries!.totalBytes / 1024) KiB")
        if presses > 0 {
            report.latency = try await latency(chip: chip, port: port, dir: dir, scratch: scratch, logger: logger)
            print(report.latency!.markdown)
            // Again with receipts (the default) and a real hub logging every alarm in SQLite.
            let receiptConfig = benchConfig(port: port, socket: work + "/gpio.sock", state: work + "/state-receipts", retireOn: "receipt")
            try receiptConfig.write(toFile: work + "/agent.yaml", atomically: true, encoding: .utf8)
            report.receiptLatency = try await latency(chip: chip, port: port, dir: dir, scratch: scratch, logger: logger,
                                                      hub: dir + "/parkguard-hub")
            try config.write(toFile: work + "/agent.yaml", atomically: true, encoding: .utf8)
            print(report.receiptLatency!.markdown)
        }
        if outboxRecords > 0 {
            report.outbox = outboxThroughput(records: outboxRecords, directory: work)
            if drainRecords > 0 {
                report.outbox?.drain = try await outboxDrain(records: drainRecords, daemon: daemonPath(dir), scratch: scratch,
                                                             brokerPort: port, socket: work + "/gpio.sock", logger: logger)
            }
            print("\n" + report.outbox!.markdown)
        }
        if outageSeconds > 0 {
            report.outage = try await outageMemory(seconds: outageSeconds, daemon: daemonPath(dir), scratch: scratch, brokerPort: port,
                                                   socket: work + "/gpio.sock")
            print("\n" + report.outage!)
        }
        if idleSeconds > 0 {
            let script = noPeer ? nil : peerScript
            report.idle = try await idleCost(seconds: idleSeconds, daemon: daemonPath(dir), peerScript: script, scratch: scratch,
                                             brokerPort: port, logger: logger)
            print("\n" + report.idle!.markdown)
        }
        if ptzPresses > 0 {
            report.ptz = try await ptzLatency(presses: ptzPresses, daemon: daemonPath(dir), scratch: scratch, brokerPort: port, logger: logger)
            print("\n" + report.ptz!.markdown)
        }
        if snapshotPresses > 0 {
            report.snapshots = try await snapshotLatency(presses: snapshotPresses, daemon: daemonPath(dir), hub: dir + "/parkguard-hub", scratch: scratch,
                                                         brokerPort: port, logger: logger)
            print("\n" + report.snapshots!.markdown)
        }
        if cameras > 0 {
            report.cameras = try await cameraProbeCost(count: cameras, interval: cameraInterval, seconds: cameraSeconds, daemon: daemonPath(dir),
                                                       scratch: scratch, brokerPort: port, logger: logger)
            print("\n" + report.cameras!.markdown)
        }
        if hubMessages > 0 {
            report.hub = try await hubIngest(messages: hubMessages, hub: dir + "/parkguard-hub", scratch: scratch, brokerPort: port, logger: logger)
            print("\n" + report.hub!.markdown)
        }
        if let sizes = parsedFleetSizes, !sizes.isEmpty {
            let hub = FileManager.default.isExecutableFile(atPath: dir + "/parkguard-hub") ? dir + "/parkguard-hub" : nil
            report.fleet = try await fleetScale(sizes: sizes, heartbeat: fleetHeartbeat, sim: dir + "/parkguard-sim", hub: hub,
                                                scratch: scratch, logger: logger)
            print("\n" + report.fleet!.markdown)
        }
    }

    /// Press-to-subscriber latency of the real daemon beside the raw libmosquitto floor; with
    /// `hub`, that hub logs every alarm and the receipt's arrival is timed too (press → receipt
    /// on the unit's receipt topic, which the unit and this subscriber get from the broker alike).
    private func latency(chip: VirtualChip, port: Int, dir: String, scratch: ScratchDirectory, logger: Logger,
                         hub: String? = nil) async throws -> LatencyResults {
        let work = scratch.path
        var hubChild: Child?
        if let hub {
            hubChild = try Child(hub, ["run", "--broker", "127.0.0.1:\(port)", "--db", scratch.file("latency-hub.sqlite"), "--client-id",
                                       "bench-latency-hub-\(getpid())", "--log-level", "error"], in: scratch, name: "latency-hub")
        }
        defer { hubChild?.signal(SIGTERM) }
        // Subscriber (also the baseline's receiver).
        let subscriber = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: port, clientID: "bench-sub-\(getpid())"), logger: logger)
        let inbox = Inbox()
        subscriber.start()
        let reader = Task {
            for await event in subscriber.events {
                if case .connected(0, _) = event {
                    _ = try? subscriber.subscribe("parkguard/v1/bench/unit-1/bell/+/alarm", qos: 1)
                    _ = try? subscriber.subscribe("bench/raw", qos: 1)
                    _ = try? subscriber.subscribe("parkguard/v1/bench/unit-1/status", qos: 1)
                    _ = try? subscriber.subscribe("parkguard/v1/bench/unit-1/telemetry", qos: 0)
                    _ = try? subscriber.subscribe("parkguard/v1/bench/unit-1/cmd/receipt", qos: 1)
                    _ = try? subscriber.subscribe("parkguard/v1/bench/probe/cmd/receipt", qos: 1)
                }
                if case .message(let message) = event { inbox.put(message, at: VirtualChip.monotonicNow()) }
            }
        }
        defer { reader.cancel() }
        try await Task.sleep(for: .milliseconds(300))

        // Baseline: raw libmosquitto publish → broker → subscriber, QoS 1, alarm-sized payload.
        let publisher = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: port, clientID: "bench-pub-\(getpid())"), logger: logger)
        publisher.start()
        let publisherEvents = Task { for await _ in publisher.events {} }
        defer { publisherEvents.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 420)
        var floor: [Double] = []
        for i in 0 ..< baseline + 50 {
            inbox.clear()
            let start = VirtualChip.monotonicNow()
            try publisher.publish(topic: "bench/raw", payload: payload, qos: 1, retain: false)
            let arrived = try await inbox.next(timeout: .seconds(5), "baseline message \(i)") { $0.topic == "bench/raw" }
            if i >= 50 { floor.append(Double(arrived - start) / 1e6) }
        }
        if hub != nil {
            // The hub is ready once it receipts an alarm: an alarm the daemon sent before the hub
            // subscribed would wait for the unit's resend (receiptTimeout, 10 s) and miss the bench's
            // wait. A probe unit's alarm, sent again every half second until its receipt comes back.
            let id = UUID().uuidString.lowercased()
            let probe = Array(#"{"bell":"probe","cameras":[],"clockSynced":false,"edgeMono":1,"id":"\#(id)","kind":"press","mono":1,"#.utf8)
                + Array(#""schema":"parkguard/alarm/1","seq":1,"session":1,"site":"bench","state":"alarm","time":"2026-01-01T00:00:00.000Z","unit":"probe"}"#.utf8)
            let deadline = ContinuousClock.now + .seconds(60)
            var receipted = false
            while !receipted {
                guard ContinuousClock.now < deadline else { throw ValidationError("the bench's hub sent no receipt within 60 s") }
                try publisher.publish(topic: "parkguard/v1/bench/probe/bell/probe/alarm",
                                      payload: probe, qos: 1, retain: false)
                receipted = (try? await inbox.next(timeout: .milliseconds(500), "the probe's receipt") {
                    $0.topic.hasSuffix("/probe/cmd/receipt") && String(decoding: $0.payload, as: UTF8.self).contains(id)
                }) != nil
            }
        }
        await publisher.stop()

        // The daemon.
        let agentChild = try Child(daemonPath(dir), ["--config", work + "/agent.yaml", "--log-level", "warning"], in: scratch, name: "agent")
        let agent = agentChild.process
        defer { agentChild.signal(SIGTERM) }
        // Live, not retained: a retained `online` left by an earlier daemon of the same unit would
        // let the presses start before this one is connected.
        _ = try await inbox.next(timeout: .seconds(10), "the daemon's status online") {
            $0.topic.hasSuffix("/status") && !$0.retained && String(decoding: $0.payload, as: UTF8.self).contains("online")
        }
        try await waitUntil { chip.lines().contains { $0.consumer == "parkguardd" } }
        let idleRSS = residentKiB(pid: agent.processIdentifier)

        var latencies: [Double] = []
        var receiptLatencies: [Double] = []
        // Press → the strobe's and the siren's line set, on the simulator's monotonic clock (the
        // edge's stamp is taken in `setContact`, within a microsecond of `start`).
        var strobeLatencies: [Double] = []
        var sirenLatencies: [Double] = []
        let line = 1
        let switchesBefore = contextSwitches(pid: agent.processIdentifier)
        let threadSwitchesBefore = contextSwitchesByThread(pid: agent.processIdentifier)
        let cpuBefore = cpuTicks(agent.processIdentifier)
        for i in 0 ..< presses + 50 {
            inbox.clear()
            let start = VirtualChip.monotonicNow()
            try chip.setContact(line: line, active: true)
            let isPress: @Sendable (MQTTMessage) -> Bool = { $0.topic.hasSuffix("/alarm") && String(decoding: $0.payload, as: UTF8.self).contains(#""kind":"press""#) }
            let arrived: UInt64
            do { arrived = try await inbox.next(timeout: .seconds(5), "press \(i)'s alarm", isPress) } catch {
                // What the daemon said (warnings and worse) is the first thing to read.
                let said = agentChild.stderr.split(separator: "\n").suffix(20).joined(separator: "\n")
                throw HarnessError("\(error); the daemon's log:\n\(said)")
            }
            if i >= 50 { latencies.append(Double(arrived - start) / 1e6) }
            if hub != nil, let press = inbox.first(where: isPress),
               let id = (try? JSONSerialization.jsonObject(with: Data(press.payload)) as? [String: Any])?["id"] as? String {
                let receipted = try await inbox.next(timeout: .seconds(10), "the receipt for press \(i)") {
                    $0.topic.hasSuffix("/cmd/receipt") && String(decoding: $0.payload, as: UTF8.self).contains(id)
                }
                if i >= 50 { receiptLatencies.append(Double(receipted - start) / 1e6) }
            }
            try await Task.sleep(for: .milliseconds(3))  // longer than the 1 ms debounce window
            if i >= 50 {
                // Read after the pause, so a daemon that drives its outputs after the publish is
                // timed too; a drive not seen by now is not counted (strobeTimed says how many were).
                if let strobe = chip.lastDrive(line: 20), strobe.at >= start { strobeLatencies.append(Double(strobe.at - start) / 1e6) }
                if let siren = chip.lastDrive(line: 21), siren.at >= start { sirenLatencies.append(Double(siren.at - start) / 1e6) }
            }
            try chip.setContact(line: line, active: false)
            _ = try await inbox.next(timeout: .seconds(5), "release \(i)'s alarm") { String(decoding: $0.payload, as: UTF8.self).contains(#""kind":"release""#) }
            try await Task.sleep(for: .milliseconds(3))
        }
        // The daemon's own figure, edge read → outputs switched, from its next heartbeat.
        inbox.clear()
        var annunciation: [String: Any]?
        if (try? await inbox.next(timeout: .seconds(40), "telemetry with the annunciation figure", {
            $0.topic.hasSuffix("/telemetry") && String(decoding: $0.payload, as: UTF8.self).contains("annunciation")
        })) != nil, let telemetry = inbox.first(where: { $0.topic.hasSuffix("/telemetry") }),
           let object = try? JSONSerialization.jsonObject(with: Data(telemetry.payload)) as? [String: Any] {
            annunciation = object["annunciation"] as? [String: Any]
        }
        let switches = contextSwitches(pid: agent.processIdentifier) - switchesBefore
        let byThread = contextSwitchesByThread(pid: agent.processIdentifier).map { name, count in
            (name, Double(count - (threadSwitchesBefore[name] ?? 0)) / Double(2 * (presses + 50)))
        }.sorted { $0.1 > $1.1 }
        let threadSwitches = byThread.map { String(format: "%@ %.1f", $0.0, $0.1) }.joined(separator: ", ")
        let cpuSeconds = Double(cpuTicks(agent.processIdentifier) - cpuBefore) / Double(sysconf(Int32(_SC_CLK_TCK)))
        let busyRSS = residentKiB(pid: agent.processIdentifier)
        let peakRSS = residentKiB(pid: agent.processIdentifier, field: "VmHWM:")
        agentChild.signal(SIGTERM)
        _ = try await agentChild.exitStatus()
        await subscriber.stop()
        return LatencyResults(
            presses: latencies.count, baselineMessages: floor.count,
            pressP50: percentile(latencies, 0.5), pressP99: percentile(latencies, 0.99), pressP999: percentile(latencies, 0.999),
            pressMax: latencies.max() ?? 0,
            floorP50: percentile(floor, 0.5), floorP99: percentile(floor, 0.99), floorP999: percentile(floor, 0.999), floorMax: floor.max() ?? 0,
            rssIdleKiB: idleRSS, rssAfterKiB: busyRSS, rssPeakKiB: peakRSS, bells: 4,
            contextSwitchesPerAlarm: Double(switches) / Double(2 * (presses + 50)), contextSwitchesByThread: threadSwitches,
            cpuMicrosecondsPerAlarm: cpuSeconds * 1e6 / Double(2 * (presses + 50)),
            receiptP50: hub == nil ? nil : percentile(receiptLatencies, 0.5), receiptP99: hub == nil ? nil : percentile(receiptLatencies, 0.99),
            receiptMax: hub == nil ? nil : receiptLatencies.max() ?? 0,
            strobeTimed: strobeLatencies.count, strobeP50: percentile(strobeLatencies, 0.5), strobeP99: percentile(strobeLatencies, 0.99),
            strobeMax: strobeLatencies.max() ?? 0, sirenP50: percentile(sirenLatencies, 0.5), sirenP99: percentile(sirenLatencies, 0.99),
            sirenMax: sirenLatencies.max() ?? 0,
            readToOutputsP50: annunciation?["p50Ms"] as? Double, readToOutputsP99: annunciation?["p99Ms"] as? Double,
            readToOutputsMax: annunciation?["maxMs"] as? Double, readToOutputsWindow: annunciation?["window"] as? Int)
    }
}

struct LatencyResults: Codable {
    var presses: Int
    var baselineMessages: Int
    var pressP50: Double
    var pressP99: Double
    var pressP999: Double
    var pressMax: Double
    var floorP50: Double
    var floorP99: Double
    var floorP999: Double
    var floorMax: Double
    var rssIdleKiB: Int
    var rssAfterKiB: Int
    var rssPeakKiB: Int
    var bells: Int
    /// Thread switches in the daemon and its CPU time per alarm (presses and releases).
    var contextSwitchesPerAlarm: Double
    /// The same per thread name (`pg-loop`, `pg-outbox`, …; unnamed threads are the cooperative pool).
    var contextSwitchesByThread: String = ""
    var cpuMicrosecondsPerAlarm: Double
    /// Press → the hub's receipt for it (receipts on, a hub logging in SQLite); nil without a hub.
    var receiptP50: Double?
    var receiptP99: Double?
    var receiptMax: Double?
    /// Press (the edge's stamp) → the strobe's and the siren's line set by the daemon, over the
    /// presses whose drive the simulator saw.
    var strobeTimed: Int = 0
    var strobeP50: Double = 0
    var strobeP99: Double = 0
    var strobeMax: Double = 0
    var sirenP50: Double = 0
    var sirenP99: Double = 0
    var sirenMax: Double = 0
    /// Edge read by the daemon → its outputs switched, on the daemon's clock (its telemetry's
    /// `annunciation`, over the last `readToOutputsWindow` presses); nil if it did not report it.
    var readToOutputsP50: Double?
    var readToOutputsP99: Double?
    var readToOutputsMax: Double?
    var readToOutputsWindow: Int?

    var markdown: String {
        func f(_ value: Double) -> String { String(format: "%.3f", value) }
        let mode = receiptP50 == nil ? "retireOn: puback, no hub" : "receipts on, parkguard-hub logging in SQLite"
        let receiptRow = receiptP50.map { p50 in
            "\n| press → receipt back at the unit (hub committed it) | \(f(p50)) | \(f(receiptP99 ?? 0)) | | \(f(receiptMax ?? 0)) |"
        } ?? ""
        return """
        | latency (ms), \(mode) | p50 | p99 | p99.9 | max |
        |---|---|---|---|---|
        | press → strobe line set (\(strobeTimed) presses) | \(f(strobeP50)) | \(f(strobeP99)) | | \(f(strobeMax)) |
        | press → siren line set | \(f(sirenP50)) | \(f(sirenP99)) | | \(f(sirenMax)) |
        | edge read → outputs set, daemon's clock (last \(readToOutputsWindow ?? 0) presses) | \(readToOutputsP50.map(f) ?? "–") | \(readToOutputsP99.map(f) ?? "–") | | \(readToOutputsMax.map(f) ?? "–") |
        | press → subscriber, parkguardd (\(presses) presses) | \(f(pressP50)) | \(f(pressP99)) | \(f(pressP999)) | \(f(pressMax)) |\(receiptRow)
        | publish → subscriber, raw libmosquitto floor (\(baselineMessages) msgs) | \(f(floorP50)) | \(f(floorP99)) | \(f(floorP999)) | \(f(floorMax)) |
        | ratio | \(f(pressP50 / floorP50))x | \(f(pressP99 / floorP99))x | \(f(pressP999 / floorP999))x | |

        parkguardd resident memory with \(bells) bells during this run: idle \(rssIdleKiB) KiB, after the presses \(rssAfterKiB) KiB, peak \(rssPeakKiB) KiB.
        Per alarm (presses and releases), the daemon spent \(String(format: "%.0f", cpuMicrosecondsPerAlarm)) µs of CPU and its threads switched \(String(format: "%.1f", contextSwitchesPerAlarm)) times (by thread: \(contextSwitchesByThread)).
        """
    }
}

/// Received messages with their arrival time, for one waiter at a time. The waiter sleeps until
/// a matching message arrives (no polling: on 2 cores a polling harness would steal the CPU the
/// daemon and the broker need, and inflate both the figure and the floor).
final class Inbox: Sendable {
    private struct Waiter {
        var id: UInt64
        var match: @Sendable (MQTTMessage) -> Bool
        var continuation: CheckedContinuation<UInt64, any Error>
    }
    private struct State {
        var items: [(MQTTMessage, UInt64)] = []
        var waiter: Waiter?
        var nextWaiter: UInt64 = 0
    }
    private let state = Locked(State())

    func put(_ message: MQTTMessage, at time: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            state.items.append((message, time))
            guard let waiter = state.waiter, waiter.match(message) else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: time)
    }

    func clear() { state.withLock { $0.items.removeAll() } }
    func first(where match: (MQTTMessage) -> Bool) -> MQTTMessage? { state.withLock { $0.items.first { match($0.0) }?.0 } }
    func count(where match: (MQTTMessage) -> Bool) -> Int { state.withLock { $0.items.count { match($0.0) } } }
    func times(where match: (MQTTMessage) -> Bool) -> [UInt64] { state.withLock { $0.items.filter { match($0.0) }.map(\.1) } }

    /// The arrival time of the first message (already here or still to come) that matches.
    func next(timeout: Duration, _ what: String, _ match: @escaping @Sendable (MQTTMessage) -> Bool) async throws -> UInt64 {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            let expired = state.withLock { state -> Waiter? in
                guard state.waiter?.id == id else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            expired?.continuation.resume(throwing: ValidationError("timed out after \(timeout) waiting for \(what)"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let found = state.withLock { state -> UInt64? in
                if let found = state.items.first(where: { match($0.0) })?.1 { return found }
                state.waiter = Waiter(id: id, match: match, continuation: continuation)
                return nil
            }
            if let found { continuation.resume(returning: found) }
        }
    }
}

/// Voluntary and involuntary context switches of every thread of a process so far.
func contextSwitches(pid: Int32) -> Int {
    contextSwitchesByThread(pid: pid).values.reduce(0, +)
}

/// Context switches so far per thread name (`comm`; threads of one name summed).
func contextSwitchesByThread(pid: Int32) -> [String: Int] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var byName: [String: Int] = [:]
    for task in tasks {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
        let name = status.split(separator: "\n").first { $0.hasPrefix("Name:") }.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) } ?? "?"
        byName[name, default: 0] += status.split(separator: "\n").filter { $0.contains("ctxt_switches:") }
            .compactMap { Int($0.split(separator: "\t").last ?? "") }.reduce(0, +)
    }
    return byName
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func residentKiB(pid: Int32, field: String = "VmRSS:") -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    let line = status.split(separator: "\n").first { $0.hasPrefix(field) }
    return line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
}

/// A benchmark daemon's configuration: the unit on the bench's broker and simulated chip,
/// heartbeats every 30 s, no control socket, warnings only, then `body` (bells, outputs, cameras,
/// delivery: top-level YAML). The MQTT client id is `bench-CLIENT-PID`, CLIENT the unit's name
/// unless given.
func benchDaemonConfig(unit: String, client: String? = nil, port: Int, socket: String, state: String, body: String) -> String {
    """
    site: bench
    unit: \(unit)
    broker: {host: 127.0.0.1, port: \(port), clientId: bench-\(client ?? unit)-\(getpid())}
    gpio: {backend: sim, socket: \(socket)}
    heartbeatInterval: 30s
    stateDirectory: \(state)
    controlSocket: off
    logLevel: warning

    """ + body
}

func benchConfig(port: Int, socket: String, state: String, retireOn: String = "puback") -> String {
    benchDaemonConfig(unit: "unit-1", client: "agent", port: port, socket: socket, state: state, body: """
    bells:
      - {id: b1, line: 1, debounce: 1ms}
      - {id: b2, line: 2}
      - {id: b3, line: 3}
      - {id: b4, line: 4}
    outputs:
      - {id: strobe, role: strobe, line: 20}
      - {id: siren, role: siren, line: 21}
    delivery: {retireOn: \(retireOn)}
    """)
}



func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw ValidationError("timed out") }
        try await Task.sleep(for: .milliseconds(10))
    }
}


