#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore

/// The `sim` backend: the simulator's virtual chip over a Unix stream socket, speaking
/// ``SimWire``. It behaves like the kernel's character device as far as the agent can tell.
public final class SimGPIOClient: GPIOBackend {
    private let socket: Int32
    private let state = Locked(State())
    private let writeLock = Locked(())
    /// Edges held between the line requests and ``startEvents(_:)``.
    private static let earlyLimit = 1024

    private struct State {
        var nextID: UInt64 = 1
        var waiting: [UInt64: CheckedContinuation<SimWire.Message, Never>] = [:]
        var inputs: Set<Int> = []
        /// Where edges go once ``startEvents(_:)`` ran; before that they wait in `early`.
        var sink: (@Sendable (GPIOEvent) -> Void)?
        var early: [GPIOEvent] = []
        var closed = false
        var failure: GPIOError?
        /// The last edge number seen per input line (the simulator numbers edges as libgpiod 2 does).
        var lastSeq: [Int: UInt64] = [:]
        /// Sets written and not yet answered, by request id: their line.
        var unconfirmedSets: [UInt64: Int] = [:]
        /// A set the simulator refused, by line, for the next `set` of it to throw.
        var refusedSets: [Int: GPIOError] = [:]
    }

    /// Connects to the simulator's socket and greets it.
    /// - Throws: ``GPIOError`` when the simulator is not running there.
    public init(socketPath: String, consumer: String) async throws(GPIOError) {
        socket = try Self.connect(path: socketPath)
        detachThread(named: "pg-gpio-sim") { [self] in readLoop() }
        let reply = try await call(SimWire.Request(op: .hello, id: 0, consumer: consumer))
        if reply.ev == .error {
            throw GPIOError(operation: "hello", message: reply.message ?? "refused by the simulator")
        }
    }

    deinit { close() }

    public func requestInput(_ setup: LineSetup) async throws(GPIOError) -> Bool {
        let reply = try await call(SimWire.Request(op: .request, id: 0, line: setup.line, direction: "input",
                                                  activeLow: setup.activeLow, bias: setup.bias.rawValue))
        state.withLock { _ = $0.inputs.insert(setup.line) }
        return try value(reply, operation: "request input", line: setup.line)
    }

    public func requestOutput(line: Int, level: Bool) async throws(GPIOError) {
        let reply = try await call(SimWire.Request(op: .request, id: 0, line: line, direction: "output", activeLow: false, value: level))
        _ = try value(reply, operation: "request output", line: line, needsValue: false)
    }

    /// Writes the request and returns without waiting for the simulator's answer (the kernel's
    /// ioctl does not make the caller wait either). A refusal that comes back later is thrown by
    /// the next `set` of that line; requests on one connection are answered in order, so a `read`
    /// after a `set` sees its level.
    public func set(line: Int, level: Bool) throws(GPIOError) {
        let id = try state.withLock { state throws(GPIOError) -> UInt64 in
            if let failure = state.failure { throw failure }
            if let refusal = state.refusedSets.removeValue(forKey: line) { throw refusal }
            guard state.unconfirmedSets.count < 1024 else {
                throw GPIOError(operation: "set", line: line, message: "the simulator has not answered 1024 sets")
            }
            defer { state.nextID += 1 }
            state.unconfirmedSets[state.nextID] = line
            return state.nextID
        }
        var bytes = (try? JSONEncoder().encode(SimWire.Request(op: .set, id: id, line: line, value: level))).map { [UInt8]($0) } ?? []
        bytes.append(0x0A)
        do { try send(bytes) } catch {
            _ = state.withLock { $0.unconfirmedSets.removeValue(forKey: id) }
            throw error
        }
    }

    public func read(line: Int) async throws(GPIOError) -> Bool {
        try value(try await call(SimWire.Request(op: .get, id: 0, line: line)), operation: "read", line: line)
    }

    /// The simulator numbers each line's edges as libgpiod 2 does, so a gap is reported.
    public var reportsLostEdges: Bool { true }

    /// The sink is called on the reader thread, under the state lock, so the edges that came
    /// before this call and those after it reach it in order.
    public func startEvents(_ sink: @escaping @Sendable (GPIOEvent) -> Void) throws(GPIOError) {
        try state.withLock { state throws(GPIOError) in
            guard state.sink == nil else { throw GPIOError(operation: "start events", message: "already started") }
            state.sink = sink
            for event in state.early { sink(event) }
            state.early = []
        }
    }

    public func close() {
        let waiting = state.withLock { state -> [CheckedContinuation<SimWire.Message, Never>] in
            guard !state.closed else { return [] }
            state.closed = true
            shutdown(socket, Int32(SHUT_RDWR))
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume(returning: SimWire.Message(ev: .error, message: "closed")) }
    }

    private func value(_ reply: SimWire.Message, operation: String, line: Int, needsValue: Bool = true) throws(GPIOError) -> Bool {
        if reply.ev == .error { throw GPIOError(operation: operation, line: line, message: reply.message ?? "refused") }
        guard let value = reply.value else {
            if needsValue { throw GPIOError(operation: operation, line: line, message: "the simulator sent no value") }
            return false
        }
        return value
    }

    private func call(_ request: SimWire.Request) async throws(GPIOError) -> SimWire.Message {
        var request = request
        let id: UInt64
        do {
            id = try state.withLock { state throws(GPIOError) -> UInt64 in
                if let failure = state.failure { throw failure }
                defer { state.nextID += 1 }
                return state.nextID
            }
        }
        request.id = id
        var line = (try? JSONEncoder().encode(request)).map { [UInt8]($0) } ?? []
        line.append(0x0A)
        let reply = await withCheckedContinuation { continuation in
            state.withLock { $0.waiting[id] = continuation }
            do { try send(line) } catch {
                let pending = state.withLock { $0.waiting.removeValue(forKey: id) }
                pending?.resume(returning: SimWire.Message(ev: .error, message: "\(error)"))
            }
        }
        if reply.ev == .error, reply.id == nil {
            throw GPIOError(operation: "\(request.op.rawValue)", line: request.line, message: reply.message ?? "simulator connection lost")
        }
        return reply
    }

    private func send(_ bytes: [UInt8]) throws(GPIOError) {
        try writeLock.withLock { _ throws(GPIOError) in
            var offset = 0
            while offset < bytes.count {
                let written = SystemCall.retrying {
                    bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                if written < 0 {
                    throw GPIOError(operation: "send to simulator", message: osError(errno))
                }
                offset += written
            }
        }
    }

    /// The reader thread: splits the stream into lines and dispatches replies and edges.
    private func readLoop() {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let decoder = JSONDecoder()
        while true {
            let count = SystemCall.retrying { chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) } }
            if count <= 0 { break }
            buffer.append(contentsOf: chunk[0 ..< count])
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                guard let message = try? decoder.decode(SimWire.Message.self, from: Data(line)) else {
                    continue  // a garbled line from the simulator is ignored, not fatal
                }
                dispatch(message)
            }
            if buffer.count > 1 << 20 { buffer.removeAll() }
        }
        let failure = GPIOError(operation: "simulator connection", message: "closed by the simulator")
        let waiting = state.withLock { state -> [CheckedContinuation<SimWire.Message, Never>] in
            state.failure = failure
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume(returning: SimWire.Message(ev: .error, message: failure.message)) }
        state.withLock { state in
            guard !state.closed else { return }
            if let sink = state.sink { sink(.failed(failure)) } else { state.early.append(.failed(failure)) }
        }
        Glibc.close(socket)
    }

    private func dispatch(_ message: SimWire.Message) {
        switch message.ev {
        case .edge:
            guard let line = message.line, let rising = message.rising, let ts = message.ts else { return }
            let event = GPIOEvent.edge(LineEdge(line: line, active: rising, at: MonotonicInstant(nanoseconds: ts), readAt: monotonicNow()))
            state.withLock { state in
                guard state.inputs.contains(line), !state.closed else { return }
                if let seq = message.seq {
                    let last = state.lastSeq[line] ?? 0
                    if seq > last + 1 {
                        let lost = GPIOEvent.edgesLost(line: line, count: seq - last - 1)
                        if let sink = state.sink { sink(lost) } else { state.early.append(lost) }
                    }
                    state.lastSeq[line] = max(last, seq)
                }
                if let sink = state.sink {
                    sink(event)
                } else if state.early.count < Self.earlyLimit {
                    state.early.append(event)
                } else if state.early.count == Self.earlyLimit {
                    // Edges past the limit are lost: say so, as the kernel's overflow would.
                    state.early.append(.failed(GPIOError(operation: "events", line: line,
                                                         message: "more than \(Self.earlyLimit) edges before the agent started reading")))
                }
            }
        case .ok, .error:
            guard let id = message.id else { return }
            let waiter = state.withLock { state -> CheckedContinuation<SimWire.Message, Never>? in
                if let line = state.unconfirmedSets.removeValue(forKey: id) {
                    if message.ev == .error {
                        state.refusedSets[line] = GPIOError(operation: "set", line: line, message: message.message ?? "refused by the simulator")
                    }
                    return nil
                }
                return state.waiting.removeValue(forKey: id)
            }
            waiter?.resume(returning: message)
        }
    }

    private static func connect(path: String) throws(GPIOError) -> Int32 {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw GPIOError(operation: "socket", message: osError(errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            Glibc.close(fd)
            throw GPIOError(operation: "connect to simulator", message: "socket path longer than \(capacity - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let message = osError(errno)
            Glibc.close(fd)
            throw GPIOError(operation: "connect to simulator at \(path)", message: "\(message) (is `parkguard-sim serve` running?)")
        }
        return fd
    }
}
