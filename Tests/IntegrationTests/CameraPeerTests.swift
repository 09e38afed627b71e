import CameraProbe
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ParkGuardCore
import ParkGuardTestKit
import Testing

/// The probes against servers nobody here wrote, the simulator against a client nobody here
/// wrote, and the probes against peers that lie.
@Suite("Camera probes against real peers and lying ones")
struct CameraPeerTests {
    static let gstAvailable = (try? runBlocking("/usr/bin/python3", ["-c", "import gi; gi.require_version('GstRtspServer', '1.0')"]).status) == 0

    @Test("the probe passes Digest authentication of GStreamer's RTSP server and reads its video codec; a wrong password is authFailed",
          .enabled(if: gstAvailable, "needs Debian's python3-gst-1.0 and gir1.2-gst-rtsp-server-1.0"))
    func gstreamerRTSPServer() async throws {
        let (server, port) = try await Self.startGStreamer(in: try ScratchDirectory())
        defer { server.signal(SIGTERM) }
        let camera = CameraConfig(id: "gst", host: "127.0.0.1", rtsp: .init(port: port, path: "/stream1"))
        let prober = CameraProber(connectTimeout: .seconds(2), stepTimeout: .seconds(5))

        let report = await prober.probe(camera, credentials: CameraCredentials(username: "viewer", password: "s3cret"))
        guard case .success(let rtsp)? = report.rtsp else {
            Issue.record("probe failed: \(String(describing: report.rtsp))")
            return
        }
        #expect(rtsp.sdp.offersVideo)
        #expect(rtsp.sdp.videoCodec == "JPEG")
        // Again: the remembered challenge is answered up front (or, if the server takes a nonce
        // only once, the probe is refused once and answers the new challenge).
        let again = try await Self.probeGStreamer(prober, camera, CameraCredentials(username: "viewer", password: "s3cret"))
        #expect({ if case .success? = again.rtsp { true } else { false } }(), "\(String(describing: again.rtsp))")

        let refused = await prober.probe(camera, credentials: CameraCredentials(username: "viewer", password: "wrong"))
        guard case .failure(let failure)? = refused.rtsp, case .authFailed = failure.failure else {
            Issue.record("expected authFailed, got \(String(describing: refused.rtsp))")
            return
        }
        let anonymous = await prober.probe(camera, credentials: nil)
        #expect({ if case .failure(let f)? = anonymous.rtsp, case .authFailed = f.failure { true } else { false } }())
    }

    /// GStreamer's RTSP server on a free port with Digest for viewer/s3cret, once it is ready.
    static func startGStreamer(in directory: ScratchDirectory) async throws -> (Child, Int) {
        let port = freePort()
        let server = try Child("/usr/bin/python3", [Products.packageRoot + "/Tests/peers/gst_rtsp_server.py", "\(port)", "viewer", "s3cret"],
                               in: directory, name: "gst")
        #expect(try await eventually(timeout: .seconds(20)) { server.stdout.contains("ready") }, "gst server: \(server.stderr)")
        return (server, port)
    }

    /// A probe of GStreamer's server, asked again once if it answers 503: it does while it tears
    /// down the shared media the previous client left (seen under load), and a camera's 503 is a
    /// real answer the probe must report, so the test waits for the server instead.
    static func probeGStreamer(_ prober: CameraProber, _ camera: CameraConfig, _ credentials: CameraCredentials?,
                               flowCheck: Bool = false) async throws -> CameraProbeReport {
        let report = await prober.probe(camera, credentials: credentials, flowCheck: flowCheck)
        guard case .failure(let failure)? = report.rtsp, failure.failure.description.contains("503") else { return report }
        try await Task.sleep(for: .seconds(1))
        return await prober.probe(camera, credentials: credentials, flowCheck: flowCheck)
    }

    @Test("the flow check receives GStreamer's RTP/JPEG over interleaved TCP behind Digest: frames, bit rate, then TEARDOWN",
          .enabled(if: gstAvailable, "needs Debian's python3-gst-1.0 and gir1.2-gst-rtsp-server-1.0"))
    func gstreamerVideoFlow() async throws {
        let (server, port) = try await Self.startGStreamer(in: try ScratchDirectory())
        defer { server.signal(SIGTERM) }
        let check = CameraConfig.FlowCheck(every: .seconds(60), listen: .seconds(2), maxBytes: 4 << 20)
        let camera = CameraConfig(id: "gst", host: "127.0.0.1", rtsp: .init(port: port, path: "/stream1"), flowCheck: check)
        let prober = CameraProber(connectTimeout: .seconds(2), stepTimeout: .seconds(5))
        let credentials = CameraCredentials(username: "viewer", password: "s3cret")
        for round in 1 ... 2 {
            let report = try await Self.probeGStreamer(prober, camera, credentials, flowCheck: true)
            guard case .success(let flow)? = report.flow else {
                Issue.record("round \(round): \(String(describing: report.flow)); rtsp: \(String(describing: report.rtsp))")
                return
            }
            // 5 frames a second for 2 s.
            #expect((6 ... 12).contains(flow.frames), "\(flow)")
            #expect(flow.malformed == 0)
            #expect(flow.kilobitsPerSecond > 10, "\(flow)")
            #expect(flow.firstPacket.map { $0 < .seconds(1) } == true, "\(flow)")
            #expect(!flow.closedByCamera && !flow.byteLimitReached)
            var tracker = CameraHealthTracker(camera: "gst", policy: CameraHealthPolicy())
            #expect(tracker.classify(report).0 == .ok, "\(tracker.classify(report))")
        }
        // A byte limit ends listening early, and the stream counts as flowing.
        var small = camera
        small.flowCheck?.maxBytes = 64 << 10
        let limited = try await Self.probeGStreamer(prober, small, credentials, flowCheck: true)
        guard case .success(let flow)? = limited.flow else { Issue.record("\(String(describing: limited.flow))"); return }
        #expect(flow.byteLimitReached, "\(flow)")
        #expect(flow.listened < .seconds(2))
        // Without the flag the probe stops at DESCRIBE.
        let plain = try await Self.probeGStreamer(prober, camera, credentials)
        #expect({ if case .success? = plain.rtsp { true } else { false } }() && plain.flow == nil)
    }

    @Test("a camera's Digest challenge is answered up front on the next probe, on Python's HTTP/1.1 server: 6 snapshots cost 2 refusals, one of them an expired nonce the probe recovers from at once")
    func digestChallengeReused() async throws {
        let directory = try ScratchDirectory()
        let image = directory.file("snap.jpg")
        let made = try await run("/usr/bin/ffmpeg", ["-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", image])
        try #require(made.status == 0, "ffmpeg: \(made.error)")
        let port = freePort()
        // The server's nonce changes at its 7th request.
        let server = try Child("/usr/bin/python3", [Products.packageRoot + "/Tests/peers/digest_snapshot_server.py", "\(port)", "viewer", "s3cret", image, "7"],
                               in: directory, name: "digest")
        defer { server.signal(SIGTERM) }
        #expect(try await eventually(timeout: .seconds(10)) { server.stdout.contains("ready") }, "digest server: \(server.stderr)")
        let camera = CameraConfig(id: "py", host: "127.0.0.1", rtsp: nil, snapshot: .init(port: port, path: "/snap.jpg"))
        let prober = CameraProber(connectTimeout: .seconds(2), stepTimeout: .seconds(5))
        for probe in 1 ... 6 {
            let report = await prober.probe(camera, credentials: CameraCredentials(username: "viewer", password: "s3cret"))
            guard case .success(let snapshot)? = report.snapshot else {
                Issue.record("probe \(probe): \(String(describing: report.snapshot))")
                return
            }
            #expect(snapshot.width == 320 && snapshot.height == 240)
        }
        let lines = server.stdout.split(separator: "\n").map(String.init)
        // Without reuse: 12 requests, 6 of them refused. With it: the first probe's challenge,
        // then one request per probe, and one refusal when the nonce expired.
        #expect(lines.filter { $0.hasPrefix("401") } == ["401 no credentials", "401 stale nonce"], "\(lines)")
        #expect(lines.filter { $0.hasPrefix("200") } == ["200 nc=00000001", "200 nc=00000002", "200 nc=00000003", "200 nc=00000004",
                                                         "200 nc=00000005", "200 nc=00000001"], "\(lines)")
        // A wrong password is still refused, whatever was remembered.
        let refused = await prober.probe(camera, credentials: CameraCredentials(username: "viewer", password: "wrong"))
        #expect({ if case .failure(let f)? = refused.snapshot, case .authFailed = f.failure { true } else { false } }(), "\(String(describing: refused.snapshot))")
    }

    @Test("ffprobe and ffmpeg, real RTSP clients, pass the simulated camera's Digest and decode its RTP/JPEG video",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ffprobe"), "needs Debian's ffmpeg"))
    func ffprobeAcceptsSimulator() async throws {
        let directory = try ScratchDirectory()
        let rtspPort = freePort(), httpPort = freePort()
        let passwordPath = directory.file("cam.pass")
        try "pa55word\n".write(toFile: passwordPath, atomically: true, encoding: .utf8)
        let config = directory.file("agent.yaml")
        try """
            site: s
            unit: u
            broker: { host: 127.0.0.1, port: 1883 }
            gpio: { backend: sim, socket: \(directory.file("gpio.sock")) }
            cameras:
              - id: cam-1
                host: 127.0.0.1
                rtsp: { port: \(rtspPort), path: /stream1 }
                snapshot: { port: \(httpPort) }
                username: admin
                passwordFile: \(passwordPath)
            bells: [{ id: b1, line: 1 }]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let sim = try Child(Products.path("parkguard-sim"), ["serve", "--agent-config", config, "--socket", directory.file("gpio.sock"),
                                                            "--listen", "127.0.0.1:0"], in: directory, name: "sim")
        defer { sim.signal(SIGTERM) }
        #expect(try await eventually { sim.stdout.contains("cameras: 1 serving") })

        let probe = try await run("/usr/bin/ffprobe", ["-v", "debug", "-rtsp_transport", "tcp", "-timeout", "5000000",
                                                 "rtsp://admin:pa55word@127.0.0.1:\(rtspPort)/stream1"])
        #expect(probe.error.contains("SDP:"), "\(probe.error.suffix(2000))")
        #expect(probe.error.contains("a=rtpmap:26 JPEG/90000"))
        #expect(!probe.error.contains("DESCRIBE failed"))
        #expect(!probe.error.contains("SETUP failed"))
        let stream = try await run("/usr/bin/ffprobe", ["-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
                                                  "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0",
                                                  "rtsp://admin:pa55word@127.0.0.1:\(rtspPort)/stream1"])
        #expect(stream.output.trimmingCharacters(in: .whitespacesAndNewlines) == "mjpeg,320,240", "\(stream.error.suffix(2000))")
        // Ten frames decoded from RTP without a decoder error: the RFC 2435 packets rebuild whole JPEG images.
        let decoded = try await run("/usr/bin/ffmpeg", ["-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000",
                                                  "-i", "rtsp://admin:pa55word@127.0.0.1:\(rtspPort)/stream1",
                                                  "-frames:v", "10", "-f", "framemd5", "-"])
        #expect(decoded.status == 0, "\(decoded.error.suffix(2000))")
        #expect(decoded.error.isEmpty, "\(decoded.error.suffix(2000))")
        let frames = decoded.output.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(frames.count == 10, "\(decoded.output.suffix(1000))")
        // The picture moves: consecutive frames differ.
        #expect(Set(frames.map { $0.split(separator: ",").last ?? "" }).count > 5)

        let wrong = try await run("/usr/bin/ffprobe", ["-v", "error", "-rtsp_transport", "tcp", "rtsp://admin:nope@127.0.0.1:\(rtspPort)/stream1"])
        #expect(wrong.error.contains("401"))

        // The snapshot is a real JPEG a real decoder reads.
        let image = try await run("/usr/bin/ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0",
                                                 "http://admin:pa55word@127.0.0.1:\(httpPort)/snapshot.jpg"])
        #expect(image.output.trimmingCharacters(in: .whitespacesAndNewlines) == "mjpeg,320,240", "\(image.error)")
    }

    @Test("300 probes against random and truncated RTSP, ONVIF and HTTP answers: every probe ends in a classified result, none hangs past its timeouts")
    func fuzzProbes() async throws {
        let server = try await LyingCamera.start(seed: 2026)
        defer { server.close() }
        let camera = CameraConfig(id: "liar", host: "127.0.0.1", rtsp: .init(port: server.port, path: "/s"),
                                  onvif: .init(port: server.port, path: "/onvif/device_service"),
                                  snapshot: .init(port: server.port, path: "/snap.jpg"))
        let prober = CameraProber(connectTimeout: .milliseconds(300), stepTimeout: .milliseconds(150))
        // At most 7 steps of 150 ms and 5 connects of 300 ms (2.55 s): every step has its own
        // deadline, set when its request is written, that reads do not extend. What the bound
        // adds is slack for a machine busy with the rest of the suite. It can still fail if
        // something holds the threads that resume the probe's task: a test that blocks one of
        // Swift's concurrency-pool threads (2 on this machine) while a command runs did, which
        // is why `run` in ParkGuardTestKit waits on a thread of its own; so did the seeded fuzz
        // loops (26 s of parsing on a pool thread; CI measured 8.3 s), which now use `offPool`.
        let bound = Duration.seconds(8)
        var tracker = CameraHealthTracker(camera: "liar", policy: CameraHealthPolicy())
        var outcomes: [String: Int] = [:]
        var slowest = Duration.zero
        let clock = ContinuousClock()
        for index in 0 ..< 300 {
            let started = clock.now
            let report = await prober.probe(camera, credentials: index % 2 == 0 ? CameraCredentials(username: "u", password: "p") : nil)
            let elapsed = clock.now - started
            slowest = max(slowest, elapsed)
            #expect(elapsed < bound, "probe \(index) took \(elapsed)")
            let (status, reasons) = tracker.classify(report)
            outcomes["\(status.rawValue):\(reasons.first?.code.rawValue ?? "-")", default: 0] += 1
        }
        #expect(server.connections() >= 900, "only \(server.connections()) answers were served")
        // Lies must never pass as a healthy camera with video.
        #expect(outcomes.keys.contains { $0.hasPrefix("offline") })
        print("fuzzProbes: \(server.connections()) lying answers, slowest probe \(slowest), outcomes \(outcomes.sorted { $0.key < $1.key })")
    }
}

/// A TCP server that answers RTSP and HTTP requests with mutated versions of real answers:
/// truncated, bit-flipped, random bytes, absurd lengths, or nothing at all.
final class LyingCamera: Sendable {
    let channel: any Channel
    let port: Int
    private let served: NIOLockedValueBox<Int>

    static func start(seed: UInt64) async throws -> LyingCamera {
        let served = NIOLockedValueBox(0)
        let random = NIOLockedValueBox(SeededRandom(seed: seed))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(LyingHandler(served: served, random: random)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LyingCamera(channel: channel, port: channel.localAddress?.port ?? 0, served: served)
    }

    private init(channel: any Channel, port: Int, served: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.port = port
        self.served = served
    }

    func connections() -> Int { served.withLockedValue { $0 } }
    func close() { channel.close(promise: nil) }
}

private final class LyingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let served: NIOLockedValueBox<Int>
    let random: NIOLockedValueBox<SeededRandom>
    private var request: [UInt8] = []

    init(served: NIOLockedValueBox<Int>, random: NIOLockedValueBox<SeededRandom>) {
        self.served = served
        self.random = random
    }

    static let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    static let onvif = #"<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime><tt:Time><tt:Hour>10</tt:Hour><tt:Minute>3</tt:Minute><tt:Second>4</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>11</tt:Month><tt:Day>25</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"#
    static let jpeg = (try? JPEGCodec.encodeGrey((0 ..< 64 * 48).map { UInt8($0 % 251) }, width: 64, height: 48)) ?? []

    static func truths(for request: String) -> [[UInt8]] {
        let cseq = request.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("cseq:") }?.dropFirst(5)
            .trimmingCharacters(in: .whitespaces) ?? "1"
        if request.hasPrefix("OPTIONS") {
            return [Array("RTSP/1.0 200 OK\r\nCSeq: \(cseq)\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n".utf8)]
        }
        if request.hasPrefix("DESCRIBE") {
            return [Array("RTSP/1.0 401 Unauthorized\r\nCSeq: \(cseq)\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n\r\n".utf8),
                    Array("RTSP/1.0 200 OK\r\nCSeq: \(cseq)\r\nContent-Type: application/sdp\r\nContent-Length: \(sdp.utf8.count)\r\n\r\n\(sdp)".utf8)]
        }
        if request.hasPrefix("POST") {
            return [Array("HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: \(onvif.utf8.count)\r\n\r\n\(onvif)".utf8)]
        }
        return [Array("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: \(jpeg.count)\r\n\r\n".utf8) + jpeg,
                Array("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n".utf8)]
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        request += bytes.readBytes(length: bytes.readableBytes) ?? []
        guard let text = String(validating: request, as: UTF8.self), text.contains("\r\n\r\n") else { return }
        request = []
        served.withLockedValue { $0 += 1 }
        let (answer, close) = random.withLockedValue { generator -> ([UInt8], Bool) in
            var truth = Self.truths(for: text).randomElement(using: &generator)!
            let close = Bool.random(using: &generator)
            switch Int.random(in: 0 ..< 8, using: &generator) {
            case 0: return (truth, close)
            case 1: return (Array(truth.prefix(Int.random(in: 0 ... truth.count, using: &generator))), close)
            case 2:
                for _ in 0 ..< Int.random(in: 1 ... 8, using: &generator) {
                    truth[Int.random(in: 0 ..< truth.count, using: &generator)] = UInt8.random(in: 0 ... 255, using: &generator)
                }
                return (truth, close)
            case 3: return ((0 ..< Int.random(in: 1 ... 4096, using: &generator)).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }, close)
            case 4:
                let lying = String(decoding: truth, as: UTF8.self).replacingOccurrences(of: "Content-Length: ", with: "Content-Length: 99999")
                return (Array(lying.utf8), close)
            case 5: return (Array(truth.prefix(truth.count / 2)) + Array(repeating: UInt8(ascii: "A"), count: 20_000), close)
            case 6: return ([], Bool.random(using: &generator))
            default:
                let body = String(decoding: truth, as: UTF8.self).replacingOccurrences(of: "\r\n\r\n", with: "\r\nX-Junk: \u{7}\u{0}\r\n\r\n")
                return (Array(body.utf8), close)
            }
        }
        if !answer.isEmpty { context.writeAndFlush(NIOAny(ByteBuffer(bytes: answer)), promise: nil) }
        if close { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
