/// A camera's health as the hub sees it.
public enum CameraStatus: String, Sendable, Equatable, Codable, CaseIterable, Comparable {
    /// Serving video and every enabled check passes.
    case ok
    /// Serving or answering, but something is wrong: slow, clock drift, frozen or black image,
    /// credentials refused, unstable link.
    case degraded
    /// Video cannot be confirmed: unreachable, refusing, garbage, no video in the description.
    case offline

    var severity: Int {
        switch self {
        case .ok: 0
        case .degraded: 1
        case .offline: 2
        }
    }

    public static func < (lhs: CameraStatus, rhs: CameraStatus) -> Bool { lhs.severity < rhs.severity }
}

/// Why a camera is not `ok`: a stable code for programs and a detail for people.
public struct CameraReason: Sendable, Equatable, Codable {
    /// The stable reason codes.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        case unreachable, refused, timeout, protocolError, noVideo, authFailed, slow, clockDrift, onvifFailed,
             snapshotFailed, snapshotInvalid, frozen, black, unstable,
             /// The stream is described but no video flows after PLAY, or it stopped (flow check).
             noVideoFlow
    }
    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
}

/// What one probe of one camera found, step by step; `nil` for a step not configured or not reached.
public struct CameraProbeReport: Sendable, Equatable {
    /// The outcome of one step.
    public enum Failure: Sendable, Equatable {
        case refused(String)
        case unreachable(String)
        case timeout(String)
        case protocolError(String)
        case authFailed(String)
    }

    public var connect: Result<Duration, StepFailure>?
    public var rtsp: Result<RTSPFindings, StepFailure>?
    public var onvif: Result<ONVIFFindings, StepFailure>?
    public var snapshot: Result<SnapshotFindings, StepFailure>?
    /// SETUP, PLAY, listening to RTP and TEARDOWN; only in the probes that run the flow check.
    public var flow: Result<VideoFlowFindings, StepFailure>?

    public init(connect: Result<Duration, StepFailure>? = nil, rtsp: Result<RTSPFindings, StepFailure>? = nil,
                onvif: Result<ONVIFFindings, StepFailure>? = nil, snapshot: Result<SnapshotFindings, StepFailure>? = nil,
                flow: Result<VideoFlowFindings, StepFailure>? = nil) {
        self.connect = connect
        self.rtsp = rtsp
        self.onvif = onvif
        self.snapshot = snapshot
        self.flow = flow
    }

    /// A failed step.
    public struct StepFailure: Error, Sendable, Equatable {
        public var failure: Failure
        public init(_ failure: Failure) { self.failure = failure }
    }

    /// OPTIONS and DESCRIBE.
    public struct RTSPFindings: Sendable, Equatable {
        /// Time from sending DESCRIBE (with credentials when needed) to its full answer.
        public var describeTime: Duration
        public var sdp: SDPSummary
        /// The base the description's control URIs are relative to (`Content-Base`, else the
        /// DESCRIBE URI).
        public var base: String
        public init(describeTime: Duration, sdp: SDPSummary, base: String = "") {
            self.describeTime = describeTime
            self.sdp = sdp
            self.base = base
        }
    }

    /// GetSystemDateAndTime (and GetDeviceInformation when credentials are set).
    public struct ONVIFFindings: Sendable, Equatable {
        /// Camera clock minus ours, measured at the middle of the exchange.
        public var clockOffset: Duration
        public var responseTime: Duration
        /// `nil` when not asked; an error text when the signed call failed.
        public var deviceInformation: Result<[String: String], StepFailure>?
        public init(clockOffset: Duration, responseTime: Duration, deviceInformation: Result<[String: String], StepFailure>? = nil) {
            self.clockOffset = clockOffset
            self.responseTime = responseTime
            self.deviceInformation = deviceInformation
        }
    }

    /// An HTTP snapshot, decoded.
    public struct SnapshotFindings: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var bytes: Int
        /// Mean luma, 0 to 255, of the decoded image.
        public var meanLuma: Double
        /// A small grey thumbnail of the image, to compare with the previous poll.
        public var thumbnail: [UInt8]
        public var responseTime: Duration
        public init(width: Int, height: Int, bytes: Int, meanLuma: Double, thumbnail: [UInt8], responseTime: Duration) {
            self.width = width
            self.height = height
            self.bytes = bytes
            self.meanLuma = meanLuma
            self.thumbnail = thumbnail
            self.responseTime = responseTime
        }
    }
}

extension CameraProbeReport.Failure: CustomStringConvertible {
    public var description: String {
        switch self {
        case .refused(let text), .unreachable(let text), .timeout(let text), .protocolError(let text), .authFailed(let text): text
        }
    }
}

/// Thresholds of the classification (from the `cameraHealth` section of the config).
public struct CameraHealthPolicy: Sendable, Equatable {
    /// Consecutive worse observations before the status goes down (N).
    public var failuresToDown: Int
    /// Consecutive better observations before the status comes back up (M).
    public var successesToUp: Int
    /// A connect or DESCRIBE slower than this is `slow`.
    public var slowAfter: Duration
    /// A camera clock further off than this is `clockDrift`.
    public var maxClockDrift: Duration
    /// A snapshot with mean luma below this (0–255) is `black`.
    public var blackBelow: Double
    /// Probes remembered to judge an unstable link, and how many changes between failing and
    /// succeeding within them make it `unstable` (an outage and its end are two).
    public var stabilityWindow: Int
    public var unstableFlips: Int

    public init(failuresToDown: Int = 3, successesToUp: Int = 2, slowAfter: Duration = .seconds(1),
                maxClockDrift: Duration = .seconds(5), blackBelow: Double = 16, stabilityWindow: Int = 10, unstableFlips: Int = 4) {
        self.failuresToDown = failuresToDown
        self.successesToUp = successesToUp
        self.slowAfter = slowAfter
        self.maxClockDrift = maxClockDrift
        self.blackBelow = blackBelow
        self.stabilityWindow = stabilityWindow
        self.unstableFlips = unstableFlips
    }
}

/// The health of one camera over time: classifies each probe, and changes the published status
/// only with hysteresis, so a flapping link does not flood the hub.
///
/// Going down needs `failuresToDown` observations in a row worse than the current status, and
/// lands on the mildest of them; coming up needs `successesToUp` better ones, and lands on the
/// worst of them. A camera whose recent probes keep alternating between failing and succeeding
/// is at best `degraded (unstable)`, so a link failing every other probe settles on one steady
/// status instead of alternating.
public struct CameraHealthTracker: Sendable {
    public let camera: String
    public let policy: CameraHealthPolicy
    /// The published status; `nil` before the first probe.
    public private(set) var status: CameraStatus?
    public private(set) var reasons: [CameraReason] = []
    public private(set) var since: MonotonicInstant?
    /// The last observation, whatever the published status.
    public private(set) var lastObservation: (status: CameraStatus, reasons: [CameraReason])?
    private var pending: [CameraStatus] = []
    private var pendingReasons: [[CameraReason]] = []
    private var recent: [Bool] = []
    private var previousThumbnail: [UInt8]?
    /// The last flow check's outcome and when it ran. Its verdict holds for the probes between
    /// two flow checks, which run less often than the probes.
    public private(set) var lastFlow: (result: Result<VideoFlowFindings, CameraProbeReport.StepFailure>, at: MonotonicInstant)?

    public init(camera: String, policy: CameraHealthPolicy) {
        self.camera = camera
        self.policy = policy
    }

    /// What a probe changed.
    public enum Change: Sendable, Equatable {
        /// The published status or its reasons changed: publish now.
        case changed(from: CameraStatus?, to: CameraStatus)
        case unchanged
    }

    /// Whether the probe about to start should run the flow check that runs every `every`
    /// (`nil`: never): on the first probe, `every` after the last check, and on the first probe
    /// after the camera's stream could not be described.
    public func flowCheckDue(every: Duration?, at now: MonotonicInstant) -> Bool {
        guard let every else { return false }
        guard let last = lastFlow else { return true }
        return last.at.duration(to: now) >= every
    }

    /// Feeds one probe report.
    public mutating func observe(_ report: CameraProbeReport, at now: MonotonicInstant) -> Change {
        let streamFailed: Bool
        switch (report.connect, report.rtsp) {
        case (.failure?, _), (_, .failure?): streamFailed = true
        default: streamFailed = false
        }
        if let flow = report.flow {
            lastFlow = (flow, now)
        } else if streamFailed {
            // Check the flow again as soon as the stream is back.
            lastFlow = nil
        }
        var (observed, why) = classify(report)
        recent.append(observed != .offline)
        if recent.count > policy.stabilityWindow { recent.removeFirst(recent.count - policy.stabilityWindow) }
        let flips = zip(recent, recent.dropFirst()).filter { $0 != $1 }.count
        if flips >= policy.unstableFlips, observed == .ok {
            let failures = recent.filter { !$0 }.count
            observed = .degraded
            why.append(CameraReason(.unstable, "\(failures) of the last \(recent.count) probes failed, alternating with successes"))
        }
        lastObservation = (observed, why)
        guard let current = status else {
            return adopt(observed, why, at: now, from: nil)
        }
        if observed == current {
            pending = []
            pendingReasons = []
            if why.map(\.code) != reasons.map(\.code) {
                reasons = why
                return .changed(from: current, to: current)
            }
            reasons = why
            return .unchanged
        }
        if let last = pending.last, (last > current) != (observed > current) {
            pending = []
            pendingReasons = []
        }
        pending.append(observed)
        pendingReasons.append(why)
        let needed = observed > current ? policy.failuresToDown : policy.successesToUp
        guard pending.count >= needed else { return .unchanged }
        // Down: the mildest of the run; up: the worst of it.
        let target = observed > current ? pending.min()! : pending.max()!
        let index = pending.lastIndex(of: target)!
        return adopt(target, pendingReasons[index], at: now, from: current)
    }

    private mutating func adopt(_ next: CameraStatus, _ why: [CameraReason], at now: MonotonicInstant, from: CameraStatus?) -> Change {
        status = next
        reasons = why
        since = now
        pending = []
        pendingReasons = []
        return .changed(from: from, to: next)
    }

    /// The status one probe shows on its own, with reasons, before hysteresis.
    public mutating func classify(_ report: CameraProbeReport) -> (CameraStatus, [CameraReason]) {
        var reasons: [CameraReason] = []
        var status = CameraStatus.ok
        func worsen(_ to: CameraStatus, _ reason: CameraReason) {
            status = max(status, to)
            reasons.append(reason)
        }
        func failed(_ step: String, _ failure: CameraProbeReport.Failure, offline: Bool) {
            let level: CameraStatus = offline ? .offline : .degraded
            switch failure {
            case .refused(let t): worsen(level, CameraReason(.refused, "\(step): \(t)"))
            case .unreachable(let t): worsen(level, CameraReason(.unreachable, "\(step): \(t)"))
            case .timeout(let t): worsen(level, CameraReason(.timeout, "\(step): \(t)"))
            case .protocolError(let t):
                let code: CameraReason.Code = offline ? .protocolError : step == "snapshot" ? .snapshotFailed : step == "flow" ? .noVideoFlow : .onvifFailed
                worsen(level, CameraReason(code, "\(step): \(t)"))
            case .authFailed(let t): worsen(.degraded, CameraReason(.authFailed, "\(step): \(t)"))
            }
        }
        switch report.connect {
        case .failure(let error)?:
            failed("connect", error.failure, offline: true)
            return (status, reasons)
        case .success(let time)?:
            if time > policy.slowAfter { worsen(.degraded, CameraReason(.slow, "TCP connect took \(Self.ms(time)) ms")) }
        case nil:
            break
        }
        switch report.rtsp {
        case .failure(let error)?:
            failed("rtsp", error.failure, offline: true)
        case .success(let rtsp)?:
            if !rtsp.sdp.offersVideo {
                worsen(.offline, CameraReason(.noVideo, "the stream description offers no video (media: \(rtsp.sdp.media.joined(separator: ", ")))"))
            }
            if rtsp.describeTime > policy.slowAfter {
                worsen(.degraded, CameraReason(.slow, "RTSP DESCRIBE took \(Self.ms(rtsp.describeTime)) ms"))
            }
        case nil:
            break
        }
        // The flow check of this probe, or else the last one's verdict.
        if case .success(let rtsp)? = report.rtsp, rtsp.sdp.offersVideo, let flow = report.flow ?? lastFlow?.result {
            switch flow {
            case .failure(let error): failed("flow", error.failure, offline: false)
            case .success(let findings):
                if let problem = Self.flowProblem(findings) { worsen(.degraded, CameraReason(.noVideoFlow, "flow: \(problem)")) }
            }
        }
        switch report.onvif {
        case .failure(let error)?:
            failed("onvif", error.failure, offline: false)
        case .success(let onvif)?:
            let drift = onvif.clockOffset < .zero ? .zero - onvif.clockOffset : onvif.clockOffset
            if drift > policy.maxClockDrift {
                worsen(.degraded, CameraReason(.clockDrift, "camera clock is \(Self.seconds(onvif.clockOffset)) s off"))
            }
            if case .failure(let error)? = onvif.deviceInformation { failed("onvif", error.failure, offline: false) }
        case nil:
            break
        }
        switch report.snapshot {
        case .failure(let error)?:
            if case .protocolError(let text) = error.failure {
                worsen(.degraded, CameraReason(.snapshotInvalid, "snapshot: \(text)"))
            } else {
                failed("snapshot", error.failure, offline: false)
            }
            previousThumbnail = nil
        case .success(let snapshot)?:
            if snapshot.meanLuma < policy.blackBelow {
                worsen(.degraded, CameraReason(.black, "snapshot is near black (mean luma \(Int(snapshot.meanLuma.rounded())) of 255): lens covered or dead?"))
            } else if let previous = previousThumbnail, previous == snapshot.thumbnail {
                worsen(.degraded, CameraReason(.frozen, "snapshot did not change since the last probe"))
            }
            previousThumbnail = snapshot.thumbnail
        case nil:
            break
        }
        return (status, reasons)
    }

    /// What is wrong with a flow check's findings, or `nil` when video flowed to the end.
    /// Video that came but left the last half of the listening time silent has stopped.
    static func flowProblem(_ flow: VideoFlowFindings) -> String? {
        let listened = ms(flow.listened)
        if flow.frames == 0 {
            if flow.malformed > 0 { return "\(flow.malformed) packets after PLAY, none of them RTP" }
            if flow.closedByCamera { return "the camera closed the connection \(listened) ms after PLAY without sending video" }
            return "no video packet in \(listened) ms after PLAY"
        }
        if flow.closedByCamera {
            return "the camera closed the connection \(listened) ms after PLAY, after \(flow.frames) frames"
        }
        if !flow.byteLimitReached, let last = flow.lastPacket, flow.listened - last > flow.listened / 2 {
            return "video stopped after \(flow.frames) frames: nothing in the last \(ms(flow.listened - last)) ms of \(listened)"
        }
        return nil
    }

    /// Whole milliseconds of `duration`.
    public static func ms(_ duration: Duration) -> Int { Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) }

    static func seconds(_ duration: Duration) -> String {
        let ms = Double(ms(duration)) / 1000
        return String(Int((ms * 10).rounded())).withDecimal
    }
}

extension String {
    /// "123" → "12.3": tenths without Foundation.
    fileprivate var withDecimal: String {
        let negative = hasPrefix("-")
        var digits = negative ? String(dropFirst()) : self
        while digits.count < 2 { digits = "0" + digits }
        return (negative ? "-" : "") + digits.dropLast() + "." + digits.suffix(1)
    }
}
