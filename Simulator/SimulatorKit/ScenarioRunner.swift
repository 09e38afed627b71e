import Logging
import ParkGuardCore
import ServiceLifecycle

/// Plays a ``Scenario`` against the virtual chip and cameras, logging each step.
public struct ScenarioRunner: Service {
    let scenario: Scenario
    let chip: VirtualChip
    let cameras: [String: VirtualCamera]
    let logger: Logger

    public init(scenario: Scenario, chip: VirtualChip, cameras: [VirtualCamera], logger: Logger) {
        self.scenario = scenario
        self.chip = chip
        self.cameras = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
    }

    /// Checks that every step names a known input or camera.
    public func validate(file: String) throws(ConfigErrors) {
        var errors: [ConfigError] = []
        for step in scenario.steps {
            switch step.action {
            case .press(let name), .release(let name), .click(let name, _):
                if (try? chip.names.line(for: name)) == nil {
                    errors.append(ConfigError(file: file, line: step.line, key: "steps", message: "no bell or input called '\(name)' in the agent config"))
                }
            case .cameraFault(let camera, _, _, _), .cameraClear(let camera, _):
                if cameras[camera] == nil {
                    errors.append(ConfigError(file: file, line: step.line, key: "steps", message: "no simulated camera called '\(camera)'"))
                }
            }
        }
        if !errors.isEmpty { throw ConfigErrors(errors) }
    }

    public func run() async throws {
        try await untilGracefulShutdown {
            let clock = ContinuousClock()
            repeat {
                let start = clock.now
                for step in scenario.steps {
                    try await Task.sleep(until: start + step.at, clock: clock)
                    await perform(step)
                }
                if let every = scenario.repeatEvery { try await Task.sleep(until: start + every, clock: clock) }
            } while scenario.repeatEvery != nil
        }
    }

    private func perform(_ step: Scenario.Step) async {
        logger.notice("scenario step", metadata: ["at": "\(step.at)", "action": "\(step.action)"])
        do {
            switch step.action {
            case .press(let name):
                try chip.setContact(line: try chip.names.line(for: name), active: true)
            case .release(let name):
                try chip.setContact(line: try chip.names.line(for: name), active: false)
            case .click(let name, let ms):
                let line = try chip.names.line(for: name)
                try chip.setContact(line: line, active: true)
                try await Task.sleep(for: .milliseconds(ms))
                try chip.setContact(line: line, active: false)
            case .cameraFault(let id, let name, let delayMs, let driftSeconds):
                if let fault = CameraFault(rawValue: name) { cameras[id]?.inject(fault, delayMs: delayMs, driftSeconds: driftSeconds) }
            case .cameraClear(let id, let name):
                cameras[id]?.clear(name.flatMap(CameraFault.init(rawValue:)))
            }
        } catch {
            logger.error("scenario step failed", metadata: ["line": "\(step.line)", "error": "\(error)"])
        }
    }
}
