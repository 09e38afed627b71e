/// The MQTT topic names of contract v1, under `parkguard/v1/{site}/{unit}`.
public struct Topics: Sendable, Equatable {
    public let root: String

    public init(site: String, unit: String) { root = "parkguard/v1/\(site)/\(unit)" }

    public var status: String { "\(root)/status" }
    public var telemetry: String { "\(root)/telemetry" }
    public var event: String { "\(root)/event" }
    /// The latest self-test report (retained).
    public var selfTest: String { "\(root)/selftest" }
    /// The subscription filter for every command of this unit.
    public var commandFilter: String { "\(root)/cmd/+" }
    /// An empty QoS 1 publish used to measure the broker round trip; nobody subscribes to it.
    public var rttProbe: String { "\(root)/rtt" }
    public func bellAlarm(_ bell: String) -> String { "\(root)/bell/\(bell)/alarm" }
    public func bellState(_ bell: String) -> String { "\(root)/bell/\(bell)/state" }
    public func cameraHealth(_ camera: String) -> String { "\(root)/camera/\(camera)/health" }
    /// `snapshot/{alarmId}/{camera}/{stage}`: a JPEG taken by `camera` for the alarm.
    public func snapshot(alarmID: String, camera: String, stage: SnapshotStage) -> String {
        "\(root)/snapshot/\(alarmID)/\(camera)/\(stage.rawValue)"
    }
    public func commandResult(_ name: String) -> String { "\(root)/cmd/\(name)/result" }
    /// `cmd/{name}`: a command to this unit (published by the hub).
    public func command(_ name: String) -> String { "\(root)/cmd/\(name)" }
    /// The hub's receipts for this unit's alarms.
    public var receipt: String { command("receipt") }

    /// The command name of a topic under `cmd/`, or `nil` if `topic` is not one of ours.
    public func commandName(of topic: String) -> String? {
        let prefix = "\(root)/cmd/"
        guard topic.hasPrefix(prefix) else { return nil }
        let name = String(topic.dropFirst(prefix.count))
        return name.isEmpty || name.contains("/") ? nil : name
    }
}
