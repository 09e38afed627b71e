/// A simulator scenario: a timeline of bell presses and camera faults, read from YAML.
///
/// ```yaml
/// steps:
///   - { at: 2s, press: b1 }
///   - { at: 3s, release: b1 }
///   - { at: 5s, camera: cam-1, fault: frozen }
///   - { at: 40s, camera: cam-1, clear: all }
/// repeat: 60s        # optional: start over this long after the start
/// ```
public struct Scenario: Sendable, Equatable {
    /// What happens at one point of the timeline.
    public enum Action: Sendable, Equatable {
        case press(String)
        case release(String)
        case click(String, milliseconds: Int)
        case cameraFault(camera: String, fault: String, delayMs: Int?, driftSeconds: Int?)
        /// `fault == nil` clears every fault.
        case cameraClear(camera: String, fault: String?)
    }

    public struct Step: Sendable, Equatable {
        /// Time from the start of the scenario (or of the current repetition).
        public var at: Duration
        public var action: Action
        /// Line of the step in its file, for messages.
        public var line: Int
    }

    public var steps: [Step]
    public var repeatEvery: Duration?

    /// Validates a parsed scenario document.
    /// - Parameter faults: the fault names the simulator knows.
    /// - Throws: ``ConfigErrors`` naming file, line and key of every problem.
    public static func decode(_ root: ConfigNode, file: String, faults: [String]) throws(ConfigErrors) -> Scenario {
        let sink = ConfigErrorSink()
        var top = ConfigReader(file: file, path: "", node: root, sink: sink)
        let steps: [Step?] = top.list("steps") { r in
            let at = r.duration("at", default: .zero, in: .zero ... .seconds(86400 * 7))
            if !r.has("at") { r.fail(nil, "missing required key 'at' (like 2s or 500ms)") }
            let keys = ["press", "release", "click", "camera"].filter { r.has($0) }
            guard keys.count == 1 else {
                // Mark the keys as read: the one error below says all there is to say about them.
                for key in keys { _ = r.string(key, default: nil) }
                r.fail(nil, keys.isEmpty ? "a step needs one of press, release, click or camera" : "a step takes one of \(keys.joined(separator: ", ")), not several")
                return nil
            }
            let action: Action
            switch keys[0] {
            case "press": action = .press(r.string("press"))
            case "release": action = .release(r.string("release"))
            case "click": action = .click(r.string("click"), milliseconds: r.int("ms", default: 200, in: 1 ... 3_600_000) ?? 200)
            default:
                let camera = r.identifier("camera")
                if r.has("fault") == r.has("clear") {
                    for key in ["fault", "clear"] where r.has(key) { _ = r.string(key, default: nil) }
                    r.fail(nil, "a camera step takes either 'fault: NAME' or 'clear: NAME|all'")
                    return nil
                }
                if r.has("fault") {
                    let fault = r.choice("fault", faults.map { ($0, $0) }, default: "")
                    let delayMs = r.has("delayMs") ? r.int("delayMs", default: nil, in: 0 ... 600_000) : nil
                    let driftSeconds = r.has("driftSeconds") ? r.int("driftSeconds", default: nil, in: -31_536_000 ... 31_536_000) : nil
                    action = .cameraFault(camera: camera, fault: fault, delayMs: delayMs, driftSeconds: driftSeconds)
                } else {
                    let fault = r.choice("clear", [("all", String?.none)] + faults.map { ($0, Optional($0)) }, default: nil)
                    action = .cameraClear(camera: camera, fault: fault)
                }
            }
            return Step(at: at, action: action, line: r.node.line)
        }
        let repeatEvery: Duration? = top.has("repeat") ? top.duration("repeat", default: .seconds(60), in: .seconds(1) ... .seconds(86400 * 7)) : nil
        top.finish()
        if steps.isEmpty, sink.isEmpty {
            sink.add(ConfigError(file: file, line: 0, key: "steps", message: "a scenario needs at least one step"))
        }
        let valid = steps.compactMap { $0 }.sorted { $0.at < $1.at }
        if let repeatEvery, let last = valid.last, last.at >= repeatEvery {
            sink.add(ConfigError(file: file, line: last.line, key: "repeat", message: "must be longer than the last step's 'at'"))
        }
        if !sink.isEmpty { throw sink.thrown }
        return Scenario(steps: valid, repeatEvery: repeatEvery)
    }
}
