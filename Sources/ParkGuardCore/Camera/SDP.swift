/// What the probe needs from an SDP session description (RFC 4566): whether it offers video,
/// and with which codec.
public struct SDPSummary: Sendable, Equatable {
    /// The encoding name of the first video format (`H264`, `H265`, `JPEG`, ...), or the static
    /// payload type number when no `rtpmap` names it.
    public var videoCodec: String?
    /// Media types offered, in order (`video`, `audio`, `application`).
    public var media: [String]
    /// The `a=control:` attribute of the session and of the first video stream (RFC 2326 C.1.1):
    /// the URIs SETUP and PLAY address, absolute or relative to the description's base.
    public var sessionControl: String?
    public var videoControl: String?

    public var offersVideo: Bool { media.contains("video") }

    public init(videoCodec: String?, media: [String], sessionControl: String? = nil, videoControl: String? = nil) {
        self.videoCodec = videoCodec
        self.media = media
        self.sessionControl = sessionControl
        self.videoControl = videoControl
    }

    /// The URI of `control` against `base` (the answer's `Content-Base`, or the DESCRIBE URI):
    /// an absolute `rtsp://` URI as it is, `*` or none as the base, a relative one appended.
    public static func resolve(_ control: String?, base: String) -> String {
        guard let control, !control.isEmpty, control != "*" else { return base }
        if control.lowercased().hasPrefix("rtsp://") || control.lowercased().hasPrefix("rtsps://") { return control }
        return base.hasSuffix("/") ? base + control : base + "/" + control
    }

    /// Parses `text`.
    /// - Throws: ``RTSPParseError`` when the text is not a session description at all.
    public static func parse(_ text: String) throws(RTSPParseError) -> SDPSummary {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { $0.trimmingSpaces }
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
        guard lines.first?.hasPrefix("v=") == true else {
            throw RTSPParseError("the description does not start with 'v=' (not SDP)")
        }
        var media: [String] = []
        var videoFormat: String?
        var inVideo = false
        var codec: String?
        var sessionControl: String?
        var videoControl: String?
        var inSession = true
        for line in lines {
            guard line.count >= 2, line.dropFirst().first == "=" else {
                throw RTSPParseError("SDP line is not 'x=...': '\(line.prefix(60))'")
            }
            if line.hasPrefix("m=") {
                let fields = line.dropFirst(2).split(separator: " ")
                guard fields.count >= 4 else { throw RTSPParseError("SDP media line has too few fields: '\(line.prefix(60))'") }
                media.append(String(fields[0]))
                inSession = false
                inVideo = fields[0] == "video" && videoFormat == nil
                if inVideo { videoFormat = String(fields[3]) }
            } else if line.hasPrefix("a=control:") {
                let value = String(line.dropFirst("a=control:".count).prefix(512))
                if inSession { sessionControl = value } else if inVideo { videoControl = value }
            } else if inVideo, line.hasPrefix("a=rtpmap:"), let format = videoFormat {
                let rest = line.dropFirst("a=rtpmap:".count)
                let parts = rest.split(separator: " ", maxSplits: 1)
                if parts.count == 2, parts[0] == format {
                    codec = String(parts[1].split(separator: "/").first ?? "")
                }
            }
        }
        if codec == nil, let format = videoFormat {
            codec = format == "26" ? "JPEG" : format == "32" ? "MPV" : format == "34" ? "H263" : "payload \(format)"
        }
        return SDPSummary(videoCodec: codec, media: media, sessionControl: sessionControl, videoControl: videoControl)
    }
}
