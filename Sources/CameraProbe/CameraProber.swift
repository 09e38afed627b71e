#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ParkGuardCore
import SocketIO

/// A camera's user name and password (read from its password file; never logged).
public struct CameraCredentials: Sendable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// Probes one camera over the network: TCP connect, RTSP OPTIONS and DESCRIBE (and, when asked,
/// the video flow check), ONVIF, HTTP snapshot, each step bounded by its timeout. What the results mean is the core's business
/// (``CameraHealthTracker``); this type only measures.
public struct CameraProber: Sendable {
    public var connectTimeout: Duration
    public var stepTimeout: Duration
    /// Largest snapshot accepted.
    public var snapshotLimit: Int
    /// The wall clock (injected so tests can fake a drifting unit clock).
    public var wallClock: @Sendable () -> WallTime
    /// Each camera's last Digest challenges, answered up front on the next probe.
    let digests = DigestChallenges()

    public init(connectTimeout: Duration, stepTimeout: Duration, snapshotLimit: Int = 8 << 20,
                wallClock: @escaping @Sendable () -> WallTime = { WallTime(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)) }) {
        self.connectTimeout = connectTimeout
        self.stepTimeout = stepTimeout
        self.snapshotLimit = snapshotLimit
        self.wallClock = wallClock
    }

    /// Runs every configured step of `camera`; the flow check too when `flowCheck` is set and the
    /// camera has one configured.
    public func probe(_ camera: CameraConfig, credentials: CameraCredentials?, flowCheck: Bool = false) async -> CameraProbeReport {
        var report = CameraProbeReport()
        if let rtsp = camera.rtsp {
            do {
                let connection = try await RTSPConnection.open(host: camera.host, port: rtsp.port, timeout: connectTimeout)
                report.connect = .success(connection.connectTime)
                report.rtsp = await describe(connection, host: camera.host, endpoint: rtsp, credentials: credentials)
                if flowCheck, let check = camera.flowCheck, case .success(let described)? = report.rtsp, described.sdp.offersVideo {
                    report.flow = await flow(connection, host: camera.host, port: rtsp.port, described: described, check: check,
                                             credentials: credentials)
                }
                connection.close()
            } catch {
                report.connect = .failure(error)
                return report
            }
        } else if let port = camera.onvif?.port ?? camera.snapshot?.port {
            do {
                let (socket, time) = try await ProbeTransport.connect(host: camera.host, port: port, timeout: connectTimeout)
                socket.shutdown()
                report.connect = .success(time)
            } catch {
                report.connect = .failure(error)
                return report
            }
        }
        // One HTTP connection per port for the probe's ONVIF calls and snapshot requests.
        var connections: [Int: HTTPConnection] = [:]
        func http(_ port: Int) -> HTTPConnection {
            if let open = connections[port] { return open }
            let connection = HTTPConnection(host: camera.host, port: port, connectTimeout: connectTimeout)
            connections[port] = connection
            return connection
        }
        if let onvif = camera.onvif {
            report.onvif = await onvifCheck(http(onvif.port), endpoint: onvif, credentials: credentials)
        }
        if let snapshot = camera.snapshot {
            report.snapshot = await snapshotCheck(http(snapshot.port), endpoint: snapshot, credentials: credentials)
        }
        for connection in connections.values { connection.close() }
        return report
    }

    // MARK: RTSP

    /// An RTSP request with credentials as the camera asks for them: the last Digest challenge
    /// answered up front, a 401 answered once with its new challenge. `elapsed` counts from the
    /// request that was answered.
    private func authorized(_ connection: RTSPConnection, _ method: String, uri: String, headers: [(String, String)],
                            key: String, credentials: CameraCredentials?) async throws(StepFailure) -> (RTSPMessage, Duration) {
        func authorization(_ challenge: HTTPAuthentication.Challenge, _ count: Int, _ credentials: CameraCredentials) -> (String, String) {
            ("Authorization", HTTPAuthentication.authorization(
                for: challenge, method: method, uri: uri, username: credentials.username, password: credentials.password,
                cnonce: Hashing.base64(Hashing.random(12)), nonceCount: count, md5Hex: Hashing.md5Hex, base64: Hashing.base64))
        }
        let clock = ContinuousClock()
        var started = clock.now
        var first = headers
        if let credentials, let (challenge, count) = digests.next(key) { first.append(authorization(challenge, count, credentials)) }
        var answer = try await connection.exchange(method, uri: uri, headers: first, timeout: stepTimeout)
        if answer.status == 401 {
            digests.forget(key)
            guard let credentials else { throw StepFailure(.authFailed("\(method) needs credentials and none are configured")) }
            guard let challenge = HTTPAuthentication.preferred(answer.headers("WWW-Authenticate")) else {
                throw StepFailure(.authFailed("\(method) answered 401 without a usable Basic or Digest challenge"))
            }
            started = clock.now
            answer = try await connection.exchange(method, uri: uri, headers: headers + [authorization(challenge, 1, credentials)],
                                                   timeout: stepTimeout)
            if answer.status == 401 { throw StepFailure(.authFailed("the camera refused the credentials for \(method)")) }
            digests.remember(key, challenge)
        }
        return (answer, clock.now - started)
    }

    func describe(_ connection: RTSPConnection, host: String, endpoint: CameraConfig.Endpoint,
                  credentials: CameraCredentials?) async -> Result<CameraProbeReport.RTSPFindings, StepFailure> {
        let uri = "rtsp://\(host.contains(":") ? "[\(host)]" : host):\(endpoint.port)\(endpoint.path)"
        do throws(StepFailure) {
            let options = try await connection.exchange("OPTIONS", uri: uri, headers: [], timeout: stepTimeout)
            if options.status != 200, options.status != 401 {
                throw StepFailure(.protocolError("OPTIONS answered \(options.status ?? 0) \(reason(options))"))
            }
            let (answer, elapsed) = try await authorized(connection, "DESCRIBE", uri: uri, headers: [("Accept", "application/sdp")],
                                                         key: Self.digestKey(host, endpoint.port, credentials), credentials: credentials)
            guard answer.status == 200 else {
                throw StepFailure(.protocolError("DESCRIBE answered \(answer.status ?? 0) \(reason(answer))"))
            }
            guard let text = String(validating: answer.body, as: UTF8.self), !answer.body.isEmpty else {
                throw StepFailure(.protocolError("DESCRIBE answered 200 without a text session description"))
            }
            let base = (answer.header("Content-Base") ?? answer.header("Content-Location")).map { String($0.prefix(512)) } ?? uri
            do {
                return .success(.init(describeTime: elapsed, sdp: try SDPSummary.parse(text), base: base))
            } catch {
                throw StepFailure(.protocolError("bad session description: \(error)"))
            }
        } catch {
            return .failure(error)
        }
    }

    /// One Digest challenge per RTSP server and user (an NVR serves many cameras on one port;
    /// DESCRIBE, SETUP and PLAY of one probe share it).
    static func digestKey(_ host: String, _ port: Int, _ credentials: CameraCredentials?) -> String {
        "rtsp \(host) \(port) \(credentials?.username ?? "")"
    }

    /// The flow check: SETUP of the video stream over interleaved TCP, PLAY, RTP counted for at
    /// most `check.listen` and `check.maxBytes`, TEARDOWN.
    func flow(_ connection: RTSPConnection, host: String, port: Int, described: CameraProbeReport.RTSPFindings,
              check: CameraConfig.FlowCheck, credentials: CameraCredentials?) async -> Result<VideoFlowFindings, StepFailure> {
        let key = Self.digestKey(host, port, credentials)
        let track = SDPSummary.resolve(described.sdp.videoControl, base: described.base)
        let aggregate = SDPSummary.resolve(described.sdp.sessionControl, base: described.base)
        do throws(StepFailure) {
            for uri in [track, aggregate] where !Self.isRequestURI(uri) {
                throw StepFailure(.protocolError("the description's control URI '\(uri.prefix(80))' cannot be requested"))
            }
            let (setup, _) = try await authorized(connection, "SETUP", uri: track,
                                                  headers: [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")], key: key, credentials: credentials)
            guard setup.status == 200 else { throw StepFailure(.protocolError("SETUP answered \(setup.status ?? 0) \(reason(setup))")) }
            guard let session = setup.header("Session")?.split(separator: ";").first?.trimmingWhitespace, !session.isEmpty,
                  session.count <= 256, session.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw StepFailure(.protocolError("SETUP answered without a usable Session header"))
            }
            let channel = Self.interleavedChannel(setup.header("Transport"))
            guard let channel else { throw StepFailure(.protocolError("SETUP did not agree to interleaved TCP: Transport '\((setup.header("Transport") ?? "").prefix(80))'")) }
            let (play, _) = try await authorized(connection, "PLAY", uri: aggregate, headers: [("Session", session), ("Range", "npt=0.000-")],
                                                 key: key, credentials: credentials)
            guard play.status == 200 else { throw StepFailure(.protocolError("PLAY answered \(play.status ?? 0) \(reason(play))")) }
            let started = ContinuousClock.now
            let findings = try await connection.listen(channel: channel, started: started, deadline: started + check.listen, maxBytes: check.maxBytes)
            if !findings.closedByCamera {
                await connection.send("TEARDOWN", uri: aggregate, headers: [("Session", session)], timeout: .milliseconds(200))
            }
            return .success(findings)
        } catch {
            return .failure(error)
        }
    }

    /// The RTP channel of a SETUP answer's `Transport` (`interleaved=N-M`), `nil` when the camera
    /// did not agree to interleaved TCP.
    static func interleavedChannel(_ transport: String?) -> UInt8? {
        guard let transport, transport.contains("TCP") else { return nil }
        for parameter in transport.split(separator: ";") where parameter.trimmingWhitespace.hasPrefix("interleaved=") {
            let value = parameter.trimmingWhitespace.dropFirst("interleaved=".count)
            return UInt8(value.split(separator: "-").first ?? "")
        }
        return 0
    }

    /// Whether `uri` can stand in a request line: `rtsp://` and no spaces or control characters.
    static func isRequestURI(_ uri: String) -> Bool {
        uri.lowercased().hasPrefix("rtsp://") && uri.utf8.count <= 1024 && uri.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    private func reason(_ message: RTSPMessage) -> String {
        if case .response(_, let reason) = message.start { return String(reason.prefix(60)) }
        return ""
    }

    // MARK: ONVIF

    func onvifCheck(_ http: HTTPConnection, endpoint: CameraConfig.Endpoint, credentials: CameraCredentials?) async -> Result<CameraProbeReport.ONVIFFindings, StepFailure> {
        do throws(StepFailure) {
            let (offset, elapsed) = try await cameraClock(http, path: endpoint.path, credentials: credentials)
            var findings = CameraProbeReport.ONVIFFindings(clockOffset: offset, responseTime: elapsed)
            if let credentials {
                let token = usernameToken(credentials, offset: offset)
                do throws(StepFailure) {
                    let info = try await soap(http, endpoint: endpoint, action: "GetDeviceInformation",
                                              body: ONVIF.getDeviceInformation(token: token))
                    let text = try soapText(info, call: "GetDeviceInformation")
                    guard let device = ONVIF.deviceInformation(in: text) else {
                        throw StepFailure(.protocolError("GetDeviceInformation answer has no device fields"))
                    }
                    findings.deviceInformation = .success(device)
                } catch {
                    findings.deviceInformation = .failure(error)
                }
            }
            return .success(findings)
        } catch {
            return .failure(error)
        }
    }

    /// The camera's clock minus ours (`GetSystemDateAndTime`, taken at the middle of the exchange)
    /// and how long the answer took. Asked without a token, as ONVIF allows; a camera that wants
    /// one even for this is asked again with a token in the unit's own clock.
    func cameraClock(_ http: HTTPConnection, path: String, credentials: CameraCredentials?) async throws(StepFailure) -> (offset: Duration, elapsed: Duration) {
        for signed in [false, true] {
            let token = signed ? credentials.map { usernameToken($0, offset: .zero) } : nil
            let before = wallClock()
            let answer = try await soap(http, path: path, action: "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime",
                                        body: ONVIF.signed("<tds:GetSystemDateAndTime/>", token: token))
            let after = wallClock()
            let text: String
            do { text = try soapText(answer, call: "GetSystemDateAndTime") } catch {
                if !signed, credentials != nil, case .authFailed = error.failure { continue }
                throw error
            }
            let cameraTime: WallTime
            do { cameraTime = try ONVIF.utcDateTime(in: text) } catch { throw StepFailure(.protocolError("GetSystemDateAndTime: \(error)")) }
            let middle = (before.millisecondsSinceEpoch + after.millisecondsSinceEpoch) / 2
            return (.milliseconds(cameraTime.millisecondsSinceEpoch - middle), answer.elapsed)
        }
        throw StepFailure(.authFailed("GetSystemDateAndTime: refused with and without a token"))
    }

    /// A WS-UsernameToken whose `Created` is in the camera's clock (ours plus `offset`), so a
    /// drifting unit clock does not fail the digest.
    /// The first steps of every ONVIF discovery (the PTZ move's, the picture's): the camera's
    /// clock offset (`GetSystemDateAndTime`) and the paths of its media and PTZ services
    /// (`GetCapabilities`, signed in the camera's clock).
    func onvifServices(_ http: HTTPConnection, path: String, credentials: CameraCredentials?) async throws(StepFailure)
        -> (offset: Duration, media: String?, ptz: String?) {
        let (offset, _) = try await cameraClock(http, path: path, credentials: credentials)
        let capabilities = try soapText(
            try await soap(http, path: path, action: "http://www.onvif.org/ver10/device/wsdl/GetCapabilities",
                           body: ONVIFPTZ.getCapabilities(token: credentials.map { usernameToken($0, offset: offset) })), call: "GetCapabilities")
        let paths = ONVIFPTZ.servicePaths(in: capabilities)
        return (offset, paths.media, paths.ptz)
    }

    /// The media service's `GetProfilesResponse`, signed in the camera's clock.
    func onvifProfiles(_ http: HTTPConnection, mediaPath: String, credentials: CameraCredentials?, offset: Duration) async throws(StepFailure) -> String {
        try soapText(try await soap(http, path: mediaPath, action: "http://www.onvif.org/ver10/media/wsdl/GetProfiles",
                                    body: ONVIFPTZ.getProfiles(token: credentials.map { usernameToken($0, offset: offset) })), call: "GetProfiles")
    }

    func usernameToken(_ credentials: CameraCredentials, offset: Duration) -> ONVIF.UsernameToken {
        let created = WallTime(millisecondsSinceEpoch: wallClock().millisecondsSinceEpoch + Int64(CameraHealthTracker.ms(offset))).rfc3339
        return ONVIF.UsernameToken(username: credentials.username, password: credentials.password, nonce: Hashing.random(16),
                                   created: created, sha1: Hashing.sha1, base64: Hashing.base64)
    }

    private func soap(_ http: HTTPConnection, endpoint: CameraConfig.Endpoint, action: String, body: String) async throws(StepFailure) -> HTTPAnswer {
        try await soap(http, path: endpoint.path, action: "http://www.onvif.org/ver10/device/wsdl/\(action)", body: body)
    }

    /// A SOAP 1.2 call to the service at `path`; `action` is the operation's full action URI.
    func soap(_ http: HTTPConnection, path: String, action: String, body: String) async throws(StepFailure) -> HTTPAnswer {
        try await http.request(
            method: "POST", path: path,
            headers: [("Content-Type", "application/soap+xml; charset=utf-8; action=\"\(action)\"")],
            body: Array(body.utf8), timeout: stepTimeout, limit: 256 << 10)
    }

    func soapText(_ answer: HTTPAnswer, call: String) throws(StepFailure) -> String {
        guard let text = String(validating: answer.body, as: UTF8.self) else { throw StepFailure(.protocolError("\(call): answer is not UTF-8")) }
        if let fault = ONVIF.fault(in: text) {
            // Some cameras answer a refused token with HTTP 401 and a fault coded `Receiver`.
            let refused = fault.isNotAuthorized || answer.status == 401
            throw StepFailure(refused ? .authFailed("\(call): \(fault)") : .protocolError("\(call) fault: \(fault)"))
        }
        if answer.status == 401 { throw StepFailure(.authFailed("\(call): HTTP 401")) }
        guard answer.status == 200 else { throw StepFailure(.protocolError("\(call): HTTP \(answer.status)")) }
        return text
    }

    // MARK: Snapshot

    func snapshotCheck(_ http: HTTPConnection, endpoint: CameraConfig.Endpoint, credentials: CameraCredentials?) async -> Result<CameraProbeReport.SnapshotFindings, StepFailure> {
        do throws(StepFailure) {
            let (body, elapsed) = try await fetchSnapshot(http, endpoint: endpoint, credentials: credentials)
            let info: JPEGInfo
            do { info = try JPEGInfo.read(body) } catch { throw StepFailure(.protocolError("\(error)")) }
            let thumbnail: JPEGCodec.GreyImage
            do { thumbnail = try JPEGCodec.decodeThumbnail(body) } catch { throw StepFailure(.protocolError("\(error)")) }
            return .success(.init(width: info.width, height: info.height, bytes: body.count, meanLuma: thumbnail.meanLuma,
                                  thumbnail: thumbnail.pixels, responseTime: elapsed))
        } catch {
            return .failure(error)
        }
    }

    /// GETs the snapshot, with credentials as the camera asks for them (Basic or Digest, a
    /// Digest challenge answered up front when one is remembered); the body of a `200`, at most
    /// `snapshotLimit` bytes.
    func fetchSnapshot(_ http: HTTPConnection, endpoint: CameraConfig.Endpoint, credentials: CameraCredentials?) async throws(StepFailure) -> (body: [UInt8], elapsed: Duration) {
            let key = "http \(http.host):\(http.port)\(endpoint.path)"
            var first: [(String, String)] = []
            if let credentials, let (challenge, count) = digests.next(key) {
                first.append(("Authorization", HTTPAuthentication.authorization(
                    for: challenge, method: "GET", uri: endpoint.path, username: credentials.username, password: credentials.password,
                    cnonce: Hashing.base64(Hashing.random(12)), nonceCount: count, md5Hex: Hashing.md5Hex, base64: Hashing.base64)))
            }
            var answer = try await http.request(method: "GET", path: endpoint.path, headers: first, timeout: stepTimeout, limit: snapshotLimit)
            var elapsed = answer.elapsed
            if answer.status == 401 {
                digests.forget(key)
                guard let credentials else { throw StepFailure(.authFailed("snapshot needs credentials and none are configured")) }
                guard let challenge = HTTPAuthentication.preferred(answer.headers("WWW-Authenticate")) else {
                    throw StepFailure(.authFailed("snapshot answered 401 without a usable Basic or Digest challenge"))
                }
                let authorization = HTTPAuthentication.authorization(
                    for: challenge, method: "GET", uri: endpoint.path, username: credentials.username, password: credentials.password,
                    cnonce: Hashing.base64(Hashing.random(12)), nonceCount: 1, md5Hex: Hashing.md5Hex, base64: Hashing.base64)
                answer = try await http.request(method: "GET", path: endpoint.path, headers: [("Authorization", authorization)],
                                                timeout: stepTimeout, limit: snapshotLimit)
                elapsed = answer.elapsed
                if answer.status == 401 { throw StepFailure(.authFailed("the camera refused the credentials for the snapshot")) }
                digests.remember(key, challenge)
            }
            guard answer.status == 200 else { throw StepFailure(.protocolError("snapshot answered HTTP \(answer.status)")) }
            return (answer.body, elapsed)
    }
}

/// The Digest challenges each camera last sent, per endpoint, so the next probe answers one
/// before being asked: the nonce is used again with a higher count (RFC 7616 §3.4), which saves
/// the `401` round trip of every probe. A camera that no longer takes the nonce answers `401`
/// with a new challenge, and the probe goes on as without it. Basic challenges are never
/// answered up front (that would send the password to whoever answers the port). Bounded: one
/// entry per configured endpoint, and a nonce is used at most 1,000 times.
final class DigestChallenges: Sendable {
    private let entries = Locked<[String: (challenge: HTTPAuthentication.DigestChallenge, count: Int)]>([:])

    /// The challenge to answer up front and its nonce count, if there is one.
    func next(_ key: String) -> (HTTPAuthentication.Challenge, Int)? {
        entries.withLock { entries in
            guard var entry = entries[key], entry.count < 1000 else { return nil }
            entry.count += 1
            entries[key] = entry
            return (.digest(entry.challenge), entry.count)
        }
    }

    /// A challenge just answered successfully with nonce count 1.
    func remember(_ key: String, _ challenge: HTTPAuthentication.Challenge) {
        entries.withLock { entries in
            if case .digest(let digest) = challenge { entries[key] = (digest, 1) } else { entries[key] = nil }
        }
    }

    func forget(_ key: String) { _ = entries.withLock { $0.removeValue(forKey: key) } }
}
