import GPIOAdapter
import ParkGuardCore
import Synchronization

/// The `sim` backend without the socket, for agents in the same process as their chip (fleet
/// mode): the same ``SimWire`` requests, answered by the ``VirtualChip`` directly, and no reader
/// thread per agent.
public final class InProcessGPIO: GPIOBackend {
    private let chip: VirtualChip
    private let connection: UInt64
    private let edges: AsyncStream<SimWire.Message>
    private let inputs = Mutex<Set<Int>>([])

    public init(chip: VirtualChip, consumer: String) {
        self.chip = chip
        (connection, edges) = chip.connect()
        _ = chip.handle(SimWire.Request(op: .hello, id: 0, consumer: consumer), from: connection)
    }

    deinit { close() }

    public func requestInput(_ setup: LineSetup) async throws(GPIOError) -> Bool {
        let reply = chip.handle(SimWire.Request(op: .request, id: 0, line: setup.line, direction: "input",
                                                activeLow: setup.activeLow, bias: setup.bias.rawValue), from: connection)
        inputs.withLock { _ = $0.insert(setup.line) }
        return try value(reply, operation: "request input", line: setup.line) ?? false
    }

    public func requestOutput(line: Int, level: Bool) async throws(GPIOError) {
        _ = try value(chip.handle(SimWire.Request(op: .request, id: 0, line: line, direction: "output", activeLow: false, value: level),
                                  from: connection), operation: "request output", line: line)
    }

    public func set(line: Int, level: Bool) throws(GPIOError) {
        _ = try value(chip.handle(SimWire.Request(op: .set, id: 0, line: line, value: level), from: connection),
                      operation: "set", line: line)
    }

    public func read(line: Int) async throws(GPIOError) -> Bool {
        try value(chip.handle(SimWire.Request(op: .get, id: 0, line: line), from: connection), operation: "read", line: line) ?? false
    }

    public func events() throws(GPIOError) -> AsyncStream<GPIOEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: GPIOEvent.self)
        let task = Task { [self] in
            for await message in edges where message.ev == .edge {
                guard let line = message.line, let rising = message.rising, let ts = message.ts,
                      inputs.withLock({ $0.contains(line) }) else { continue }
                continuation.yield(.edge(LineEdge(line: line, active: rising, at: MonotonicInstant(nanoseconds: ts))))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func close() {
        chip.disconnect(connection)
    }

    private func value(_ reply: SimWire.Message, operation: String, line: Int) throws(GPIOError) -> Bool? {
        if reply.ev == .error { throw GPIOError(operation: operation, line: line, message: reply.message ?? "refused") }
        return reply.value
    }
}
