#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore

/// Reads the unit's health figures for telemetry from /proc, /sys and statvfs. Every figure is
/// optional: a board without a thermal zone simply reports none.
public struct SystemStats: Sendable {
    public var uptimeSeconds: UInt64 = 0
    public var load: (Double, Double, Double)?
    public var memTotal: UInt64?
    public var memAvailable: UInt64?
    public var rss: UInt64?
    public var diskFree: UInt64?
    public var diskTotal: UInt64?
    public var cpuTemperature: Double?

    /// The process-wide figures of the last read, kept half a second: a fleet simulator's
    /// thousands of agents share one process, and each reading /proc for its heartbeat was a
    /// tenth of the fleet's CPU in a mass reconnect. A unit's single agent beats at most once a
    /// second, so it reads them fresh every time.
    private static let recent = Locked<(read: ContinuousClock.Instant, stats: SystemStats)?>(nil)

    /// Reads everything (the process-wide figures at most half a second old); `diskPath` is the file
    /// system of the outbox.
    public static func read(diskPath: String) -> SystemStats {
        let now = ContinuousClock.now
        var stats: SystemStats
        if let cached = recent.withLock({ $0 }), cached.read.duration(to: now) < .milliseconds(500) {
            stats = cached.stats
        } else {
            stats = readProcessFigures()
            recent.withLock { $0 = (now, stats) }
        }
        var fs = statvfs()
        if statvfs(diskPath, &fs) == 0 {
            stats.diskFree = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            stats.diskTotal = UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
        } else {
            stats.diskFree = nil
            stats.diskTotal = nil
        }
        return stats
    }

    /// Uptime, load, memory, this process's resident size and the CPU's temperature.
    private static func readProcessFigures() -> SystemStats {
        var stats = SystemStats()
        if let uptime = text("/proc/uptime")?.split(separator: " ").first.flatMap({ Double($0) }) {
            stats.uptimeSeconds = UInt64(uptime)
        }
        if let fields = text("/proc/loadavg")?.split(separator: " "), fields.count >= 3,
           let a = Double(fields[0]), let b = Double(fields[1]), let c = Double(fields[2]) {
            stats.load = (a, b, c)
        }
        if let meminfo = text("/proc/meminfo") {
            for line in meminfo.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let kib = UInt64(parts[1]) else { continue }
                if parts[0] == "MemTotal:" { stats.memTotal = kib * 1024 }
                if parts[0] == "MemAvailable:" { stats.memAvailable = kib * 1024 }
            }
        }
        if let pages = text("/proc/self/statm")?.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) {
            stats.rss = pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
        }
        stats.cpuTemperature = cpuTemperature()
        return stats
    }

    /// The first thermal zone that looks like the CPU/SoC (or the first zone at all).
    static func cpuTemperature() -> Double? {
        guard let zones = try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/thermal") else { return nil }
        let candidates = zones.filter { $0.hasPrefix("thermal_zone") }.sorted()
        let preferred = candidates.first { zone in
            let type = text("/sys/class/thermal/\(zone)/type")?.lowercased() ?? ""
            return type.contains("cpu") || type.contains("soc") || type.contains("x86_pkg")
        } ?? candidates.first
        guard let zone = preferred, let milli = text("/sys/class/thermal/\(zone)/temp").flatMap({ Double($0) }) else { return nil }
        return milli / 1000
    }

    private static func text(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingWhitespace
    }
}
