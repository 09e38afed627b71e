#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SocketIO
import Testing

/// The daemon's sockets without SwiftNIO: every wait ends by readiness, deadline or cancellation.
@Suite("Sockets waited on by one poll thread")
struct SocketIOTests {
    static func socketPath() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-sock-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/s.sock"
    }

    static func soon(_ seconds: Int = 5) -> ContinuousClock.Instant { .now + .seconds(seconds) }

    /// Both ends of one connection through a new listener.
    static func connectedPair() async throws -> (client: StreamSocket, server: StreamSocket, listener: UnixListener) {
        let path = socketPath()
        let listener = try UnixListener(path: path, backlog: 4)
        async let accepted = listener.accept()
        let client = try await StreamSocket.connect(unixPath: path, deadline: soon())
        return (client, try await accepted, listener)
    }

    @Test("a Unix listener accepts a client; bytes go both ways and a shutdown reads as the end")
    func roundTrip() async throws {
        let (client, server, listener) = try await Self.connectedPair()
        _ = listener
        try await client.send(Array("ping\n".utf8), deadline: Self.soon())
        #expect(try await server.receive(upTo: 100, deadline: Self.soon()) == Array("ping\n".utf8))
        // A megabyte does not fit the socket's buffer: the sender waits while the reader drains.
        let big = [UInt8](repeating: 7, count: 1 << 20)
        async let sent: Void = server.send(big, deadline: Self.soon())
        var received = 0
        while received < big.count { received += try await client.receive(upTo: 64 << 10, deadline: Self.soon()).count }
        try await sent
        server.shutdown()
        #expect(try await client.receive(upTo: 100, deadline: Self.soon()).isEmpty)
    }

    @Test("a read that nothing answers ends at its deadline as a timeout; a cancelled one ends as cancelled")
    func deadlineAndCancellation() async throws {
        let (client, server, listener) = try await Self.connectedPair()
        _ = listener
        await #expect(throws: SocketError.self) { _ = try await client.receive(upTo: 10, deadline: .now + .milliseconds(100)) }
        do throws(SocketError) {
            _ = try await client.receive(upTo: 10, deadline: .now + .milliseconds(50))
        } catch {
            #expect(error.kind == .timeout)
        }
        let waiting = Task { () -> SocketError.Kind? in
            do throws(SocketError) {
                _ = try await client.receive(upTo: 10, deadline: nil)
                return nil
            } catch { return error.kind }
        }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == .cancelled)
        _ = server
    }

    @Test("500 reads waiting at once on 250 connections are each woken by their own bytes")
    func manyWaiters() async throws {
        let path = Self.socketPath()
        let listener = try UnixListener(path: path, backlog: 256)
        var pairs: [(StreamSocket, StreamSocket)] = []
        for _ in 0 ..< 250 {
            async let accepted = listener.accept()
            let client = try await StreamSocket.connect(unixPath: path, deadline: Self.soon())
            pairs.append((client, try await accepted))
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, pair) in pairs.enumerated() {
                group.addTask { try await pair.0.receive(upTo: 16, deadline: Self.soon(20)).count }
                group.addTask { try await pair.1.receive(upTo: 16, deadline: Self.soon(20)).count }
                if index % 2 == 0 { try await Task.sleep(for: .milliseconds(1)) }
            }
            for (client, server) in pairs.shuffled() {
                try await client.send([1, 2, 3], deadline: Self.soon())
                try await server.send([4, 5], deadline: Self.soon())
            }
            var total = 0
            for try await count in group { total += count }
            #expect(total == 250 * 5)
        }
    }

    @Test("connections are refused, not found or time out with the kind a caller acts on")
    func failures() async throws {
        // A port nobody listens on: bind one, read its number, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(fd)
        do throws(SocketError) {
            _ = try await StreamSocket.connect(host: "127.0.0.1", port: port, deadline: Self.soon())
            Issue.record("connected to a closed port")
        } catch { #expect(error.kind == .refused, "\(error)") }
        do throws(SocketError) {
            _ = try await StreamSocket.connect(unixPath: Self.socketPath() + ".missing", deadline: Self.soon())
            Issue.record("connected to a missing socket")
        } catch { #expect(error.kind == .notFound, "\(error)") }
        do throws(SocketError) {
            _ = try await StreamSocket.connect(host: "no-such-camera.invalid", port: 80, deadline: Self.soon())
            Issue.record("resolved an .invalid name")
        } catch { #expect(error.kind == .notFound || error.kind == .timeout, "\(error)") }
        do throws(SocketError) {
            _ = try await StreamSocket.connect(host: "127.0.0.1", port: 70000, deadline: Self.soon())
            Issue.record("connected to port 70000")
        } catch { #expect(error.kind == .notFound, "\(error)") }
        // A name is resolved (off the caller's thread) and connected like an address.
        let listener = try UnixListener(path: Self.socketPath(), backlog: 1)
        _ = listener
        do throws(SocketError) {
            _ = try await StreamSocket.connect(host: "localhost", port: port, deadline: Self.soon())
        } catch { #expect(error.kind == .refused, "\(error)") }
    }
}
