import CMosquitto
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import ParkGuardCore

/// The one Swift owner of a libmosquitto client handle.
///
/// It runs the network loop on a thread of its own (`mosquitto_loop`, not `loop_start`), or, when
/// given a ``MosquittoNetworkLoop``, on that loop's shared thread, so that reconnects follow the
/// core's ``ReconnectBackoff`` with jitter; it reports everything that happens as
/// ``MQTTEvent``s on ``events``. Callbacks only hand events over and return.
///
/// - Important: `publish` returning without error means libmosquitto queued the message and will
///   resend it after a reconnect within this process (even when it answered `MOSQ_ERR_NO_CONN`);
///   it does not mean the broker has it. Only ``MQTTEvent/published(mid:reason:)`` means that.
public final class MosquittoClient: Sendable {
    /// The events of this connection, in order. Finishes after ``MQTTEvent/closed``.
    public let events: AsyncStream<MQTTEvent>

    // SAFETY: the handle is created in init and destroyed in deinit; between the two it is used
    // from the loop thread and from publishers, which libmosquitto allows after
    // `mosquitto_threaded_set(true)` (its packet queue has its own mutexes).
    nonisolated(unsafe) let handle: OpaquePointer
    let box: CallbackBox
    let settings: MQTTSettings
    private let network: MosquittoNetworkLoop?
    private let logger: Logger
    private let control = Locked(LoopControl())
    /// Interrupts the own thread's backoff wait; none on a shared loop (one descriptor pair less
    /// per client: a fleet process runs thousands).
    private let wake: WakePipe?

    private struct LoopControl {
        var started = false
        var stopping = false
        var threadExited = false
    }

    /// Creates the client; nothing is sent until ``start()``.
    /// - Parameter network: the shared loop to run on; `nil` gives the client a thread of its own.
    /// - Throws: ``MQTTError`` if libmosquitto refuses a setting (bad TLS file, bad option).
    public init(settings: MQTTSettings, network: MosquittoNetworkLoop? = nil, logger: Logger) throws(MQTTError) {
        MosquittoLibrary.initialise()
        self.settings = settings
        self.network = network
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTEvent.self)
        events = stream
        box = CallbackBox(continuation: continuation)
        wake = network == nil ? try WakePipe() : nil
        // SAFETY: `box` outlives the handle (both are released together in deinit, the handle
        // first), so the unretained pointer is valid in every callback.
        let userdata = Unmanaged.passUnretained(box).toOpaque()
        guard let handle = mosquitto_new(settings.clientID, settings.cleanSession, userdata) else {
            throw MQTTError(code: Int32(MOSQ_ERR_NOMEM.rawValue), operation: "mosquitto_new", message: "out of memory or invalid client id")
        }
        self.handle = handle
        do {
            try configure()
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
    }

    deinit {
        mosquitto_destroy(handle)
        box.continuation.finish()
    }

    private func configure() throws(MQTTError) {
        try check(mosquitto_threaded_set(handle, true), "threaded_set")
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION,
                                       settings.mqtt5 ? Int32(MQTT_PROTOCOL_V5) : Int32(MQTT_PROTOCOL_V311)), "protocol version")
        try check(mosquitto_int_option(handle, MOSQ_OPT_SEND_MAXIMUM, Int32(settings.maxInflight)), "send maximum")
        // No Nagle: a small packet written right after another (a hub's PUBACK then a receipt,
        // a unit's alarm then its bell state) would otherwise wait for the broker's delayed ACK,
        // about 40 ms on Linux. Measured: press → receipt p50 45 ms with Nagle.
        try check(mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1), "tcp nodelay")
        mosquitto_connect_v5_callback_set(handle) { _, userdata, reason, _, _ in
            CallbackBox.from(userdata).yield(.connected(reason: reason, description: connackText(reason)))
        }
        mosquitto_disconnect_v5_callback_set(handle) { _, userdata, reason, _ in
            CallbackBox.from(userdata).yield(.disconnected(reason: reason, description: errorText(reason)))
        }
        mosquitto_publish_v5_callback_set(handle) { _, userdata, mid, reason, _ in
            CallbackBox.from(userdata).yield(.published(mid: mid, reason: reason))
        }
        mosquitto_subscribe_v5_callback_set(handle) { _, userdata, mid, count, granted, _ in
            let list = (0 ..< Int(count)).map { granted?[$0] ?? 0x80 }
            CallbackBox.from(userdata).yield(.subscribed(mid: mid, granted: list))
        }
        mosquitto_message_v5_callback_set(handle) { _, userdata, message, properties in
            guard let message = message?.pointee else { return }
            CallbackBox.from(userdata).yield(.message(MQTTMessage(message, properties)))
        }
        if let username = settings.username {
            try check(mosquitto_username_pw_set(handle, username, settings.password), "username")
        }
        if let ca = settings.caFile {
            try check(mosquitto_tls_set(handle, ca, nil, settings.certFile, settings.keyFile, nil), "tls_set")
            try check(mosquitto_tls_opts_set(handle, 1, "tlsv1.2", nil), "tls_opts_set")
            try check(mosquitto_tls_insecure_set(handle, !settings.verifyHostname), "tls_insecure_set")
        }
        if let will = settings.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set_v5(handle, will.topic, Int32(bytes.count), bytes.baseAddress, 1, true, nil)
            }
            try check(rc, "will_set")
        }
    }

    /// Starts the network thread: it connects, and reconnects with backoff until ``stop()``.
    public func start() {
        let first = control.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        if let network {
            network.register(self)
        } else {
            detachThread(named: "pg-mqtt") { [self] in
                runLoop()
            }
        }
    }

    /// Publishes; returns the message id (for QoS 1, the id ``MQTTEvent/published(mid:reason:)`` names).
    /// - Throws: ``MQTTError`` when libmosquitto refused the message outright (it is not queued).
    ///   `MOSQ_ERR_NO_CONN` is not thrown: the message is queued and goes out after reconnect.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool,
                        correlationData: [UInt8]? = nil, contentType: String? = nil,
                        userProperties: [(String, String)] = []) throws(MQTTError) -> Int32 {
        var mid: Int32 = 0
        var properties: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&properties) }
        if settings.mqtt5, let correlationData, !correlationData.isEmpty {
            let rc = correlationData.withUnsafeBytes { bytes in
                mosquitto_property_add_binary(&properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue),
                                              bytes.baseAddress, UInt16(min(bytes.count, 65535)))
            }
            try check(rc, "correlation data")
        }
        // MQTT 3.1.1 has no properties: what they say must then travel in the payload.
        if settings.mqtt5, let contentType {
            try check(mosquitto_property_add_string(&properties, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), contentType), "content type")
        }
        if settings.mqtt5 {
            for (name, value) in userProperties {
                try check(mosquitto_property_add_string_pair(&properties, Int32(MQTT_PROP_USER_PROPERTY.rawValue), name, value),
                          "user property \(name)")
            }
        }
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, qos, retain, properties)
        }
        if rc == MOSQ_ERR_NO_CONN.rawValue, qos > 0 { return mid }
        try check(rc, "publish \(topic)")
        network?.flush(self)
        return mid
    }

    /// Subscribes; returns the message id that ``MQTTEvent/subscribed(mid:granted:)`` names.
    @discardableResult
    public func subscribe(_ filter: String, qos: Int32) throws(MQTTError) -> Int32 {
        var mid: Int32 = 0
        try check(mosquitto_subscribe_v5(handle, &mid, filter, qos, 0, nil), "subscribe \(filter)")
        network?.flush(self)
        return mid
    }

    /// Sends DISCONNECT (so the broker does not publish the Will) and ends the network thread.
    /// Returns once the thread has exited, or after `timeout`.
    public func stop(timeout: Duration = .seconds(2)) async {
        let alreadyStopping = control.withLock { state -> Bool in
            defer { state.stopping = true }
            return state.stopping || !state.started
        }
        if !alreadyStopping {
            _ = mosquitto_disconnect_v5(handle, 0, nil)
            if let network { network.stop(self) } else { wake?.signal() }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !control.withLock({ $0.threadExited || !$0.started }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    // MARK: The network thread

    private var stopping: Bool { control.withLock { $0.stopping } }

    private func runLoop() {
        var backoff = ReconnectBackoff(initial: settings.reconnectInitial, maximum: settings.reconnectMax)
        var everConnected = false
        let keepalive = Int32(max(5, settings.keepalive.components.seconds))
        // CONNECT properties: libmosquitto keeps a copy and sends it again on every reconnect.
        var properties: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&properties) }
        if settings.mqtt5, let expiry = settings.sessionExpiry {
            _ = mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue),
                                             UInt32(clamping: expiry.components.seconds))
        }
        while !stopping {
            let rc = everConnected
                ? mosquitto_reconnect(handle)
                : mosquitto_connect_bind_v5(handle, settings.host, Int32(settings.port), keepalive, nil, properties)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                let wait = backoff.next { Double.random(in: 0 ..< 1) }
                box.yield(.connectFailed(MQTTError(code: rc, operation: "connect \(settings.host):\(settings.port)",
                                                   message: errorText(rc)), retryIn: wait))
                wake?.wait(for: wait)
                continue
            }
            everConnected = true
            var loopRC = Int32(MOSQ_ERR_SUCCESS.rawValue)
            var sawTraffic = false
            while !stopping || loopRC == MOSQ_ERR_SUCCESS.rawValue && mosquitto_want_write(handle) {
                loopRC = mosquitto_loop(handle, 1000, 1)
                if loopRC != MOSQ_ERR_SUCCESS.rawValue { break }
                if !sawTraffic, box.connectedOnce { sawTraffic = true; backoff.reset() }
            }
            if stopping { break }
            let wait = backoff.next { Double.random(in: 0 ..< 1) }
            logger.debug("mqtt loop ended", metadata: ["rc": "\(loopRC)", "error": "\(errorText(loopRC))", "retryIn": "\(wait)"])
            wake?.wait(for: wait)
        }
        loopEnded()
    }

    /// The network loop (own thread or shared) is done with this client.
    func loopEnded() {
        box.yield(.closed)
        box.continuation.finish()
        control.withLock { $0.threadExited = true }
    }

    private func check(_ rc: Int32, _ operation: String) throws(MQTTError) {
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(code: rc, operation: operation, message: errorText(rc))
        }
    }
}

/// What the C callbacks reach through their userdata pointer: the stream continuation.
final class CallbackBox: Sendable {
    let continuation: AsyncStream<MQTTEvent>.Continuation
    private let connected = Locked(false)

    init(continuation: AsyncStream<MQTTEvent>.Continuation) { self.continuation = continuation }

    /// Whether a CONNACK was accepted since the last time the loop asked.
    var connectedOnce: Bool { connected.withLock { value in defer { value = false }; return value } }

    func yield(_ event: MQTTEvent) {
        if case .connected(reason: 0, _) = event { connected.withLock { $0 = true } }
        continuation.yield(event)
    }

    static func from(_ userdata: UnsafeMutableRawPointer?) -> CallbackBox {
        // SAFETY: every handle is created with a CallbackBox as userdata (see MosquittoClient.init).
        Unmanaged<CallbackBox>.fromOpaque(userdata!).takeUnretainedValue()
    }
}

extension MQTTMessage {
    fileprivate init(_ message: mosquitto_message, _ properties: OpaquePointer?) {
        topic = message.topic.map { String(cString: $0) } ?? ""
        if let bytes = message.payload, message.payloadlen > 0 {
            payload = Array(UnsafeRawBufferPointer(start: bytes, count: Int(message.payloadlen)))
        } else {
            payload = []
        }
        qos = message.qos
        retained = message.retain
        correlationData = nil
        responseTopic = nil
        guard let properties else { return }
        var value: UnsafeMutableRawPointer? = nil
        var length: UInt16 = 0
        if mosquitto_property_read_binary(properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &value, &length, false) != nil,
           let value {
            correlationData = Array(UnsafeRawBufferPointer(start: value, count: Int(length)))
            free(value)
        }
        var text: UnsafeMutablePointer<CChar>? = nil
        if mosquitto_property_read_string(properties, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), &text, false) != nil, let text {
            responseTopic = String(cString: text)
            free(text)
        }
    }
}

func errorText(_ rc: Int32) -> String {
    if rc == MOSQ_ERR_ERRNO.rawValue { return String(cString: strerror(errno)) }
    return mosquitto_strerror(rc).map { String(cString: $0) } ?? "error \(rc)"
}

private func connackText(_ rc: Int32) -> String {
    if rc >= 0x80 { return mosquitto_reason_string(rc).map { String(cString: $0) } ?? "reason \(rc)" }
    return mosquitto_connack_string(rc).map { String(cString: $0) } ?? "code \(rc)"
}

/// `mosquitto_lib_init` exactly once per process.
enum MosquittoLibrary {
    private static let once: Void = { _ = mosquitto_lib_init() }()
    static func initialise() { _ = once }

    /// The linked libmosquitto version, `major.minor.revision`.
    static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        _ = mosquitto_lib_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }
}

/// A pipe that lets `stop()` interrupt the loop thread's backoff wait, and wakes the shared loop.
final class WakePipe: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    init() throws(MQTTError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw MQTTError(code: Int32(MOSQ_ERR_ERRNO.rawValue), operation: "pipe", message: String(cString: strerror(errno)))
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    var readDescriptor: Int32 { readEnd }

    /// Empties the pipe after a wake-up.
    func drain() {
        var bytes = [UInt8](repeating: 0, count: 256)
        while read(readEnd, &bytes, bytes.count) > 0 {}
    }

    /// Sleeps for `duration` unless signalled.
    func wait(for duration: Duration) {
        var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(clamping: duration.milliseconds))
    }
}
