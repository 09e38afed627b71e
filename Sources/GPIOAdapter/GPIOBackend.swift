#if canImport(Glibc)
import Glibc
#endif
import ParkGuardCore

/// An edge on an input line, as the kernel reports it: logical (active-low applied) and stamped
/// with `CLOCK_MONOTONIC`.
public struct LineEdge: Sendable, Equatable {
    public var line: Int
    /// The logical level after the edge (`true` = active: bell pressed, tamper open).
    public var active: Bool
    public var at: MonotonicInstant
    /// When the backend's reader took the edge (`CLOCK_MONOTONIC`), for the annunciation figure;
    /// nil where no reader reads it (a fleet's in-process chip).
    public var readAt: MonotonicInstant?

    public init(line: Int, active: Bool, at: MonotonicInstant, readAt: MonotonicInstant? = nil) {
        self.line = line
        self.active = active
        self.at = at
        self.readAt = readAt
    }
}

/// `CLOCK_MONOTONIC` now, as the readers stamp what they read.
func monotonicNow() -> MonotonicInstant {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
}

/// What an input backend reports besides edges: lost edges, a broken event source.
public enum GPIOEvent: Sendable, Equatable {
    case edge(LineEdge)
    /// The kernel's event buffer for `line` overflowed and `count` edges were lost before the next
    /// delivered edge (libgpiod 2's sequence numbers show the gap; the v1 uAPI cannot).
    case edgesLost(line: Int, count: UInt64)
    /// The event source failed; edges may have been lost. The runtime raises a line fault.
    case failed(GPIOError)
}

/// A GPIO error with the operation, the line and the OS error.
public struct GPIOError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var line: Int?
    public var message: String

    public init(operation: String, line: Int? = nil, message: String) {
        self.operation = operation
        self.line = line
        self.message = message
    }

    public var description: String {
        line.map { "\(operation) line \($0): \(message)" } ?? "\(operation): \(message)"
    }
}

/// A GPIO chip: inputs with edge events, outputs with levels. Two implementations: libgpiod on a
/// real chip, and the simulator's virtual chip.
public protocol GPIOBackend: Sendable {
    /// Requests `setup.line` as an input with both-edge events; returns its logical level now.
    func requestInput(_ setup: LineSetup) async throws(GPIOError) -> Bool
    /// Requests `line` as an output at the physical `level`.
    func requestOutput(line: Int, level: Bool) async throws(GPIOError)
    /// Sets an output's physical level. Synchronous and never waits for a reply, like the
    /// kernel's ioctl: the siren is driven on the caller's thread, with no hop and no round trip
    /// in front of the alarm's publish.
    func set(line: Int, level: Bool) throws(GPIOError)
    /// Reads a requested line: logical level for inputs, physical for outputs.
    func read(line: Int) async throws(GPIOError) -> Bool
    /// Starts delivering the edges of every requested input to `sink`, in order, from the thread
    /// that reads them: no queue and no task between the reader and the caller's inbox. Call once,
    /// after requesting all lines. When the source breaks, `.failed` is the last event delivered;
    /// after ``close()`` nothing more is.
    func startEvents(_ sink: @escaping @Sendable (GPIOEvent) -> Void) throws(GPIOError)
    /// Releases every line.
    func close()
    /// Whether lost edges are reported (``GPIOEvent/edgesLost(line:count:)``): true where the
    /// event source numbers its edges (libgpiod 2, the simulator), false for libgpiod 1.6.
    var reportsLostEdges: Bool { get }
}

extension GPIOBackend {
    public var reportsLostEdges: Bool { false }
}
