import Foundation
import ParkGuardTestKit
import Testing

/// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`.
final class NotifySocket: @unchecked Sendable {
    // @unchecked: the descriptor is only read from one test.
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw HarnessError("bind \(path): \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Every datagram received so far.
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0 ..< count], as: UTF8.self))
        }
    }
}

@Suite("systemd integration")
struct SystemdTests {
    @Test("READY=1 once the lines are up, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM; journald priorities on stderr")
    func notifyProtocol() async throws {
        let unit = try await Unit(startAgent: false)
        let notify = try NotifySocket(path: unit.directory.file("notify.sock"))
        let agent = try Child(Products.path("parkguardd"), ["--config", unit.configPath], in: unit.directory, name: "agent-systemd",
                              environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000", "JOURNAL_STREAM": "8:1234"])
        var received: [String] = []
        #expect(try await eventually(timeout: .seconds(10)) {
            received += notify.drain()
            return received.contains { $0.hasPrefix("READY=1") } && received.filter { $0 == "WATCHDOG=1" }.count >= 3
        }, "got \(received)")
        agent.signal(SIGTERM)
        #expect(try await agent.exitStatus() == 0)
        received += notify.drain()
        #expect(received.last == "STOPPING=1")
        let lines = agent.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.first == "<" && $0.dropFirst(2).first == ">" }, "every line carries a <N> priority")
        #expect(lines.contains { $0.hasPrefix("<5>parkguardd starting") })
    }
}
