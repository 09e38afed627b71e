import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal client of the control API for the CLI verbs, built on NIO's HTTP/1 codec.
public enum ControlClient {
    /// Sends one request and returns the status code and body.
    public static func request(host: String, port: Int, method: String, path: String) async throws -> (Int, String) {
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
            try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)))
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
