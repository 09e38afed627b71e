import ParkGuardCore
import Testing

private func t(_ seconds: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: seconds * 1_000_000_000) }

private let good = CameraProbeReport(
    connect: .success(.milliseconds(3)),
    rtsp: .success(.init(describeTime: .milliseconds(12), sdp: SDPSummary(videoCodec: "H264", media: ["video"]))))
private let unreachable = CameraProbeReport(connect: .failure(.init(.refused("connection refused"))))
private let slow = CameraProbeReport(
    connect: .success(.milliseconds(3)),
    rtsp: .success(.init(describeTime: .milliseconds(1800), sdp: SDPSummary(videoCodec: "H264", media: ["video"]))))

private func snapshotReport(luma: Double, thumbnail: [UInt8]) -> CameraProbeReport {
    var report = good
    report.snapshot = .success(CameraProbeReport.SnapshotFindings(width: 320, height: 240, bytes: 9000, meanLuma: luma, thumbnail: thumbnail, responseTime: .milliseconds(5)))
    return report
}

@Suite("Camera health classification")
struct CameraHealthTests {
    let policy = CameraHealthPolicy(failuresToDown: 3, successesToUp: 2)

    @Test("the first probe sets the status at once")
    func firstProbeSetsStatus() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        #expect(tracker.observe(good, at: t(1)) == .changed(from: nil, to: .ok))
        #expect(tracker.status == .ok)
        #expect(tracker.reasons.isEmpty)
    }

    @Test("going offline takes N failures in a row, coming back takes M successes")
    func hysteresis() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        _ = tracker.observe(good, at: t(0))
        #expect(tracker.observe(unreachable, at: t(1)) == .unchanged)
        #expect(tracker.observe(unreachable, at: t(2)) == .unchanged)
        #expect(tracker.observe(unreachable, at: t(3)) == .changed(from: .ok, to: .offline))
        #expect(tracker.reasons.map(\.code) == [.refused])
        #expect(tracker.observe(good, at: t(4)) == .unchanged)
        #expect(tracker.status == .offline)
        #expect(tracker.observe(good, at: t(5)) == .changed(from: .offline, to: .ok))
    }

    @Test("a success in the middle of a run of failures starts the count again")
    func interruptedRun() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        _ = tracker.observe(good, at: t(0))
        for second in 1 ... 2 { _ = tracker.observe(unreachable, at: t(UInt64(second))) }
        _ = tracker.observe(good, at: t(3))
        for second in 4 ... 5 { _ = tracker.observe(unreachable, at: t(UInt64(second))) }
        #expect(tracker.status == .ok)
        #expect(tracker.observe(unreachable, at: t(6)) == .changed(from: .ok, to: .offline))
    }

    @Test("a camera failing every other probe settles on degraded (unstable) and never flaps")
    func flappingSettles() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        var changes: [CameraStatus] = []
        for second in 0 ..< 100 {
            if case .changed(let from, let to) = tracker.observe(second % 2 == 0 ? good : unreachable, at: t(UInt64(second))), from != to {
                changes.append(to)
            }
        }
        #expect(changes == [.ok, .degraded])
        #expect(tracker.status == .degraded)
        #expect(tracker.reasons.contains { $0.code == .unstable })
    }

    @Test("going down with mixed failures lands on the mildest status of the run")
    func mildestOfRun() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        _ = tracker.observe(good, at: t(0))
        _ = tracker.observe(unreachable, at: t(1))
        _ = tracker.observe(slow, at: t(2))
        #expect(tracker.observe(unreachable, at: t(3)) == .changed(from: .ok, to: .degraded))
        #expect(tracker.reasons.map(\.code) == [.slow])
    }

    @Test("slow answers, clock drift, auth failures and no video are classified with their reason")
    func reasons() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        #expect(tracker.classify(slow).0 == .degraded)
        var drift = good
        drift.onvif = .success(CameraProbeReport.ONVIFFindings(clockOffset: .seconds(-90), responseTime: .milliseconds(4)))
        let (status, why) = tracker.classify(drift)
        #expect(status == .degraded)
        #expect(why.first?.code == .clockDrift)
        #expect(why.first?.detail.contains("-90.0 s") == true)
        let auth = CameraProbeReport(connect: .success(.milliseconds(1)), rtsp: .failure(.init(.authFailed("refused"))))
        #expect(tracker.classify(auth).0 == .degraded)
        #expect(tracker.classify(auth).1.map(\.code) == [.authFailed])
        let audioOnly = CameraProbeReport(connect: .success(.milliseconds(1)),
                                          rtsp: .success(.init(describeTime: .milliseconds(5), sdp: SDPSummary(videoCodec: nil, media: ["audio"]))))
        #expect(tracker.classify(audioOnly).0 == .offline)
        #expect(tracker.classify(audioOnly).1.map(\.code) == [.noVideo])
        let garbage = CameraProbeReport(connect: .success(.milliseconds(1)), rtsp: .failure(.init(.protocolError("not RTSP"))))
        #expect(tracker.classify(garbage).1.map(\.code) == [.protocolError])
    }

    @Test("a snapshot identical to the previous one is frozen; a dark one is black")
    func frozenAndBlack() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: policy)
        #expect(tracker.classify(snapshotReport(luma: 120, thumbnail: [1, 2, 3])).0 == .ok)
        #expect(tracker.classify(snapshotReport(luma: 121, thumbnail: [1, 2, 4])).0 == .ok)
        let (status, why) = tracker.classify(snapshotReport(luma: 121, thumbnail: [1, 2, 4]))
        #expect(status == .degraded)
        #expect(why.map(\.code) == [.frozen])
        #expect(tracker.classify(snapshotReport(luma: 3, thumbnail: [0, 0, 1])).1.map(\.code) == [.black])
    }

    @Test("a change of reasons at the same status is published, a repeat is not")
    func reasonChanges() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: CameraHealthPolicy(failuresToDown: 1, successesToUp: 1))
        _ = tracker.observe(slow, at: t(0))
        #expect(tracker.observe(slow, at: t(1)) == .unchanged)
        var drift = good
        drift.onvif = .success(CameraProbeReport.ONVIFFindings(clockOffset: .seconds(60), responseTime: .milliseconds(4)))
        #expect(tracker.observe(drift, at: t(2)) == .changed(from: .degraded, to: .degraded))
    }
}
