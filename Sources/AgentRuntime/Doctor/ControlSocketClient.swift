#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import NIOCore
import NIOPosix
import ParkGuardCore

/// The doctor's side of the daemon's control socket: one request per connection, answers read
/// line by line (at most ``maxLineBytes`` each).
enum ControlSocketClient {
    static let maxLineBytes = 1 << 20

    /// Why the daemon could not be asked.
    enum Unreachable: Error, CustomStringConvertible {
        /// No daemon listens there (no socket file, or nobody accepting): it is not running.
        case notRunning(String)
        /// A daemon listens but this user may not ask it.
        case denied(String)
        case failed(String)

        var description: String {
            switch self {
            case .notRunning(let text), .denied(let text), .failed(let text): text
            }
        }
    }

    /// Sends `request` and hands each answer line to `onLine` until it returns false, the daemon
    /// closes, or `timeout` passes.
    static func exchange(path: String, _ request: ControlRequest, timeout: Duration,
                         onLine: @escaping @Sendable ([UInt8]) async -> Bool) async throws(Unreachable) {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            let code = (error as? IOError)?.errnoCode
            switch code {
            case ENOENT, ECONNREFUSED: throw .notRunning("\(path): no daemon listening")
            case EACCES, EPERM: throw .denied("\(path): permission denied (run as root or as a member of the parkguard group)")
            default: throw .failed("\(path): \(error)")
            }
        }
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: request.line + "\n"))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var pending: [UInt8] = []
                        for try await buffer in inbound {
                            pending += buffer.readableBytesView
                            while let end = pending.firstIndex(of: 0x0A) {
                                let line = Array(pending[..<end])
                                pending.removeSubrange(...end)
                                if !(await onLine(line)) { return }
                            }
                            if pending.count > maxLineBytes { throw Unreachable.failed("\(path): an answer line longer than \(maxLineBytes) bytes") }
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        throw Unreachable.failed("\(path): no whole answer within \(timeout)")
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch let error as Unreachable {
            throw error
        } catch {
            throw .failed("\(path): \(error)")
        }
    }

    /// One request, one decoded answer (a refusal is thrown as ``Unreachable/failed(_:)``).
    static func ask<Answer: Decodable & Sendable>(path: String, _ request: ControlRequest, as type: Answer.Type,
                                                  timeout: Duration = .seconds(15)) async throws(Unreachable) -> Answer {
        let answer = Locked<[UInt8]?>(nil)
        try await exchange(path: path, request, timeout: timeout) { line in
            answer.withLock { $0 = line }
            return false
        }
        guard let line = answer.withLock({ $0 }) else { throw .failed("\(path): the daemon closed without an answer") }
        if let refusal = try? JSONDecoder().decode(ControlRefusal.self, from: Data(line)) {
            throw .failed("\(path): the daemon refused: \(refusal.error)")
        }
        do { return try JSONDecoder().decode(Answer.self, from: Data(line)) } catch {
            throw .failed("\(path): an answer the doctor cannot read (\(error))")
        }
    }
}
