import GPIOAdapter
import ParkGuardCore

/// Everything the bell loop reacts to, in arrival order.
enum LoopInput: Sendable {
    case edge(LineEdge)
    case gpioFailed(String)
    case edgesLost(line: Int, count: UInt64)
    case tick
    case command(Command, correlationData: [UInt8]?)
}

/// The bell loop's inbox, shared with the MQTT session (commands) and the GPIO reader (edges).
final class AgentInbox: Sendable {
    let stream: AsyncStream<LoopInput>
    private let continuation: AsyncStream<LoopInput>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: LoopInput.self) }

    func post(_ input: LoopInput) { continuation.yield(input) }
    func close() { continuation.finish() }
}
