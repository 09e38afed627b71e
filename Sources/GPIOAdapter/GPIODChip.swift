#if !LIBGPIOD_V2
import CGPIOD
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore

/// libgpiod 1.6 (v1 API, Debian 12) backend: the one Swift owner of a `gpiod_chip` and its lines.
/// `GPIODChipV2.swift` is the same backend for libgpiod 2; Package.swift compiles the one that
/// pkg-config finds.
///
/// Edge events are read from each input's event fd in bulk (`gpiod_line_event_read_fd_multiple`)
/// on a thread of its own, because the kernel queues only 16 events per line and drops the newest
/// beyond them, silently: the v1 uAPI has no sequence numbers, so this backend cannot see a loss.
public final class GPIODChip: GPIOBackend {
    /// The libgpiod API this build uses, for the doctor and the logs.
    public static var library: String { "libgpiod " + String(cString: gpiod_version_string()) + " (v1 API)" }

    // SAFETY: the chip pointer is set once in init and closed once in close()/deinit; every use of
    // it and of the line pointers is under `lines`' lock, except the event thread, which only
    // reads from event fds it was handed (the fds stay open until close() joins the thread).
    private nonisolated(unsafe) let chip: OpaquePointer
    private let consumer: String
    private let lines = Locked(LineTable())
    private let eventThread: EventThreadStop

    private struct LineTable {
        // SAFETY: see the class comment; pointers stay inside this file.
        nonisolated(unsafe) var inputs: [Int: OpaquePointer] = [:]
        nonisolated(unsafe) var outputs: [Int: OpaquePointer] = [:]
        var closed = false
        var eventsStarted = false
    }

    /// Opens a chip by path (`/dev/gpiochip0`), by name (`gpiochip0`) or by label
    /// (`pinctrl-bcm2711`). Labels are stable across kernels; numbers are not.
    public init(chip name: String, consumer: String) throws(GPIOError) {
        let opened: OpaquePointer? = name.hasPrefix("/") ? gpiod_chip_open(name) : (gpiod_chip_open_by_label(name) ?? gpiod_chip_open_by_name(name))
        guard let opened else {
            throw GPIOError(operation: "open chip '\(name)'", message: osError(errno) + " (is the chip label right? `gpiodetect` lists them)")
        }
        do { eventThread = try EventThreadStop() } catch {
            gpiod_chip_close(opened)
            throw error
        }
        chip = opened
        self.consumer = consumer
    }

    deinit { close() }

    public func requestInput(_ setup: LineSetup) async throws(GPIOError) -> Bool {
        try lines.withLock { table throws(GPIOError) -> Bool in
            let line = try self.line(setup.line, table)
            var flags = setup.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
            switch setup.bias {
            case .asIs: break
            case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
            case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
            case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
            }
            guard gpiod_line_request_both_edges_events_flags(line, consumer, flags) == 0 else {
                throw GPIOError(operation: "request input", line: setup.line, message: osError(errno) + busyHint(line))
            }
            table.inputs[setup.line] = line
            let value = gpiod_line_get_value(line)
            guard value >= 0 else { throw GPIOError(operation: "read", line: setup.line, message: osError(errno)) }
            return value == 1
        }
    }

    public func requestOutput(line offset: Int, level: Bool) async throws(GPIOError) {
        try lines.withLock { table throws(GPIOError) in
            let line = try self.line(offset, table)
            guard gpiod_line_request_output(line, consumer, level ? 1 : 0) == 0 else {
                throw GPIOError(operation: "request output", line: offset, message: osError(errno) + busyHint(line))
            }
            table.outputs[offset] = line
        }
    }

    public func set(line offset: Int, level: Bool) throws(GPIOError) {
        try lines.withLock { table throws(GPIOError) in
            guard let line = table.outputs[offset] else {
                throw GPIOError(operation: "set", line: offset, message: "not requested as an output")
            }
            guard gpiod_line_set_value(line, level ? 1 : 0) == 0 else {
                throw GPIOError(operation: "set", line: offset, message: osError(errno))
            }
        }
    }

    public func read(line offset: Int) async throws(GPIOError) -> Bool {
        try lines.withLock { table throws(GPIOError) -> Bool in
            guard let line = table.inputs[offset] ?? table.outputs[offset] else {
                throw GPIOError(operation: "read", line: offset, message: "not requested")
            }
            let value = gpiod_line_get_value(line)
            guard value >= 0 else { throw GPIOError(operation: "read", line: offset, message: osError(errno)) }
            return value == 1
        }
    }

    public func startEvents(_ sink: @escaping @Sendable (GPIOEvent) -> Void) throws(GPIOError) {
        let watched = try lines.withLock { table throws(GPIOError) -> [(offset: Int, fd: Int32)] in
            guard !table.eventsStarted else { throw GPIOError(operation: "events", message: "already started") }
            table.eventsStarted = true
            return table.inputs.map { offset, line in (offset, gpiod_line_event_get_fd(line)) }
        }
        eventThread.start { stop in Self.readEvents(watched, stop: stop, into: sink) }
    }

    public func close() {
        lines.withLock { table in
            guard !table.closed else { return }
            table.closed = true
            // Join the event thread (it takes no lock, so waiting under ours cannot deadlock).
            if table.eventsStarted { eventThread.stopAndJoin() }
            for line in table.inputs.values { gpiod_line_release(line) }
            for line in table.outputs.values { gpiod_line_release(line) }
            table.inputs = [:]
            table.outputs = [:]
            gpiod_chip_close(chip)
        }
    }

    private func line(_ offset: Int, _ table: LineTable) throws(GPIOError) -> OpaquePointer {
        guard !table.closed else { throw GPIOError(operation: "request", line: offset, message: "chip is closed") }
        guard offset >= 0, offset < Int(gpiod_chip_num_lines(chip)) else {
            throw GPIOError(operation: "request", line: offset, message: "the chip has only \(gpiod_chip_num_lines(chip)) lines")
        }
        guard let line = gpiod_chip_get_line(chip, UInt32(offset)) else {
            throw GPIOError(operation: "get line", line: offset, message: osError(errno))
        }
        return line
    }

    private func busyHint(_ line: OpaquePointer) -> String {
        guard gpiod_line_is_used(line), let owner = gpiod_line_consumer(line) else { return "" }
        return " (in use by '\(String(cString: owner))')"
    }

    /// The event thread: poll every input's fd plus the stop pipe; drain each ready fd in bulk.
    private static func readEvents(_ watched: [(offset: Int, fd: Int32)], stop: Int32,
                                   into sink: @Sendable (GPIOEvent) -> Void) {
        var descriptors = watched.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        descriptors.append(pollfd(fd: stop, events: Int16(POLLIN), revents: 0))
        var buffer = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
        while true {
            let ready = SystemCall.retrying { poll(&descriptors, nfds_t(descriptors.count), -1) }
            if ready < 0 {
                sink(.failed(GPIOError(operation: "poll", message: osError(errno))))
                return
            }
            if descriptors.last!.revents != 0 { return }
            for index in watched.indices where descriptors[index].revents != 0 {
                descriptors[index].revents = 0
                let count = SystemCall.retrying {
                    buffer.withUnsafeMutableBufferPointer {
                        gpiod_line_event_read_fd_multiple(watched[index].fd, $0.baseAddress, UInt32($0.count))
                    }
                }
                if count < 0 {
                    if errno == EAGAIN { continue }
                    sink(.failed(GPIOError(operation: "read events", line: watched[index].offset, message: osError(errno))))
                    return
                }
                let readAt = monotonicNow()
                for event in buffer.prefix(Int(count)) {
                    let ns = UInt64(event.ts.tv_sec) * 1_000_000_000 + UInt64(event.ts.tv_nsec)
                    let rising = event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE)
                    sink(.edge(LineEdge(line: watched[index].offset, active: rising,
                                        at: MonotonicInstant(nanoseconds: ns), readAt: readAt)))
                }
            }
        }
    }
}
#endif
