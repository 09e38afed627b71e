import ParkGuardTestKit
import CameraProbe
import ConfigLoader
import Foundation
import ParkGuardCore
import Testing


@Suite("Fuzzing the parsers of untrusted input")
struct FuzzTests {
    static let example: String = {
        let path = #filePath.replacingOccurrences(of: "Tests/ParkGuardCoreTests/FuzzTests.swift", with: "Firmware/config/agent.example.yaml")
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }()

    @Test("10,000 mutated configuration files: every one is accepted or refused with file:line reasons, never a crash")
    func fuzzConfigs() {
        var random = SeededRandom(seed: 42)
        let lines = Self.example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let junk = ["", "-", ":", "{", "[", "]", "&a", "*a", "!!binary", "\t", "  - id: x", "bells: 5", "line: -1",
                    "debounce: 0ms", "port: 1e9", "\u{0}", "é", "? complex", "<<: *a", "'unterminated", "\"\\x\"", "99999999999999999999"]
        var accepted = 0
        for _ in 0 ..< 10_000 {
            var mutated = lines
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &random) {
                let index = Int.random(in: 0 ..< mutated.count, using: &random)
                switch Int.random(in: 0 ..< 5, using: &random) {
                case 0: mutated.remove(at: index)
                case 1: mutated.insert(mutated[Int.random(in: 0 ..< mutated.count, using: &random)], at: index)
                case 2: mutated[index] += " " + junk.randomElement(using: &random)!
                case 3: mutated[index] = junk.randomElement(using: &random)!
                default:
                    var bytes = Array(mutated[index].utf8)
                    if !bytes.isEmpty { bytes[Int.random(in: 0 ..< bytes.count, using: &random)] = UInt8.random(in: 32 ... 126, using: &random) }
                    mutated[index] = String(decoding: bytes, as: UTF8.self)
                }
                if mutated.isEmpty { mutated = ["x"] }
            }
            do {
                _ = try ConfigFile.parse(mutated.joined(separator: "\n"), file: "fuzz.yaml")
                accepted += 1
            } catch {
                #expect(!error.errors.isEmpty)
                #expect(error.errors.allSatisfy { $0.description.hasPrefix("fuzz.yaml") && !$0.message.isEmpty })
            }
        }
        #expect(accepted < 10_000, "the mutations must produce invalid files too")
    }

    @Test("10,000 random and mutated command payloads: parsed or refused naming a field, never a crash")
    func fuzzCommands() {
        var random = SeededRandom(seed: 7)
        let seeds = [#"{"bell":"b1","correlationId":"c","by":"op"}"#, #"{"schema":"parkguard/cmd/1"}"#, "{}", "",
                     #"{"bell":"b2"}"#, #"[1,{"a":null}]"#, #"{"bell":null}"#, #""just a string""#]
        let names = ["ack", "silence", "test", "rebirth", "nope", ""]
        var refused = 0
        for round in 0 ..< 10_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = Array(seeds.randomElement(using: &random)!.utf8)
                for _ in 0 ..< Int.random(in: 0 ... 3, using: &random) where !bytes.isEmpty {
                    bytes[Int.random(in: 0 ..< bytes.count, using: &random)] = UInt8.random(in: 0 ... 255, using: &random)
                }
            } else {
                bytes = (0 ..< Int.random(in: 0 ... 64, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
            }
            do {
                let command = try CommandParser.parse(name: names.randomElement(using: &random)!, payload: bytes, bells: ["b1", "b2"])
                #expect(command.bell == nil || ["b1", "b2"].contains(command.bell!))
            } catch {
                refused += 1
                #expect(!error.message.isEmpty)
            }
        }
        #expect(refused > 5000)
    }

    @Test("10,000 random and mutated camera answers: the RTSP, SDP, ONVIF and JPEG readers parse or refuse, never crash")
    func fuzzCameraAnswers() throws {
        var random = SeededRandom(seed: 11)
        let jpeg = try JPEGCodec.encodeGrey((0 ..< 32 * 24).map { UInt8($0 % 200) }, width: 32, height: 24)
        let seeds: [[UInt8]] = [
            Array("RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 47\r\n\r\nv=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n".utf8),
            Array("RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n\r\n".utf8),
            Array("<s:Envelope><s:Body><tt:UTCDateTime><tt:Time><tt:Hour>1</tt:Hour><tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>1</tt:Month><tt:Day>2</tt:Day></tt:Date></tt:UTCDateTime></s:Body></s:Envelope>".utf8),
            jpeg,
        ]
        var parsed = 0
        for round in 0 ..< 10_000 {
            var bytes = seeds[round % seeds.count]
            switch Int.random(in: 0 ..< 4, using: &random) {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0 ... bytes.count, using: &random)))
            case 1:
                for _ in 0 ..< Int.random(in: 1 ... 6, using: &random) {
                    bytes[Int.random(in: 0 ..< bytes.count, using: &random)] = UInt8.random(in: 0 ... 255, using: &random)
                }
            case 2: bytes = (0 ..< Int.random(in: 0 ... 512, using: &random)).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
            default: break
            }
            if case .message(let message, _)? = try? RTSPParser.parse(bytes) {
                parsed += 1
                _ = try? SDPSummary.parse(String(decoding: message.body, as: UTF8.self))
                for header in message.headers("WWW-Authenticate") { _ = HTTPAuthentication.challenge(header) }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            _ = try? ONVIF.utcDateTime(in: text)
            _ = ONVIF.fault(in: text)
            _ = ONVIF.deviceInformation(in: text)
            if (try? JPEGInfo.read(bytes)) != nil { _ = try? JPEGCodec.decodeThumbnail(bytes) }
        }
        #expect(parsed > 100)
    }
}
