import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The simulator's HTTP control API on loopback, for tests in any language and for the CLI
/// verbs. Documented in `docs/simulator.md`.
public struct ControlAPI: Service {
    let chip: VirtualChip
    let cameras: [String: VirtualCamera]
    let host: String
    let port: Int
    let logger: Logger
    let ready: @Sendable (Int) -> Void

    /// - Parameter ready: called with the bound port (useful with port 0).
    public init(chip: VirtualChip, cameras: [VirtualCamera] = [], host: String, port: Int, logger: Logger,
                ready: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.chip = chip
        self.cameras = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.host = host
        self.port = port
        self.logger = logger
        self.ready = ready
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        ready(server.channel.localAddress?.port ?? port)
        try await untilGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await serve(connection) }
                    }
                }
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                        body.clear()
                    case .body(var chunk):
                        if body.readableBytes < 65536 { body.writeBuffer(&chunk) }
                    case .end:
                        guard let request = head else { continue }
                        let (status, json) = await route(method: request.method, uri: request.uri)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: "application/json")
                        headers.add(name: "Content-Length", value: "\(json.utf8.count)")
                        headers.add(name: "Connection", value: request.isKeepAlive ? "keep-alive" : "close")
                        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: json))))
                        try await outbound.write(.end(nil))
                        if !request.isKeepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Routes one request; returns the status and a JSON body.
    func route(method: HTTPMethod, uri: String) async -> (HTTPResponseStatus, String) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        let query = Self.query(parts.count > 1 ? String(parts[1]) : "")
        let segments = path.split(separator: "/").map(String.init)
        do {
            switch (method, segments) {
            case (.GET, ["v1", "health"]):
                return (.ok, #"{"ok":true,"chip":"\#(chip.label)","lines":\#(chip.lineCount)}"#)
            case (.GET, ["v1", "lines"]):
                return (.ok, Self.json(chip.lines()))
            case (.GET, ["v1", "outputs"]):
                return (.ok, Self.json(chip.lines().filter { $0.direction == "output" || $0.on != nil }))
            case (.POST, let s) where s.count == 4 && s[0] == "v1" && s[1] == "inputs":
                let line = try chip.names.line(for: s[2])
                try await act(s[3], line: line, query: query)
                let info = chip.lines()[line]
                return (.ok, Self.json(ActionResult(ok: true, line: line, name: info.name, active: info.active)))
            case (.GET, ["v1", "cameras"]):
                return (.ok, Self.json(cameras.values.map(\.info).sorted { $0.id < $1.id }))
            case (.GET, let s) where s.count == 3 && s[0] == "v1" && s[1] == "cameras":
                return (.ok, Self.json(try camera(s[2]).info))
            case (.POST, let s) where s.count >= 4 && s.count <= 5 && s[0] == "v1" && s[1] == "cameras":
                let camera = try camera(s[2])
                try cameraAction(camera, Array(s.dropFirst(3)), query: query)
                return (.ok, Self.json(camera.info))
            case (_, let s) where (s.count == 4 && s.starts(with: ["v1", "inputs"])) || s == ["v1", "lines"] || s == ["v1", "outputs"] || s == ["v1", "health"]:
                return (.methodNotAllowed, Self.error("method \(method) not allowed on \(path)"))
            default:
                return (.notFound, Self.error("no such endpoint: \(method) \(path) (see docs/simulator.md)"))
            }
        } catch let error as SimError {
            let status: HTTPResponseStatus = if case .badRequest = error { .badRequest } else { .notFound }
            return (status, Self.error(error.description))
        } catch {
            return (.internalServerError, Self.error("\(error)"))
        }
    }

    private func camera(_ id: String) throws(SimError) -> VirtualCamera {
        guard let camera = cameras[id] else {
            throw SimError.unknownCamera(id)
        }
        return camera
    }

    /// `fault/{name}`, `clear[/{name}]`, `auth?mode=`.
    private func cameraAction(_ camera: VirtualCamera, _ action: [String], query: [String: String]) throws(SimError) {
        func fault(_ name: String) throws(SimError) -> CameraFault {
            guard let fault = CameraFault(rawValue: name) else {
                throw SimError.badRequest("unknown camera fault '\(name)': use \(CameraFault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return fault
        }
        func number(_ key: String, in range: ClosedRange<Int>) throws(SimError) -> Int? {
            guard let text = query[key] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw SimError.badRequest("query '\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
            }
            return value
        }
        switch action.first {
        case "fault" where action.count == 2:
            camera.inject(try fault(action[1]), delayMs: try number("delayMs", in: 0 ... 600_000),
                          driftSeconds: try number("driftSeconds", in: -86400 * 365 ... 86400 * 365))
        case "clear" where action.count == 1:
            camera.clear()
        case "clear" where action.count == 2:
            camera.clear(try fault(action[1]))
        case "auth" where action.count == 1:
            guard let mode = query["mode"].flatMap(VirtualCamera.AuthMode.init(rawValue:)) else {
                throw SimError.badRequest("query 'mode' must be none, basic or digest")
            }
            camera.setAuth(mode)
        default:
            throw SimError.badRequest("unknown camera action '\(action.joined(separator: "/"))': use fault/{name}, clear, clear/{name} or auth?mode=")
        }
    }

    private func act(_ action: String, line: Int, query: [String: String]) async throws {
        func number(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(SimError) -> Int {
            guard let text = query[key] else { return value }
            guard let parsed = Int(text), range.contains(parsed) else {
                throw SimError.badRequest("query '\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
            }
            return parsed
        }
        switch action {
        case "press":
            try chip.setContact(line: line, active: true)
        case "release":
            try chip.setContact(line: line, active: false)
        case "click", "hold":
            let ms = try number("ms", default: action == "click" ? 200 : 5000, in: 1 ... 3_600_000)
            try chip.setContact(line: line, active: true)
            try await Task.sleep(for: .milliseconds(ms))
            try chip.setContact(line: line, active: false)
        case "bounce":
            let edges = try number("edges", default: 6, in: 1 ... 1000)
            let interval = try number("intervalUs", default: 1000, in: 0 ... 1_000_000)
            guard let final = query["final"].map({ $0 == "pressed" ? true : $0 == "released" ? false : nil }) ?? true else {
                throw SimError.badRequest("query 'final' must be pressed or released")
            }
            // The edges are sent as time passes, each stamped where the train puts it: a late
            // wake-up here delays an edge's delivery but does not move it on the line.
            var level = chip.lines()[line].active
            let start = VirtualChip.monotonicNow()
            var planned = start
            for index in 0 ..< edges {
                level.toggle()
                try chip.setContact(line: line, active: level, at: planned)
                if index < edges - 1, interval > 0 {
                    planned += UInt64(interval) * 1000
                    try await sleepUntil(monotonic: planned)
                }
            }
            if level != final {
                planned += UInt64(interval) * 1000
                if interval > 0 { try await sleepUntil(monotonic: planned) }
                try chip.setContact(line: line, active: final, at: planned)
            }
        case "overflow":
            try chip.dropEdges(line: line, count: UInt64(try number("lost", default: 100, in: 1 ... 1_000_000)))
        case "wiring":
            let name = query["fault"] ?? ""
            guard name == "none" || VirtualChip.WiringFault(rawValue: name) != nil else {
                throw SimError.badRequest("query 'fault' must be \((VirtualChip.WiringFault.allCases.map(\.rawValue) + ["none"]).joined(separator: ", "))")
            }
            try chip.setWiring(line: line, fault: VirtualChip.WiringFault(rawValue: name))
        default:
            throw SimError.badRequest("unknown action '\(action)': use press, release, click, hold, bounce, overflow or wiring")
        }
    }

    struct ActionResult: Encodable {
        var ok: Bool
        var line: Int
        var name: String?
        var active: Bool
    }

    /// Sleeps until `CLOCK_MONOTONIC` reads `instant` (ns); returns at once if it already does.
    private func sleepUntil(monotonic instant: UInt64) async throws {
        let now = VirtualChip.monotonicNow()
        if instant > now { try await Task.sleep(nanoseconds: instant - now) }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    static func error(_ message: String) -> String {
        json(["ok": "false", "error": message]).replacingOccurrences(of: #""ok":"false""#, with: #""ok":false"#)
    }

    static func query(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard let key = kv.first else { continue }
            result[String(key).removingPercentEncoding ?? String(key)] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
        return result
    }
}

/// Runs `body` until graceful shutdown; the shutdown ends it normally rather than as a failure
/// that would cancel the whole service group.
public func untilGracefulShutdown(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do { try await cancelWhenGracefulShutdown(body) } catch is CancellationError {}
}
