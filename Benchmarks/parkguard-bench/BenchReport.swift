import Foundation
import ParkGuardTestKit

/// Where the figures were measured.
struct MachineInfo: Codable {
    var date: String
    var host: String
    var cpu: String
    var cores: Int
    var memoryMiB: Int
    var kernel: String
    var mosquitto: String

    static func current() -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        var name = utsname()
        uname(&name)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let help = (try? runBlocking("/usr/sbin/mosquitto", ["-h"])).map { $0.output + $0.error } ?? ""
        let version = help.split(separator: "\n").first.map(String.init) ?? "unknown"
        let formatter = ISO8601DateFormatter()
        return MachineInfo(date: formatter.string(from: Date()), host: text(name.nodename), cpu: model,
                           cores: ProcessInfo.processInfo.activeProcessorCount,
                           memoryMiB: Int(ProcessInfo.processInfo.physicalMemory / 1_048_576),
                           kernel: "\(text(name.sysname)) \(text(name.release))", mosquitto: version)
    }
}

/// Everything one run measured; written as JSON and as docs/performance.md.
struct BenchReport: Codable {
    var machine: MachineInfo
    var command: String
    var smoke: Bool
    var latency: LatencyResults?
    /// The same with receipts on and a hub: press → receipt, and the unit's CPU per alarm.
    var receiptLatency: LatencyResults?
    var outbox: OutboxResults?
    var outage: String?
    var idle: IdleResults?
    var cameras: CameraResults?
    /// Press → GotoPreset at a PTZ camera.
    var ptz: PTZResults?
    var snapshots: SnapshotResults?
    var fleet: FleetResults?
    var hub: HubIngestResults?
    /// The unit's binaries as the package installs them, stripped.
    var unitBinaries: UnitBinaries?

    init(machine: MachineInfo, command: String, smoke: Bool) {
        self.machine = machine
        self.command = command
        self.smoke = smoke
    }

    /// Benchmarks whose run itself went wrong (not a missed target): an alarm not delivered, no
    /// fleet size passing, a peer that could not be measured when one was asked for.
    var brokenBenchmarks: [String] {
        var broken: [String] = []
        if let ptz, ptz.presses > 2, ptz.timed == 0 { broken.append("no PTZ move was timed") }
        if let snapshots, snapshots.presses > 2, snapshots.timed == 0 { broken.append("no picture was timed") }
        if let drain = outbox?.drain, drain.delivered < drain.records {
            broken.append("outbox drain delivered \(drain.delivered) of \(drain.records) alarms")
        }
        if let hub, hub.logged < hub.messages { broken.append("the hub logged \(hub.logged) of \(hub.messages) alarms") }
        if let receipt = receiptLatency, receipt.receiptP50 == nil || receipt.presses == 0 { broken.append("no receipt was timed") }
        if let latency, latency.presses > 0, latency.strobeTimed == 0 { broken.append("no press → strobe was timed") }
        if let fleet, fleet.largestPassing == nil {
            broken.append("no fleet size passed: \(fleet.trials.first?.failure ?? "")")
        }
        if let error = idle?.peerError, !error.hasPrefix("not requested") { broken.append("mqtt-io peer: \(error)") }
        return broken
    }

    /// The issue's targets beside what this run measured.
    var targets: String {
        var rows = ["| target | goal | measured | met |", "|---|---|---|---|"]
        func row(_ name: String, _ goal: String, _ measured: String, _ met: Bool) {
            rows.append("| \(name) | \(goal) | \(measured) | \(met ? "yes" : "**no**") |")
        }
        if let l = latency {
            let r = l.pressP99 / l.floorP99
            row("press → subscriber p99", "≤ 1.3x the libmosquitto floor", String(format: "%.3f ms vs %.3f ms = %.2fx", l.pressP99, l.floorP99, r), r <= 1.3)
            if let readP99 = l.readToOutputsP99 {
                row("press → strobe p99 after the edge is read", "≤ 0.2 ms",
                    String(format: "%.3f ms to the last output set, daemon's clock (simulator's clock, from its contact: strobe %.3f ms, siren %.3f ms)",
                           readP99, l.strobeP99, l.sirenP99), readP99 <= 0.2)
            } else {
                row("press → strobe p99", "≤ 0.2 ms", String(format: "%.3f ms (siren %.3f ms)", l.strobeP99, l.sirenP99), l.strobeTimed > 0 && l.strobeP99 <= 0.2)
            }
            row("daemon CPU per alarm", "≤ 150 µs", String(format: "%.0f µs", l.cpuMicrosecondsPerAlarm), l.cpuMicrosecondsPerAlarm <= 150)
            row("daemon thread switches per alarm", "≤ 6", String(format: "%.1f", l.contextSwitchesPerAlarm), l.contextSwitchesPerAlarm <= 6)
        }
        if let binaries = unitBinaries {
            row("stripped binaries installed on the unit, in all", "≤ 20 MB", "\(binaries.totalBytes / 1024) KiB (\(binaries.names.joined(separator: ", ")))",
                binaries.totalBytes <= 20_000_000)
        }
        if let daemon = idle?.figures.first {
            let floor = idle?.figures.dropFirst().first { $0.name.hasPrefix("baseline: mosquitto_sub") }
            let ratio = floor.map { String(format: " = %.2fx mosquitto_sub's %d KiB", Double(daemon.rssKiB) / Double(max($0.rssKiB, 1)), $0.rssKiB) } ?? ""
            row("idle resident memory (4 bells, 16 cameras), every ParkGuard process on the unit", "≤ 12 MiB (≤ 3.3x mosquitto_sub)",
                "\(daemon.rssKiB) KiB\(ratio)", daemon.rssKiB <= 12 * 1024)
            row("idle CPU (4 bells, 16 cameras)", "≤ 0.1 % of one core", String(format: "%.3f %%", daemon.cpuPercent), daemon.cpuPercent <= 0.1)
        }
        if let h = hub {
            let r = h.hubPerSecond / max(h.baselinePerSecond, 1)
            row("hub ingest with the log and receipts", "≥ 0.5x a raw libmosquitto subscriber", String(format: "%.0f/s vs %.0f/s = %.2fx", h.hubPerSecond, h.baselinePerSecond, r), r >= 0.5)
        }
        if let f = fleet {
            row("fleet on one machine", "≥ 5,000 units", f.largestPassing.map { "\($0) units" } ?? "none passed", (f.largestPassing ?? 0) >= 5000)
        }
        return rows.joined(separator: "\n")
    }

    var markdown: String {
        var parts = [
            "# Performance",
            "",
            "Measured by `parkguard-bench` (`Benchmarks/run.sh`); every figure stands beside a baseline measured in the same run on the same machine. Regenerate this page with `Benchmarks/run.sh` (it rewrites `docs/performance.md` and `docs/performance.json`).",
            "",
            "- date: \(machine.date)",
            "- machine: \(machine.cpu), \(machine.cores) cores, \(machine.memoryMiB) MiB, \(machine.kernel), host `\(machine.host)`",
            "- broker: \(machine.mosquitto), on loopback",
            "- command: `\(command)`\(smoke ? " (smoke run: counts too small for meaningful figures)" : "")",
            "",
            "## Targets",
            "",
            targets,
            "",
            "Where a target is missed, what dominates and what would close the gap: [performance-notes.md](performance-notes.md).",
        ]
        if let latency { parts += ["", "## Press to subscriber", "", latency.markdown] }
        if let receipt = receiptLatency {
            parts += ["", "## Press to receipt", "", receipt.markdown]
            if let off = latency {
                parts += ["", String(format: "The unit's CPU per alarm: %.0f µs with receipts (it also parses each receipt and retires the alarm in its outbox) against %.0f µs retiring on the broker's PUBACK, in the same run.",
                                     receipt.cpuMicrosecondsPerAlarm, off.cpuMicrosecondsPerAlarm)]
            }
        }
        if let idle { parts += ["", "## Idle cost", "", idle.markdown] }
        if let outbox { parts += ["", "## Outbox", "", outbox.markdown] }
        if let outage { parts += ["", outage] }
        if let cameras { parts += ["", "## Camera probes", "", cameras.markdown] }
        if let ptz { parts += ["", "## PTZ at the bell", "", ptz.markdown] }
        if let snapshots { parts += ["", "## Pictures with the alarm", "", snapshots.markdown] }
        if let fleet { parts += ["", "## Fleet", "", fleet.markdown] }
        if let hub { parts += ["", "## Hub ingest", "", hub.markdown] }
        return parts.joined(separator: "\n") + "\n"
    }
}

/// What the unit package installs as programs: parkguardd alone (the unit's key and request are
/// `parkguardd csr`; parkguard-provision stays at the district), measured stripped as
/// `build-deb.sh` strips it.
struct UnitBinaries: Codable {
    var names: [String]
    var totalBytes: Int

    /// Strips a copy of each binary (`objcopy --strip-unneeded`, as the package does) and adds up the sizes.
    static func measure(_ paths: [String], scratch: String) throws -> UnitBinaries {
        var total = 0
        for path in paths {
            let copy = scratch + "/stripped-" + (path as NSString).lastPathComponent
            let result = try runBlocking("/usr/bin/objcopy", ["--strip-unneeded", "--remove-section=.comment", path, copy])
            guard result.status == 0 else { throw HarnessError("objcopy \(path): \(result.error)") }
            total += (try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int) ?? 0
        }
        return UnitBinaries(names: paths.map { ($0 as NSString).lastPathComponent }, totalBytes: total)
    }
}
