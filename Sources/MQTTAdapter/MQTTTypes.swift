/// What the MQTT connection reports, in order, from libmosquitto's network thread.
public enum MQTTEvent: Sendable {
    /// CONNACK arrived; `reason` 0 means accepted.
    case connected(reason: Int32, description: String)
    /// The connection ended (`reason` 0: we asked for it).
    case disconnected(reason: Int32, description: String)
    /// A connect attempt failed before CONNACK; the client waits `retryIn` and tries again.
    case connectFailed(MQTTError, retryIn: Duration)
    /// PUBACK for the QoS 1 publish `mid` (reason < 0x80 is success; 16 = no subscribers).
    case published(mid: Int32, reason: Int32)
    /// SUBACK for `mid`, with the granted QoS (≥ 0x80 = refused) per filter.
    case subscribed(mid: Int32, granted: [Int32])
    /// An application message on a subscribed topic.
    case message(MQTTMessage)
    /// The network thread has exited; no more events follow.
    case closed
}

/// A received message with the MQTT 5 properties the agent uses.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int32
    public var retained: Bool
    public var correlationData: [UInt8]?
    public var responseTopic: String?
}

/// A libmosquitto error with the operation that failed.
public struct MQTTError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The `mosq_err_t` value.
    public var code: Int32
    public var operation: String
    public var message: String

    public init(code: Int32, operation: String, message: String) {
        self.code = code
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message) (mosquitto error \(code))" }
}

/// The connection's settings.
public struct MQTTSettings: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    public var mqtt5: Bool
    public var keepalive: Duration
    public var username: String?
    public var password: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var verifyHostname: Bool
    public var reconnectInitial: Duration
    public var reconnectMax: Duration
    public var maxInflight: Int
    /// The Last Will: published by the broker if the connection is lost without DISCONNECT.
    public var will: (topic: String, payload: [UInt8])?
    /// `false` keeps the broker's session (subscriptions and queued messages) across
    /// disconnects: clean start off. Needs a fixed, unique `clientID`.
    public var cleanSession = true
    /// MQTT 5 session expiry: how long the broker keeps a persistent session after the client
    /// disconnects (MQTT 5 ends it at once without this). Ignored under 3.1.1, where a
    /// persistent session lasts until the broker's `persistent_client_expiration`. Sent by clients on a
    /// thread of their own (the shared network loop connects without CONNECT properties).
    public var sessionExpiry: Duration?

    public init(host: String, port: Int, clientID: String, mqtt5: Bool = true, keepalive: Duration = .seconds(30),
                username: String? = nil, password: String? = nil, caFile: String? = nil, certFile: String? = nil,
                keyFile: String? = nil, verifyHostname: Bool = true, reconnectInitial: Duration = .seconds(1),
                reconnectMax: Duration = .seconds(60), maxInflight: Int = 20,
                will: (topic: String, payload: [UInt8])? = nil) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.mqtt5 = mqtt5
        self.keepalive = keepalive
        self.username = username
        self.password = password
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.verifyHostname = verifyHostname
        self.reconnectInitial = reconnectInitial
        self.reconnectMax = reconnectMax
        self.maxInflight = maxInflight
        self.will = will
    }
}
