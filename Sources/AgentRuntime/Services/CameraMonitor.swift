import CameraProbe
import Logging
import ParkGuardCore
import ServiceLifecycle

/// The cameras' published health, shared by the monitor (which writes it) and the controller
/// (which puts it in every alarm and in the retained snapshot at each connect).
public final class CameraHealthBoard: Sendable {
    private struct Entry {
        var status: CameraStatus
        var message: Outgoing
    }
    private let entries = Locked<[String: Entry]>([:])

    public init() {}

    /// The published status of `camera`, `nil` before its first probe.
    public func status(of camera: String) -> CameraStatus? {
        entries.withLock { $0[camera]?.status }
    }

    /// The latest `camera/{id}/health` message of every probed camera.
    public func messages() -> [Outgoing] {
        entries.withLock { $0.sorted { $0.key < $1.key }.map(\.value.message) }
    }

    func record(_ camera: String, status: CameraStatus, message: Outgoing) {
        entries.withLock { $0[camera] = Entry(status: status, message: message) }
    }
}

/// Probes every camera on its own jittered schedule, at most `concurrency` probes at once;
/// classifies each result with the camera's ``CameraHealthTracker`` and publishes retained
/// health on every change and every `reportInterval`.
struct CameraMonitor: Service {
    let cameras: [CameraConfig]
    let credentials: [String: CameraCredentials]
    let config: CameraHealthConfig
    let board: CameraHealthBoard
    let publisher: Publisher
    let topics: Topics
    let clock: any AgentClock
    let logger: Logger

    func run() async throws {
        let probed = cameras.filter(\.probe)
        guard !probed.isEmpty else { return }
        let prober = CameraProber(connectTimeout: config.connectTimeout, stepTimeout: config.stepTimeout)
        let limiter = ProbeLimiter(slots: config.concurrency)
        try await untilGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for camera in probed {
                    group.addTask { await watch(camera, prober: prober, limiter: limiter) }
                }
            }
        }
    }

    private func watch(_ camera: CameraConfig, prober: CameraProber, limiter: ProbeLimiter) async {
        var tracker = CameraHealthTracker(camera: camera.id, policy: config.policy)
        var since = clock.stamp().wall
        var lastPublished = clock.now()
        // Spread the first probes over the first interval (at most 2 s) so a restart does not burst.
        var wait = Duration.milliseconds(Int.random(in: 0 ... min(2000, CameraHealthTracker.ms(camera.interval))))
        while !Task.isCancelled {
            do { try await Task.sleep(for: wait) } catch { return }
            let started = clock.now()
            let flowCheck = tracker.flowCheckDue(every: camera.flowCheck?.every, at: started)
            let report = await limiter.run { await prober.probe(camera, credentials: credentials[camera.id], flowCheck: flowCheck) }
            let now = clock.now()
            let change = tracker.observe(report, at: now)
            guard let status = tracker.status else { continue }
            let due = lastPublished.duration(to: now) >= config.reportInterval
            if case .changed(let from, let to) = change {
                if from != to { since = clock.stamp().wall }
                log(camera.id, from: from, to: to, reasons: tracker.reasons)
            }
            if change != .unchanged || due || board.status(of: camera.id) == nil {
                let payload = CameraHealthPayload(camera: camera.id, status: status, reasons: tracker.reasons, since: since, stamp: clock.stamp(),
                                                  checks: .init(report: report, observed: tracker.lastObservation?.status, flow: lastFlow(tracker, now)))
                let message = Outgoing.json(payload, topic: topics.cameraHealth(camera.id), qos: 1, retain: true, kind: .retainedState)
                board.record(camera.id, status: status, message: message)
                await publisher.send(message)
                lastPublished = now
            }
            let jitter = Double.random(in: 0.9 ... 1.1)
            wait = camera.interval * jitter - started.duration(to: now)
            if wait < .milliseconds(100) { wait = .milliseconds(100) }
        }
    }

    private func lastFlow(_ tracker: CameraHealthTracker, _ now: MonotonicInstant) -> (findings: VideoFlowFindings, age: Duration)? {
        guard let (result, at) = tracker.lastFlow, case .success(let findings) = result else { return nil }
        return (findings, at.duration(to: now))
    }

    private func log(_ camera: String, from: CameraStatus?, to: CameraStatus, reasons: [CameraReason]) {
        let level: Logger.Level = to == .ok ? .notice : to == .degraded ? .warning : .error
        logger.log(level: level, "camera \(to.rawValue)", metadata: [
            "camera": "\(camera)", "was": "\(from?.rawValue ?? "unknown")",
            "reasons": "\(reasons.map { "\($0.code.rawValue): \($0.detail)" }.joined(separator: "; "))",
        ])
    }
}

/// At most `slots` probes at a time, first come first served.
actor ProbeLimiter {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(slots: Int) { free = slots }

    func run<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        if free > 0 {
            free -= 1
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
        let result = await body()
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
        return result
    }
}
