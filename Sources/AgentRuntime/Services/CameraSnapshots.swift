import CameraProbe
import Logging
import ParkGuardCore
import ServiceLifecycle

/// Takes the linked cameras' pictures for an alarm: one right after the press, and one
/// `snapshots.settle` after a camera accepted its move to the bell's preset. Each goes to the
/// publisher as a ``DeliveryClass/snapshot``: behind every alarm, in memory only, the first thing
/// dropped for room. Like ``CameraMotion`` it is told of presses without waiting, so a camera
/// never delays an alarm or the outputs; a picture that cannot be taken is announced on `event`
/// (`snapshot`).
struct CameraSnapshots: Service {
    enum Request: Sendable {
        /// A press raised `alarm`; its linked cameras.
        case pressed(alarm: String, cameras: [String])
        /// `camera` accepted its move for `alarm`: its second picture is due after the settle time.
        case moved(alarm: String, camera: String)
    }

    /// Pictures being taken at once, over all cameras; a request beyond is announced and skipped
    /// (a burst of presses must not open sockets without bound).
    static let maxTaking = 16

    let cameras: [String: CameraConfig]
    let credentials: [String: CameraCredentials]
    let requests: AsyncStream<Request>
    let config: SnapshotConfig
    let health: CameraHealthConfig
    let publisher: Publisher
    let controller: AgentController
    let topics: Topics
    let clock: any AgentClock
    let logger: Logger

    func run() async throws {
        let taker = SnapshotTaker(connectTimeout: health.connectTimeout, stepTimeout: health.stepTimeout)
        let taking = Locked(0)
        await withDiscardingTaskGroup { group in
            for await request in requests.cancelOnGracefulShutdown() {
                let (alarm, wanted, stage, delay): (String, [String], SnapshotStage, Duration) = switch request {
                case .pressed(let alarm, let cameras): (alarm, cameras, .press, .zero)
                case .moved(let alarm, let camera): (alarm, [camera], .settled, config.settle)
                }
                for id in wanted {
                    // A picture from the configured snapshot, else from the one ONVIF names.
                    guard let camera = cameras[id], camera.snapshot != nil || camera.onvif != nil else { continue }
                    let admitted = taking.withLock { count in
                        guard count < Self.maxTaking else { return false }
                        count += 1
                        return true
                    }
                    guard admitted else {
                        await announce(alarm: alarm, camera: id, stage: stage, outcome: "failed",
                                       detail: "\(Self.maxTaking) pictures are being taken already")
                        continue
                    }
                    group.addTask {
                        defer { taking.withLock { $0 -= 1 } }
                        if delay > .zero { try? await Task.sleep(for: delay) }
                        await take(camera, alarm: alarm, stage: stage, taker: taker)
                    }
                }
            }
        }
    }

    private func take(_ camera: CameraConfig, alarm: String, stage: SnapshotStage, taker: SnapshotTaker) async {
        // Room for the comment segment the metadata adds.
        let room = 512
        do {
            let picture = try await taker.take(camera, credentials: credentials[camera.id], maxBytes: config.maxBytes - room,
                                               maxWidth: config.maxWidth)
            let meta = SnapshotMeta(alarmId: alarm, camera: camera.id, stage: stage, takenAt: clock.stamp().wall.rfc3339,
                                    width: picture.width, height: picture.height, scaled: picture.scaled)
            var message = Outgoing(topic: topics.snapshot(alarmID: alarm, camera: camera.id, stage: stage), payload: meta.embedded(in: picture.jpeg),
                                   qos: 1, retain: false, kind: .snapshot)
            message.contentType = SnapshotMeta.contentType
            message.userProperties = meta.fields
            logger.info("snapshot taken", metadata: ["camera": "\(camera.id)", "alarm": "\(alarm)", "stage": "\(stage.rawValue)",
                                                     "bytes": "\(message.payload.count)", "scaled": "\(picture.scaled)"])
            await publisher.send(message)
        } catch {
            await announce(alarm: alarm, camera: camera.id, stage: stage, outcome: error.outcome, detail: error.detail)
        }
    }

    private func announce(alarm: String, camera: String, stage: SnapshotStage, outcome: String, detail: String) async {
        // What the camera said is bounded before it goes anywhere: a camera is not trusted.
        let detail = String(detail.prefix(200).map { $0.isNewline ? " " : $0 })
        logger.warning("no snapshot from camera \(camera) for alarm \(alarm): \(outcome), \(detail)")
        await controller.announce(.snapshot, "no \(stage.rawValue) picture from camera \(camera): \(outcome), \(detail)",
                                  data: ["camera": camera, "alarmId": alarm, "stage": stage.rawValue, "outcome": outcome, "detail": detail])
    }
}
