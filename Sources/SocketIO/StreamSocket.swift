#if canImport(Glibc)
import Glibc
#endif
import ParkGuardCore

/// A connected, non-blocking stream socket (TCP or Unix), read and written by async calls that
/// wait through ``SocketReactor`` and end at their deadline. The one owner of its descriptor,
/// closed when the socket is released.
///
/// One task may receive while another sends; ``shutdown()`` from any task ends both.
public final class StreamSocket: Sendable {
    let fd: Int32
    private let reactor: SocketReactor

    init(fd: Int32, reactor: SocketReactor) {
        self.fd = fd
        self.reactor = reactor
    }

    deinit { close(fd) }

    /// Connects to `host` (an address or a name) on TCP `port`, trying each address in turn.
    public static func connect(host: String, port: Int, deadline: ContinuousClock.Instant,
                               reactor: SocketReactor = .shared) async throws(SocketError) -> StreamSocket {
        let addresses = try await NameResolution.resolve(host: host, port: port, deadline: deadline)
        var last = SocketError(.notFound, "\(host): no address")
        for address in addresses {
            do {
                let socket = try await connect(address, deadline: deadline, reactor: reactor)
                var one: Int32 = 1
                _ = setsockopt(socket.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return socket
            } catch {
                if error.kind == .timeout || error.kind == .cancelled { throw error }
                last = error
            }
        }
        throw last
    }

    /// Connects to the Unix socket at `path`.
    public static func connect(unixPath path: String, deadline: ContinuousClock.Instant,
                               reactor: SocketReactor = .shared) async throws(SocketError) -> StreamSocket {
        let address = try SocketAddress(unixPath: path)
        return try await connect(address, deadline: deadline, reactor: reactor)
    }

    static func connect(_ address: SocketAddress, deadline: ContinuousClock.Instant,
                        reactor: SocketReactor) async throws(SocketError) -> StreamSocket {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        let socket = StreamSocket(fd: fd, reactor: reactor)
        let result = address.withPointer { pointer, length in retryingEINTR { Glibc.connect(fd, pointer, length) } }
        if result == 0 { return socket }
        guard errno == EINPROGRESS || errno == EAGAIN else { throw .system("connect", errno) }
        try await reactor.wait(for: fd, writable: true, until: deadline)
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { throw .system("getsockopt", errno) }
        guard code == 0 else { throw .system("connect", code) }
        return socket
    }

    /// Writes all of `bytes`, waiting while the socket's buffer is full.
    public func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) async throws(SocketError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer in
                retryingEINTR { Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            if sent >= 0 {
                offset += sent
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                try await reactor.wait(for: fd, writable: true, until: deadline)
            } else {
                throw .system("send", errno)
            }
        }
    }

    /// Reads what has arrived, at most `limit` bytes, waiting until something has; an empty
    /// answer means the peer closed its side. `expectingWait` (an answer to a request just
    /// sent, which is never there yet) waits before the first read instead of after a read that
    /// would find nothing: one system call less.
    public func receive(upTo limit: Int, deadline: ContinuousClock.Instant?, expectingWait: Bool = false) async throws(SocketError) -> [UInt8] {
        if expectingWait { try await reactor.wait(for: fd, writable: false, until: deadline) }
        while true {
            var failure: Int32 = 0
            // Not zero-filled first: recv writes what it returns, and only that is kept.
            let buffer = [UInt8](unsafeUninitializedCapacity: Swift.max(1, limit)) { raw, initialized in
                let count = retryingEINTR { recv(fd, raw.baseAddress, raw.count, 0) }
                if count < 0 { failure = errno }
                initialized = Swift.max(0, count)
            }
            if failure == 0 { return buffer }
            guard failure == EAGAIN || failure == EWOULDBLOCK else { throw .system("recv", failure) }
            try await reactor.wait(for: fd, writable: false, until: deadline)
        }
    }

    /// Shuts both directions: a task waiting to read sees the end, one waiting to write an error.
    /// The descriptor stays open (and its number taken) until the socket is released.
    public func shutdown() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
}

/// A listening Unix stream socket.
public final class UnixListener: Sendable {
    private let fd: Int32
    private let reactor: SocketReactor

    /// Binds and listens at `path`, replacing a socket file already there (the caller checks that
    /// what is there is a socket).
    public init(path: String, backlog: Int32, reactor: SocketReactor = .shared) throws(SocketError) {
        let address = try SocketAddress(unixPath: path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        unlink(path)
        let bound = address.withPointer { pointer, length in bind(fd, pointer, length) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw .system("bind \(path)", code)
        }
        guard listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            throw .system("listen \(path)", code)
        }
        self.fd = fd
        self.reactor = reactor
    }

    deinit { close(fd) }

    /// The next client; waits until one connects or the calling task is cancelled.
    public func accept() async throws(SocketError) -> StreamSocket {
        while true {
            // Glibc's Swift module does not export accept4; the daemon starts no processes
            // between this accept and the fcntl, so the descriptor cannot leak into one.
            let client = retryingEINTR { Glibc.accept(fd, nil, nil) }
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                return StreamSocket(fd: client, reactor: reactor)
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK, ECONNABORTED:
                try await reactor.wait(for: fd, writable: false, until: nil)
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: wait a little instead of spinning on the pending client.
                do { try await Task.sleep(for: .milliseconds(100)) } catch { throw SocketError(.cancelled, "cancelled") }
            default:
                throw .system("accept", errno)
            }
        }
    }
}
