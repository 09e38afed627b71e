#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// One finding of `parkguardd doctor`: what was checked, the verdict, one line of what was seen
/// and, when it is not right, what to check on site.
public struct DoctorCheck: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable, Comparable {
        case ok, skipped, warning, failed

        var severity: Int {
            switch self {
            case .ok: 0
            case .skipped: 1
            case .warning: 2
            case .failed: 3
            }
        }

        public static func < (lhs: Verdict, rhs: Verdict) -> Bool { lhs.severity < rhs.severity }
    }

    /// What was checked: `configuration`, `clock`, `broker`, `bell b1`, `output siren`, `camera gate`.
    public var area: String
    public var verdict: Verdict
    public var summary: String
    /// What to check when the verdict is not `ok` ("check the bell's wiring to header pin 11").
    public var advice: String?

    public init(_ area: String, _ verdict: Verdict, _ summary: String, advice: String? = nil) {
        self.area = area
        self.verdict = verdict
        self.summary = summary
        self.advice = advice
    }
}

/// The whole result of `parkguardd doctor`, as `--json` prints it and the screen summarises it.
public struct DoctorReport: Codable, Sendable, Equatable {
    public var site: String
    public var unit: String
    public var version: String
    /// Whether the checks went through the running daemon's control socket (it holds the lines)
    /// or the doctor opened the lines itself.
    public var daemonRunning: Bool
    public var checks: [DoctorCheck]

    public init(site: String, unit: String, version: String, daemonRunning: Bool, checks: [DoctorCheck] = []) {
        self.site = site
        self.unit = unit
        self.version = version
        self.daemonRunning = daemonRunning
        self.checks = checks
    }

    /// The worst verdict of any check (`ok` for none).
    public var verdict: DoctorCheck.Verdict { checks.map(\.verdict).max() ?? .ok }

    /// The process's exit code: 0 when nothing failed (warnings and skipped checks allowed), 1 when
    /// a check failed. (A configuration that does not load exits 78 before any report.)
    public var exitCode: Int32 { verdict == .failed ? 1 : 0 }

    /// The one-screen summary: one line per check, advice indented under what is not right.
    public func screen(width: Int = 18) -> String {
        ([screenHeader] + checks.map { $0.screenLines(width: width) } + [screenVerdict]).joined(separator: "\n") + "\n"
    }

    /// The summary's first line.
    public var screenHeader: String {
        "ParkGuard doctor: unit \(site)/\(unit), parkguardd \(version), "
            + (daemonRunning ? "daemon running (asked through its control socket)" : "daemon not running (lines opened here)")
    }

    /// The summary's last line.
    public var screenVerdict: String {
        let failed = checks.filter { $0.verdict == .failed }.count
        let warned = checks.filter { $0.verdict == .warning }.count
        let plural = { (count: Int, word: String) in "\(count) \(word)\(count == 1 ? "" : "s")" }
        let verdict = failed > 0
            ? plural(failed, "check") + " failed" + (warned > 0 ? ", " + plural(warned, "warning") : "")
            : warned > 0 ? "working, " + plural(warned, "warning") : "working: every check passed"
        return "verdict: \(verdict) (exit \(exitCode))"
    }
}

extension DoctorCheck {
    /// The check's line of the summary (the area padded to `width`) and, when it is not ok, its advice.
    public func screenLines(width: Int) -> String {
        let mark = switch verdict {
        case .ok: "ok  "
        case .skipped: "skip"
        case .warning: "WARN"
        case .failed: "FAIL"
        }
        let padded = area.count >= width ? area + " " : area + String(repeating: " ", count: width - area.count)
        var text = "  \(mark)  \(padded)\(summary)"
        if let advice, verdict != .ok {
            text += "\n        " + String(repeating: " ", count: width) + "-> " + advice
        }
        return text
    }
}

/// What to tell an installer about a line: where it is on the header when the board is known.
public enum WiringHint {
    /// "line 17 (header pin 11)" or "line 17".
    public static func line(_ line: Int, board: BoardProfile?) -> String {
        guard let board, let pin = board.lines.first(where: { $0.value == line })?.key else { return "line \(line)" }
        return "line \(line) (\(board.title) header pin \(pin))"
    }

    /// The pull the line's wiring relies on, for advice.
    public static func pull(_ setup: LineSetup) -> String {
        switch setup.bias {
        case .pullUp: "the pull-up"
        case .pullDown: "the pull-down"
        case .disabled, .asIs: "the external pull resistor"
        }
    }
}
