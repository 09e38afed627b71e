/// The ONVIF calls that turn a PTZ camera to a preset (ONVIF Core §8.1.2.1 `GetCapabilities`,
/// Media `GetProfiles`, PTZ `GetPresets` and `GotoPreset`), as SOAP 1.2 bodies and the values
/// read from their answers.
public enum ONVIFPTZ {
    public static func getCapabilities(token: ONVIF.UsernameToken?) -> String {
        ONVIF.signed("<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>", token: token)
    }

    public static func getProfiles(token: ONVIF.UsernameToken?) -> String {
        ONVIF.signed("<trt:GetProfiles/>", token: token)
    }

    public static func getPresets(profile: String, token: ONVIF.UsernameToken?) -> String {
        ONVIF.signed("<tptz:GetPresets><tptz:ProfileToken>\(XMLElementText.escape(profile))</tptz:ProfileToken></tptz:GetPresets>", token: token)
    }

    public static func gotoPreset(profile: String, preset: String, token: ONVIF.UsernameToken?) -> String {
        ONVIF.signed("""
            <tptz:GotoPreset><tptz:ProfileToken>\(XMLElementText.escape(profile))</tptz:ProfileToken>\
            <tptz:PresetToken>\(XMLElementText.escape(preset))</tptz:PresetToken></tptz:GotoPreset>
            """, token: token)
    }

    /// The request paths of the media and PTZ services from a `GetCapabilitiesResponse`: only the
    /// path of each `XAddr` is kept, because a camera behind NAT reports an address the unit
    /// cannot use; the unit asks at the configured host and ONVIF port.
    public static func servicePaths(in xml: String) -> (media: String?, ptz: String?) {
        func path(_ service: String) -> String? {
            guard let block = XMLElementText.first(service, in: xml), let address = XMLElementText.first("XAddr", in: block) else { return nil }
            return requestPath(XMLElementText.plain(address))
        }
        return (path("Media"), path("PTZ"))
    }

    /// The path (and query) of an `http://` URL, or `nil` when it has none usable.
    static func requestPath(_ url: String) -> String? {
        guard url.utf8.count <= 512 else { return nil }
        let path: String
        if url.hasPrefix("/") {
            path = url
        } else if let scheme = url.firstRange(of: "://") {
            let rest = url[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return "/" }
            path = String(rest[slash...])
        } else {
            return nil
        }
        return path.allSatisfy({ $0.isASCII && !$0.isWhitespace }) ? path : nil
    }

    /// Media `GetSnapshotUri` for `profile`.
    public static func getSnapshotUri(profile: String, token: ONVIF.UsernameToken?) -> String {
        ONVIF.signed("<trt:GetSnapshotUri><trt:ProfileToken>\(XMLElementText.escape(profile))</trt:ProfileToken></trt:GetSnapshotUri>", token: token)
    }

    /// The tokens of the media profiles, in order (at most 64 profiles; a token over 64 bytes,
    /// which no camera uses, is left out rather than cut).
    public static func profiles(in xml: String) -> [String] {
        XMLElementText.elements("Profiles", in: xml).compactMap { profile in
            XMLElementText.attribute("token", in: profile.tag).flatMap { $0.isEmpty || $0.utf8.count > 64 ? nil : $0 }
        }
    }

    /// The port and path of the `Uri` in a `GetSnapshotUriResponse`. Only those are used, at the
    /// configured host (a camera behind NAT reports an address the unit cannot use, and a
    /// camera must not send the unit's credentials elsewhere); `nil` for an `https` or
    /// unusable URI.
    public static func snapshotEndpoint(in xml: String) -> (port: Int, path: String)? {
        guard let media = XMLElementText.first("MediaUri", in: xml), let uri = XMLElementText.first("Uri", in: media) else { return nil }
        let url = XMLElementText.plain(uri)
        guard url.hasPrefix("http://"), let path = requestPath(url) else { return nil }
        let authority = url.dropFirst("http://".count).prefix { $0 != "/" }
        let host = authority.split(separator: "@").last ?? ""
        // `[v6]:port`, `host:port` or a host alone (port 80).
        let afterBracket = host.lastIndex(of: "]").map { host[host.index(after: $0)...] } ?? host
        guard let colon = afterBracket.lastIndex(of: ":") else { return (80, path) }
        guard let port = Int(afterBracket[afterBracket.index(after: colon)...]), (1 ... 65535).contains(port) else { return nil }
        return (port, path)
    }

    /// The tokens of the media profiles that have a PTZ configuration, in order.
    public static func ptzProfiles(in xml: String) -> [String] {
        XMLElementText.elements("Profiles", in: xml).compactMap { profile in
            guard XMLElementText.first("PTZConfiguration", in: profile.inner) != nil else { return nil }
            return XMLElementText.attribute("token", in: profile.tag).map { String($0.prefix(64)) }
        }
    }

    /// Preset names and their tokens from a `GetPresetsResponse` (at most 256).
    public static func presets(in xml: String) -> [String: String] {
        var found: [String: String] = [:]
        for preset in XMLElementText.elements("Preset", in: xml, limit: 256) {
            guard let token = XMLElementText.attribute("token", in: preset.tag), !token.isEmpty, token.utf8.count <= 64 else { continue }
            let name = XMLElementText.first("Name", in: preset.inner).map { String(XMLElementText.plain($0).prefix(64)) } ?? token
            if found[name] == nil { found[name] = token }
        }
        return found
    }
}

/// Which camera turns to which preset, and when: pure, with an injected clock. A press turns each
/// linked camera with a preset at once; the bell's release schedules the return to each link's
/// `home` after its `returnAfter`, unless another bell is holding the camera by then (a second
/// press cancels the return; the last release brings it home). A press that would send a camera
/// to the preset it was moved to less than ``repeatAfter`` ago (``moved(camera:preset:at:)``)
/// sends nothing: a person pressing again and again does not flood the camera or the hub; a move
/// that failed does not count, so the next press tries again.
public struct PTZPlanner: Sendable {
    /// One move to make.
    public struct Move: Sendable, Equatable {
        public enum Reason: String, Sendable, Equatable { case press, home }
        public var camera: String
        public var preset: String
        public var bell: String
        /// The press's alarm id; `nil` for a return home.
        public var alarm: String?
        public var reason: Reason
        public init(camera: String, preset: String, bell: String, alarm: String?, reason: Reason) {
            self.camera = camera
            self.preset = preset
            self.bell = bell
            self.alarm = alarm
            self.reason = reason
        }
    }

    private struct Camera {
        /// Bells pressed and not yet released that turned this camera.
        var holders: Set<String> = []
        var home: (preset: String, bell: String, due: MonotonicInstant)?
        var last: (preset: String, at: MonotonicInstant)?
    }

    /// How soon the same camera is sent to the same preset again.
    public static let repeatAfter = Duration.seconds(10)
    private var cameras: [String: Camera] = [:]

    public init() {}

    /// A press of `bell` at `now`: the moves to make now.
    public mutating func pressed(bell: String, alarm: String, links: [CameraLink], at now: MonotonicInstant) -> [Move] {
        links.compactMap { link in
            guard let preset = link.preset else { return nil }
            var camera = cameras[link.id, default: Camera()]
            camera.holders.insert(bell)
            camera.home = nil
            defer { cameras[link.id] = camera }
            if let last = camera.last, last.preset == preset, last.at.duration(to: now) < Self.repeatAfter { return nil }
            return Move(camera: link.id, preset: preset, bell: bell, alarm: alarm, reason: .press)
        }
    }

    /// The release of `bell` at `now`: its cameras' returns are scheduled.
    public mutating func released(bell: String, links: [CameraLink], at now: MonotonicInstant) {
        for link in links where link.preset != nil {
            guard var camera = cameras[link.id], camera.holders.remove(bell) != nil else { continue }
            if camera.holders.isEmpty, let home = link.home {
                camera.home = (home, bell, now.advanced(by: link.returnAfter))
            }
            cameras[link.id] = camera
        }
    }

    /// The returns due at `now`, each given once.
    public mutating func due(at now: MonotonicInstant) -> [Move] {
        var moves: [Move] = []
        for (id, camera) in cameras.sorted(by: { $0.key < $1.key }) {
            guard let home = camera.home, home.due <= now else { continue }
            cameras[id]?.home = nil
            moves.append(Move(camera: id, preset: home.preset, bell: home.bell, alarm: nil, reason: .home))
        }
        return moves
    }

    /// The camera accepted a move to `preset` at `now`.
    public mutating func moved(camera: String, preset: String, at now: MonotonicInstant) {
        cameras[camera, default: Camera()].last = (preset, now)
    }

    /// When the next return is due.
    public var nextDeadline: MonotonicInstant? { cameras.values.compactMap(\.home?.due).min() }
}

/// One move at a time per camera, so two moves never race on one head: a move asked while another
/// is under way waits, and a newer one replaces it (the replaced one is neither made nor
/// announced); a press to the preset the camera is already being sent to is dropped.
public struct PTZLanes: Sendable {
    private var running: [String: String] = [:]
    private var waiting: [String: PTZPlanner.Move] = [:]

    public init() {}

    /// `move` if it may start now; `nil` when it waits or is dropped.
    public mutating func admit(_ move: PTZPlanner.Move) -> PTZPlanner.Move? {
        guard let current = running[move.camera] else {
            running[move.camera] = move.preset
            return move
        }
        if current == move.preset, move.reason == .press { waiting[move.camera] = nil } else { waiting[move.camera] = move }
        return nil
    }

    /// The move of `camera` ended: the one waiting for it, if any, to be admitted now.
    public mutating func finish(_ camera: String) -> PTZPlanner.Move? {
        running[camera] = nil
        return waiting.removeValue(forKey: camera)
    }
}
