#if canImport(Glibc)
import Glibc
#endif
import ParkGuardCore

/// Takes a camera's picture for an alarm: the configured HTTP snapshot, or the one ONVIF
/// `GetSnapshotUri` names, fetched as the health probe fetches it (the same credentials, Digest or Basic, and bounds), checked to be a whole
/// JPEG, and fitted to the unit's size and width bounds with libjpeg-turbo.
public final class SnapshotTaker: Sendable {
    private let prober: CameraProber
    /// Each camera's snapshot endpoint as `GetSnapshotUri` named it.
    private let endpoints = Locked<[String: CameraConfig.Endpoint]>([:])
    /// Fits the pictures, one at a time, on a thread of its own at low priority.
    private let fitter = PictureFitter()

    public init(connectTimeout: Duration, stepTimeout: Duration, limit: Int = 8 << 20) {
        prober = CameraProber(connectTimeout: connectTimeout, stepTimeout: stepTimeout, snapshotLimit: limit)
    }

    /// Why no picture was taken.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// `timedOut`, `refused`, `failed` or `badImage`, as the `snapshot` event names it.
        public var outcome: String
        public var detail: String
        public var description: String { "\(outcome): \(detail)" }
    }

    /// The picture of `camera`, at most `maxBytes` and `maxWidth` pixels wide: from its
    /// configured `snapshot` endpoint, else from the one ONVIF `GetSnapshotUri` names (found
    /// once, remembered, and found again once when a fetch fails).
    public func take(_ camera: CameraConfig, credentials: CameraCredentials?, maxBytes: Int, maxWidth: Int) async throws(Failure) -> JPEGCodec.Fitted {
        let body: [UInt8]
        do throws(CameraProbeReport.StepFailure) {
            if let endpoint = camera.snapshot {
                body = try await fetch(camera, endpoint, credentials)
            } else if let onvif = camera.onvif {
                let remembered = endpoints.withLock { $0[camera.id] }
                var found: [UInt8]?
                for attempt in 0 ..< 2 where found == nil {
                    let endpoint: CameraConfig.Endpoint
                    if attempt == 0, let remembered { endpoint = remembered } else {
                        endpoint = try await snapshotEndpoint(camera, onvif, credentials)
                        endpoints.withLock { $0[camera.id] = endpoint }
                    }
                    do { found = try await fetch(camera, endpoint, credentials) } catch {
                        endpoints.withLock { _ = $0.removeValue(forKey: camera.id) }
                        if attempt == 1 || remembered == nil { throw error }
                    }
                }
                body = found ?? []
            } else {
                throw CameraProbeReport.StepFailure(.protocolError("the camera has neither a snapshot nor an onvif endpoint"))
            }
        } catch {
            switch error.failure {
            case .timeout(let text): throw Failure(outcome: "timedOut", detail: text)
            case .authFailed(let text): throw Failure(outcome: "refused", detail: text)
            case .protocolError(let text), .refused(let text), .unreachable(let text): throw Failure(outcome: "failed", detail: text)
            }
        }
        guard !body.isEmpty else { throw Failure(outcome: "badImage", detail: "the camera sent an empty picture") }
        do { _ = try JPEGInfo.read(body) } catch { throw Failure(outcome: "badImage", detail: "\(error)") }
        do { return try await fitter.fit(body, maxBytes: maxBytes, maxWidth: maxWidth) } catch {
            throw Failure(outcome: "badImage", detail: error.description)
        }
    }

    private func fetch(_ camera: CameraConfig, _ endpoint: CameraConfig.Endpoint, _ credentials: CameraCredentials?) async throws(CameraProbeReport.StepFailure) -> [UInt8] {
        let http = HTTPConnection(host: camera.host, port: endpoint.port, connectTimeout: prober.connectTimeout)
        defer { http.close() }
        return try await prober.fetchSnapshot(http, endpoint: endpoint, credentials: credentials).body
    }

    /// Asks the camera's media service where its snapshot is: `GetCapabilities`, the first
    /// profile of `GetProfiles`, `GetSnapshotUri`, each signed in the camera's clock.
    private func snapshotEndpoint(_ camera: CameraConfig, _ onvif: CameraConfig.Endpoint, _ credentials: CameraCredentials?) async throws(CameraProbeReport.StepFailure) -> CameraConfig.Endpoint {
        let http = HTTPConnection(host: camera.host, port: onvif.port, connectTimeout: prober.connectTimeout)
        defer { http.close() }
        let (offset, media, _) = try await prober.onvifServices(http, path: onvif.path, credentials: credentials)
        guard let mediaPath = media else {
            throw CameraProbeReport.StepFailure(.protocolError("GetCapabilities: the camera offers no media service (and no snapshot is configured)"))
        }
        let profiles = ONVIFPTZ.profiles(in: try await prober.onvifProfiles(http, mediaPath: mediaPath, credentials: credentials, offset: offset))
        guard let profile = profiles.first else { throw CameraProbeReport.StepFailure(.protocolError("GetProfiles: the camera has no media profile")) }
        let answer = try prober.soapText(
            try await prober.soap(http, path: mediaPath, action: "http://www.onvif.org/ver10/media/wsdl/GetSnapshotUri",
                                  body: ONVIFPTZ.getSnapshotUri(profile: profile, token: credentials.map { prober.usernameToken($0, offset: offset) })),
            call: "GetSnapshotUri")
        guard let (port, path) = ONVIFPTZ.snapshotEndpoint(in: answer) else {
            throw CameraProbeReport.StepFailure(.protocolError("GetSnapshotUri: no usable http URI in the answer"))
        }
        return CameraConfig.Endpoint(port: port, path: path)
    }
}

/// Fits pictures one at a time on a thread of its own, at a lower scheduling priority (nice 10):
/// decoding and encoding a camera's picture takes milliseconds of CPU, which must not be taken
/// from the bell loop or the MQTT loop (nor, on a small machine, from the broker) at the moment
/// an alarm is on its way. The thread is started with the first picture and lives as long as
/// the process.
final class PictureFitter: @unchecked Sendable {
    // @unchecked: `ready` is a POSIX semaphore, posted and waited on from any thread; the jobs
    // are behind their lock; nothing else is shared.
    private let jobs = Locked<[@Sendable () -> Void]>([])
    private let ready: UnsafeMutablePointer<sem_t>
    private let started = Locked(false)

    init() {
        ready = .allocate(capacity: 1)
        sem_init(ready, 0, 0)
    }

    func fit(_ jpeg: [UInt8], maxBytes: Int, maxWidth: Int) async throws(JPEGCodec.Failure) -> JPEGCodec.Fitted {
        startIfNeeded()
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<JPEGCodec.Fitted, JPEGCodec.Failure>, Never>) in
            jobs.withLock {
                $0.append {
                    do throws(JPEGCodec.Failure) {
                        continuation.resume(returning: .success(try JPEGCodec.fit(jpeg, maxBytes: maxBytes, maxWidth: maxWidth)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
            }
            sem_post(ready)
        }
        return try result.get()
    }

    private func startIfNeeded() {
        guard started.withLock({ running in defer { running = true }; return !running }) else { return }
        detachThread(named: "pg-pictures") { [self] in
            // On Linux the nice value is the calling thread's own.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            while true {
                while sem_wait(ready) != 0 {}  // EINTR
                let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                job?()
            }
        }
    }
}
