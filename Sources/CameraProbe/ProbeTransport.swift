import NIOCore
import NIOHTTP1
import NIOPosix
import ParkGuardCore

typealias StepFailure = CameraProbeReport.StepFailure

/// TCP connections for the probes, each exchange bounded by a timeout and a size limit, so a
/// camera that stalls, floods or lies ends the step with a failure instead of hanging it.
enum ProbeTransport {
    /// One event-loop thread serves every probe: probing is I/O, never CPU, bound.
    static let group: any EventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Opens a TCP connection with `handlers` and returns it with the connect time.
    static func connect(host: String, port: Int, timeout: Duration, on group: any EventLoopGroup = group,
                        handlers: @escaping @Sendable (any Channel) throws -> Void) async throws(StepFailure) -> (any Channel, Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(timeout.nanosecondsClamped))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try handlers(channel) }
                }
                .connect(host: host, port: port).get()
            return (channel, clock.now - start)
        } catch {
            throw classify(error, during: "connect to \(host):\(port)")
        }
    }

    /// Maps a NIO or system error to a probe failure.
    static func classify(_ error: any Error, during label: String) -> StepFailure {
        if let failure = error as? StepFailure { return failure }
        let step = label.isEmpty ? "connection" : label
        if case ChannelError.connectTimeout = error { return StepFailure(.timeout("\(step): no answer to the TCP handshake")) }
        let text = "\(error)"
        // NIO wraps a refused connect in NIOConnectionError, whose text names the errno.
        if (error as? IOError)?.errnoCode == ECONNREFUSED || text.contains("refused") {
            return StepFailure(.refused("\(step): connection refused"))
        }
        if (error as? IOError)?.errnoCode == ECONNRESET { return StepFailure(.protocolError("\(step): connection reset")) }
        return StepFailure(.unreachable("\(step): \(text.prefix(160))"))
    }
}

extension Duration {
    /// Nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        return seconds > 9_000_000_000 ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

// MARK: RTSP

/// Collects bytes into RTSP responses, one outstanding request at a time.
final class RTSPResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var buffer: [UInt8] = []
    private var waiting: EventLoopPromise<RTSPMessage>?
    private var closed = false

    func expect(_ promise: EventLoopPromise<RTSPMessage>) {
        waiting = promise
        if closed { finish(.failure(StepFailure(.protocolError("the camera closed the connection")))) } else { deliver() }
    }

    func finish(_ result: Result<RTSPMessage, StepFailure>) {
        guard let promise = waiting else { return }
        waiting = nil
        promise.completeWith(result.mapError { $0 as any Error })
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer += bytes.readBytes(length: bytes.readableBytes) ?? []
        deliver()
        if buffer.count > 300_000 {
            finish(.failure(StepFailure(.protocolError("the camera sent more than 300 kB without a complete answer"))))
            context.close(promise: nil)
        }
    }

    private func deliver() {
        guard waiting != nil else { return }
        do {
            switch try RTSPParser.parse(buffer) {
            case .incomplete:
                return
            case .message(let message, let consumed):
                buffer.removeFirst(consumed)
                guard message.status != nil else { throw RTSPParseError("the camera sent a request instead of a response") }
                finish(.success(message))
            }
        } catch {
            finish(.failure(StepFailure(.protocolError("not an RTSP answer: \(error)"))))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        finish(.failure(StepFailure(.protocolError(buffer.isEmpty ? "the camera closed the connection without answering"
                                                       : "the camera closed the connection in the middle of an answer"))))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(ProbeTransport.classify(error, during: "")))
        context.close(promise: nil)
    }
}

/// One RTSP connection to a camera.
struct RTSPConnection: Sendable {
    let channel: any Channel
    let connectTime: Duration

    static func open(host: String, port: Int, timeout: Duration) async throws(StepFailure) -> RTSPConnection {
        let (channel, time) = try await ProbeTransport.connect(host: host, port: port, timeout: timeout) { channel in
            try channel.pipeline.syncOperations.addHandler(RTSPResponseCollector())
        }
        return RTSPConnection(channel: channel, connectTime: time)
    }

    /// Sends `request` and waits for its response.
    func exchange(_ request: RTSPMessage, timeout: Duration) async throws(StepFailure) -> RTSPMessage {
        let promise = channel.eventLoop.makePromise(of: RTSPMessage.self)
        let channel = self.channel
        let bytes = request.encoded()
        channel.eventLoop.execute {
            guard let collector = try? channel.pipeline.syncOperations.handler(type: RTSPResponseCollector.self) else {
                promise.fail(StepFailure(.protocolError("connection closed")))
                return
            }
            collector.expect(promise)
            channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
            let bound = NIOLoopBound(collector, eventLoop: channel.eventLoop)
            let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
                bound.value.finish(.failure(StepFailure(.timeout("no complete answer within \(CameraHealthTracker.ms(timeout)) ms"))))
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
        }
        do { return try await promise.futureResult.get() } catch { throw ProbeTransport.classify(error, during: "") }
    }

    func close() { channel.close(promise: nil) }
}

// MARK: HTTP

/// An HTTP answer.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var elapsed: Duration
}

/// Collects one HTTP response (head and body, up to a limit).
final class HTTPResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private let limit: Int
    private var waiting: EventLoopPromise<(HTTPResponseHead, [UInt8])>?

    init(limit: Int) { self.limit = limit }

    func expect(_ promise: EventLoopPromise<(HTTPResponseHead, [UInt8])>) { waiting = promise }

    func finish(_ result: Result<(HTTPResponseHead, [UInt8]), StepFailure>) {
        guard let promise = waiting else { return }
        waiting = nil
        promise.completeWith(result.mapError { $0 as any Error })
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
        case .body(var chunk):
            guard body.count + chunk.readableBytes <= limit else {
                finish(.failure(StepFailure(.protocolError("answer body is larger than \(limit) bytes"))))
                context.close(promise: nil)
                return
            }
            body += chunk.readBytes(length: chunk.readableBytes) ?? []
        case .end:
            if let head { finish(.success((head, body))) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(StepFailure(.protocolError(head == nil ? "the camera closed the connection without answering"
                                                     : "the camera closed the connection in the middle of an answer"))))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: StepFailure = error is HTTPParserError
            ? StepFailure(.protocolError("not an HTTP answer: \(error)")) : ProbeTransport.classify(error, during: "")
        finish(.failure(failure))
        context.close(promise: nil)
    }
}

enum HTTPExchange {
    /// One request on a fresh connection (`Connection: close`).
    static func request(host: String, port: Int, method: HTTPMethod, path: String, headers extra: [(String, String)] = [],
                        body: [UInt8] = [], connectTimeout: Duration, timeout: Duration, limit: Int) async throws(StepFailure) -> HTTPAnswer {
        let clock = ContinuousClock()
        let start = clock.now
        let (channel, _) = try await ProbeTransport.connect(host: host, port: port, timeout: connectTimeout) { channel in
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            try channel.pipeline.syncOperations.addHandler(HTTPResponseCollector(limit: limit))
        }
        defer { channel.close(promise: nil) }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: port == 80 ? host : "\(host):\(port)")
        headers.add(name: "User-Agent", value: "parkguardd/\(ParkGuardVersion.current)")
        headers.add(name: "Connection", value: "close")
        for (name, value) in extra { headers.add(name: name, value: value) }
        if !body.isEmpty || method == .POST { headers.add(name: "Content-Length", value: "\(body.count)") }
        let promise = channel.eventLoop.makePromise(of: (HTTPResponseHead, [UInt8]).self)
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        channel.eventLoop.execute {
            guard let collector = try? channel.pipeline.syncOperations.handler(type: HTTPResponseCollector.self) else {
                promise.fail(StepFailure(.protocolError("connection closed")))
                return
            }
            collector.expect(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            let bound = NIOLoopBound(collector, eventLoop: channel.eventLoop)
            let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
                bound.value.finish(.failure(StepFailure(.timeout("no complete answer within \(CameraHealthTracker.ms(timeout)) ms"))))
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
        }
        do {
            let (responseHead, responseBody) = try await promise.futureResult.get()
            return HTTPAnswer(status: Int(responseHead.status.code), headers: responseHead.headers, body: responseBody, elapsed: clock.now - start)
        } catch {
            throw ProbeTransport.classify(error, during: "")
        }
    }
}
