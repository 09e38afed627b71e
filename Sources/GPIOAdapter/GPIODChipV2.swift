#if LIBGPIOD_V2
import CGPIOD
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore

/// libgpiod 2 (Debian 13, Raspberry Pi OS trixie, bookworm-backports) backend: the one Swift owner
/// of a `gpiod_chip` and its line requests. `GPIODChip.swift` is the same backend for libgpiod 1.6;
/// Package.swift compiles the one that pkg-config finds, so the rest of the agent sees one type.
///
/// Each line is its own request (one fd each, as with v1), so a bad line never takes the others
/// down with it. Inputs ask the kernel for the largest event buffer it grants
/// (``eventBufferSize``) and `CLOCK_MONOTONIC` stamps. The v2 uAPI numbers every edge of a line;
/// when its buffer overflows the kernel drops the *oldest* edge and keeps the newest, so the level
/// the agent ends on is right and the gap in the numbers says how many edges were lost: the reader
/// reports it as ``GPIOEvent/edgesLost(line:count:)`` before the edge that shows it.
///
/// Kernel debounce exists in v2 but reports an edge only after the line settles, which would delay
/// a leading-edge press; the bell's own debounce stays (BellDebouncer), so none is asked for.
public final class GPIODChip: GPIOBackend {
    /// The edge buffer asked of the kernel per input: its maximum (16 x GPIO_V2_LINES_MAX). At
    /// 48 bytes an event that is 48 KiB of kernel memory per bell, against v1's fixed 16 events.
    public static let eventBufferSize = 1024

    public var reportsLostEdges: Bool { true }

    /// The libgpiod API this build uses, for the doctor and the logs.
    public static var library: String { "libgpiod " + String(cString: gpiod_api_version()) + " (v2 API)" }

    // SAFETY: the chip pointer is set once in init and closed once in close(); every use of it and
    // of the request pointers is under `requests`' lock, except the event thread's reads of edge
    // events from the input requests it was handed. Those reads touch only the request's fd
    // (immutable after the request) and a buffer the thread owns; close() joins the thread before
    // it releases a request, so the thread never reads a released one.
    private nonisolated(unsafe) let chip: OpaquePointer
    private let consumer: String
    private let requests = Locked(RequestTable())
    private let eventThread: EventThreadStop

    private struct RequestTable {
        // SAFETY: see the class comment; pointers stay inside this file.
        nonisolated(unsafe) var inputs: [Int: OpaquePointer] = [:]
        nonisolated(unsafe) var outputs: [Int: OpaquePointer] = [:]
        var closed = false
        var eventsStarted = false
    }

    /// Opens a chip by path (`/dev/gpiochip0`), by name (`gpiochip0`) or by label
    /// (`pinctrl-bcm2711`). libgpiod 2 opens chips by path only, so a label is found by reading
    /// the info of every chip in /dev. Labels are stable across kernels; numbers are not.
    public init(chip name: String, consumer: String) throws(GPIOError) {
        let (opened, _) = try Self.open(name)
        do { eventThread = try EventThreadStop() } catch {
            gpiod_chip_close(opened)
            throw error
        }
        chip = opened
        self.consumer = consumer
    }

    deinit { close() }

    public func requestInput(_ setup: LineSetup) async throws(GPIOError) -> Bool {
        try requests.withLock { table throws(GPIOError) -> Bool in
            let request = try self.request(setup.line, table, operation: "request input") { settings in
                var bias = GPIOD_LINE_BIAS_AS_IS
                switch setup.bias {
                case .asIs: break
                case .disabled: bias = GPIOD_LINE_BIAS_DISABLED
                case .pullUp: bias = GPIOD_LINE_BIAS_PULL_UP
                case .pullDown: bias = GPIOD_LINE_BIAS_PULL_DOWN
                }
                gpiod_line_settings_set_active_low(settings, setup.activeLow)
                return gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT) == 0
                    && gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH) == 0
                    && gpiod_line_settings_set_bias(settings, bias) == 0
                    && gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC) == 0
            }
            table.inputs[setup.line] = request
            return try Self.value(request, setup.line)
        }
    }

    public func requestOutput(line offset: Int, level: Bool) async throws(GPIOError) {
        try requests.withLock { table throws(GPIOError) in
            let request = try self.request(offset, table, operation: "request output") { settings in
                gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT) == 0
                    && gpiod_line_settings_set_output_value(settings, level ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) == 0
            }
            table.outputs[offset] = request
        }
    }

    public func set(line offset: Int, level: Bool) throws(GPIOError) {
        try requests.withLock { table throws(GPIOError) in
            guard let request = table.outputs[offset] else {
                throw GPIOError(operation: "set", line: offset, message: "not requested as an output")
            }
            guard gpiod_line_request_set_value(request, UInt32(offset), level ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) == 0 else {
                throw GPIOError(operation: "set", line: offset, message: osError(errno))
            }
        }
    }

    public func read(line offset: Int) async throws(GPIOError) -> Bool {
        try requests.withLock { table throws(GPIOError) -> Bool in
            guard let request = table.inputs[offset] ?? table.outputs[offset] else {
                throw GPIOError(operation: "read", line: offset, message: "not requested")
            }
            return try Self.value(request, offset)
        }
    }

    public func startEvents(_ sink: @escaping @Sendable (GPIOEvent) -> Void) throws(GPIOError) {
        let watched = try requests.withLock { table throws(GPIOError) -> [Watched] in
            guard !table.eventsStarted else { throw GPIOError(operation: "events", message: "already started") }
            table.eventsStarted = true
            return table.inputs.map { Watched(offset: $0.key, request: $0.value, fd: gpiod_line_request_get_fd($0.value)) }
        }
        eventThread.start { stop in Self.readEvents(watched, stop: stop, into: sink) }
    }

    public func close() {
        requests.withLock { table in
            guard !table.closed else { return }
            table.closed = true
            // Join the event thread (it takes no lock, so waiting under ours cannot deadlock).
            if table.eventsStarted { eventThread.stopAndJoin() }
            for request in table.inputs.values { gpiod_line_request_release(request) }
            for request in table.outputs.values { gpiod_line_request_release(request) }
            table.inputs = [:]
            table.outputs = [:]
            gpiod_chip_close(chip)
        }
    }

    // MARK: - Requests

    /// Requests one line with the settings `configure` sets (false: a setting was refused).
    private func request(_ offset: Int, _ table: RequestTable, operation: String,
                         configure: (OpaquePointer) -> Bool) throws(GPIOError) -> OpaquePointer {
        guard !table.closed else { throw GPIOError(operation: operation, line: offset, message: "chip is closed") }
        let lines = try Self.lineCount(chip)
        guard offset >= 0, offset < lines else {
            throw GPIOError(operation: operation, line: offset, message: "the chip has only \(lines) lines")
        }
        guard let settings = gpiod_line_settings_new(), let lineConfig = gpiod_line_config_new(),
              let requestConfig = gpiod_request_config_new() else {
            throw GPIOError(operation: operation, line: offset, message: osError(errno))
        }
        defer {
            gpiod_line_settings_free(settings)
            gpiod_line_config_free(lineConfig)
            gpiod_request_config_free(requestConfig)
        }
        guard configure(settings) else {
            throw GPIOError(operation: operation, line: offset, message: "libgpiod refused the line settings: " + osError(errno))
        }
        var line = UInt32(offset)
        guard gpiod_line_config_add_line_settings(lineConfig, &line, 1, settings) == 0 else {
            throw GPIOError(operation: operation, line: offset, message: osError(errno))
        }
        gpiod_request_config_set_consumer(requestConfig, consumer)
        gpiod_request_config_set_event_buffer_size(requestConfig, Self.eventBufferSize)
        guard let request = gpiod_chip_request_lines(chip, requestConfig, lineConfig) else {
            throw GPIOError(operation: operation, line: offset, message: osError(errno) + busyHint(offset))
        }
        return request
    }

    private static func value(_ request: OpaquePointer, _ offset: Int) throws(GPIOError) -> Bool {
        let value = gpiod_line_request_get_value(request, UInt32(offset))
        guard value != GPIOD_LINE_VALUE_ERROR else { throw GPIOError(operation: "read", line: offset, message: osError(errno)) }
        return value == GPIOD_LINE_VALUE_ACTIVE
    }

    private static func lineCount(_ chip: OpaquePointer) throws(GPIOError) -> Int {
        guard let info = gpiod_chip_get_info(chip) else { throw GPIOError(operation: "chip info", message: osError(errno)) }
        defer { gpiod_chip_info_free(info) }
        return gpiod_chip_info_get_num_lines(info)
    }

    private func busyHint(_ offset: Int) -> String {
        guard let info = gpiod_chip_get_line_info(chip, UInt32(offset)) else { return "" }
        defer { gpiod_line_info_free(info) }
        guard gpiod_line_info_is_used(info), let owner = gpiod_line_info_get_consumer(info) else { return "" }
        return " (in use by '\(String(cString: owner))')"
    }

    // MARK: - Opening a chip

    /// A path opens directly; a name or label is matched against every GPIO chip in /dev, in
    /// name order (gpiochip0 first), the first match winning.
    private static func open(_ name: String) throws(GPIOError) -> (OpaquePointer, String) {
        if name.hasPrefix("/") {
            guard let chip = gpiod_chip_open(name) else {
                throw GPIOError(operation: "open chip '\(name)'", message: osError(errno))
            }
            return (chip, name)
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        let candidates = entries.filter { $0.hasPrefix("gpiochip") }
            .sorted { (Int($0.dropFirst(8)) ?? .max, $0) < (Int($1.dropFirst(8)) ?? .max, $1) }
        var refused: [String] = []
        for entry in candidates {
            let path = "/dev/" + entry
            guard gpiod_is_gpiochip_device(path) else { continue }
            guard let chip = gpiod_chip_open(path) else {
                refused.append("\(path): \(osError(errno))")
                continue
            }
            if let info = gpiod_chip_get_info(chip) {
                let matches = String(cString: gpiod_chip_info_get_name(info)) == name
                    || String(cString: gpiod_chip_info_get_label(info)) == name
                gpiod_chip_info_free(info)
                if matches { return (chip, path) }
            }
            gpiod_chip_close(chip)
        }
        let found = candidates.isEmpty ? "no GPIO chip in /dev" : "\(candidates.count) chip(s) in /dev, none named or labelled so"
        let unreadable = refused.isEmpty ? "" : "; could not open " + refused.joined(separator: ", ")
        throw GPIOError(operation: "open chip '\(name)'",
                        message: found + unreadable + " (is the chip label right? `gpiodetect` lists them)")
    }

    // MARK: - The event thread

    private struct Watched: @unchecked Sendable {
        // SAFETY (@unchecked): the request pointer is only read from by the event thread (see
        // the class comment); close() joins that thread before releasing the request.
        var offset: Int
        var request: OpaquePointer
        var fd: Int32
    }

    /// Polls every input's fd plus the stop pipe; drains each ready request in bulk. The line
    /// sequence number of each edge is checked against the last one seen: a jump is edges the
    /// kernel dropped, reported before the edge that shows it.
    private static func readEvents(_ watched: [Watched], stop: Int32, into sink: @Sendable (GPIOEvent) -> Void) {
        var descriptors = watched.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        descriptors.append(pollfd(fd: stop, events: Int16(POLLIN), revents: 0))
        let capacity = 64
        guard let buffer = gpiod_edge_event_buffer_new(capacity) else {
            sink(.failed(GPIOError(operation: "edge event buffer", message: osError(errno))))
            return
        }
        defer { gpiod_edge_event_buffer_free(buffer) }
        // The kernel numbers a line's edges from 1.
        var lastSeqno = [UInt](repeating: 0, count: watched.count)
        while true {
            let ready = SystemCall.retrying { poll(&descriptors, nfds_t(descriptors.count), -1) }
            if ready < 0 {
                sink(.failed(GPIOError(operation: "poll", message: osError(errno))))
                return
            }
            if descriptors.last!.revents != 0 { return }
            for index in watched.indices where descriptors[index].revents != 0 {
                descriptors[index].revents = 0
                let count = SystemCall.retrying { gpiod_line_request_read_edge_events(watched[index].request, buffer, capacity) }
                if count < 0 {
                    if errno == EAGAIN { continue }
                    sink(.failed(GPIOError(operation: "read events", line: watched[index].offset, message: osError(errno))))
                    return
                }
                let readAt = monotonicNow()
                for slot in 0..<Int(count) {
                    guard let event = gpiod_edge_event_buffer_get_event(buffer, UInt(slot)) else { continue }
                    let seqno = gpiod_edge_event_get_line_seqno(event)
                    if seqno > lastSeqno[index] + 1 {
                        sink(.edgesLost(line: watched[index].offset, count: UInt64(seqno - lastSeqno[index] - 1)))
                    }
                    lastSeqno[index] = max(lastSeqno[index], seqno)
                    let rising = gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE
                    sink(.edge(LineEdge(line: watched[index].offset, active: rising,
                                        at: MonotonicInstant(nanoseconds: gpiod_edge_event_get_timestamp_ns(event)),
                                        readAt: readAt)))
                }
            }
        }
    }
}
#endif
