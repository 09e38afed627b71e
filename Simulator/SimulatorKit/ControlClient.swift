import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal client of the control API for the CLI verbs, built on NIO's HTTP/1 codec.
public enum ControlClient {
    /// Sends one request and returns the status code and body.
    ///
    /// A connection that closes before the request could be written is tried again, up to
    /// `attempts` times 100 ms apart: the server cannot have acted on a request it never got, so
    /// even a press is safe to resend then. (CI once saw a connection to a live simulator closed
    /// before the first write, under a full parallel test run.) Once the request is out, an error
    /// is final, so nothing is ever done twice.
    public static func request(host: String, port: Int, method: String, path: String, attempts: Int = 3) async throws -> (Int, String) {
        var attempt = 1
        while true {
            do {
                return try await once(host: host, port: port, method: method, path: path)
            } catch is NotSent where attempt < attempts {
                attempt += 1
                try await Task.sleep(for: .milliseconds(100))
            } catch let failure as NotSent {
                throw failure.cause
            }
        }
    }

    /// The request never left: its head could not be written.
    private struct NotSent: Error {
        let cause: any Error
    }

    private static func once(host: String, port: Int, method: String, path: String) async throws -> (Int, String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(host):\(port)")
            headers.add(name: "Connection", value: "close")
            headers.add(name: "Content-Length", value: "0")
            do {
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)))
            } catch {
                throw NotSent(cause: error)
            }
            try await outbound.write(.end(nil))
            var status = 0
            var body = ""
            for try await part in inbound {
                switch part {
                case .head(let head): status = Int(head.status.code)
                case .body(let buffer): body += String(buffer: buffer)
                case .end: return (status, body)
                }
            }
            return (status, body)
        }
    }
}
