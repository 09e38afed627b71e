import ParkGuardCore

/// Turns cameras to presets by name over ONVIF: finds the PTZ and media services
/// (`GetCapabilities`), the first profile with a PTZ configuration (`GetProfiles`) and the
/// preset's token (`GetPresets`), remembers them per camera, and sends `GotoPreset`, every signed
/// call carrying a WS-UsernameToken in the camera's clock. What it remembered is found again once
/// when a move fails (a camera reset or reconfigured since), never silently trusted twice.
public final class PTZMover: Sendable {
    /// How a move ended.
    public enum Outcome: Sendable, Equatable {
        /// The camera accepted `GotoPreset` (it moves on its own after answering).
        case moved
        /// The camera answered but refused: a SOAP fault, credentials, or no such preset.
        case refused(String)
        /// No complete answer within the move's time.
        case timedOut(String)
        /// Unreachable, or answers that are not ONVIF.
        case failed(String)

        public var name: String {
            switch self {
            case .moved: "moved"
            case .refused: "refused"
            case .timedOut: "timedOut"
            case .failed: "failed"
            }
        }

        public var detail: String? {
            switch self {
            case .moved: nil
            case .refused(let text), .timedOut(let text), .failed(let text): text
            }
        }
    }

    /// What a camera's services told the unit.
    struct Target: Sendable {
        var ptzPath: String
        var profile: String
        var presets: [String: String]
        var clockOffset: Duration
    }

    private let prober: CameraProber
    private let targets = Locked<[String: Target]>([:])

    public init(connectTimeout: Duration, stepTimeout: Duration) {
        prober = CameraProber(connectTimeout: connectTimeout, stepTimeout: stepTimeout)
    }

    /// Turns `camera` to the preset named `preset`.
    public func move(_ camera: CameraConfig, to preset: String, credentials: CameraCredentials?) async -> Outcome {
        guard let onvif = camera.onvif else { return .refused("the camera has no onvif endpoint") }
        let http = HTTPConnection(host: camera.host, port: onvif.port, connectTimeout: prober.connectTimeout)
        defer { http.close() }
        let remembered = targets.withLock { $0[camera.id] }
        for attempt in 0 ..< 2 {
            do throws(CameraProbeReport.StepFailure) {
                let target: Target
                if attempt == 0, let remembered {
                    target = remembered
                } else {
                    target = try await discover(http, endpoint: onvif, credentials: credentials)
                    targets.withLock { $0[camera.id] = target }
                }
                guard let token = target.presets[preset] else {
                    if attempt == 0, remembered != nil { continue }
                    let known = target.presets.keys.sorted().prefix(8).joined(separator: ", ")
                    return .refused("the camera has no preset named '\(preset.prefix(64))' (it has \(known.isEmpty ? "none" : known))")
                }
                let answer = try await prober.soap(http, path: target.ptzPath, action: "http://www.onvif.org/ver20/ptz/wsdl/GotoPreset",
                                                   body: ONVIFPTZ.gotoPreset(profile: target.profile, preset: token,
                                                                             token: usernameToken(credentials, offset: target.clockOffset)))
                _ = try prober.soapText(answer, call: "GotoPreset")
                return .moved
            } catch {
                // What was remembered may be stale: find the services again, once.
                if attempt == 0, remembered != nil, case .protocolError = error.failure { continue }
                if attempt == 0, remembered != nil, case .authFailed = error.failure { continue }
                targets.withLock { _ = $0.removeValue(forKey: camera.id) }
                switch error.failure {
                case .timeout(let text): return .timedOut(text)
                case .authFailed(let text): return .refused(text)
                case .protocolError(let text) where text.contains("fault"): return .refused(text)
                case .protocolError(let text), .refused(let text), .unreachable(let text): return .failed(text)
                }
            }
        }
        return .failed("the camera's services changed while moving")
    }

    private func discover(_ http: HTTPConnection, endpoint: CameraConfig.Endpoint, credentials: CameraCredentials?) async throws(CameraProbeReport.StepFailure) -> Target {
        let (offset, media, ptz) = try await prober.onvifServices(http, path: endpoint.path, credentials: credentials)
        guard let ptzPath = ptz else { throw CameraProbeReport.StepFailure(.protocolError("GetCapabilities fault: the camera offers no PTZ service")) }
        guard let mediaPath = media else { throw CameraProbeReport.StepFailure(.protocolError("GetCapabilities: the camera offers no media service")) }

        let profiles = ONVIFPTZ.ptzProfiles(in: try await prober.onvifProfiles(http, mediaPath: mediaPath, credentials: credentials, offset: offset))
        guard let profile = profiles.first else { throw CameraProbeReport.StepFailure(.protocolError("GetProfiles fault: no media profile has a PTZ configuration")) }

        let presets = ONVIFPTZ.presets(in: try prober.soapText(
            try await prober.soap(http, path: ptzPath, action: "http://www.onvif.org/ver20/ptz/wsdl/GetPresets",
                                  body: ONVIFPTZ.getPresets(profile: profile, token: usernameToken(credentials, offset: offset))), call: "GetPresets"))
        return Target(ptzPath: ptzPath, profile: profile, presets: presets, clockOffset: offset)
    }

    private func usernameToken(_ credentials: CameraCredentials?, offset: Duration) -> ONVIF.UsernameToken? {
        credentials.map { prober.usernameToken($0, offset: offset) }
    }
}
