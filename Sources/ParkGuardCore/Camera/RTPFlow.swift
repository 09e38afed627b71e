/// The fixed header of one RTP packet (RFC 3550 §5.1), and where its payload is.
public struct RTPHeader: Sendable, Equatable {
    public var payloadType: UInt8
    public var marker: Bool
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    /// Bytes of payload after the CSRC list and header extension, padding excluded.
    public var payloadLength: Int

    /// Reads the header of `packet`.
    /// - Throws: ``RTSPParseError`` when the bytes are not an RTP version 2 packet whose header,
    ///   extension and padding fit in it.
    public static func parse(_ packet: ArraySlice<UInt8>) throws(RTSPParseError) -> RTPHeader {
        let base = packet.startIndex
        guard packet.count >= 12 else { throw RTSPParseError("RTP packet of \(packet.count) bytes is shorter than its 12-byte header") }
        let first = packet[base]
        guard first >> 6 == 2 else { throw RTSPParseError("RTP version \(first >> 6), expected 2") }
        func u16(_ at: Int) -> Int { Int(packet[base + at]) << 8 | Int(packet[base + at + 1]) }
        var headerLength = 12 + 4 * Int(first & 0x0F)
        if first & 0x10 != 0 {
            guard packet.count >= headerLength + 4 else { throw RTSPParseError("RTP header extension runs past the packet") }
            headerLength += 4 + 4 * u16(headerLength + 2)
        }
        var padding = 0
        if first & 0x20 != 0, let last = packet.last { padding = Int(last) }
        guard packet.count >= headerLength + padding else {
            throw RTSPParseError("RTP header (\(headerLength) bytes) and padding (\(padding)) run past the packet of \(packet.count)")
        }
        let second = packet[base + 1]
        return RTPHeader(payloadType: second & 0x7F, marker: second & 0x80 != 0, sequence: UInt16(u16(2)),
                         timestamp: UInt32(u16(4)) << 16 | UInt32(u16(6)), ssrc: UInt32(u16(8)) << 16 | UInt32(u16(10)),
                         payloadLength: packet.count - headerLength - padding)
    }
}

/// Splits what an RTSP server sends on one TCP connection after PLAY: RTP and RTCP packets in
/// interleaved frames (`$`, channel, 16-bit length; RFC 2326 §10.12) and RTSP messages between
/// them. Holds at most one incomplete frame or message (≤ 64 KiB, or the message limits) beyond
/// the bytes last fed.
public struct RTSPInterleavedReader: Sendable {
    /// One complete item at the front of the stream.
    public enum Item: Sendable, Equatable {
        case packet(channel: UInt8, bytes: ArraySlice<UInt8>)
        case message(RTSPMessage)
    }

    public let limits: RTSPParser.Limits
    private var buffer: [UInt8] = []
    private var start = 0

    public init(limits: RTSPParser.Limits = RTSPParser.Limits()) { self.limits = limits }

    /// Bytes fed and not yet taken as items.
    public var buffered: Int { buffer.count - start }

    /// Appends bytes as they came from the socket.
    public mutating func feed(_ bytes: [UInt8]) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer += bytes
    }

    /// The next complete item, or `nil` when more bytes are needed.
    /// - Throws: ``RTSPParseError`` when the bytes are neither an interleaved frame nor RTSP.
    public mutating func next() throws(RTSPParseError) -> Item? {
        guard start < buffer.count else { return nil }
        if buffer[start] == UInt8(ascii: "$") {
            guard buffer.count - start >= 4 else { return nil }
            let channel = buffer[start + 1]
            let length = Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
            guard buffer.count - start - 4 >= length else { return nil }
            let bytes = buffer[start + 4 ..< start + 4 + length]
            start += 4 + length
            return .packet(channel: channel, bytes: bytes)
        }
        switch try RTSPParser.parse(buffer[start...], limits: limits) {
        case .incomplete:
            return nil
        case .message(let message, let consumed):
            start += consumed
            return .message(message)
        }
    }
}

/// What a flow check received after PLAY.
public struct VideoFlowFindings: Sendable, Equatable {
    /// From PLAY's answer to the end of listening.
    public var listened: Duration
    /// RTP packets on the video channel, and those of them that were not RTP.
    public var packets: Int
    public var malformed: Int
    /// Frames begun: runs of packets with one RTP timestamp.
    public var frames: Int
    /// RTP payload bytes (headers and padding excluded).
    public var payloadBytes: Int
    /// When the first and the last video packet came, counted from PLAY's answer.
    public var firstPacket: Duration?
    public var lastPacket: Duration?
    /// Listening ended early at the check's byte limit (the stream was flowing).
    public var byteLimitReached: Bool
    /// The camera closed the connection while the check listened.
    public var closedByCamera: Bool

    public init(listened: Duration, packets: Int = 0, malformed: Int = 0, frames: Int = 0, payloadBytes: Int = 0,
                firstPacket: Duration? = nil, lastPacket: Duration? = nil, byteLimitReached: Bool = false, closedByCamera: Bool = false) {
        self.listened = listened
        self.packets = packets
        self.malformed = malformed
        self.frames = frames
        self.payloadBytes = payloadBytes
        self.firstPacket = firstPacket
        self.lastPacket = lastPacket
        self.byteLimitReached = byteLimitReached
        self.closedByCamera = closedByCamera
    }

    /// Payload bit rate over the time listened, in kbit/s.
    public var kilobitsPerSecond: Int {
        let ms = CameraHealthTracker.ms(listened)
        return ms > 0 ? payloadBytes * 8 / ms : 0
    }

    /// Frames per second over the time listened, in tenths.
    public var framesPerTenSeconds: Int {
        let ms = CameraHealthTracker.ms(listened)
        return ms > 0 ? frames * 10_000 / ms : 0
    }
}

/// Counts the video packets of one flow check as they come.
public struct VideoFlowMeter: Sendable {
    public private(set) var findings: VideoFlowFindings
    private var timestamp: UInt32?

    public init() { findings = VideoFlowFindings(listened: .zero) }

    /// Records one packet of the video channel, received `elapsed` after PLAY's answer.
    public mutating func record(_ packet: ArraySlice<UInt8>, at elapsed: Duration) {
        guard let header = try? RTPHeader.parse(packet) else {
            findings.malformed += 1
            return
        }
        findings.packets += 1
        findings.payloadBytes += header.payloadLength
        if findings.firstPacket == nil { findings.firstPacket = elapsed }
        findings.lastPacket = elapsed
        if header.timestamp != timestamp {
            findings.frames += 1
            timestamp = header.timestamp
        }
    }

    /// The findings once listening has ended after `listened`.
    public func finished(after listened: Duration, byteLimitReached: Bool, closedByCamera: Bool) -> VideoFlowFindings {
        var result = findings
        result.listened = listened
        result.byteLimitReached = byteLimitReached
        result.closedByCamera = closedByCamera
        return result
    }
}
