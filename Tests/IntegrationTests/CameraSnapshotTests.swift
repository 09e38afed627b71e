import CameraProbe
import Foundation
import ParkGuardCore
import ParkGuardTestKit
import Testing

extension Unit {
    /// The `snapshot` events (pictures that could not be taken) after `skip` messages: their data.
    func snapshotEvent(skipping skip: Int, timeout: Duration = .seconds(15)) async throws -> [String: String] {
        let root = root
        let message = try await subscriber.wait(timeout: timeout, skipping: skip, "a snapshot event") {
            $0.topic == "\(root)/event" && $0.string("event") == "snapshot"
        }
        return message.object?["data"] as? [String: String] ?? [:]
    }
}

@Suite("Pictures with the alarm: each linked camera's JPEG after a press and once it has turned, behind the alarm", .serialized)
struct CameraSnapshotTests {
    @Test("a press publishes the linked camera's picture after the alarm under the alarm's id, with the MQTT 5 content type and user properties and the same fields in the JPEG's comment; a second picture once the camera has turned to the bell")
    func pressPublishesPictures() async throws {
        let unit = try await Unit()
        let pictures = try await SnapshotSubscriber(broker: unit.broker, in: unit.directory)
        defer { pictures.stop() }
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let press = try await unit.alarm("press", skipping: skip)
        let id = try #require(press.string("id"))
        let first = try await pictures.wait("the picture at the press") { $0.topic == "\(unit.root)/snapshot/\(id)/cam-1/press" }
        #expect(first.contentType == "image/jpeg")
        let properties = first.properties
        #expect(properties["alarmId"] == id && properties["camera"] == "cam-1" && properties["stage"] == "press" && properties["width"] == "320"
                && properties["height"] == "240" && properties["scaled"] == "false" && WallTime(rfc3339: properties["takenAt"] ?? "") != nil,
                "\(properties)")
        let meta = try SnapshotMeta.read(from: first.jpeg)
        #expect(meta.fields.map { "\($0.0)=\($0.1)" }.sorted() == properties.map { "\($0.key)=\($0.value)" }.sorted(), "the comment says what the properties say")
        #expect(try JPEGInfo.read(first.jpeg) == JPEGInfo(width: 320, height: 240, components: 1))
        #expect(try JPEGCodec.decodeThumbnail(first.jpeg).meanLuma > 20, "a picture, not a black frame")

        // On the wire the alarm came first.
        let topics = pictures.messages.map(\.topic)
        let alarmAt = try #require(topics.firstIndex(of: press.topic))
        let pictureAt = try #require(topics.firstIndex(of: first.topic))
        #expect(alarmAt < pictureAt)

        let settled = try await pictures.wait("the picture once the camera turned") { $0.topic == "\(unit.root)/snapshot/\(id)/cam-1/settled" }
        #expect(settled.properties["stage"] == "settled" && settled.properties["alarmId"] == id)
        #expect(try await unit.ptz("cam-1")["preset"] as? String == "gate")
        // A release takes no picture.
        let before = pictures.pictures.count
        try await unit.sim("release", "b1")
        _ = try await unit.alarm("release", skipping: skip)
        try await Task.sleep(for: .seconds(1))
        #expect(pictures.pictures.count == before)
        try await pictures.validateContract(in: unit.directory)
        try await unit.validateContract()
    }

    @Test("under MQTT 3.1.1 the fields travel in the JPEG's comment alone; a picture wider than snapshots.maxWidth is scaled down and says so")
    func mqtt311AndScaling() async throws {
        let unit = try await Unit(mqtt5: false) { $0 + "\nsnapshots: {maxWidth: 160, settle: 0s}\n" }
        let pictures = try await SnapshotSubscriber(broker: unit.broker, in: unit.directory)
        defer { pictures.stop() }
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let id = try #require(try await unit.alarm("press", skipping: skip).string("id"))
        let first = try await pictures.wait("the picture at the press") { $0.topic.hasSuffix("/snapshot/\(id)/cam-1/press") }
        #expect(first.contentType.isEmpty && first.properties.isEmpty, "3.1.1 carries no properties")
        let meta = try SnapshotMeta.read(from: first.jpeg)
        #expect(meta.alarmId == id && meta.camera == "cam-1" && meta.stage == .press && meta.scaled && meta.width == 160 && meta.height == 120)
        #expect(try JPEGInfo.read(first.jpeg).width == 160)
        _ = try await pictures.wait("the picture once turned (no settle time)") { $0.topic.hasSuffix("/snapshot/\(id)/cam-1/settled") }
        try await pictures.validateContract(in: unit.directory)
        try await unit.sim("release", "b1")
    }

    @Test("a camera configured without a snapshot URL gives its picture where ONVIF GetSnapshotUri says, at the configured host")
    func pictureThroughONVIF() async throws {
        let unit = try await Unit { text in
            let edited = text.replacingOccurrences(of: #"\n    snapshot: \{ port: \d+ \}"#, with: "", options: .regularExpression)
            precondition(!edited.contains("snapshot: {"), "the unit's configuration changed: \(text)")
            return edited
        }
        let pictures = try await SnapshotSubscriber(broker: unit.broker, in: unit.directory)
        defer { pictures.stop() }
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let id = try #require(try await unit.alarm("press", skipping: skip).string("id"))
        for stage in ["press", "settled"] {
            let picture = try await pictures.wait("the \(stage) picture") { $0.topic == "\(unit.root)/snapshot/\(id)/cam-1/\(stage)" }
            #expect(try JPEGInfo.read(picture.jpeg) == JPEGInfo(width: 320, height: 240, components: 1))
        }
        try await unit.sim("release", "b1")
    }

    @Test("a camera that refuses the picture's credentials is announced as a snapshot event naming the alarm, camera, stage and outcome; the alarm and the outputs do not wait for it")
    func refusedPicture() async throws {
        let unit = try await Unit()
        let pictures = try await SnapshotSubscriber(broker: unit.broker, in: unit.directory)
        defer { pictures.stop() }
        try await unit.sim("camera", "cam-1", "fault", "auth")
        let skip = unit.subscriber.messages.count
        try await unit.sim("press", "b1")
        let id = try #require(try await unit.alarm("press", skipping: skip).string("id"))
        #expect(try await unit.output("strobe"))
        let event = try await unit.snapshotEvent(skipping: skip)
        #expect(event["alarmId"] == id && event["camera"] == "cam-1" && event["stage"] == "press" && event["outcome"] == "refused", "\(event)")
        #expect(pictures.pictures.isEmpty)
        try await unit.sim("release", "b1")
        try await unit.validateContract()
    }
}
