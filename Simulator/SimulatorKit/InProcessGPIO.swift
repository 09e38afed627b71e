import GPIOAdapter
import ParkGuardCore

/// The `sim` backend without the socket, for agents in the same process as their chip (fleet
/// mode): the same ``SimWire`` requests, answered by the ``VirtualChip`` directly, and no reader
/// thread per agent.
public final class InProcessGPIO: GPIOBackend {
    private let chip: VirtualChip
    private let connection: UInt64
    private let edges: AsyncStream<SimWire.Message>
    private let inputs = Locked<Set<Int>>([])
    private let closed = Locked(false)
    private let started = Locked(false)

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

    /// Edges come from a task over the chip's stream for this connection (fleet mode runs
    /// hundreds of agents: no thread each).
    public func startEvents(_ sink: @escaping @Sendable (GPIOEvent) -> Void) throws(GPIOError) {
        guard started.withLock({ started in defer { started = true }; return !started }) else {
            throw GPIOError(operation: "start events", message: "already started")
        }
        Task { [self] in
            for await message in edges where message.ev == .edge {
                guard let line = message.line, let rising = message.rising, let ts = message.ts,
                      inputs.withLock({ $0.contains(line) }) else { continue }
                sink(.edge(LineEdge(line: line, active: rising, at: MonotonicInstant(nanoseconds: ts))))
            }
            // The chip's stream ends when this connection is dropped.
            if !closed.withLock({ $0 }) {
                sink(.failed(GPIOError(operation: "virtual chip", message: "disconnected")))
            }
        }
    }

    public func close() {
        closed.withLock { $0 = true }
        chip.disconnect(connection)
    }

    private func value(_ reply: SimWire.Message, operation: String, line: Int) throws(GPIOError) -> Bool? {
        if reply.ev == .error { throw GPIOError(operation: operation, line: line, message: reply.message ?? "refused") }
        return reply.value
    }
}
