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
    func fuzzConfigs() async throws {
        let lines = Self.example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let refusals = try await offPool { Self.mutatedConfigRefusals(lines) }
        #expect(refusals.count > 0, "the mutations must produce invalid files")
        for errors in refusals {
            #expect(!errors.errors.isEmpty)
            #expect(errors.errors.allSatisfy { $0.description.hasPrefix("fuzz.yaml") && !$0.message.isEmpty })
        }
    }

    /// The refusals of 10,000 seeded mutations of the example configuration.
    static func mutatedConfigRefusals(_ lines: [String]) -> [ConfigErrors] {
        var random = SeededRandom(seed: 42)
        let junk = ["", "-", ":", "{", "[", "]", "&a", "*a", "!!binary", "\t", "  - id: x", "bells: 5", "line: -1",
                    "debounce: 0ms", "port: 1e9", "\u{0}", "é", "? complex", "<<: *a", "'unterminated", "\"\\x\"", "99999999999999999999"]
        var refusals: [ConfigErrors] = []
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
            } catch {
                refusals.append(error)
            }
        }
        return refusals
    }

    @Test("10,000 random and mutated command payloads: parsed or refused naming a field, never a crash")
    func fuzzCommands() async throws {
        let (refused, broken) = try await offPool { Self.fuzzedCommands() }
        #expect(broken.isEmpty, "\(broken.prefix(5))")
        #expect(refused > 5000)
    }

    /// 10,000 seeded payloads: how many were refused, and what broke a property.
    static func fuzzedCommands() -> (refused: Int, broken: [String]) {
        var broken: [String] = []
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
                if let bell = command.bell, !["b1", "b2"].contains(bell) { broken.append("accepted unknown bell \(bell)") }
            } catch {
                refused += 1
                if error.message.isEmpty { broken.append("refused without a message: \(bytes)") }
            }
        }
        return (refused, broken)
    }

    @Test("10,000 random and mutated camera answers: the RTSP, SDP, ONVIF and JPEG readers parse or refuse, never crash")
    func fuzzCameraAnswers() async throws {
        let jpeg = try JPEGCodec.encodeGrey((0 ..< 32 * 24).map { UInt8($0 % 200) }, width: 32, height: 24)
        let parsed = try await offPool { Self.fuzzedCameraAnswers(jpeg: jpeg) }
        #expect(parsed > 100)
    }

    /// 10,000 seeded camera answers through every reader; how many RTSP messages parsed.
    static func fuzzedCameraAnswers(jpeg: [UInt8]) -> Int {
        var random = SeededRandom(seed: 11)
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
        return parsed
    }

    @Test("the committed fuzz corpus and every saved finding replay through their targets without breaking a property")
    func replayCorpusAndFindings() async throws {
        let fuzz = Products.path("parkguard-fuzz")
        let root = Products.packageRoot
        let result = try await run(fuzz, ["replay", root + "/Tests/Fuzz/corpus", root + "/Tests/Fuzz/regressions"])
        #expect(result.status == 0, "\(result.output)\(result.error)")
        let replayed = Int(result.output.split(separator: " ").dropFirst().first ?? "") ?? 0
        #expect(replayed >= 20, "replayed: \(result.output)")
        // A property that breaks is a crash of the replayer, so this test can fail.
        let targets = try FileManager.default.contentsOfDirectory(atPath: root + "/Tests/Fuzz/corpus")
        #expect(Set(targets).isSuperset(of: ["config", "command", "receipt", "outbox", "rtsp", "sdp", "onvif", "http-auth", "jpeg", "sim-wire"]))
    }
}
