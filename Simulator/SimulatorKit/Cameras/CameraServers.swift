import CameraProbe
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ParkGuardCore
import ServiceLifecycle

/// Serves every simulated camera on loopback: RTSP on its RTSP port, ONVIF and the JPEG snapshot
/// on its HTTP port(s). A camera with the `offline` fault has its ports closed until it is cleared.
public struct CameraServers: Service {
    let cameras: [VirtualCamera]
    let host: String
    let logger: Logger
    let ready: @Sendable () -> Void

    public init(cameras: [VirtualCamera], host: String = "127.0.0.1", logger: Logger, ready: @escaping @Sendable () -> Void = {}) {
        self.cameras = cameras
        self.host = host
        self.logger = logger
        self.ready = ready
    }

    public func run() async throws {
        try await untilGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                let bound = Counter(cameras.count)
                for camera in cameras {
                    group.addTask { try await serve(camera) { if bound.decrement() { ready() } } }
                }
                if cameras.isEmpty { ready() }
            }
        }
    }

    /// Binds the camera's ports while it is not offline; unbinds them while it is.
    private func serve(_ camera: VirtualCamera, bound: @escaping @Sendable () -> Void) async throws {
        var first = true
        while !Task.isCancelled {
            if camera.has(.offline) {
                if first { bound(); first = false }
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            var servers: [any Channel] = []
            do {
                if let rtsp = camera.rtsp {
                    servers.append(try await RTSPCameraServer.bind(camera, host: host, port: rtsp.port, logger: logger))
                }
                var httpPorts = Set<Int>()
                if let port = camera.onvif?.port { httpPorts.insert(port) }
                if let port = camera.snapshot?.port { httpPorts.insert(port) }
                for port in httpPorts.sorted() {
                    servers.append(try await HTTPCameraServer.bind(camera, host: host, port: port, logger: logger))
                }
            } catch {
                // A port in use must not take the other cameras (or the GPIO chip) down: this
                // camera stays unreachable, as a real one whose address is taken, and retries.
                for server in servers { try? await server.close() }
                logger.error("camera cannot listen; retrying in 1 s", metadata: ["camera": "\(camera.id)", "error": "\(error)"])
                if first { bound(); first = false }
                try await Task.sleep(for: .seconds(1))
                continue
            }
            if first { bound(); first = false }
            await withTaskCancellationHandler {
                while !Task.isCancelled, !camera.has(.offline) {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            } onCancel: {}
            for server in servers { try? await server.close() }
        }
    }
}

/// Counts down to zero once.
final class Counter: Sendable {
    private let value: Locked<Int>
    init(_ start: Int) { value = Locked(start) }
    /// Whether this call reached zero.
    func decrement() -> Bool { value.withLock { $0 -= 1; return $0 == 0 } }
}

// MARK: RTSP

enum RTSPCameraServer {
    static func bind(_ camera: VirtualCamera, host: String, port: Int, logger: Logger) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RTSPCameraHandler(camera: camera)) }
            }
            .bind(host: host, port: port).get()
    }
}

/// One RTSP connection to a simulated camera: OPTIONS, DESCRIBE, and one video session (SETUP
/// over interleaved TCP, PLAY, TEARDOWN) whose RTP/JPEG frames go on the same connection.
final class RTSPCameraHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let camera: VirtualCamera
    private var buffer: [UInt8] = []
    /// The session SETUP made: its id and interleaved RTP channel.
    private var session: (id: String, channel: UInt8)?
    private var streaming: RepeatedTask?

    init(camera: VirtualCamera) { self.camera = camera }

    func channelActive(context: ChannelHandlerContext) {
        if camera.has(.refuse) || camera.dropsRTSPConnection() {
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        streaming?.cancel()
        streaming = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer += bytes.readBytes(length: bytes.readableBytes) ?? []
        while true {
            // A client may send RTCP receiver reports on the interleaved channels: skip them.
            if buffer.first == UInt8(ascii: "$") {
                guard buffer.count >= 4 else { return }
                let length = 4 + (Int(buffer[2]) << 8 | Int(buffer[3]))
                guard buffer.count >= length else { return }
                buffer.removeFirst(length)
                continue
            }
            let outcome: RTSPParser.Outcome
            do { outcome = try RTSPParser.parse(buffer) } catch {
                respond(context, RTSPMessage(start: .response(status: 400, reason: "Bad Request"), headers: [("Content-Type", "text/plain")],
                                             body: Array("\(error)\n".utf8)), close: true)
                return
            }
            guard case .message(let request, let consumed) = outcome else { return }
            buffer.removeFirst(consumed)
            respond(context, answer(request, context), close: false)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    private func answer(_ request: RTSPMessage, _ context: ChannelHandlerContext) -> RTSPMessage {
        let cseq = request.header("CSeq") ?? "0"
        func reply(_ status: Int, _ reason: String, _ headers: [(String, String)] = [], body: String = "") -> RTSPMessage {
            RTSPMessage(start: .response(status: status, reason: reason),
                        headers: [(name: "CSeq", value: cseq), (name: "Server", value: "parkguard-sim camera")] + headers.map { (name: $0.0, value: $0.1) },
                        body: Array(body.utf8))
        }
        guard case .request(let method, let uri) = request.start else { return reply(400, "Bad Request") }
        if ["DESCRIBE", "SETUP", "PLAY"].contains(method), !camera.authorized(request.header("Authorization"), method: method) {
            return reply(401, "Unauthorized", [("WWW-Authenticate", camera.challenge())])
        }
        switch method {
        case "OPTIONS":
            return reply(200, "OK", [("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER")])
        case "DESCRIBE":
            return reply(200, "OK", [("Content-Base", uri.hasSuffix("/") ? uri : uri + "/"), ("Content-Type", "application/sdp")],
                         body: camera.sessionDescription(uri: uri))
        case "SETUP":
            guard session == nil else { return reply(459, "Aggregate Operation Not Allowed") }
            guard uri.hasSuffix("/trackID=0") else { return reply(404, "Not Found") }
            // Video only over the RTSP connection (interleaved TCP), as many cameras behind NAT are used.
            let transport = request.header("Transport") ?? ""
            guard transport.contains("RTP/AVP/TCP"),
                  let channel = transport.split(separator: ";").first(where: { $0.hasPrefix("interleaved=") })
                      .flatMap({ UInt8($0.dropFirst("interleaved=".count).split(separator: "-").first ?? "") }), channel < 254 else {
                return reply(461, "Unsupported Transport")
            }
            let id = String(UInt32.random(in: 0x1000_0000 ... 0xFFFF_FFFF), radix: 16)
            session = (id, channel)
            return reply(200, "OK", [("Session", "\(id);timeout=60"),
                                     ("Transport", "RTP/AVP/TCP;unicast;interleaved=\(channel)-\(channel + 1);ssrc=1A2B3C4D;mode=play")])
        case "PLAY":
            guard let session, request.header("Session")?.split(separator: ";").first.map(String.init) == session.id else {
                return reply(454, "Session Not Found")
            }
            camera.countPlay()
            if streaming == nil { startStream(context, channel: session.channel) }
            return reply(200, "OK", [("Session", session.id), ("Range", "npt=0.000-"),
                                     ("RTP-Info", "url=\(uri.hasSuffix("/") ? uri : uri + "/")trackID=0;seq=0;rtptime=0")])
        case "TEARDOWN":
            guard let session, request.header("Session")?.split(separator: ";").first.map(String.init) == session.id else {
                return reply(454, "Session Not Found")
            }
            streaming?.cancel()
            streaming = nil
            self.session = nil
            return reply(200, "OK")
        case "GET_PARAMETER":
            return reply(200, "OK")
        default:
            return reply(501, "Not Implemented")
        }
    }

    /// Sends the camera's video loop as RTP/JPEG on `channel`, ``VirtualCamera/framesPerSecond``
    /// frames a second, after PLAY's answer (which a `slow` camera delays). `noRtp` sends
    /// nothing; `rtpStops` stops after a few frames; a client that does not read loses frames.
    private func startStream(_ context: ChannelHandlerContext, channel number: UInt8) {
        let channel = context.channel
        let camera = camera
        let loop = VirtualCamera.videoLoop
        guard !loop.isEmpty else { return }
        let start = camera.has(.slow) ? Int64(camera.settings.delayMs) + 5 : 5
        let counters = Locked((sequence: UInt16.random(in: 0 ... .max), frame: 0))
        let ssrc: UInt32 = 0x1A2B_3C4D
        streaming = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(start),
                                                           delay: .milliseconds(Int64(1000 / VirtualCamera.framesPerSecond))) { task in
            if camera.has(.noRtp) { return }
            guard channel.isActive else { return task.cancel() }
            let packets = counters.withLock { state -> [[UInt8]]? in
                if camera.has(.rtpStops), state.frame >= VirtualCamera.framesBeforeStop { return nil }
                defer { state.frame += 1 }
                guard channel.isWritable else { return [] }
                return RTPJPEG.packets(loop[state.frame % loop.count], sequence: &state.sequence,
                                       timestamp: UInt32(truncatingIfNeeded: state.frame * 90_000 / VirtualCamera.framesPerSecond), ssrc: ssrc)
            }
            guard let packets else { return task.cancel() }
            for packet in packets {
                var framed = channel.allocator.buffer(capacity: packet.count + 4)
                framed.writeBytes([UInt8(ascii: "$"), number, UInt8(packet.count >> 8), UInt8(packet.count & 0xFF)])
                framed.writeBytes(packet)
                channel.write(framed, promise: nil)
            }
            channel.flush()
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ message: RTSPMessage, close: Bool) {
        let channel = context.channel
        var bytes = message.encoded()
        if camera.has(.garbage) { bytes = Hashing.random(bytes.count).map { $0 == 0x52 ? 0x00 : $0 } }
        let stall = camera.has(.stall)
        if stall { bytes = Array(bytes.prefix(bytes.count / 2)) }
        let reply = bytes
        let delay = camera.has(.slow) ? Int64(camera.settings.delayMs) : 0
        let send: @Sendable () -> Void = {
            channel.writeAndFlush(ByteBuffer(bytes: reply), promise: nil)
            if close, !stall { channel.close(promise: nil) }
        }
        if delay > 0 { context.eventLoop.scheduleTask(in: .milliseconds(delay), send) } else { send() }
    }
}

// MARK: HTTP (ONVIF and snapshot)

enum HTTPCameraServer {
    static func bind(_ camera: VirtualCamera, host: String, port: Int, logger: Logger) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPCameraHandler(camera: camera, port: port))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// One HTTP connection to a simulated camera: `POST` ONVIF calls and `GET` the snapshot.
final class HTTPCameraHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let camera: VirtualCamera
    let port: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// The client asked to keep the connection (HTTP/1.1 without `Connection: close`), as real
    /// cameras allow: the next request may come on it.
    private var keepAlive = false

    init(camera: VirtualCamera, port: Int) {
        self.camera = camera
        self.port = port
    }

    func channelActive(context: ChannelHandlerContext) {
        if camera.has(.refuse) { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            keepAlive = requestHead.isKeepAlive
            body = []
        case .body(var chunk):
            if body.count < 1 << 20 { body += chunk.readBytes(length: chunk.readableBytes) ?? [] }
        case .end:
            guard let head else { return }
            // No answer at all: a PTZ head that hangs (`ptzTimeout`).
            guard let (status, headers, payload) = answer(head) else { return }
            send(context, status: status, headers: headers, body: payload)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    /// The media and PTZ services' paths, beside the device service on the ONVIF port.
    static let mediaPath = "/onvif/media_service", ptzPath = "/onvif/ptz_service", snapshotPath = "/onvif/snapshot.jpg"

    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, [(String, String)], [UInt8])? {
        let path = String(head.uri.split(separator: "?").first ?? "")
        if let onvif = camera.onvif, onvif.port == port, [onvif.path, Self.mediaPath, Self.ptzPath].contains(path) {
            guard head.method == .POST else { return (.methodNotAllowed, [("Allow", "POST")], []) }
            return onvifAnswer()
        }
        // The configured snapshot, and the one `GetSnapshotUri` names on the ONVIF port.
        let configured = camera.snapshot.map { $0.port == port && path == $0.path } ?? false
        if configured || camera.onvif?.port == port && path == Self.snapshotPath {
            guard head.method == .GET || head.method == .HEAD else { return (.methodNotAllowed, [("Allow", "GET")], []) }
            guard camera.authorized(head.headers["Authorization"].first, method: head.method.rawValue) else {
                return (.unauthorized, [("WWW-Authenticate", camera.challenge())], [])
            }
            return (.ok, [("Content-Type", "image/jpeg"), ("Cache-Control", "no-store")], camera.snapshotImage())
        }
        return (.notFound, [("Content-Type", "text/plain")], Array("no such path on camera \(camera.id)\n".utf8))
    }

    private func onvifAnswer() -> (HTTPResponseStatus, [(String, String)], [UInt8])? {
        let text = String(decoding: body, as: UTF8.self)
        let soap = [("Content-Type", "application/soap+xml; charset=utf-8")]
        if XMLElementText.first("GetSystemDateAndTime", in: text) != nil {
            return (.ok, soap, Array(Self.envelope(dateTime(camera.clock())).utf8))
        }
        if let ptz = ptzAnswer(text) { return ptz.map { ($0.0, soap, Array(Self.envelope($0.1).utf8)) } }
        if XMLElementText.first("GetDeviceInformation", in: text) != nil {
            guard usernameTokenValid(text) else {
                return (.badRequest, soap, Array(Self.envelope(Self.notAuthorized).utf8))
            }
            return (.ok, soap, Array(Self.envelope("""
                <tds:GetDeviceInformationResponse><tds:Manufacturer>ParkGuard</tds:Manufacturer>\
                <tds:Model>Simulated Camera</tds:Model><tds:FirmwareVersion>\(ParkGuardVersion.current)</tds:FirmwareVersion>\
                <tds:SerialNumber>SIM-\(camera.id)</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId>\
                </tds:GetDeviceInformationResponse>
                """).utf8))
        }
        return (.badRequest, soap, Array(Self.envelope("""
            <s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:ActionNotSupported</s:Value></s:Subcode></s:Code>\
            <s:Reason><s:Text xml:lang="en">The simulator answers GetSystemDateAndTime, GetDeviceInformation, GetCapabilities, GetServices, GetProfiles, GetSnapshotUri, GetPresets, GotoPreset and GetStatus only</s:Text></s:Reason></s:Fault>
            """).utf8))
    }

    /// The capabilities, media and PTZ calls: `nil` when `text` is none of them; an inner `nil`
    /// for no answer at all.
    private func ptzAnswer(_ text: String) -> (HTTPResponseStatus, String)?? {
        let base = "http://127.0.0.1:\(port)"
        let preAuth = ["GetCapabilities", "GetServices"]
        let signed = ["GetProfiles", "GetPresets", "GotoPreset", "GetStatus", "GetSnapshotUri"]
        guard let call = (preAuth + signed).first(where: { XMLElementText.first($0, in: text) != nil }) else { return nil }
        // A token, when sent, must be right; the media and PTZ calls need one.
        let hasToken = XMLElementText.first("UsernameToken", in: text) != nil
        if (hasToken || signed.contains(call)) && !usernameTokenValid(text) { return .some((.badRequest, Self.notAuthorized)) }
        let ns = #"xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl""#
        switch call {
        case "GetCapabilities":
            return .some((.ok, """
                <tds:GetCapabilitiesResponse><tds:Capabilities>\
                <tt:Device><tt:XAddr>\(base)\(camera.onvif?.path ?? "/onvif/device_service")</tt:XAddr></tt:Device>\
                <tt:Media><tt:XAddr>\(base)\(Self.mediaPath)</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>\
                <tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>\
                <tt:PTZ><tt:XAddr>\(base)\(Self.ptzPath)</tt:XAddr></tt:PTZ></tds:Capabilities></tds:GetCapabilitiesResponse>
                """))
        case "GetServices":
            func service(_ namespace: String, _ path: String) -> String {
                "<tds:Service><tds:Namespace>\(namespace)</tds:Namespace><tds:XAddr>\(base)\(path)</tds:XAddr>"
                    + "<tds:Version><tt:Major>2</tt:Major><tt:Minor>0</tt:Minor></tds:Version></tds:Service>"
            }
            return .some((.ok, "<tds:GetServicesResponse>"
                + service("http://www.onvif.org/ver10/device/wsdl", camera.onvif?.path ?? "/onvif/device_service")
                + service("http://www.onvif.org/ver10/media/wsdl", Self.mediaPath)
                + service("http://www.onvif.org/ver20/ptz/wsdl", Self.ptzPath) + "</tds:GetServicesResponse>"))
        case "GetProfiles":
            return .some((.ok, """
                <trt:GetProfilesResponse \(ns)><trt:Profiles token="profile-1" fixed="true"><tt:Name>main</tt:Name>\
                <tt:PTZConfiguration token="ptz-1"><tt:Name>ptz</tt:Name><tt:UseCount>1</tt:UseCount>\
                <tt:NodeToken>node-1</tt:NodeToken></tt:PTZConfiguration></trt:Profiles></trt:GetProfilesResponse>
                """))
        case "GetSnapshotUri":
            return .some((.ok, """
                <trt:GetSnapshotUriResponse \(ns)><trt:MediaUri><tt:Uri>\(base)\(Self.snapshotPath)</tt:Uri>\
                <tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>\
                <tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>
                """))
        case "GetPresets":
            let presets = camera.presets.map { preset in
                "<tptz:Preset token=\"\(preset.token)\"><tt:Name>\(XMLElementText.escape(preset.name))</tt:Name><tt:PTZPosition>"
                    + "<tt:PanTilt x=\"\(preset.pan)\" y=\"\(preset.tilt)\"/><tt:Zoom x=\"\(preset.zoom)\"/></tt:PTZPosition></tptz:Preset>"
            }.joined()
            return .some((.ok, "<tptz:GetPresetsResponse \(ns)>\(presets)</tptz:GetPresetsResponse>"))
        case "GotoPreset":
            if camera.has(.ptzTimeout) { return .some(nil) }
            if camera.has(.ptzRefuses) { return .some((.badRequest, Self.fault("ter:Receiver", "ter:MovementFailed", "the PTZ head refused to move"))) }
            let token = XMLElementText.first("PresetToken", in: text).map(XMLElementText.plain) ?? ""
            guard camera.gotoPreset(token: token) else {
                return .some((.badRequest, Self.fault("s:Sender", "ter:NoEntity", "no preset with token '\(XMLElementText.escape(String(token.prefix(32))))'")))
            }
            return .some((.ok, "<tptz:GotoPresetResponse \(ns)/>"))
        default:
            let position = camera.ptz
            return .some((.ok, """
                <tptz:GetStatusResponse \(ns)><tptz:PTZStatus><tt:Position><tt:PanTilt x="\(position.pan)" y="\(position.tilt)"/>\
                <tt:Zoom x="\(position.zoom)"/></tt:Position><tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom>\
                </tt:MoveStatus></tptz:PTZStatus></tptz:GetStatusResponse>
                """))
        }
    }

    static func fault(_ code: String, _ subcode: String, _ reason: String) -> String {
        """
        <s:Fault><s:Code><s:Value>\(code)</s:Value><s:Subcode><s:Value>\(subcode)</s:Value></s:Subcode></s:Code>\
        <s:Reason><s:Text xml:lang="en">\(reason)</s:Text></s:Reason></s:Fault>
        """
    }

    /// WS-UsernameToken with PasswordDigest, checked against the camera's password.
    private func usernameTokenValid(_ text: String) -> Bool {
        if camera.has(.auth) { return false }
        guard let username = camera.username, let password = camera.password, camera.authMode != .none else { return true }
        guard XMLElementText.first("Username", in: text).map(XMLElementText.plain) == username,
              let digest = XMLElementText.first("Password", in: text).map(XMLElementText.plain),
              let nonce = XMLElementText.first("Nonce", in: text).map(XMLElementText.plain).flatMap({ Data(base64Encoded: $0) }),
              let created = XMLElementText.first("Created", in: text).map(XMLElementText.plain) else { return false }
        return Hashing.base64(Hashing.sha1(Array(nonce) + Array(created.utf8) + Array(password.utf8))) == digest
    }

    private func dateTime(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return """
            <tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>\
            <tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>\
            <tt:Time><tt:Hour>\(c.hour ?? 0)</tt:Hour><tt:Minute>\(c.minute ?? 0)</tt:Minute><tt:Second>\(c.second ?? 0)</tt:Second></tt:Time>\
            <tt:Date><tt:Year>\(c.year ?? 1970)</tt:Year><tt:Month>\(c.month ?? 1)</tt:Month><tt:Day>\(c.day ?? 1)</tt:Day></tt:Date>\
            </tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>
            """
    }

    static let notAuthorized = """
        <s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value></s:Subcode></s:Code>\
        <s:Reason><s:Text xml:lang="en">Sender not authorized</s:Text></s:Reason></s:Fault>
        """

    static func envelope(_ body: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>\
        <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" \
        xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error"><s:Body>\(body)</s:Body></s:Envelope>
        """
    }

    private func send(_ context: ChannelHandlerContext, status: HTTPResponseStatus, headers extra: [(String, String)], body payload: [UInt8]) {
        var payload = payload
        if camera.has(.garbage) { payload = Hashing.random(max(64, payload.count)) }
        let stall = camera.has(.stall)
        var headers = HTTPHeaders(extra)
        headers.add(name: "Content-Length", value: "\(payload.count)")
        let close = !keepAlive || stall
        if close { headers.add(name: "Connection", value: "close") }
        if stall { payload = Array(payload.prefix(payload.count / 2)) }
        let body = payload
        let channel = context.channel
        let responseHead = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let write: @Sendable () -> Void = {
            let context = bound.value
            context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            if stall {
                context.flush()
            } else {
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in if close { channel.close(promise: nil) } }
            }
        }
        let delay = camera.has(.slow) ? Int64(camera.settings.delayMs) : 0
        if delay > 0 { context.eventLoop.scheduleTask(in: .milliseconds(delay), write) } else { write() }
    }
}
