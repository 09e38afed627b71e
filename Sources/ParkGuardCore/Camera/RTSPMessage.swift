/// One RTSP/1.0 message (RFC 2326 §6, §7): a request or a response, its headers and body.
///
/// RTSP's framing is HTTP/1.1's, but HTTP parsers refuse the `RTSP/1.0` version, so the probe and
/// the simulator share this small codec. It accepts at most ``limits`` bytes of head and body, so a
/// lying peer cannot make either side buffer without end.
public struct RTSPMessage: Sendable, Equatable {
    /// The first line: `METHOD uri RTSP/1.0` or `RTSP/1.0 code reason`.
    public enum StartLine: Sendable, Equatable {
        case request(method: String, uri: String)
        case response(status: Int, reason: String)
    }

    public var start: StartLine
    /// Headers in order; names compared without case.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(start: StartLine, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.start = start
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: RTSPMessage, rhs: RTSPMessage) -> Bool {
        lhs.start == rhs.start && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    /// The first header called `name` (any case).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// Every header called `name` (any case), in order.
    public func headers(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }

    /// The status code of a response, `nil` for a request.
    public var status: Int? {
        if case .response(let status, _) = start { return status }
        return nil
    }

    /// The wire form, with `Content-Length` added when there is a body.
    public func encoded() -> [UInt8] {
        var text: String
        switch start {
        case .request(let method, let uri): text = "\(method) \(uri) RTSP/1.0\r\n"
        case .response(let status, let reason): text = "RTSP/1.0 \(status) \(reason)\r\n"
        }
        for header in headers where header.name.lowercased() != "content-length" {
            text += "\(header.name): \(header.value)\r\n"
        }
        if !body.isEmpty { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + body
    }
}

/// Why bytes are not an RTSP message.
public struct RTSPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Incremental RTSP message parser over a byte buffer.
public enum RTSPParser {
    /// Size limits for one message.
    public struct Limits: Sendable {
        public var head: Int
        public var body: Int
        public init(head: Int = 16 << 10, body: Int = 256 << 10) {
            self.head = head
            self.body = body
        }
    }

    /// The outcome of looking at the start of a buffer.
    public enum Outcome: Sendable, Equatable {
        /// More bytes are needed.
        case incomplete
        /// A message, and how many bytes it took.
        case message(RTSPMessage, consumed: Int)
    }

    /// Parses the message at the start of `bytes`.
    /// - Throws: ``RTSPParseError`` when the bytes cannot become a valid message.
    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(RTSPParseError) -> Outcome {
        let buffer = Array(bytes)
        guard let headEnd = endOfHead(buffer) else {
            if buffer.count > limits.head { throw RTSPParseError("message head longer than \(limits.head) bytes") }
            if let first = buffer.first, first != UInt8(ascii: "R"), !(UInt8(ascii: "A") ... UInt8(ascii: "Z")).contains(first) {
                throw RTSPParseError("does not start like an RTSP message (first byte 0x\(String(first, radix: 16)))")
            }
            return .incomplete
        }
        if headEnd > limits.head { throw RTSPParseError("message head longer than \(limits.head) bytes") }
        guard let head = String(validating: buffer[..<headEnd], as: UTF8.self) else {
            throw RTSPParseError("message head is not UTF-8 text")
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        guard let first = lines.first else { throw RTSPParseError("empty message head") }
        let start = try startLine(first)
        let headers = try headerFields(lines.dropFirst())
        var length = 0
        if let text = headers.first(where: { $0.name.lowercased() == "content-length" })?.value {
            guard let value = Int(text), value >= 0 else { throw RTSPParseError("bad Content-Length '\(text.prefix(20))'") }
            guard value <= limits.body else { throw RTSPParseError("body of \(value) bytes is over the limit of \(limits.body)") }
            length = value
        }
        let bodyStart = headEnd + 4
        guard buffer.count - bodyStart >= length else { return .incomplete }
        let message = RTSPMessage(start: start, headers: headers, body: Array(buffer[bodyStart ..< bodyStart + length]))
        return .message(message, consumed: bodyStart + length)
    }

    private static func startLine(_ line: String) throws(RTSPParseError) -> RTSPMessage.StartLine {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        if line.hasPrefix("RTSP/") {
            guard parts.count >= 2, parts[0] == "RTSP/1.0", let status = Int(parts[1]), (100 ... 599).contains(status) else {
                throw RTSPParseError("bad status line '\(line.prefix(80))'")
            }
            return .response(status: status, reason: parts.count > 2 ? parts[2] : "")
        }
        guard parts.count == 3, parts[2] == "RTSP/1.0", !parts[0].isEmpty, !parts[1].isEmpty,
              parts[0].allSatisfy({ $0.isASCII && ($0.isUppercase || $0 == "_") }) else {
            throw RTSPParseError("bad request line '\(line.prefix(80))'")
        }
        return .request(method: parts[0], uri: parts[1])
    }

    /// `Name: value` lines, as RTSP and HTTP/1.1 write them (RFC 9112 §5).
    static func headerFields(_ lines: some Sequence<String>) throws(RTSPParseError) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw RTSPParseError("header line without ':': '\(line.prefix(60))'") }
            let name = String(line[..<colon])
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw RTSPParseError("bad header name '\(name.prefix(60))'")
            }
            headers.append((name, line[line.index(after: colon)...].trimmingSpaces))
        }
        return headers
    }

    static func endOfHead(_ buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0 ... buffer.count - 4
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
