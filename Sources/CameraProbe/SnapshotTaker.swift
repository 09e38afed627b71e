import ParkGuardCore

/// Takes a camera's picture for an alarm: the configured HTTP snapshot, fetched as the health
/// probe fetches it (the same credentials, Digest or Basic, and bounds), checked to be a whole
/// JPEG, and fitted to the unit's size and width bounds with libjpeg-turbo.
public final class SnapshotTaker: Sendable {
    private let prober: CameraProber

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

    /// The picture of `camera`, at most `maxBytes` and `maxWidth` pixels wide.
    public func take(_ camera: CameraConfig, credentials: CameraCredentials?, maxBytes: Int, maxWidth: Int) async throws(Failure) -> JPEGCodec.Fitted {
        guard let endpoint = camera.snapshot else { throw Failure(outcome: "failed", detail: "the camera has no snapshot endpoint") }
        let http = HTTPConnection(host: camera.host, port: endpoint.port, connectTimeout: prober.connectTimeout)
        defer { http.close() }
        let body: [UInt8]
        do {
            body = try await prober.fetchSnapshot(http, endpoint: endpoint, credentials: credentials).body
        } catch {
            switch error.failure {
            case .timeout(let text): throw Failure(outcome: "timedOut", detail: text)
            case .authFailed(let text): throw Failure(outcome: "refused", detail: text)
            case .protocolError(let text), .refused(let text), .unreachable(let text): throw Failure(outcome: "failed", detail: text)
            }
        }
        do { _ = try JPEGInfo.read(body) } catch { throw Failure(outcome: "badImage", detail: "\(error)") }
        do { return try JPEGCodec.fit(body, maxBytes: maxBytes, maxWidth: maxWidth) } catch {
            throw Failure(outcome: "badImage", detail: error.description)
        }
    }
}
