import Foundation
import Logging
import NIOCore
import NIOPosix
import ParkGuardTestKit
import ServiceLifecycle
import SimulatorKit
import Testing

/// The sim CLI's client of the control API. A server answers a Content-Length: 0 request as soon
/// as it has read the head and closes; the client must still hand back that answer, never report
/// "cannot reach the simulator" for a request that was carried out (CI failed twice on a press
/// done and reported failed; 3 CLI loops here reproduced it 1 time in 900).
@Suite("Control API client")
struct ControlClientTests {
    @Test("every request to the simulator's control API gets its answer: 1,000 in a row against the real server")
    func everyAnswerArrives() async throws {
        let chip = VirtualChip(lineCount: 4)
        let bound = AsyncStream<Int>.makeStream()
        let api = ControlAPI(chip: chip, host: "127.0.0.1", port: 0, logger: Logger(label: "control-test")) { port in
            bound.continuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [api], logger: Logger(label: "control-test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A server that fails to start ends the stream, so the wait for its port ends too.
                defer { bound.continuation.finish() }
                try await group.run()
            }
            var ports = bound.stream.makeAsyncIterator()
            guard let port = await ports.next() else {
                try await tasks.waitForAll()
                Issue.record("the control API ended before it was bound")
                return
            }
            var failures: [String] = []
            for index in 0 ..< 1000 {
                do {
                    let (status, body) = try await ControlClient.request(host: "127.0.0.1", port: port, method: "GET", path: "/v1/health")
                    if status != 200 || !body.contains(#""ok":true"#) { failures.append("\(index): \(status) \(body)") }
                } catch {
                    failures.append("\(index): \(error)")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of 1000 failed: \(failures.prefix(5))")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("an answer written and closed on the request's first bytes is still the answer; a close or silence without a whole answer is an error")
    func answerBeforeRequest() async throws {
        let answered = try await RawServer.start(reply: "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}")
        defer { answered.stop() }
        for _ in 0 ..< 200 {
            let (status, body) = try await ControlClient.request(host: "127.0.0.1", port: answered.port, method: "POST", path: "/v1/lines/1/press")
            #expect(status == 200 && body == #"{"ok":true}"#)
        }
        let silent = try await RawServer.start(reply: "")
        defer { silent.stop() }
        await #expect(throws: (any Error).self) {
            _ = try await ControlClient.request(host: "127.0.0.1", port: silent.port, method: "GET", path: "/v1/health")
        }
        let cut = try await RawServer.start(reply: "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"ok\"")
        defer { cut.stop() }
        await #expect(throws: (any Error).self) {
            _ = try await ControlClient.request(host: "127.0.0.1", port: cut.port, method: "GET", path: "/v1/health")
        }
        let stuck = try await RawServer.start(reply: "", hold: true)
        defer { stuck.stop() }
        let error = await #expect(throws: (any Error).self) {
            _ = try await ControlClient.request(host: "127.0.0.1", port: stuck.port, method: "GET", path: "/v1/health", timeout: .milliseconds(300))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("no whole answer within"), "\(String(describing: error))")
    }
}

/// A server that writes `reply` as soon as the first bytes of a request arrive (before the rest
/// is read), then closes the connection; with `hold`, it writes nothing and keeps the connection open.
private struct RawServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(reply: String, hold: Bool = false) async throws -> RawServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { try child.pipeline.syncOperations.addHandler(Replier(reply: reply, hold: hold)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RawServer(channel: channel)
    }

    func stop() { channel.close(promise: nil) }

    private final class Replier: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let reply: String
        let hold: Bool
        init(reply: String, hold: Bool) { self.reply = reply; self.hold = hold }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !hold, context.channel.isActive else { return }
            let channel = context.channel
            context.writeAndFlush(NIOAny(ByteBuffer(string: reply))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
