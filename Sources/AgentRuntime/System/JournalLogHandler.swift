#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging

/// A swift-log handler for stderr that journald understands: with `JOURNAL_STREAM` set, each
/// line starts with the syslog priority `<N>` and carries no timestamp (journald adds its own);
/// on a terminal, lines carry an RFC 3339 time and the level name.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let journald: Bool

    public init(label: String, level: Logger.Level, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        logLevel = level
        journald = environment["JOURNAL_STREAM"] != nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line: String
        if journald {
            line = "<\(Self.priority(event.level))>\(event.message)\(fields)\n"
        } else {
            line = "\(Date().formatted(.iso8601)) \(event.level.rawValue.uppercased()) \(label): \(event.message)\(fields)\n"
        }
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// The syslog priority journald reads from a `<N>` prefix.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
