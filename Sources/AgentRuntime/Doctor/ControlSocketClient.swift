#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore
import SocketIO

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
        let deadline = ContinuousClock.now + timeout
        let socket: StreamSocket
        do { socket = try await StreamSocket.connect(unixPath: path, deadline: deadline) } catch {
            switch error.kind {
            case .notFound, .refused: throw .notRunning("\(path): no daemon listening")
            case .denied: throw .denied("\(path): permission denied (run as root or as a member of the parkguard group)")
            default: throw .failed("\(path): \(error)")
            }
        }
        defer { socket.shutdown() }
        do {
            try await socket.send(Array((request.line + "\n").utf8), deadline: deadline)
            var pending: [UInt8] = []
            while true {
                let bytes = try await socket.receive(upTo: 64 << 10, deadline: deadline)
                if bytes.isEmpty { return }
                pending += bytes
                while let end = pending.firstIndex(of: 0x0A) {
                    let line = Array(pending[..<end])
                    pending.removeSubrange(...end)
                    if !(await onLine(line)) { return }
                }
                if pending.count > maxLineBytes { throw Unreachable.failed("\(path): an answer line longer than \(maxLineBytes) bytes") }
            }
        } catch let error as Unreachable {
            throw error
        } catch let error as SocketError where error.kind == .timeout {
            throw .failed("\(path): no whole answer within \(timeout)")
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
