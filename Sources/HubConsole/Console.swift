import Foundation
import Hummingbird
import Logging
import ParkGuardHub
import ServiceLifecycle

/// The control-room console: one page served by the hub itself (no CDN, no external asset),
/// with the fleet's units and cameras, open alarms on top, an acknowledge button per alarm, and
/// live updates over server-sent events.
public struct Console: Service {
    /// The largest request body the console reads; an acknowledgement is under 300 bytes.
    public static let maxBodyBytes = 4096

    /// On every answer: only the console's own files (no inline script or style), no framing,
    /// no plugins, no sniffing, no referrer.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        .init("X-Frame-Options")!: "DENY",
        .init("Referrer-Policy")!: "no-referrer",
    ]

    let hub: Hub
    let host: String
    let port: Int
    let logger: Logger
    let policy: ConsoleRequestPolicy
    let onBound: @Sendable (Int) -> Void

    /// - Parameter names: host names the console answers to besides loopback, the bound address
    ///   and this machine's name (see ``ConsoleRequestPolicy``).
    public init(hub: Hub, host: String, port: Int, names: [String] = [], logger: Logger, onBound: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.hub = hub
        self.host = host
        self.port = port
        self.logger = logger
        policy = ConsoleRequestPolicy(boundTo: host, extra: names)
        self.onBound = onBound
    }

    public func run() async throws {
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: ConsoleRequestGuard(policy: policy, logger: logger))
        let hub = hub
        router.get("/") { _, _ in Self.asset(ConsoleAssets.page, type: "text/html; charset=utf-8") }
        router.get("/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console.js") { _, _ in Self.asset(ConsoleAssets.script, type: "text/javascript; charset=utf-8") }
        router.get("/api/state") { _, _ in
            try await Self.json(ConsoleState(units: hub.units, openAlarms: hub.openAlarms(), counts: hub.counts))
        }
        router.get("/api/events") { _, _ in
            let updates = await hub.updates()
            // Changes and a comment every 15 s (so proxies keep an idle stream open), in one stream.
            let (lines, sink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1000))
            let relay = Task {
                for await update in updates { sink.yield("event: update\ndata: \(Self.kind(of: update))\n\n") }
                sink.finish()
            }
            let keepalive = Task {
                while (try? await Task.sleep(for: .seconds(15))) != nil { sink.yield(": keepalive\n\n") }
            }
            let body = ResponseBody { writer in
                defer { relay.cancel(); keepalive.cancel() }
                try await writer.write(ByteBuffer(string: ": connected\n\nevent: update\ndata: {}\n\n"))
                for await line in lines {
                    try await writer.write(ByteBuffer(string: line))
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
        }
        router.post("/api/ack") { request, context in
            let ack: AckRequest
            do { ack = try await request.decode(as: AckRequest.self, context: context) } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
                return try Self.json(Answer(ok: false, error: "the request body is over \(Self.maxBodyBytes) bytes"), status: .contentTooLarge)
            } catch {
                return try Self.json(Answer(ok: false, error: "the request must be JSON with site, unit, bell and by"), status: .badRequest)
            }
            guard !ack.by.trimmingCharacters(in: .whitespaces).isEmpty, ack.by.utf8.count <= 64 else {
                return try Self.json(Answer(ok: false, error: "by: say who acknowledges (1 to 64 bytes)"), status: .badRequest)
            }
            let outcome = await hub.acknowledge(unit: UnitKey(site: ack.site, unit: ack.unit), bell: ack.bell, by: ack.by)
            return try Self.json(Answer(ok: outcome.ok, error: outcome.error), status: outcome.ok ? .ok : .badGateway)
        }
        let onBound = onBound
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "parkguard-hub"),
                              onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [])
    }

    struct ConsoleState: Encodable {
        var units: [UnitView]
        var openAlarms: [AlarmRecord]
        var counts: HubCore.Counts
    }

    struct AckRequest: Decodable {
        var site: String
        var unit: String
        var bell: String
        var by: String
    }

    /// Every answer to a request that changes state, and every refusal: `ok`, and why not.
    struct Answer: Encodable {
        var ok: Bool
        var error: String?
    }

    private static func kind(of update: Hub.HubUpdate) -> String {
        switch update {
        case .unit: #"{"kind":"unit"}"#
        case .alarm: #"{"kind":"alarm"}"#
        case .alarmsChanged: #"{"kind":"alarms"}"#
        }
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// The console's request context: Hummingbird's basic one with bodies capped at
/// ``Console/maxBodyBytes`` (its default is 2 MiB).
public struct ConsoleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: Source) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { Console.maxBodyBytes }
}
