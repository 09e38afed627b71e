import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal client of the control API for the CLI verbs, built on NIO's HTTP/1 codec.
public enum ControlClient {
    /// Sends one request and returns the status code and body.
    ///
    /// Never resent: a verb such as a press must not happen twice. A connection without a whole
    /// answer within `timeout` is closed and reported, so a stopped simulator never hangs the CLI.
    public static func request(host: String, port: Int, method: String, path: String,
                               timeout: TimeAmount = .seconds(10)) async throws -> (Int, String) {
        let (status, _, body) = try await exchange(host: host, port: port, method: method, path: path, timeout: timeout)
        return (status, body)
    }

    /// Sends one request with `headers` and a `body` (JSON) and returns the status, the answer's
    /// headers and its body: for a client of the hub's console, which logs in with a cookie.
    public static func exchange(host: String, port: Int, method: String, path: String, headers extra: [(String, String)] = [],
                                body payload: String? = nil, timeout: TimeAmount = .seconds(10)) async throws -> (Int, [(String, String)], String) {
        let started = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                    channel.closeFuture.whenComplete { _ in deadline.cancel() }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(host):\(port)")
            headers.add(name: "Connection", value: "close")
            let bytes = payload.map { ByteBuffer(string: $0) }
            headers.add(name: "Content-Length", value: "\(bytes?.readableBytes ?? 0)")
            if bytes != nil { headers.add(name: "Content-Type", value: "application/json") }
            for (name, value) in extra { headers.add(name: name, value: value) }
            let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)
            // With Content-Length: 0 the head alone is a complete request: the server answers and
            // closes (Connection: close) as soon as it has read it. Head and end therefore go out
            // in one write, and a failed write is not the end of it: the answer may already be
            // in the inbound buffer (a server that has answered and closed makes a late write
            // fail with "I/O on closed channel": CI failed on it twice; reproduced 1 time in 900).
            var writeError: (any Error)?
            do {
                try await outbound.write(contentsOf: [.head(head)] + (bytes.map { [.body(.byteBuffer($0))] } ?? []) + [.end(nil)])
            } catch {
                writeError = error
            }
            var status = 0
            var answerHeaders: [(String, String)] = []
            var body = ""
            do {
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        status = Int(head.status.code)
                        answerHeaders = head.headers.map { ($0.name, $0.value) }
                    case .body(let buffer): body += String(buffer: buffer)
                    case .end: return (status, answerHeaders, body)
                    }
                }
            } catch {
                throw writeError ?? error
            }
            throw writeError ?? NoAnswer(timedOut: ContinuousClock.now - started >= .nanoseconds(timeout.nanoseconds), timeout: timeout)
        }
    }

    /// The connection ended, or the time ran out, before a whole answer arrived.
    struct NoAnswer: Error, CustomStringConvertible {
        let timedOut: Bool
        let timeout: TimeAmount
        var description: String {
            timedOut
                ? "no whole answer within \(timeout.nanoseconds / 1_000_000_000) s (the request may or may not have been carried out)"
                : "the connection closed before a whole answer arrived"
        }
    }
}
