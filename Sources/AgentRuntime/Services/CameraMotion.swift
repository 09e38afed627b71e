import CameraProbe
import Logging
import ParkGuardCore
import ServiceLifecycle

/// Turns the cameras linked to a pressed bell to the bell's preset, and back home after its
/// release (``PTZPlanner`` decides, ``PTZMover`` talks ONVIF). It runs beside the bell loop and
/// is told of presses without waiting: a camera never delays an alarm or the outputs. Each
/// move's outcome is announced on `event` (`ptz`) with the press's alarm id.
struct CameraMotion: Service {
    /// What the controller tells it, after the alarm is handed to the publisher.
    enum Request: Sendable {
        case pressed(bell: String, alarm: String, links: [CameraLink])
        case released(bell: String, links: [CameraLink])
        /// A return home may be due (its own timer).
        case due
        /// A move of `camera` ended; `moved`: the camera accepted it.
        case finished(camera: String, preset: String, moved: Bool)
    }

    let cameras: [String: CameraConfig]
    let credentials: [String: CameraCredentials]
    let requests: AsyncStream<Request>
    /// The same stream's input, for the timer of the returns home and the moves' ends.
    let sink: AsyncStream<Request>.Continuation
    let controller: AgentController
    /// Told of each press move the camera accepted, for the picture once it has settled.
    let snapshots: AsyncStream<CameraSnapshots.Request>.Continuation?
    let config: CameraHealthConfig
    let clock: any AgentClock
    let logger: Logger

    func run() async throws {
        let mover = PTZMover(connectTimeout: config.connectTimeout, stepTimeout: config.stepTimeout)
        var planner = PTZPlanner()
        var lanes = PTZLanes()
        var timer: Task<Void, Never>?
        await withDiscardingTaskGroup { group in
            for await request in requests.cancelOnGracefulShutdown() {
                var moves: [PTZPlanner.Move] = []
                switch request {
                case .pressed(let bell, let alarm, let links): moves = planner.pressed(bell: bell, alarm: alarm, links: links, at: clock.now())
                case .released(let bell, let links): planner.released(bell: bell, links: links, at: clock.now())
                case .due: break
                case .finished(let camera, let preset, let moved):
                    if moved { planner.moved(camera: camera, preset: preset, at: clock.now()) }
                    if let next = lanes.finish(camera) { moves.append(next) }
                }
                moves += planner.due(at: clock.now())
                for move in moves {
                    guard let camera = cameras[move.camera] else { continue }
                    guard lanes.admit(move) != nil else { continue }
                    group.addTask { [sink] in
                        let moved = await perform(move, camera: camera, mover: mover)
                        sink.yield(.finished(camera: move.camera, preset: move.preset, moved: moved))
                    }
                }
                timer?.cancel()
                timer = planner.nextDeadline.map { deadline in
                    let wait = clock.now().duration(to: deadline)
                    return Task { [sink] in
                        try? await Task.sleep(for: max(wait, .milliseconds(1)))
                        if !Task.isCancelled { sink.yield(.due) }
                    }
                }
            }
        }
        timer?.cancel()
    }

    /// Makes one move and announces it; `true` when the camera accepted it.
    private func perform(_ move: PTZPlanner.Move, camera: CameraConfig, mover: PTZMover) async -> Bool {
        let started = clock.now()
        let outcome = await mover.move(camera, to: move.preset, credentials: credentials[camera.id])
        let ms = started.duration(to: clock.now()).milliseconds
        var data = ["camera": move.camera, "preset": move.preset, "bell": move.bell, "reason": move.reason.rawValue,
                    "outcome": outcome.name, "ms": "\(ms)"]
        if let alarm = move.alarm { data["alarmId"] = alarm }
        // What the camera said is bounded before it goes anywhere: a camera is not trusted.
        let detail = outcome.detail.map { String($0.prefix(200).map { $0.isNewline ? " " : $0 }) }
        if let detail { data["detail"] = detail }
        let what = move.reason == .press ? "to preset '\(move.preset)' for bell \(move.bell)" : "back home to '\(move.preset)'"
        let message = outcome == .moved ? "camera \(move.camera) turned \(what) in \(ms) ms"
            : "camera \(move.camera) did not turn \(what): \(outcome.name)\(detail.map { ", \($0)" } ?? "")"
        logger.log(level: outcome == .moved ? .info : .warning, "\(message)")
        if outcome == .moved, move.reason == .press, let alarm = move.alarm { snapshots?.yield(.moved(alarm: alarm, camera: move.camera)) }
        await controller.announce(.ptz, message, data: data)
        return outcome == .moved
    }
}
