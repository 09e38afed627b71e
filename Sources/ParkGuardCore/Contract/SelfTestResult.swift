#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// `selftest` (retained): what the unit's latest self-test found, scheduled or asked for. The hub
/// keeps it and lists units whose test failed or is overdue, and certificates about to expire.
public struct SelfTestResultPayload: Codable, Sendable, Equatable {
    public var schema = "parkguard/selftest/1"
    public var site: String
    public var unit: String
    public var session: UInt64
    /// `scheduled`, `command` (the hub's `test`) or `doctor` (`parkguardd doctor --outputs`).
    public var trigger: String
    public var passed: Bool
    /// Outputs switched on for half a second and read back.
    public var outputs: [SelfTestReport.OutputCheck]
    /// Bells and inputs read at rest.
    public var inputs: [SelfTestReport.InputCheck]
    /// Bells whose test drive closed the circuit, and whether the line followed.
    public var testDrives: [TestDriveCheck]
    /// The cameras' published health at the time of the test.
    public var cameras: [CameraCheck]
    public var broker: BrokerCheck
    public var certificate: CertificateCheck?
    /// When the next scheduled test is due (RFC 3339); absent when none is scheduled.
    public var nextDue: String?
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool

    public struct TestDriveCheck: Codable, Sendable, Equatable {
        public var bell: String
        public var output: String
        public var ok: Bool
        /// Test drive on → the bell's line active.
        public var responseMs: Int?
        public var detail: String?
        public init(bell: String, output: String, ok: Bool, responseMs: Int?, detail: String?) {
            self.bell = bell
            self.output = output
            self.ok = ok
            self.responseMs = responseMs
            self.detail = detail
        }
    }

    public struct CameraCheck: Codable, Sendable, Equatable {
        public var id: String
        /// `nil` before the camera's first probe.
        public var status: CameraStatus?
        public var ok: Bool
        public init(id: String, status: CameraStatus?) {
            self.id = id
            self.status = status
            ok = status == .ok
        }
    }

    public struct BrokerCheck: Codable, Sendable, Equatable {
        public var ok: Bool
        public var roundTripMs: Int?
        public var detail: String?
        public init(ok: Bool, roundTripMs: Int?, detail: String?) {
            self.ok = ok
            self.roundTripMs = roundTripMs
            self.detail = detail
        }
    }

    public struct CertificateCheck: Codable, Sendable, Equatable {
        public var expires: String
        public var daysLeft: Int
        public var ok: Bool
        public init(expires: String, daysLeft: Int) {
            self.expires = expires
            self.daysLeft = daysLeft
            ok = daysLeft > 30
        }
    }

    public init(site: String, unit: String, session: UInt64, trigger: String, report: SelfTestReport, testDrives: [TestDriveCheck],
                cameras: [CameraCheck], broker: BrokerCheck, certificate: CertificateCheck?, nextDue: WallTime?, stamp: Stamp) {
        self.site = site
        self.unit = unit
        self.session = session
        self.trigger = trigger
        outputs = report.outputs
        inputs = report.inputs
        self.testDrives = testDrives
        self.cameras = cameras
        self.broker = broker
        self.certificate = certificate
        self.nextDue = nextDue?.rfc3339
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
        // Cameras and the certificate are reported, not failed on: a camera has its own health
        // topic, and an expiring certificate is a warning until the broker refuses it.
        passed = report.passed && testDrives.allSatisfy(\.ok) && broker.ok
    }

    /// What failed, for the console: `b2 test drive: line did not follow; siren: read back low`.
    public var problems: [String] {
        outputs.filter { !$0.ok }.map { "\($0.id): \($0.detail ?? "failed")" }
            + inputs.filter { !$0.ok }.map { "\($0.id): \($0.detail ?? "failed")" }
            + testDrives.filter { !$0.ok }.map { "\($0.bell) test drive: \($0.detail ?? "failed")" }
            + (broker.ok ? [] : ["broker: \(broker.detail ?? "failed")"])
    }
}
