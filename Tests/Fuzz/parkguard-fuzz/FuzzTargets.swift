import ConfigLoader
import Foundation
import HubIngest
import ParkGuardCore

/// One parser or decoder of untrusted input, driven by bytes.
///
/// `run` feeds the bytes to the parser and checks what every answer must satisfy (bounded error
/// lists, short messages, round trips). A broken property is a `preconditionFailure`, which
/// libFuzzer reports as a crash and the replayer as a failed input.
struct FuzzTarget: Sendable {
    let name: String
    /// What the target reads, for `list`.
    let summary: String
    /// libFuzzer's `-max_len`: a little over the parser's own limit, so the limit is exercised.
    let maxLength: Int
    let run: @Sendable ([UInt8]) -> Void
}

/// A property every answer must have; a violation is a finding.
func require(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
    if !condition() { preconditionFailure("property broken: \(what())") }
}

/// The longest error line any parser may print (a key path, a quoted prefix, the reason).
let maxErrorLine = 600
/// The longest refusal the hub may log: the topic (at most `HubCore.maxTopicBytes`) and a short reason.
let maxHubRefusal = HubCore.maxTopicBytes + 300

enum FuzzTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "config", summary: "agent configuration YAML: tree limits, aliases, the decoder",
                   maxLength: 64 << 10) { bytes in
            checkConfig(String(decoding: bytes, as: UTF8.self), limits: ConfigLimits.standard) { text, limits throws(ConfigErrors) in
                _ = try ConfigFile.parse(text, file: "fuzz.yaml", limits: limits)
            }
        },
        FuzzTarget(name: "config-small-limits", summary: "agent configuration YAML under tiny limits, so every limit is reached",
                   maxLength: 16 << 10) { bytes in
            let limits = ConfigLimits(maxBytes: 8 << 10, maxNodes: 200, maxDepth: 6, maxScalarBytes: 64, maxErrors: 3)
            checkConfig(String(decoding: bytes, as: UTF8.self), limits: limits) { text, limits throws(ConfigErrors) in
                _ = try ConfigFile.parse(text, file: "fuzz.yaml", limits: limits)
            }
        },
        FuzzTarget(name: "scenario", summary: "simulator scenario YAML", maxLength: 64 << 10) { bytes in
            checkConfig(String(decoding: bytes, as: UTF8.self), limits: ConfigLimits.standard) { text, limits throws(ConfigErrors) in
                let tree = try ConfigFile.tree(text, file: "fuzz.yaml", limits: limits)
                _ = try Scenario.decode(tree, file: "fuzz.yaml", faults: ["frozen", "black", "slow", "stall", "offline"])
            }
        },
        FuzzTarget(name: "command", summary: "cmd/{name} payloads, plain and signed; the first byte picks the name",
                   maxLength: 10 << 10) { bytes in
            guard let first = bytes.first else { return }
            let names = Command.Name.allCases.map(\.rawValue) + ["", "nope"]
            let name = names[Int(first) % names.count]
            let payload = Array(bytes.dropFirst())
            do throws(CommandError) {
                _ = try CommandParser.parse(name: name, payload: payload, bells: ["b1", "b2"])
            } catch {
                require(!error.message.isEmpty && error.description.utf8.count <= maxErrorLine, "command refusal '\(error.description.prefix(200))'")
            }
            if let id = CommandParser.correlationID(in: payload) {
                require(id.utf8.count <= 128, "a correlationId of \(id.utf8.count) bytes was echoed")
            }
            do throws(CommandError) {
                _ = try SignedCommand.parse(payload)
            } catch {
                require(error.description.utf8.count <= maxErrorLine, "signed command refusal of \(error.description.utf8.count) bytes")
            }
        },
        FuzzTarget(name: "control-request", summary: "requests on the daemon's local control socket (one line)",
                   maxLength: 1 << 10) { bytes in
            do throws(ControlRefusal) {
                let request = try ControlRequest.parse(bytes)
                require(bytes.count <= ControlRequest.maxLineBytes, "a request of \(bytes.count) bytes was accepted")
                if case .watch(let seconds) = request {
                    require((1 ... ControlRequest.maxWatchSeconds).contains(seconds), "a watch of \(seconds) s was accepted")
                }
                require((try? ControlRequest.parse(Array(request.line.utf8))) == request, "\(request) does not round-trip")
            } catch {
                require(!error.error.isEmpty && error.error.utf8.count <= maxErrorLine, "control refusal '\(error.error.prefix(200))'")
            }
        },
        FuzzTarget(name: "receipt", summary: "hub receipts on receipt/{unit}", maxLength: 160 << 10) { bytes in
            do throws(CommandError) {
                let receipt = try Receipt.parse(bytes)
                require(receipt.ids.count <= Receipt.maxIDs, "a receipt of \(receipt.ids.count) ids was accepted")
            } catch {
                require(error.description.utf8.count <= maxErrorLine, "receipt refusal of \(error.description.utf8.count) bytes")
            }
        },
        FuzzTarget(name: "outbox", summary: "the outbox file scanner (torn and corrupt records)", maxLength: 64 << 10) { bytes in
            guard let scan = try? OutboxFormat.scan(bytes) else { return }
            require(scan.goodLength <= bytes.count, "scan claims \(scan.goodLength) good bytes of \(bytes.count)")
            // What the scanner accepted, written again, scans to the same records.
            var again = Array(bytes[0 ..< OutboxFormat.headerSize])
            for record in scan.records { again += OutboxFormat.encode(record) }
            let rescan = try? OutboxFormat.scan(again)
            require(rescan?.records == scan.records && rescan?.problem == nil, "accepted records do not survive a rewrite")
        },
        FuzzTarget(name: "rtsp", summary: "RTSP responses (head, headers, body)", maxLength: 300 << 10) { bytes in
            let limits = RTSPParser.Limits(head: 4096, body: 16 << 10)
            guard case .message(_, let consumed)? = try? RTSPParser.parse(bytes, limits: limits) else { return }
            require(consumed > 0 && consumed <= bytes.count, "consumed \(consumed) of \(bytes.count) bytes")
            require(consumed <= limits.head + limits.body, "a message of \(consumed) bytes passed limits of \(limits.head + limits.body)")
        },
        FuzzTarget(name: "rtp-interleaved", summary: "what a camera sends after PLAY: interleaved RTP frames and RTSP answers", maxLength: 64 << 10) { bytes in
            // Fed in two pieces, as a socket would deliver them; every packet goes to the meter.
            var reader = RTSPInterleavedReader(limits: .init(head: 4096, body: 16 << 10))
            var meter = VideoFlowMeter()
            let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
            var taken = 0
            for piece in [Array(bytes[..<split]), Array(bytes[split...])] {
                reader.feed(piece)
                while let item = try? reader.next() {
                    taken += 1
                    if case .packet(_, let packet) = item {
                        require(packet.count <= 65535, "a frame of \(packet.count) bytes")
                        if let header = try? RTPHeader.parse(packet) {
                            require(header.payloadLength >= 0 && header.payloadLength <= packet.count - 12, "payload \(header.payloadLength) of \(packet.count)")
                        }
                        meter.record(packet, at: .milliseconds(taken))
                    }
                }
            }
            require(reader.buffered <= bytes.count, "buffered \(reader.buffered) of \(bytes.count) bytes")
            let findings = meter.finished(after: .seconds(1), byteLimitReached: false, closedByCamera: false)
            require(findings.frames <= findings.packets, "\(findings.frames) frames from \(findings.packets) packets")
        },
        FuzzTarget(name: "http-response", summary: "HTTP answers to the probe (head, lengths, chunks, close)", maxLength: 64 << 10) { bytes in
            // Fed in two pieces at a point taken from the input, as a socket would deliver them.
            let limits = HTTPResponseReader.Limits(head: 4096, body: 16 << 10)
            var reader = HTTPResponseReader(limits: limits)
            let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
            var response = try? reader.feed(Array(bytes[..<split]))
            if response == nil { response = try? reader.feed(Array(bytes[split...])) }
            if response == nil { response = try? reader.finish() }
            guard let response else { return }
            require((200 ... 599).contains(response.status), "status \(response.status) accepted")
            require(response.body.count <= limits.body, "a body of \(response.body.count) bytes passed a limit of \(limits.body)")
        },
        FuzzTarget(name: "sdp", summary: "session descriptions from DESCRIBE", maxLength: 16 << 10) { bytes in
            _ = try? SDPSummary.parse(String(decoding: bytes, as: UTF8.self))
        },
        FuzzTarget(name: "onvif", summary: "ONVIF SOAP answers: faults, clock, device information, PTZ services, profiles, presets", maxLength: 64 << 10) { bytes in
            let xml = String(decoding: bytes, as: UTF8.self)
            if let fault = ONVIF.fault(in: xml) { require(fault.reason.count <= 200, "a fault reason of \(fault.reason.count) characters") }
            _ = try? ONVIF.utcDateTime(in: xml)
            _ = ONVIF.deviceInformation(in: xml)
            // The PTZ answers: service paths, PTZ profiles, presets by name.
            let paths = ONVIFPTZ.servicePaths(in: xml)
            for path in [paths.media, paths.ptz].compactMap({ $0 }) { require(path.hasPrefix("/") && path.utf8.count <= 512, "path \(path.prefix(40))") }
            require(ONVIFPTZ.ptzProfiles(in: xml).allSatisfy { $0.count <= 64 }, "a profile token over 64 characters")
            require(ONVIFPTZ.presets(in: xml).count <= 256, "more than 256 presets")
        },
        FuzzTarget(name: "http-auth", summary: "WWW-Authenticate challenges and Authorization headers", maxLength: 8 << 10) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let headers = text.split(separator: "\n", maxSplits: 8).map(String.init)
            if let challenge = HTTPAuthentication.preferred(headers) {
                _ = HTTPAuthentication.authorization(for: challenge, method: "GET", uri: "/onvif", username: "u", password: "p",
                                                     cnonce: "0a4f113b", nonceCount: 1, md5Hex: { _ in "00000000000000000000000000000000" },
                                                     base64: { _ in "dTpw" })
            }
            _ = HTTPAuthentication.verify(text, method: "GET", realm: "r", nonce: "n", username: "u", password: "p",
                                          md5Hex: { _ in "00000000000000000000000000000000" }, base64: { _ in "dTpw" })
        },
        FuzzTarget(name: "jpeg", summary: "snapshot JPEG headers (SOI, SOF, EOI)", maxLength: 64 << 10) { bytes in
            guard let info = try? JPEGInfo.read(bytes) else { return }
            require(info.width > 0 && info.height > 0 && (1 ... 4).contains(info.components), "accepted \(info)")
        },
        FuzzTarget(name: "snapshot", summary: "a camera's picture as the hub takes it: the JPEG and its parkguard comment", maxLength: 64 << 10) { bytes in
            var core = HubCore()
            let id = "3f2b8c1e-4d5a-4e6f-9a7b-1c2d3e4f5a6b"
            let actions = core.ingest(topic: "parkguard/v1/p/u/snapshot/\(id)/cam-1/press", payload: bytes, retained: false,
                                      at: Date(timeIntervalSince1970: 1_800_000_000))
            require(actions.count == 1, "one answer per picture, got \(actions.count)")
            if case .snapshotReceived(let record) = actions[0] {
                let info = try? JPEGInfo.read(bytes)
                require(record.meta.alarmId == id && record.meta.camera == "cam-1" && record.meta.stage == .press
                        && info?.width == record.meta.width && info?.height == record.meta.height, "accepted a picture that disagrees: \(record.meta)")
                require((try? SnapshotMeta.read(from: record.meta.embedded(in: bytes))) == record.meta, "the comment does not round-trip")
            }
        },
        FuzzTarget(name: "sim-wire", summary: "the simulator's GPIO socket lines, both directions", maxLength: 64 << 10) { bytes in
            let decoder = JSONDecoder()
            _ = try? decoder.decode(SimWire.Request.self, from: Data(bytes))
            _ = try? decoder.decode(SimWire.Message.self, from: Data(bytes))
        },
        FuzzTarget(name: "hub-ingest", summary: "what the hub ingests: topic and payload, several messages per input",
                   maxLength: HubCore.maxPayloadBytes + HubCore.maxTopicBytes + 4096) { bytes in
            // Messages separated by NUL; in each, the topic runs to the first newline. One core
            // per input, so a finding replays alone.
            var core = HubCore()
            let messages = bytes.split(separator: 0, omittingEmptySubsequences: false).prefix(64)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for (index, message) in messages.enumerated() {
                let newline = message.firstIndex(of: UInt8(ascii: "\n")) ?? message.endIndex
                let topic = String(decoding: message[message.startIndex ..< newline], as: UTF8.self)
                let payload = Array(message[newline ..< message.endIndex].dropFirst())
                let actions = core.ingest(topic: topic, payload: payload, retained: index % 3 == 0,
                                          at: start.addingTimeInterval(Double(index)))
                for action in actions {
                    switch action {
                    case .refused(let error):
                        require(error.description.utf8.count <= maxHubRefusal, "a hub refusal of \(error.description.utf8.count) bytes: '\(error.description.prefix(200))…'")
                        require(!error.field.isEmpty && !error.message.isEmpty, "a hub refusal naming no field: '\(error.description.prefix(200))'")
                    case .alarmRaised(let record), .alarmDuplicate(let record):
                        require(!record.id.isEmpty && record.id.utf8.count <= 64, "an alarm id of \(record.id.utf8.count) bytes was taken")
                    default: break
                    }
                }
            }
            let counts = core.counts
            require(counts.messages == messages.count, "\(counts.messages) messages counted of \(messages.count)")
            require(counts.alarms + counts.duplicates + counts.refused <= counts.messages, "counts \(counts) exceed the messages")
            require(core.units.count <= messages.count, "\(core.units.count) units from \(messages.count) messages")
        },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// A configuration-shaped parse: accepted, or refused with a bounded list of short errors that
    /// all name the file.
    private static func checkConfig(_ text: String, limits: ConfigLimits,
                                    _ parse: (String, ConfigLimits) throws(ConfigErrors) -> Void) {
        do {
            try parse(text, limits)
        } catch {
            require(!error.errors.isEmpty, "refused with no error")
            require(error.errors.count <= limits.maxErrors, "\(error.errors.count) errors, more than the cap of \(limits.maxErrors)")
            for line in error.errors.map(\.description) {
                require(line.hasPrefix("fuzz.yaml"), "an error that does not name the file: '\(line.prefix(200))'")
                require(line.utf8.count <= maxErrorLine, "an error line of \(line.utf8.count) bytes: '\(line.prefix(200))…'")
            }
        }
    }
}
