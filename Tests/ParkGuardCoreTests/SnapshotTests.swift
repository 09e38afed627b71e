import CameraProbe
import Foundation
import ParkGuardCore
import Testing

/// A grey test picture of `width`×`height` with a gradient and noise (noise keeps it from
/// compressing to nothing).
private func picture(width: Int, height: Int, quality: Int = 90) throws -> [UInt8] {
    var seed: UInt64 = 7
    let pixels = (0 ..< width * height).map { index -> UInt8 in
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: (index % width) * 200 / width + Int(seed >> 59))
    }
    return try JPEGCodec.encodeGrey(pixels, width: width, height: height, quality: quality, colour: true)
}

private let meta = SnapshotMeta(alarmId: "3f2b8c1e-4d5a-4e6f-9a7b-1c2d3e4f5a6b", camera: "cam-1", stage: .settled,
                                takenAt: "2026-12-06T10:00:00.123Z", width: 320, height: 240, scaled: false)

@Suite("Pictures with the alarm: what travels with them, and how they are fitted")
struct SnapshotTests {
    @Test("the fields ride in a comment segment right after the start marker; the image still reads as the same JPEG, and a second embedding replaces the first")
    func commentRoundTrip() throws {
        let jpeg = try picture(width: 320, height: 240)
        let carried = meta.embedded(in: jpeg)
        #expect(carried.count > jpeg.count && carried.count < jpeg.count + 300)
        #expect(try SnapshotMeta.read(from: carried) == meta)
        #expect(try JPEGInfo.read(carried) == JPEGInfo.read(jpeg))
        #expect(try JPEGCodec.decodeThumbnail(carried) == JPEGCodec.decodeThumbnail(jpeg))
        var other = meta
        other.stage = .press
        let again = other.embedded(in: carried)
        #expect(again.count == carried.count - 2)
        #expect(try SnapshotMeta.read(from: again) == other)
        #expect(meta.fields.map(\.0) == ["alarmId", "camera", "stage", "takenAt", "width", "height", "scaled"])
    }

    @Test("a comment that is not ours, lacks a field, repeats one or holds a bad value is refused with what is wrong")
    func badComments() throws {
        let jpeg = try picture(width: 64, height: 48)
        func with(_ text: String) -> [UInt8] {
            let body = Array(text.utf8)
            return [0xFF, 0xD8, 0xFF, 0xFE, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body + jpeg[2...]
        }
        let good = "parkguard-snapshot/1\nalarmId=a\ncamera=cam-1\nstage=press\ntakenAt=2026-12-06T10:00:00.123Z\nwidth=64\nheight=48\nscaled=false"
        #expect(try SnapshotMeta.read(from: with(good)).width == 64)
        let cases: [(String, String)] = [
            ("no comment", ""),
            ("another tag", "made-by-camera\nalarmId=a"),
            ("comment lacks 'camera'", good.replacingOccurrences(of: "\ncamera=cam-1", with: "")),
            ("names 'stage' twice", good + "\nstage=press"),
            ("stage 'later'", good.replacingOccurrences(of: "stage=press", with: "stage=later")),
            ("not an RFC 3339 time", good.replacingOccurrences(of: "2026-12-06T10:00:00.123Z", with: "yesterday")),
            ("width '0'", good.replacingOccurrences(of: "width=64", with: "width=0")),
            ("scaled 'yes'", good.replacingOccurrences(of: "scaled=false", with: "scaled=yes")),
            ("is not name=value", good + "\nnonsense"),
            ("a field it does not have", good + "\ncolour=blue"),
        ]
        for (why, text) in cases {
            let bytes = text.isEmpty ? jpeg : with(text)
            #expect(throws: SnapshotMeta.Problem.self, "\(why)") { try SnapshotMeta.read(from: bytes) }
        }
        #expect(throws: SnapshotMeta.Problem.self) { try SnapshotMeta.read(from: [0xFF, 0xD8]) }
    }

    @Test("a snapshot topic names a lowercase UUID alarm id, a camera identifier and press or settled")
    func topicFields() {
        let id = "3f2b8c1e-4d5a-4e6f-9a7b-1c2d3e4f5a6b"
        #expect(Topics(site: "p", unit: "u").snapshot(alarmID: id, camera: "cam-1", stage: .press) == "parkguard/v1/p/u/snapshot/\(id)/cam-1/press")
        if case .success(let fields) = SnapshotMeta.topicFields([id, "cam-1", "settled"]) {
            #expect(fields.alarmId == id && fields.camera == "cam-1" && fields.stage == .settled)
        } else { Issue.record("a good topic was refused") }
        for bad in [[id.uppercased(), "cam-1", "press"], [id, "Cam 1", "press"], [id, "cam-1", "later"], ["x", "cam-1", "press"], [id, "cam-1"]] {
            if case .success = SnapshotMeta.topicFields(bad) { Issue.record("accepted \(bad)") }
        }
    }

    @Test("GetSnapshotUri's answer gives a port and path at the configured host; https, a bad port or no URI give nothing")
    func snapshotUri() {
        func answer(_ uri: String) -> String {
            "<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>\(uri)</tt:Uri><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>"
        }
        #expect(ONVIFPTZ.snapshotEndpoint(in: answer("http://10.0.0.7:8080/onvif/snapshot.jpg?channel=1&amp;res=hi"))! == (8080, "/onvif/snapshot.jpg?channel=1&res=hi"))
        #expect(ONVIFPTZ.snapshotEndpoint(in: answer("http://admin@[fe80::1]:81/snap"))! == (81, "/snap"))
        #expect(ONVIFPTZ.snapshotEndpoint(in: answer("http://camera.local/snap.jpg"))! == (80, "/snap.jpg"))
        #expect(ONVIFPTZ.snapshotEndpoint(in: answer("https://camera.local/snap.jpg")) == nil)
        #expect(ONVIFPTZ.snapshotEndpoint(in: answer("http://camera.local:99999/snap.jpg")) == nil)
        #expect(ONVIFPTZ.snapshotEndpoint(in: answer("http://camera.local/a b")) == nil)
        #expect(ONVIFPTZ.snapshotEndpoint(in: "<trt:GetSnapshotUriResponse/>") == nil)
        #expect(ONVIFPTZ.profiles(in: #"<trt:Profiles token="main" fixed="true"/><trt:Profiles token="sub"><tt:Name>s</tt:Name></trt:Profiles>"#) == ["main", "sub"])
    }

    @Test("a picture within the bounds passes unchanged; a wider or larger one is scaled down by powers of two and its quality lowered until it fits")
    func fitting() throws {
        let small = try picture(width: 320, height: 240)
        let same = try JPEGCodec.fit(small, maxBytes: 1 << 20, maxWidth: 1280)
        #expect(same.jpeg == small && !same.scaled && same.width == 320 && same.height == 240)

        let wide = try picture(width: 1920, height: 1080)
        let narrowed = try JPEGCodec.fit(wide, maxBytes: 1 << 20, maxWidth: 640)
        #expect(narrowed.scaled && narrowed.width == 480 && narrowed.height == 270)
        #expect(try JPEGInfo.read(narrowed.jpeg) == JPEGInfo(width: 480, height: 270, components: 3))

        let heavy = try picture(width: 1280, height: 720, quality: 98)
        let budget = 40 << 10
        #expect(heavy.count > budget)
        let fitted = try JPEGCodec.fit(heavy, maxBytes: budget, maxWidth: 4096)
        #expect(fitted.scaled && fitted.jpeg.count <= budget && fitted.width <= 1280)
        #expect(try JPEGInfo.read(fitted.jpeg).width == fitted.width)

        #expect(throws: JPEGCodec.Failure.self) { try JPEGCodec.fit(heavy, maxBytes: 200, maxWidth: 4096) }
        // A tall picture over the bounds is scaled by its pixels, not only its width; one too tall even at an eighth is refused.
        let tall = try picture(width: 320, height: 4000)
        let shortened = try JPEGCodec.fit(tall, maxBytes: 1 << 20, maxWidth: 300)
        #expect(shortened.width * shortened.height <= 300 * 300 && shortened.scaled, "\(shortened.width)x\(shortened.height)")
        let taller = try picture(width: 320, height: 8000)
        #expect(throws: JPEGCodec.Failure.self) { try JPEGCodec.fit(taller, maxBytes: 1 << 20, maxWidth: 160) }
        #expect(throws: JPEGCodec.Failure.self) { try JPEGCodec.fit([0xFF, 0xD8, 0x00, 0xFF, 0xD9], maxBytes: 1 << 20, maxWidth: 640) }
    }
}
