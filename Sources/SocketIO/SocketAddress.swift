#if canImport(Glibc)
import Glibc
#endif
import ParkGuardCore

/// An IPv4, IPv6 or Unix socket address.
struct SocketAddress: Sendable {
    private var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    init(unixPath path: String) throws(SocketError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw SocketError(.other, "\(path): not a usable socket path (at most \(capacity - 1) bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: &address) { Array($0) }) }
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
    }

    /// Copies an address that `getaddrinfo` returned.
    init(_ pointer: UnsafePointer<sockaddr>, length: socklen_t) {
        let size = Swift.min(Int(length), MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: size)) }
        self.length = socklen_t(size)
    }

    func withPointer<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafeBytes(of: storage) { raw in body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
    }
}

/// Host names to addresses. A numeric address is read at once; a name is resolved by
/// `getaddrinfo`, which blocks, on a thread of its own so no task waits on it past its deadline
/// (a resolver that hangs keeps only that thread).
enum NameResolution {
    static func resolve(host: String, port: Int, deadline: ContinuousClock.Instant) async throws(SocketError) -> [SocketAddress] {
        guard (0 ... 65535).contains(port), !host.isEmpty, host.utf8.count <= 255, !host.utf8.contains(0) else {
            throw SocketError(.notFound, "\(host.prefix(60)):\(port): not a host and port")
        }
        if let numeric = try lookup(host: host, port: port, numericOnly: true) { return numeric }
        let answer = Locked<(CheckedContinuation<Result<[SocketAddress], SocketError>, Never>?, Result<[SocketAddress], SocketError>?)>((nil, nil))
        @Sendable func deliver(_ result: Result<[SocketAddress], SocketError>) {
            let waiting = answer.withLock { state -> CheckedContinuation<Result<[SocketAddress], SocketError>, Never>? in
                guard state.1 == nil else { return nil }
                state.1 = result
                let continuation = state.0
                state.0 = nil
                return continuation
            }
            waiting?.resume(returning: result)
        }
        detachThread(named: "pg-resolve") {
            do throws(SocketError) {
                deliver(.success(try lookup(host: host, port: port, numericOnly: false) ?? []))
            } catch {
                deliver(.failure(error))
            }
        }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            deliver(.failure(SocketError(.timeout, "\(host): the name did not resolve in time")))
        }
        defer { timer.cancel() }
        let result = await withCheckedContinuation { continuation in
            let ready = answer.withLock { state -> Result<[SocketAddress], SocketError>? in
                if let result = state.1 { return result }
                state.0 = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
        return try result.get()
    }

    /// `nil` when `numericOnly` and `host` is not an address.
    private static func lookup(host: String, port: Int, numericOnly: Bool) throws(SocketError) -> [SocketAddress]? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : AI_ADDRCONFIG)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, "\(port)", &hints, &list)
        guard status == 0 else {
            if numericOnly, status == EAI_NONAME { return nil }
            throw SocketError(.notFound, "\(host.prefix(60)): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry, addresses.count < 8 {
            if let address = current.pointee.ai_addr { addresses.append(SocketAddress(address, length: current.pointee.ai_addrlen)) }
            entry = current.pointee.ai_next
        }
        return addresses
    }
}
