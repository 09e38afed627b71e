/// When, in an alarm's follow-up, a camera's picture was taken.
public enum SnapshotStage: String, Sendable, Equatable, CaseIterable {
    /// Right after the press, wherever the camera was pointing.
    case press
    /// Once the camera's move to the bell's preset has settled.
    case settled
}

/// What travels with a snapshot on `snapshot/{alarmId}/{camera}/{stage}`. The payload is the
/// JPEG itself (no envelope: base64 would cost a third more on a unit's uplink). Under MQTT 5
/// these fields are user properties beside the content type `image/jpeg`; under 3.1.1, which
/// has no properties, they ride in the image: a JPEG comment segment (COM) right after its start
/// marker, which every decoder skips. The unit writes both, so an exported file still says what
/// it is; the hub reads the comment, which is there under either protocol.
public struct SnapshotMeta: Sendable, Equatable {
    public var alarmId: String
    public var camera: String
    public var stage: SnapshotStage
    /// When the unit received the picture from the camera (RFC 3339, UTC, milliseconds).
    public var takenAt: String
    public var width: Int
    public var height: Int
    /// The camera's picture was larger than `snapshots.maxBytes`/`maxWidth` and was scaled down.
    public var scaled: Bool

    public init(alarmId: String, camera: String, stage: SnapshotStage, takenAt: String, width: Int, height: Int, scaled: Bool) {
        self.alarmId = alarmId
        self.camera = camera
        self.stage = stage
        self.takenAt = takenAt
        self.width = width
        self.height = height
        self.scaled = scaled
    }

    /// The MQTT 5 content type of the payload.
    public static let contentType = "image/jpeg"
    /// The first line of the comment segment; a later version of the fields gets a new one.
    public static let commentTag = "parkguard-snapshot/1"
    /// A comment segment longer than this is not ours (ours is under 300 bytes).
    static let maxComment = 1024

    /// The fields as name/value pairs, in a fixed order: the user properties, and the comment's lines.
    public var fields: [(String, String)] {
        [("alarmId", alarmId), ("camera", camera), ("stage", stage.rawValue), ("takenAt", takenAt),
         ("width", "\(width)"), ("height", "\(height)"), ("scaled", scaled ? "true" : "false")]
    }

    /// `jpeg` with the fields in a comment segment after its start marker (any comment of ours
    /// already there is replaced).
    public func embedded(in jpeg: [UInt8]) -> [UInt8] {
        guard jpeg.count >= 2, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else { return jpeg }
        var text = Self.commentTag
        for (name, value) in fields { text += "\n\(name)=\(value)" }
        let body = Array(text.utf8)
        var rest = jpeg[2...]
        if let existing = Self.commentRange(in: jpeg) { rest = jpeg[existing.upperBound...] }
        let length = body.count + 2
        return [0xFF, 0xD8, 0xFF, 0xFE, UInt8(length >> 8), UInt8(length & 0xFF)] + body + rest
    }

    /// Why a snapshot's comment cannot be read.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads the fields from the comment segment right after the start marker.
    public static func read(from jpeg: [UInt8]) throws(Problem) -> SnapshotMeta {
        guard let range = commentRange(in: jpeg) else { throw Problem("the image carries no \(commentTag) comment after its start marker") }
        let text = String(decoding: jpeg[(range.lowerBound + 4) ..< range.upperBound], as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(commentTag) else { throw Problem("the image's comment is not \(commentTag)") }
        lines.removeFirst()
        var values: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { throw Problem("comment line '\(line.prefix(40))' is not name=value") }
            let name = String(line[..<equals])
            guard ["alarmId", "camera", "stage", "takenAt", "width", "height", "scaled"].contains(name) else {
                throw Problem("comment names '\(name.prefix(40))', which \(commentTag) does not have")
            }
            guard values.updateValue(String(line[line.index(after: equals)...]), forKey: name) == nil else {
                throw Problem("comment names '\(name.prefix(40))' twice")
            }
        }
        func field(_ name: String) throws(Problem) -> String {
            guard let value = values[name] else { throw Problem("comment lacks '\(name)'") }
            return value
        }
        func dimension(_ name: String) throws(Problem) -> Int {
            let text = try field(name)
            guard let value = Int(text), (1 ... 65535).contains(value) else { throw Problem("comment's \(name) '\(text.prefix(20))' is not 1 to 65535") }
            return value
        }
        let stageText = try field("stage")
        guard let stage = SnapshotStage(rawValue: stageText) else { throw Problem("comment's stage '\(stageText.prefix(20))' is not press or settled") }
        let scaledText = try field("scaled")
        guard scaledText == "true" || scaledText == "false" else { throw Problem("comment's scaled '\(scaledText.prefix(20))' is not true or false") }
        let takenAt = try field("takenAt")
        guard WallTime(rfc3339: takenAt) != nil else { throw Problem("comment's takenAt '\(takenAt.prefix(40))' is not an RFC 3339 time") }
        return SnapshotMeta(alarmId: try field("alarmId"), camera: try field("camera"), stage: stage, takenAt: takenAt,
                            width: try dimension("width"), height: try dimension("height"), scaled: scaledText == "true")
    }

    /// Where the comment segment right after the start marker is (its marker to its end), when
    /// it is ours and within bounds.
    static func commentRange(in jpeg: [UInt8]) -> Range<Int>? {
        guard jpeg.count >= 6, jpeg[0] == 0xFF, jpeg[1] == 0xD8, jpeg[2] == 0xFF, jpeg[3] == 0xFE else { return nil }
        let length = Int(jpeg[4]) << 8 | Int(jpeg[5])
        guard length >= 2, length - 2 <= maxComment, 4 + length <= jpeg.count else { return nil }
        let tag = Array(commentTag.utf8)
        guard length - 2 >= tag.count, Array(jpeg[6 ..< 6 + tag.count]) == tag else { return nil }
        return 2 ..< 4 + length
    }

    /// The alarm id, camera and stage of a snapshot topic's last three levels, or why they are not.
    public static func topicFields(_ levels: [String]) -> Result<(alarmId: String, camera: String, stage: SnapshotStage), Problem> {
        guard levels.count == 3 else { return .failure(Problem("is not snapshot/{alarmId}/{camera}/{stage}")) }
        guard isAlarmID(levels[0]) else { return .failure(Problem("alarm id '\(levels[0].prefix(40))' is not a lowercase UUID")) }
        if let problem = Identifier.problem(with: levels[1]) { return .failure(Problem("camera '\(levels[1].prefix(40))' \(problem)")) }
        guard let stage = SnapshotStage(rawValue: levels[2]) else { return .failure(Problem("stage '\(levels[2].prefix(20))' is not press or settled")) }
        return .success((levels[0], levels[1], stage))
    }

    /// Whether `text` is an alarm id as ``AlarmID`` makes them: a lowercase UUID.
    public static func isAlarmID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) { if byte != UInt8(ascii: "-") { return false } } else if !((0x30 ... 0x39).contains(byte) || (0x61 ... 0x66).contains(byte)) { return false }
        }
        return true
    }
}
