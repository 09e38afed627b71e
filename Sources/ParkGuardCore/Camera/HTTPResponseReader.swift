/// One HTTP/1.x response, as the camera probe reads it.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var reason: String
    /// Headers in order; names compared without case.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the connection may carry another request: HTTP/1.1 without `Connection: close`,
    /// a body framed by its length or chunks (not by the close), and nothing sent after it.
    public var keepAlive = false

    public init(status: Int, reason: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.reason == rhs.reason && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    /// Every header called `name` (any case), in order.
    public func headers(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }
}

/// Why bytes are not an HTTP response.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Reads one HTTP/1.0 or 1.1 response from bytes as they arrive (RFC 9112): the status line and
/// headers (shared with the RTSP codec, same grammar), then a body framed by `Content-Length`,
/// by chunks, or by the end of the connection. Interim `1xx` answers are skipped. Every part is
/// bounded — the head, each chunk line, the trailers and the body — so a camera that lies or
/// floods costs at most the limits. SwiftNIO's parser (llhttp) is not in the daemon, and
/// Debian's libhttp-parser is no longer maintained upstream; this covers the small part a probe
/// needs and is fuzzed (`parkguard-fuzz http-response`).
public struct HTTPResponseReader: Sendable {
    public struct Limits: Sendable {
        public var head: Int
        public var body: Int
        public init(head: Int = 16 << 10, body: Int) {
            self.head = head
            self.body = body
        }
    }

    private enum Phase: Sendable {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers(bytes: Int)
        case untilClose
        case done
    }

    private let limits: Limits
    private var pending: [UInt8] = []
    private var scanned = 0
    private var phase = Phase.head
    private var interim = 0
    private var response = HTTPResponse(status: 0, reason: "", headers: [], body: [])
    /// HTTP/1.1 and no `Connection: close`.
    private var persistent = false

    public init(limits: Limits) { self.limits = limits }

    /// Adds `bytes` that arrived; returns the response once it is complete.
    public mutating func feed(_ bytes: [UInt8]) throws(HTTPParseError) -> HTTPResponse? {
        pending += bytes
        return try advance()
    }

    /// The peer closed the connection: the response, if its body ends there.
    public mutating func finish() throws(HTTPParseError) -> HTTPResponse {
        if let done = try advance() { return done }
        if case .untilClose = phase {
            phase = .done
            return response
        }
        throw HTTPParseError(phaseIsHead ? (pending.isEmpty ? "the connection closed without an answer"
                                                              : "the connection closed in the middle of the answer's head")
                                          : "the connection closed in the middle of the answer's body")
    }

    private var phaseIsHead: Bool {
        if case .head = phase { return true }
        return false
    }

    private mutating func advance() throws(HTTPParseError) -> HTTPResponse? {
        while true {
            switch phase {
            case .done:
                var done = response
                done.keepAlive = persistent && pending.isEmpty
                return done
            case .head:
                guard try readHead() else { return nil }
            case .fixed(let remaining):
                let left = takeBody(remaining)
                guard left == 0 else {
                    phase = .fixed(remaining: left)
                    return nil
                }
                phase = .done
            case .untilClose:
                guard response.body.count + pending.count <= limits.body else {
                    throw HTTPParseError("body is longer than \(limits.body) bytes")
                }
                response.body += pending
                pending = []
                return nil
            case .chunkSize:
                guard let line = try takeLine(limit: 1024, what: "chunk size line") else { return nil }
                let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                guard !digits.isEmpty, digits.count <= 8,
                      let size = Int(String(decoding: digits, as: UTF8.self), radix: 16), size >= 0 else {
                    throw HTTPParseError("bad chunk size '\(String(decoding: line.prefix(20), as: UTF8.self))'")
                }
                guard response.body.count + size <= limits.body else { throw HTTPParseError("body is longer than \(limits.body) bytes") }
                phase = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let left = takeBody(remaining)
                guard left == 0 else {
                    phase = .chunkData(remaining: left)
                    return nil
                }
                phase = .chunkEnd
            case .chunkEnd:
                guard pending.count >= 2 else { return nil }
                guard pending[0] == 13, pending[1] == 10 else { throw HTTPParseError("a chunk does not end with CRLF") }
                pending.removeFirst(2)
                phase = .chunkSize
            case .trailers(let bytes):
                guard let line = try takeLine(limit: limits.head - bytes, what: "trailers") else { return nil }
                guard bytes + line.count + 2 <= limits.head else { throw HTTPParseError("trailers longer than \(limits.head) bytes") }
                phase = line.isEmpty ? .done : .trailers(bytes: bytes + line.count + 2)
            }
        }
    }

    /// Moves up to `remaining` body bytes that have arrived into the body; returns how many are still to come.
    private mutating func takeBody(_ remaining: Int) -> Int {
        let take = min(remaining, pending.count)
        response.body += pending.prefix(take)
        pending.removeFirst(take)
        return remaining - take
    }

    /// A CRLF-ended line, without its CRLF; `nil` until one has arrived.
    private mutating func takeLine(limit: Int, what: String) throws(HTTPParseError) -> [UInt8]? {
        var index = 0
        while index + 1 < pending.count {
            if pending[index] == 13, pending[index + 1] == 10 {
                let line = Array(pending[..<index])
                pending.removeFirst(index + 2)
                return line
            }
            index += 1
        }
        if pending.count > max(0, limit) { throw HTTPParseError("\(what) longer than \(limit) bytes") }
        return nil
    }

    /// Reads the head once it has all arrived; false until then.
    private mutating func readHead() throws(HTTPParseError) -> Bool {
        var end: Int?
        var index = max(0, scanned - 3)
        while index + 3 < pending.count {
            if pending[index] == 13, pending[index + 1] == 10, pending[index + 2] == 13, pending[index + 3] == 10 {
                end = index
                break
            }
            index += 1
        }
        guard let end else {
            scanned = pending.count
            if pending.count > limits.head { throw HTTPParseError("answer head longer than \(limits.head) bytes") }
            if pending.count >= 5, !pending.starts(with: Array("HTTP/".utf8)) {
                throw HTTPParseError("does not start like an HTTP answer")
            }
            return false
        }
        guard end <= limits.head else { throw HTTPParseError("answer head longer than \(limits.head) bytes") }
        guard let head = String(validating: pending[..<end], as: UTF8.self) else { throw HTTPParseError("answer head is not UTF-8 text") }
        pending.removeFirst(end + 4)
        scanned = 0
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let parts = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0", parts[1].count == 3,
              let status = Int(parts[1]), (100 ... 599).contains(status) else {
            throw HTTPParseError("bad status line '\(lines[0].prefix(80))'")
        }
        let headers: [(name: String, value: String)]
        do { headers = try RTSPParser.headerFields(lines.dropFirst()) } catch { throw HTTPParseError(error.description) }
        if status < 200 {
            interim += 1
            guard interim <= 4 else { throw HTTPParseError("more than 4 interim (1xx) answers") }
            return try readHead()
        }
        response = HTTPResponse(status: status, reason: parts.count > 2 ? String(parts[2].prefix(120)) : "", headers: headers, body: [])
        let connection = response.headers("Connection").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } }
        persistent = parts[0] == "HTTP/1.1" && !connection.contains("close")
        let codings = response.headers("Transfer-Encoding").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } }
        let lengths = Set(response.headers("Content-Length").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces } })
        if status == 204 || status == 304 {
            phase = .done
        } else if !codings.isEmpty {
            guard codings.last == "chunked" else { throw HTTPParseError("unsupported Transfer-Encoding '\(codings.joined(separator: ", ").prefix(40))'") }
            phase = .chunkSize
        } else if let text = lengths.first {
            guard lengths.count == 1, text.count <= 12, text.allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(text) else {
                throw HTTPParseError("bad Content-Length '\(text.prefix(20))'")
            }
            guard length <= limits.body else { throw HTTPParseError("body of \(length) bytes is longer than \(limits.body) bytes") }
            phase = .fixed(remaining: length)
        } else {
            phase = .untilClose
            persistent = false
        }
        return true
    }
}
