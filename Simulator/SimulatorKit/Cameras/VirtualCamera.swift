import CameraProbe
import Foundation
import ParkGuardCore

/// A fault a simulated camera can be told to have.
public enum CameraFault: String, Sendable, Codable, CaseIterable {
    /// Every port closed: connections are refused.
    case offline
    /// Connections are accepted and closed at once, without a word.
    case refuse
    /// Every answer is delayed by `delayMs`.
    case slow
    /// Answers stop half way and the connection stays open.
    case stall
    /// Credentials are refused whatever they are.
    case auth
    /// DESCRIBE answers a session description without video.
    case badSdp
    /// Answers are random bytes.
    case garbage
    /// The snapshot is the same image every time.
    case frozen
    /// The snapshot is black (covered lens).
    case black
    /// The ONVIF clock is `driftSeconds` off.
    case drift
    /// Every other RTSP connection is closed at once: a flapping link.
    case flap
    /// PLAY is answered, but no RTP follows: a hung encoder.
    case noRtp
    /// RTP stops after ``VirtualCamera/framesBeforeStop`` frames of each PLAY.
    case rtpStops
    /// `GotoPreset` is answered with a SOAP fault; the camera does not move.
    case ptzRefuses
    /// `GotoPreset` is never answered (the connection stays open); the camera does not move.
    case ptzTimeout
}

/// One simulated camera: its ports, credentials, faults and a moving picture.
public final class VirtualCamera: Sendable {
    /// Settings of a fault that takes a value.
    public struct Settings: Sendable, Codable, Equatable {
        public var delayMs = 1500
        public var driftSeconds = 120
    }

    /// How the camera asks for credentials.
    public enum AuthMode: String, Sendable, Codable { case none, basic, digest }

    /// What the control API shows.
    public struct Info: Sendable, Codable, Equatable {
        public var id: String
        public var rtspPort: Int?
        public var httpPort: Int?
        public var auth: AuthMode
        public var faults: [CameraFault]
        public var settings: Settings
        public var connections: Int
        /// PLAY requests answered (video sessions started).
        public var plays: Int
        /// Where the PTZ head points.
        public var ptz: PTZPosition
    }

    /// The PTZ head: the last preset it went to (by name), its position, how many `GotoPreset`
    /// moved it, and when the last one came (CLOCK_MONOTONIC, ns; the bench times presses by it).
    public struct PTZPosition: Sendable, Codable, Equatable {
        public var preset: String?
        public var pan: Double
        public var tilt: Double
        public var zoom: Double
        public var moves: Int
        public var movedAt: UInt64?
    }

    /// The camera's PTZ presets in order: token ("1", "2", ...), name and position.
    public let presets: [(token: String, name: String, pan: Double, tilt: Double, zoom: Double)]

    public let id: String
    public let rtsp: CameraConfig.Endpoint?
    /// ONVIF and snapshot share one HTTP port when their ports are equal.
    public let onvif: CameraConfig.Endpoint?
    public let snapshot: CameraConfig.Endpoint?
    public let username: String?
    public let password: String?
    let realm: String

    private struct State {
        var faults: Set<CameraFault> = []
        var settings = Settings()
        var auth: AuthMode
        var frame: UInt64 = 0
        var frozenImage: [UInt8]?
        var rtspConnections = 0
        var plays = 0
        var ptz = PTZPosition(preset: nil, pan: 0, tilt: 0, zoom: 0, moves: 0, movedAt: nil)
        var nonce = ""
    }
    private let state: Locked<State>

    /// A picture every snapshot answers with instead of the moving scene (a benchmark's
    /// camera-sized JPEG); `nil` for the scene.
    private let picture: [UInt8]?

    public init(config: CameraConfig, password: String?, auth: AuthMode, presets names: [String] = ["home"], picture: [UInt8]? = nil) {
        self.picture = picture
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }
        presets = unique.enumerated().map { index, name in
            (token: "\(index + 1)", name: name, pan: Double(index % 8) * 0.25 - 1, tilt: index == 0 ? 0 : -0.25, zoom: index == 0 ? 0 : 0.5)
        }
        id = config.id
        rtsp = config.rtsp
        onvif = config.onvif
        snapshot = config.snapshot
        username = config.username
        self.password = password
        realm = "ParkGuard camera \(config.id)"
        state = Locked(State(auth: config.username == nil ? .none : auth, nonce: Hashing.base64(Hashing.random(12))))
    }

    public var info: Info {
        state.withLock { s in
            Info(id: id, rtspPort: rtsp?.port, httpPort: onvif?.port ?? snapshot?.port, auth: s.auth,
                 faults: s.faults.sorted { $0.rawValue < $1.rawValue }, settings: s.settings, connections: s.rtspConnections,
                 plays: s.plays, ptz: s.ptz)
        }
    }

    public func has(_ fault: CameraFault) -> Bool { state.withLock { $0.faults.contains(fault) } }
    public var settings: Settings { state.withLock { $0.settings } }
    public var authMode: AuthMode { state.withLock { $0.auth } }
    var nonce: String { state.withLock { $0.nonce } }

    /// Turns a fault on, with its settings.
    public func inject(_ fault: CameraFault, delayMs: Int? = nil, driftSeconds: Int? = nil) {
        state.withLock { s in
            s.faults.insert(fault)
            if let delayMs { s.settings.delayMs = delayMs }
            if let driftSeconds { s.settings.driftSeconds = driftSeconds }
            if fault == .frozen { s.frozenImage = nil }
        }
    }

    /// Turns one fault off, or all of them.
    public func clear(_ fault: CameraFault? = nil) {
        state.withLock { s in
            if let fault { s.faults.remove(fault) } else { s.faults.removeAll() }
        }
    }

    public func setAuth(_ mode: AuthMode) { state.withLock { $0.auth = username == nil ? .none : mode } }

    /// Turns the head to the preset with `token`; `false` when there is none.
    func gotoPreset(token: String) -> Bool {
        guard let preset = presets.first(where: { $0.token == token }) else { return false }
        state.withLock { s in
            s.ptz = PTZPosition(preset: preset.name, pan: preset.pan, tilt: preset.tilt, zoom: preset.zoom, moves: s.ptz.moves + 1,
                                movedAt: VirtualChip.monotonicNow())
        }
        return true
    }

    public var ptz: PTZPosition { state.withLock { $0.ptz } }

    /// Counts a PLAY.
    func countPlay() { state.withLock { $0.plays += 1 } }

    /// Counts an RTSP connection; with `flap`, whether this one must be dropped.
    func dropsRTSPConnection() -> Bool {
        state.withLock { s in
            s.rtspConnections += 1
            return s.faults.contains(.flap) && s.rtspConnections % 2 == 0
        }
    }

    /// Checks an `Authorization` header for `method`; `true` when no credentials are required.
    func authorized(_ header: String?, method: String) -> Bool {
        let (mode, fault, nonce) = state.withLock { ($0.auth, $0.faults.contains(.auth), $0.nonce) }
        if mode == .none { return !fault }
        guard !fault, let header, let username, let password else { return false }
        if mode == .basic, !header.lowercased().hasPrefix("basic ") { return false }
        if mode == .digest, !header.lowercased().hasPrefix("digest ") { return false }
        return HTTPAuthentication.verify(header, method: method, realm: realm, nonce: nonce, username: username, password: password,
                                         md5Hex: Hashing.md5Hex, base64: Hashing.base64)
    }

    /// The `WWW-Authenticate` header of a 401.
    func challenge() -> String {
        authMode == .basic ? "Basic realm=\"\(realm)\"" : "Digest realm=\"\(realm)\", nonce=\"\(nonce)\", algorithm=MD5, qop=\"auth\""
    }

    /// Frames per second of the RTP stream, and how many frames `rtpStops` lets through.
    public static let framesPerSecond = 10
    public static let framesBeforeStop = 5

    /// The session description DESCRIBE answers: Motion-JPEG over RTP (RFC 2435).
    func sessionDescription(uri: String) -> String {
        let media = has(.badSdp)
            ? "m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:trackID=1\r\n"
            : "m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=framerate:\(Self.framesPerSecond)\r\na=control:trackID=0\r\n"
        return "v=0\r\no=- 1732521600 1 IN IP4 127.0.0.1\r\ns=ParkGuard simulated camera \(id)\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            + "a=control:\(uri)\r\na=range:npt=0-\r\n" + media
    }

    /// The next snapshot: a moving picture, the same picture when frozen, near black when covered.
    public func snapshotImage() -> [UInt8] {
        if let picture { return picture }
        let (frame, frozen, black, cached) = state.withLock { s -> (UInt64, Bool, Bool, [UInt8]?) in
            s.frame += 1
            return (s.frame, s.faults.contains(.frozen), s.faults.contains(.black), s.frozenImage)
        }
        if frozen, !black, let cached { return cached }
        let image = (try? Self.render(frame: frame, black: black)) ?? []
        if frozen { state.withLock { $0.frozenImage = image } }
        return image
    }

    /// The video sent after PLAY: a loop of 20 frames of the moving scene, ready for RTP/JPEG,
    /// made once for all cameras.
    static let videoLoop: [RTPJPEG.Frame] = (1 ... 20).compactMap { frame in
        (try? render(frame: UInt64(frame), black: false, colour: true)).flatMap { try? RTPJPEG.frame($0) }
    }

    /// A grey scene (320×240 unless asked otherwise): a gradient, a bar that moves every frame
    /// and a little noise.
    public static func render(frame: UInt64, black: Bool, colour: Bool = false, width: Int = 320, height: Int = 240) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height)
        var seed = frame &* 6_364_136_223_846_793_005 &+ 1
        let bar = Int(frame * 23 % UInt64(width))
        for y in 0 ..< height {
            for x in 0 ..< width {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let noise = Int(seed >> 61)
                if black {
                    pixels[y * width + x] = UInt8(2 + noise / 2)
                } else {
                    let base = 40 + (x + y) * 150 / (width + height)
                    let lit = abs(x - bar) < 12 ? 60 : 0
                    pixels[y * width + x] = UInt8(min(255, base + lit + noise))
                }
            }
        }
        return try JPEGCodec.encodeGrey(pixels, width: width, height: height, quality: 70, colour: colour)
    }

    /// The camera's clock as ONVIF reports it.
    func clock() -> Date {
        let drift = has(.drift) ? settings.driftSeconds : 0
        return Date().addingTimeInterval(TimeInterval(drift))
    }
}
