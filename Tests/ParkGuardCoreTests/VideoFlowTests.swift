import ConfigLoader
import ParkGuardCore
import Testing

/// An RTP packet: version 2, `payload` bytes after the fixed header (and `csrcs` CSRCs).
private func rtp(sequence: UInt16, timestamp: UInt32, marker: Bool = false, payload: Int = 100, csrcs: Int = 0) -> [UInt8] {
    var packet: [UInt8] = [0x80 | UInt8(csrcs), (marker ? 0x80 : 0) | 26, UInt8(sequence >> 8), UInt8(sequence & 0xFF),
                           UInt8(timestamp >> 24), UInt8(timestamp >> 16 & 0xFF), UInt8(timestamp >> 8 & 0xFF), UInt8(timestamp & 0xFF),
                           0x1A, 0x2B, 0x3C, 0x4D]
    packet += [UInt8](repeating: 0, count: 4 * csrcs)
    return packet + [UInt8](repeating: 0xAB, count: payload)
}

private func interleaved(_ channel: UInt8, _ packet: [UInt8]) -> [UInt8] {
    [UInt8(ascii: "$"), channel, UInt8(packet.count >> 8), UInt8(packet.count & 0xFF)] + packet
}

private func t(_ seconds: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: seconds * 1_000_000_000) }

private let described = CameraProbeReport(
    connect: .success(.milliseconds(3)),
    rtsp: .success(.init(describeTime: .milliseconds(12), sdp: SDPSummary(videoCodec: "JPEG", media: ["video"]))))

private func withFlow(_ findings: VideoFlowFindings) -> CameraProbeReport {
    var report = described
    report.flow = .success(findings)
    return report
}

private let flowing = VideoFlowFindings(listened: .seconds(2), packets: 60, frames: 20, payloadBytes: 240_000,
                                        firstPacket: .milliseconds(40), lastPacket: .milliseconds(1960))
private let silent = VideoFlowFindings(listened: .seconds(2))
private let stopped = VideoFlowFindings(listened: .seconds(2), packets: 15, frames: 5, payloadBytes: 60_000,
                                        firstPacket: .milliseconds(5), lastPacket: .milliseconds(405))

@Suite("Video flow check: RTP over interleaved RTSP, counted and judged")
struct VideoFlowTests {
    @Test("an RTP header is read with its CSRCs, extension and padding; a packet whose header runs past its end is refused")
    func rtpHeader() throws {
        let plain = try RTPHeader.parse(rtp(sequence: 7, timestamp: 90_000, marker: true)[...])
        #expect(plain.payloadType == 26 && plain.marker && plain.sequence == 7 && plain.timestamp == 90_000)
        #expect(plain.ssrc == 0x1A2B_3C4D && plain.payloadLength == 100)
        #expect(try RTPHeader.parse(rtp(sequence: 1, timestamp: 1, csrcs: 2)[...]).payloadLength == 100)

        var extended = rtp(sequence: 1, timestamp: 1, payload: 0)
        extended[0] |= 0x10 | 0x20
        extended += [0xBE, 0xDE, 0, 1, 1, 2, 3, 4] + [UInt8](repeating: 9, count: 10) + [0, 0, 3]
        #expect(try RTPHeader.parse(extended[...]).payloadLength == 10)

        #expect(throws: RTSPParseError.self) { try RTPHeader.parse([0x80, 26, 0, 1][...]) }
        #expect(throws: RTSPParseError.self) { try RTPHeader.parse(([0x40] + rtp(sequence: 1, timestamp: 1).dropFirst())[...]) }
        var lying = rtp(sequence: 1, timestamp: 1, payload: 4)
        lying[0] |= 0x10
        lying += [0, 0, 0xFF, 0xFF]
        #expect(throws: RTSPParseError.self) { try RTPHeader.parse(lying[...]) }
    }

    @Test("interleaved frames and RTSP answers are split in order, whatever pieces the bytes come in")
    func interleavedSplit() throws {
        let answer = RTSPMessage(start: .response(status: 200, reason: "OK"), headers: [("CSeq", "4")], body: Array("abc".utf8))
        let stream = interleaved(0, rtp(sequence: 1, timestamp: 10)) + answer.encoded() + interleaved(1, [0x80, 200, 0, 1])
            + interleaved(0, rtp(sequence: 2, timestamp: 10, marker: true))
        for piece in [1, 3, 7, stream.count] {
            var reader = RTSPInterleavedReader()
            var items: [RTSPInterleavedReader.Item] = []
            var at = 0
            while at < stream.count {
                reader.feed(Array(stream[at ..< min(at + piece, stream.count)]))
                at += piece
                while let item = try reader.next() { items.append(item) }
            }
            #expect(items.count == 4)
            #expect(items[1] == .message(RTSPMessage(start: answer.start, headers: [("CSeq", "4"), ("Content-Length", "3")], body: answer.body)))
            guard case .packet(0, let first)? = items.first, case .packet(1, _) = items[2], case .packet(0, let last) = items[3] else {
                Issue.record("pieces of \(piece): \(items)")
                continue
            }
            #expect(Array(first) == rtp(sequence: 1, timestamp: 10))
            #expect(try RTPHeader.parse(last).marker)
            #expect(reader.buffered == 0)
        }
    }

    @Test("bytes that are neither an interleaved frame nor RTSP are refused, and an incomplete frame waits without growing past its length")
    func interleavedRefusals() throws {
        var garbage = RTSPInterleavedReader()
        garbage.feed([0x00, 0x01, 0x02, 0x03])
        #expect(throws: RTSPParseError.self) { try garbage.next() }

        var huge = RTSPInterleavedReader(limits: .init(head: 64, body: 64))
        huge.feed(Array("RTSP/1.0 200 OK\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 100))
        #expect(throws: RTSPParseError.self) { try huge.next() }

        var partial = RTSPInterleavedReader()
        partial.feed([UInt8(ascii: "$"), 0, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 1000))
        #expect(try partial.next() == nil)
        #expect(partial.buffered == 1004)
    }

    @Test("the meter counts frames by RTP timestamp, payload bytes without headers, and packets that are not RTP apart")
    func meter() {
        var meter = VideoFlowMeter()
        for frame in 0 ..< 5 {
            for piece in 0 ..< 3 {
                meter.record(rtp(sequence: UInt16(frame * 3 + piece), timestamp: UInt32(frame * 9000), marker: piece == 2, payload: 1000)[...],
                             at: .milliseconds(frame * 100 + 10))
            }
        }
        meter.record([1, 2, 3][...], at: .milliseconds(600))
        let findings = meter.finished(after: .seconds(1), byteLimitReached: false, closedByCamera: false)
        #expect(findings.frames == 5)
        #expect(findings.packets == 15)
        #expect(findings.malformed == 1)
        #expect(findings.payloadBytes == 15_000)
        #expect(findings.firstPacket == .milliseconds(10))
        #expect(findings.lastPacket == .milliseconds(410))
        #expect(findings.kilobitsPerSecond == 120)
        #expect(findings.framesPerTenSeconds == 50)
    }

    @Test("video that flows to the end is ok; none after PLAY, or none in the last half of the listening, is degraded (noVideoFlow)")
    func judgement() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: CameraHealthPolicy())
        #expect(tracker.classify(withFlow(flowing)).0 == .ok)
        let (status, why) = tracker.classify(withFlow(silent))
        #expect(status == .degraded)
        #expect(why == [CameraReason(.noVideoFlow, "flow: no video packet in 2000 ms after PLAY")])
        #expect(tracker.classify(withFlow(stopped)).1 == [CameraReason(.noVideoFlow, "flow: video stopped after 5 frames: nothing in the last 1595 ms of 2000")])
        var closed = flowing
        closed.closedByCamera = true
        closed.listened = .milliseconds(800)
        #expect(tracker.classify(withFlow(closed)).1.map(\.code) == [.noVideoFlow])
        var limited = stopped
        limited.byteLimitReached = true
        #expect(tracker.classify(withFlow(limited)).0 == .ok)
        var refused = described
        refused.flow = .failure(.init(.protocolError("SETUP answered 461 Unsupported Transport")))
        #expect(tracker.classify(refused).1 == [CameraReason(.noVideoFlow, "flow: SETUP answered 461 Unsupported Transport")])
        refused.flow = .failure(.init(.timeout("no complete answer within 1000 ms")))
        let (timedOut, timeoutWhy) = tracker.classify(refused)
        #expect(timedOut == .degraded)
        #expect(timeoutWhy == [CameraReason(.timeout, "flow: no complete answer within 1000 ms")])
    }

    @Test("the flow check is due on the first probe and every period after; its verdict holds for the probes between; a failed stream makes it due at once")
    func scheduleAndVerdict() {
        var tracker = CameraHealthTracker(camera: "cam-1", policy: CameraHealthPolicy(failuresToDown: 2, successesToUp: 2))
        #expect(!tracker.flowCheckDue(every: nil, at: t(0)))
        #expect(tracker.flowCheckDue(every: .seconds(60), at: t(0)))
        _ = tracker.observe(withFlow(flowing), at: t(0))
        #expect(!tracker.flowCheckDue(every: .seconds(60), at: t(30)))
        #expect(tracker.flowCheckDue(every: .seconds(60), at: t(60)))

        _ = tracker.observe(withFlow(silent), at: t(60))
        // The probes between flow checks carry the silent verdict: the status goes down.
        #expect(tracker.observe(described, at: t(90)) == .changed(from: .ok, to: .degraded))
        #expect(tracker.reasons.map(\.code) == [.noVideoFlow])
        #expect(!tracker.flowCheckDue(every: .seconds(60), at: t(100)))

        _ = tracker.observe(CameraProbeReport(connect: .failure(.init(.refused("refused")))), at: t(100))
        #expect(tracker.lastFlow?.at == nil)
        #expect(tracker.flowCheckDue(every: .seconds(60), at: t(101)))
    }

    @Test("the description's control URIs are read and resolved against its base")
    func controlURIs() throws {
        let sdp = try SDPSummary.parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\na=control:*\r\nm=audio 0 RTP/AVP 0\r\na=control:track=1\r\n"
            + "m=video 0 RTP/AVP 26\r\na=control:stream=0\r\n")
        #expect(sdp.sessionControl == "*")
        #expect(sdp.videoControl == "stream=0")
        #expect(SDPSummary.resolve(sdp.videoControl, base: "rtsp://cam/live/") == "rtsp://cam/live/stream=0")
        #expect(SDPSummary.resolve(sdp.videoControl, base: "rtsp://cam/live") == "rtsp://cam/live/stream=0")
        #expect(SDPSummary.resolve(sdp.sessionControl, base: "rtsp://cam/live/") == "rtsp://cam/live/")
        #expect(SDPSummary.resolve("rtsp://other:554/t0", base: "rtsp://cam/live/") == "rtsp://other:554/t0")
        #expect(SDPSummary.resolve(nil, base: "rtsp://cam/live/") == "rtsp://cam/live/")
    }

    @Test("rtsp.flowCheck is read with its defaults; a listen not shorter than the period, a byte limit out of range or an unknown key is refused")
    func configuration() throws {
        let base = "site: s\nunit: u\nbroker: {host: 127.0.0.1}\ngpio: {backend: sim, socket: /tmp/x.sock}\nbells: [{id: b1, line: 1}]\ncameras:\n"
        let config = try ConfigFile.parse(base + """
              - {id: c1, host: 10.0.0.5, rtsp: {port: 8554, path: /live, flowCheck: {every: 5m, listen: 2s, maxBytes: 1MiB}}}
              - {id: c2, host: 10.0.0.6, rtsp: {flowCheck: {}}}
              - {id: c3, host: 10.0.0.7}
            """, file: "agent.yaml")
        #expect(config.cameras[0].flowCheck == CameraConfig.FlowCheck(every: .seconds(300), listen: .seconds(2), maxBytes: 1 << 20))
        #expect(config.cameras[0].rtsp == CameraConfig.Endpoint(port: 8554, path: "/live"))
        #expect(config.cameras[1].flowCheck == CameraConfig.FlowCheck())
        #expect(config.cameras[2].flowCheck == nil)

        do {
            _ = try ConfigFile.parse(base + """
                  - {id: c1, host: 10.0.0.5, rtsp: {flowCheck: {every: 10s, listen: 10s}}}
                  - {id: c2, host: 10.0.0.6, rtsp: {flowCheck: {maxBytes: 1KiB}}}
                  - {id: c3, host: 10.0.0.7, rtsp: {flowCheck: {often: yes}}}
                """, file: "agent.yaml")
            Issue.record("accepted")
        } catch {
            let keys = error.errors.map(\.key)
            #expect(keys.contains("cameras[0].rtsp.flowCheck.listen"), "\(error.errors)")
            #expect(keys.contains("cameras[1].rtsp.flowCheck.maxBytes"), "\(error.errors)")
            #expect(keys.contains("cameras[2].rtsp.flowCheck.often"), "\(error.errors)")
        }
    }
}
