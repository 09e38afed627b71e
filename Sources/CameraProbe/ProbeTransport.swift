import ParkGuardCore
import SocketIO

typealias StepFailure = CameraProbeReport.StepFailure

/// TCP connections for the probes, each exchange bounded by a timeout and a size limit, so a
/// camera that stalls, floods or lies ends the step with a failure instead of hanging it.
enum ProbeTransport {
    /// Opens a TCP connection and returns it with the connect time.
    static func connect(host: String, port: Int, timeout: Duration) async throws(StepFailure) -> (StreamSocket, Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let socket = try await StreamSocket.connect(host: host, port: port, deadline: start + timeout)
            return (socket, clock.now - start)
        } catch {
            throw classify(error, during: "connect to \(host):\(port)")
        }
    }

    /// Maps a socket error to a probe failure.
    static func classify(_ error: SocketError, during label: String) -> StepFailure {
        let step = label.isEmpty ? "connection" : label
        switch error.kind {
        case .timeout:
            return StepFailure(.timeout(label.isEmpty ? "no complete answer in time" : "\(step): no answer to the TCP handshake"))
        case .refused: return StepFailure(.refused("\(step): connection refused"))
        case .reset: return StepFailure(.protocolError("\(step): connection reset"))
        case .cancelled: return StepFailure(.timeout("\(step): cancelled"))
        case .notFound, .denied, .unreachable, .other: return StepFailure(.unreachable("\(step): \(error.description.prefix(160))"))
        }
    }
}

// MARK: RTSP

/// One RTSP connection to a camera: requests answered in order, one outstanding at a time; after
/// PLAY, the interleaved RTP frames between the answers.
final class RTSPConnection {
    let socket: StreamSocket
    let connectTime: Duration
    private var reader = RTSPInterleavedReader()
    private var cseq = 0
    /// Most bytes buffered without a complete answer.
    static let bufferLimit = 300_000

    private init(socket: StreamSocket, connectTime: Duration) {
        self.socket = socket
        self.connectTime = connectTime
    }

    static func open(host: String, port: Int, timeout: Duration) async throws(StepFailure) -> RTSPConnection {
        let (socket, time) = try await ProbeTransport.connect(host: host, port: port, timeout: timeout)
        return RTSPConnection(socket: socket, connectTime: time)
    }

    /// Sends `method` for `uri` with the next CSeq and waits for its answer; interleaved frames
    /// that come before it are dropped.
    func exchange(_ method: String, uri: String, headers: [(String, String)], timeout: Duration) async throws(StepFailure) -> RTSPMessage {
        let request = next(method, uri: uri, headers: headers)
        let sent = cseq
        let deadline = ContinuousClock.now + timeout
        do {
            try await socket.send(request.encoded(), deadline: deadline)
            var first = reader.buffered == 0
            while true {
                while let item = try reader.next() {
                    guard case .message(let message) = item else { continue }
                    guard message.status != nil else { throw RTSPParseError("the camera sent a request instead of a response") }
                    if let echoed = message.header("CSeq"), Int(echoed.trimmingWhitespace) != sent {
                        throw StepFailure(.protocolError("answer carries CSeq \(echoed.prefix(12)), expected \(sent)"))
                    }
                    return message
                }
                guard reader.buffered <= Self.bufferLimit else {
                    throw StepFailure(.protocolError("the camera sent more than 300 kB without a complete answer"))
                }
                let bytes = try await socket.receive(upTo: 64 << 10, deadline: deadline, expectingWait: first)
                first = false
                guard !bytes.isEmpty else {
                    throw StepFailure(.protocolError(reader.buffered == 0 ? "the camera closed the connection without answering"
                                                         : "the camera closed the connection in the middle of an answer"))
                }
                reader.feed(bytes)
            }
        } catch let error as StepFailure {
            throw error
        } catch let error as RTSPParseError {
            throw StepFailure(.protocolError("not an RTSP answer: \(error)"))
        } catch let error as SocketError {
            if error.kind == .timeout { throw StepFailure(.timeout("no complete answer within \(CameraHealthTracker.ms(timeout)) ms")) }
            throw ProbeTransport.classify(error, during: "")
        } catch {
            throw StepFailure(.protocolError("\(error)"))
        }
    }

    /// Counts the packets of interleaved `channel` until `deadline` or `maxBytes` received,
    /// whichever comes first; `started` is PLAY's answer. RTCP and RTSP messages between the
    /// packets are skipped.
    func listen(channel: UInt8, started: ContinuousClock.Instant, deadline: ContinuousClock.Instant,
                maxBytes: Int) async throws(StepFailure) -> VideoFlowFindings {
        var meter = VideoFlowMeter()
        var received = 0
        do {
            while true {
                while let item = try reader.next() {
                    if case .packet(channel, let bytes) = item { meter.record(bytes, at: .now - started) }
                }
                if received >= maxBytes {
                    return meter.finished(after: .now - started, byteLimitReached: true, closedByCamera: false)
                }
                guard let bytes = try await receiveUnlessTimedOut(upTo: min(64 << 10, maxBytes - received), deadline: deadline) else {
                    return meter.finished(after: deadline - started, byteLimitReached: false, closedByCamera: false)
                }
                guard !bytes.isEmpty else {
                    return meter.finished(after: .now - started, byteLimitReached: false, closedByCamera: true)
                }
                received += bytes.count
                reader.feed(bytes)
            }
        } catch let error as RTSPParseError {
            throw StepFailure(.protocolError("neither RTP nor RTSP after PLAY: \(error)"))
        } catch let error as SocketError {
            throw ProbeTransport.classify(error, during: "")
        } catch {
            throw StepFailure(.protocolError("\(error)"))
        }
    }

    /// The next bytes, or `nil` when `deadline` passes first.
    private func receiveUnlessTimedOut(upTo limit: Int, deadline: ContinuousClock.Instant) async throws -> [UInt8]? {
        do {
            return try await socket.receive(upTo: limit, deadline: deadline, expectingWait: true)
        } catch {
            if error.kind == .timeout { return nil }
            throw error
        }
    }

    /// Sends `method` without waiting for its answer (TEARDOWN: RTP may still be in flight
    /// before it, and closing the connection ends an interleaved session anyway).
    func send(_ method: String, uri: String, headers: [(String, String)], timeout: Duration) async {
        try? await socket.send(next(method, uri: uri, headers: headers).encoded(), deadline: .now + timeout)
    }

    /// The next request on this connection, with its CSeq.
    private func next(_ method: String, uri: String, headers: [(String, String)]) -> RTSPMessage {
        cseq += 1
        return RTSPMessage(start: .request(method: method, uri: uri),
                           headers: [(name: "CSeq", value: "\(cseq)"), (name: "User-Agent", value: "parkguardd/\(ParkGuardVersion.current)")]
                               + headers.map { (name: $0.0, value: $0.1) })
    }

    func close() { socket.shutdown() }
}

// MARK: HTTP

/// An HTTP answer.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var elapsed: Duration

    /// Every header called `name` (any case), in order.
    func headers(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }
}

/// HTTP/1.1 requests to one camera port, on one connection kept open between them while the
/// camera allows it (a probe's ONVIF calls and snapshot requests share it: one TCP handshake
/// instead of four). A kept connection the camera has meanwhile closed is noticed at the next
/// request — no byte of an answer before the end or a reset — and that request is sent once
/// more on a new connection; the requests the probe makes are all read-only.
final class HTTPConnection {
    let host: String
    let port: Int
    let connectTimeout: Duration
    private var socket: StreamSocket?

    init(host: String, port: Int, connectTimeout: Duration) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
    }

    deinit { socket?.shutdown() }

    func close() {
        socket?.shutdown()
        socket = nil
    }

    /// One request and its answer; `elapsed` counts from the request's start, a connect included.
    func request(method: String, path: String, headers extra: [(String, String)] = [], body: [UInt8] = [],
                 timeout: Duration, limit: Int) async throws(StepFailure) -> HTTPAnswer {
        let clock = ContinuousClock()
        let start = clock.now
        var head = "\(method) \(path) HTTP/1.1\r\n"
        head += "Host: \(port == 80 ? host : (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"))\r\n"
        head += "User-Agent: parkguardd/\(ParkGuardVersion.current)\r\n"
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8) + body
        if let kept = socket {
            socket = nil
            switch try await exchange(request, on: kept, reused: true, start: start, timeout: timeout, limit: limit) {
            case .answer(let answer): return answer
            case .stale: break
            }
        }
        let (fresh, _) = try await ProbeTransport.connect(host: host, port: port, timeout: connectTimeout)
        switch try await exchange(request, on: fresh, reused: false, start: start, timeout: timeout, limit: limit) {
        case .answer(let answer): return answer
        case .stale: throw StepFailure(.protocolError("the camera closed the connection without answering"))
        }
    }

    private enum Outcome {
        case answer(HTTPAnswer)
        /// A kept connection that the camera had closed: send again on a new one.
        case stale
    }

    private func exchange(_ request: [UInt8], on socket: StreamSocket, reused: Bool, start: ContinuousClock.Instant,
                          timeout: Duration, limit: Int) async throws(StepFailure) -> Outcome {
        let deadline = ContinuousClock.now + timeout
        var reader = HTTPResponseReader(limits: .init(body: limit))
        var received = 0
        do {
            try await socket.send(request, deadline: deadline)
            while true {
                let bytes = try await socket.receive(upTo: 64 << 10, deadline: deadline, expectingWait: received == 0)
                received += bytes.count
                let response: HTTPResponse?
                if bytes.isEmpty {
                    if reused && received == 0 { return .stale }
                    do { response = try reader.finish() } catch {
                        throw StepFailure(.protocolError(received == 0 ? "the camera closed the connection without answering"
                                                             : "the camera closed the connection in the middle of an answer"))
                    }
                } else {
                    response = try reader.feed(bytes)
                }
                if let response {
                    if response.keepAlive { self.socket = socket } else { socket.shutdown() }
                    return .answer(HTTPAnswer(status: response.status, headers: response.headers, body: response.body,
                                              elapsed: ContinuousClock.now - start))
                }
            }
        } catch let error as StepFailure {
            socket.shutdown()
            throw error
        } catch let error as HTTPParseError {
            socket.shutdown()
            throw StepFailure(.protocolError("not an HTTP answer: \(error)"))
        } catch let error as SocketError {
            socket.shutdown()
            if reused && received == 0 && error.kind == .reset { return .stale }
            if error.kind == .timeout { throw StepFailure(.timeout("no complete answer within \(CameraHealthTracker.ms(timeout)) ms")) }
            throw ProbeTransport.classify(error, during: "")
        } catch {
            socket.shutdown()
            throw StepFailure(.protocolError("\(error)"))
        }
    }
}
