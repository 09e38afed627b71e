/// The common header of every payload: schema name, wall time, monotonic time and whether the
/// wall clock is trustworthy (units without an RTC boot with a wrong clock until NTP syncs).
public struct Stamp: Sendable, Equatable {
    public var wall: WallTime
    public var mono: MonotonicInstant
    public var clockSynced: Bool
    public init(wall: WallTime, mono: MonotonicInstant, clockSynced: Bool) {
        self.wall = wall
        self.mono = mono
        self.clockSynced = clockSynced
    }
}

/// `status` (retained): `online` at connect, `offline` as the Last Will and at clean shutdown.
public struct StatusPayload: Encodable, Sendable {
    public var schema = "parkguard/status/1"
    public var state: String
    public var site: String
    public var unit: String
    public var version: String
    public var bootId: String
    public var session: UInt64
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool
    /// `clean` for an orderly shutdown, `lost` for the Last Will.
    public var reason: String?
    /// Alarms at the broker still awaiting the hub's receipt when this status was published.
    public var awaitingReceipt: Int?
    /// Where the unit is (configured).
    public var location: Location?
    /// When the unit's TLS certificate expires (RFC 3339), so the hub can warn before it does.
    public var certificateExpires: String?

    public init(online: Bool, site: String, unit: String, version: String, bootID: String, session: UInt64,
                stamp: Stamp, reason: String? = nil) {
        state = online ? "online" : "offline"
        self.site = site
        self.unit = unit
        self.version = version
        self.bootId = bootID
        self.session = session
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
        self.reason = reason
    }
}

/// `bell/{bell}/alarm`: one bell event, at least once, de-duplicated by `id` at the hub.
public struct AlarmPayload: Codable, Sendable, Equatable {
    public var schema = "parkguard/alarm/1"
    public var id: String
    public var seq: UInt64
    public var session: UInt64
    public var site: String
    public var unit: String
    public var bell: String
    public var kind: AlarmKind
    /// The bell's state after this event.
    public var state: BellState
    /// The tamper or door input, for `tamper` and `tamperRestored`.
    public var input: String?
    public var detail: String?
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool
    /// Milliseconds since boot of the line change itself (kernel timestamp).
    public var edgeMono: UInt64
    public var cameras: [CameraLink]
    /// Where the bell is (its own configured location, else its unit's).
    public var location: Location?

    public init(id: String, seq: UInt64, session: UInt64, site: String, unit: String, bell: String,
                kind: AlarmKind, state: BellState, input: String? = nil, detail: String? = nil,
                stamp: Stamp, edge: MonotonicInstant, cameras: [CameraLink]) {
        self.id = id
        self.seq = seq
        self.session = session
        self.site = site
        self.unit = unit
        self.bell = bell
        self.kind = kind
        self.state = state
        self.input = input
        self.detail = detail
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
        edgeMono = edge.milliseconds
        self.cameras = cameras
    }
}

/// `bell/{bell}/state` (retained).
public struct BellStatePayload: Encodable, Sendable {
    public var schema = "parkguard/bell-state/1"
    public var bell: String
    public var state: BellState
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool

    public init(bell: String, state: BellState, stamp: Stamp) {
        self.bell = bell
        self.state = state
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
    }
}

/// `telemetry` (QoS 0, every heartbeat).
public struct TelemetryPayload: Encodable, Sendable, Equatable {
    public var schema = "parkguard/telemetry/1"
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool
    public var session: UInt64
    public var uptimeSeconds: UInt64
    public var agentUptimeSeconds: UInt64
    public var load1: Double?
    public var load5: Double?
    public var load15: Double?
    public var memTotalBytes: UInt64?
    public var memAvailableBytes: UInt64?
    public var agentRssBytes: UInt64?
    public var diskFreeBytes: UInt64?
    public var diskTotalBytes: UInt64?
    public var cpuTemperatureC: Double?
    public var outboxDepth: Int
    public var outboxBytes: Int
    /// Why the durable outbox cannot be written right now (disk full, read-only, I/O error).
    public var storageFault: String?
    public var drops: Drops
    public var brokerRttMs: Double?
    public var link: Link
    public var receipts: Receipts
    /// Edge read → outputs switched, over the recent presses; nil before the first.
    public var annunciation: Annunciation?
    /// GPIO edges the kernel dropped since the agent started (its event buffer overflowed);
    /// absent where the backend cannot tell (libgpiod 1.6).
    public var edgesLost: UInt64?

    /// How quickly the outputs followed the presses (``AnnunciationWindow``).
    public struct Annunciation: Encodable, Sendable, Equatable {
        /// Presses that switched outputs since the agent started.
        public var presses: UInt64
        /// The most recent presses the percentiles are taken over.
        public var window: Int
        public var p50Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
        public init(presses: UInt64, window: Int, p50Ms: Double, p99Ms: Double, maxMs: Double) {
            self.presses = presses
            self.window = window
            self.p50Ms = p50Ms
            self.p99Ms = p99Ms
            self.maxMs = maxMs
        }
    }

    /// The end-to-end delivery figures: alarms the hub has not yet confirmed in its log.
    public struct Receipts: Encodable, Sendable, Equatable {
        /// `receipt` or `puback`: what retires an alarm.
        public var mode: String
        /// Alarms the broker has acknowledged that still await the hub's receipt.
        public var awaiting: Int = 0
        /// Age of the oldest of them, seconds since it was first published.
        public var oldestSeconds: Double?
        /// Receipt messages accepted, ids named that were not awaited, receipts refused.
        public var received: UInt64 = 0
        public var unknownIds: UInt64 = 0
        public var refused: UInt64 = 0
        public init(mode: String) { self.mode = mode }
    }

    /// Messages given up, by reason; every one is counted.
    public struct Drops: Encodable, Sendable, Equatable {
        /// Offline heartbeats merged away because too many were queued.
        public var telemetryCoalesced: UInt64 = 0
        public var queueFull: UInt64 = 0
        public var rejectedByBroker: UInt64 = 0
        /// Snapshots dropped for room (the queue's bounds or the snapshots' share).
        public var snapshots: UInt64 = 0
        public init() {}
    }

    /// The broker link as the agent sees it.
    public struct Link: Encodable, Sendable, Equatable {
        public var connected: Bool
        public var reconnects: UInt64
        public var protocolVersion: String
        public init(connected: Bool, reconnects: UInt64, protocolVersion: String) {
            self.connected = connected
            self.reconnects = reconnects
            self.protocolVersion = protocolVersion
        }
    }

    public init(stamp: Stamp, session: UInt64, uptimeSeconds: UInt64, agentUptimeSeconds: UInt64,
                outboxDepth: Int, outboxBytes: Int, drops: Drops, brokerRttMs: Double?, link: Link,
                receipts: Receipts = Receipts(mode: "receipt")) {
        self.receipts = receipts
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
        self.session = session
        self.uptimeSeconds = uptimeSeconds
        self.agentUptimeSeconds = agentUptimeSeconds
        self.outboxDepth = outboxDepth
        self.outboxBytes = outboxBytes
        self.drops = drops
        self.brokerRttMs = brokerRttMs
        self.link = link
    }
}

/// `event`: agent lifecycle.
public struct EventPayload: Encodable, Sendable {
    public enum Name: String, Encodable, Sendable {
        case started, stopping, configReloaded, clockSynced, outboxRecovered, selfTest, storageFault, dropped
        /// An alarm has waited longer than `delivery.receiptOverdue` for the hub's receipt.
        case receiptOverdue
        /// An overdue alarm was finally receipted.
        case receiptReceived
        /// The kernel's GPIO event buffer overflowed and edges of a line were lost (libgpiod 2).
        case edgesLost
        /// A PTZ camera was (or could not be) turned to a bell's preset, or back home; `data`
        /// names the camera, preset, bell, `outcome` (moved, refused, timedOut, failed) and, for
        /// a press, its `alarmId`.
        case ptz
        /// A linked camera's picture for an alarm could not be taken; `data` names the camera,
        /// `alarmId`, `stage`, `outcome` (timedOut, refused, failed, badImage) and `detail`.
        case snapshot
    }
    public var schema = "parkguard/event/1"
    public var event: Name
    public var message: String
    public var session: UInt64
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool
    public var data: [String: String]?

    public init(event: Name, message: String, session: UInt64, stamp: Stamp, data: [String: String]? = nil) {
        self.event = event
        self.message = message
        self.session = session
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
        self.data = data
    }
}

/// `camera/{camera}/health` (retained): on every status change and every `reportInterval`.
public struct CameraHealthPayload: Encodable, Sendable {
    public var schema = "parkguard/camera-health/1"
    public var camera: String
    public var status: CameraStatus
    public var reasons: [CameraReason]
    /// When the camera entered this status (wall time as best known then).
    public var since: String
    public var time: String
    public var mono: UInt64
    public var clockSynced: Bool
    /// The last probe's measurements.
    public var checks: Checks

    /// Measurements of the last probe; absent fields were not measured.
    public struct Checks: Encodable, Sendable, Equatable {
        public var connectMs: Int?
        public var rtspDescribeMs: Int?
        public var codec: String?
        public var clockOffsetMs: Int?
        public var onvifMs: Int?
        public var device: [String: String]?
        public var snapshot: Snapshot?
        /// The last flow check's figures (it runs less often than the probes).
        public var flow: Flow?
        /// The status this probe alone showed, before hysteresis.
        public var observed: CameraStatus?

        public struct Flow: Encodable, Sendable, Equatable {
            public var frames: Int
            public var fps: Double
            public var kbps: Int
            public var listenMs: Int
            /// From PLAY's answer to the first video packet.
            public var firstPacketMs: Int?
            /// Seconds since the check ran.
            public var ageS: Int
        }

        public struct Snapshot: Encodable, Sendable, Equatable {
            public var width: Int
            public var height: Int
            public var bytes: Int
            public var meanLuma: Int
        }

        public init(report: CameraProbeReport?, observed: CameraStatus?, flow: (findings: VideoFlowFindings, age: Duration)? = nil) {
            self.observed = observed
            if let (findings, age) = flow {
                self.flow = Flow(frames: findings.frames, fps: Double(findings.framesPerTenSeconds) / 10, kbps: findings.kilobitsPerSecond,
                                 listenMs: CameraHealthTracker.ms(findings.listened), firstPacketMs: findings.firstPacket.map(CameraHealthTracker.ms),
                                 ageS: Int(age.components.seconds))
            }
            guard let report else { return }
            if case .success(let time)? = report.connect { connectMs = CameraHealthTracker.ms(time) }
            if case .success(let rtsp)? = report.rtsp {
                rtspDescribeMs = CameraHealthTracker.ms(rtsp.describeTime)
                codec = rtsp.sdp.videoCodec
            }
            if case .success(let onvif)? = report.onvif {
                clockOffsetMs = CameraHealthTracker.ms(onvif.clockOffset)
                onvifMs = CameraHealthTracker.ms(onvif.responseTime)
                if case .success(let info)? = onvif.deviceInformation { device = info }
            }
            if case .success(let shot)? = report.snapshot {
                snapshot = Snapshot(width: shot.width, height: shot.height, bytes: shot.bytes, meanLuma: Int(shot.meanLuma.rounded()))
            }
        }
    }

    public init(camera: String, status: CameraStatus, reasons: [CameraReason], since: WallTime, stamp: Stamp, checks: Checks) {
        self.camera = camera
        self.status = status
        self.reasons = reasons
        self.since = since.rfc3339
        time = stamp.wall.rfc3339
        mono = stamp.mono.milliseconds
        clockSynced = stamp.clockSynced
        self.checks = checks
    }
}
