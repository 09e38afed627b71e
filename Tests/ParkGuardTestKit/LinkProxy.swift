import Foundation
import ParkGuardCore

/// A TCP proxy on loopback standing in for the network between a unit and its broker, so tests
/// can cut the link (connections reset, new ones refused) or stall it (connections accepted
/// and held, nothing forwarded) and restore it.
public final class LinkProxy: Sendable {
    public enum Mode: Sendable { case pass, drop, stall }

    public let port: Int
    private let upstream: Int
    private let listener: Int32
    private let state = Locked(State())

    private struct State {
        var mode = Mode.pass
        var connections: [Int32] = []
        var closed = false
    }

    public init(upstreamPort: Int) throws {
        upstream = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound, listen(fd, 64) == 0 else { throw HarnessError("proxy bind failed: \(String(cString: strerror(errno)))") }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { shutdownAll() }

    /// Switches mode; `drop` and `stall` also affect the connections already open.
    public func set(_ mode: Mode) {
        let victims = state.withLock { state -> [Int32] in
            state.mode = mode
            guard mode == .drop else { return [] }
            defer { state.connections = [] }
            return state.connections
        }
        for fd in victims { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    public func shutdownAll() {
        let all = state.withLock { state -> [Int32] in
            state.closed = true
            defer { state.connections = [] }
            return state.connections
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in all { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    private var mode: Mode { state.withLock { $0.mode } }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            switch mode {
            case .drop:
                close(client)
            case .stall:
                state.withLock { $0.connections.append(client) }  // held open, never answered
            case .pass:
                let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = loopback(port: upstream)
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
                }
                guard connected else { close(client); close(server); continue }
                state.withLock { $0.connections += [client, server] }
                Thread.detachNewThread { [self] in pump(from: client, to: server) }
                Thread.detachNewThread { [self] in pump(from: server, to: client) }
            }
        }
    }

    /// Copies bytes one way; in stall mode it stops forwarding (holding what it read).
    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            while mode == .stall { usleep(50_000) }
            if mode == .drop { break }
            var offset = 0
            while offset < count {
                let sent = buffer[offset ..< count].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
                offset += sent
            }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
    }
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return address
}
