import GPIOAdapter
import Logging
import MQTTAdapter
import ParkGuardCore
import ServiceLifecycle

/// The loop that does the work: opens the GPIO backend (and keeps retrying while it is away),
/// feeds edges, timers and commands from one inbox to the ``AgentController`` one at a time,
/// and pings the systemd watchdog, so a wedged loop gets the agent restarted.
struct BellLoop: Service {
    let controller: AgentController
    let publisher: Publisher
    let inbox: AgentInbox
    let openBackend: @Sendable () async throws(GPIOError) -> any GPIOBackend
    let clock: any AgentClock
    let notifier: SystemdNotifier
    /// Where `test` goes: the self-test runs beside this loop, not in it.
    let selfTests: AsyncStream<SelfTestTrigger>.Continuation
    let logger: Logger

    func run() async throws {
        // On the network loop's thread, the controller's and publisher's executor: an edge from the
        // reader crosses one thread boundary, into this loop, and none after it.
        await withTaskExecutorPreference(publisher.loop) {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await feedEdges() }
                    await process()
                    group.cancelAll()
                }
            } onGracefulShutdown: { [inbox] in
                inbox.close()
            }
        }
    }

    /// Opens the backend, requests the lines and has it post edges straight into the inbox from
    /// its reader; on failure reports a line fault and tries again every few seconds.
    private func feedEdges() async {
        var reportedFailure: String?
        var first = true
        while !Task.isCancelled {
            do {
                let backend = try await openBackend()
                try await controller.attach(backend)
                // Ends with the first failure the backend reports (or with cancellation).
                let (broken, breaks) = AsyncStream.makeStream(of: Void.self)
                try backend.startEvents { [inbox] event in
                    switch event {
                    case .edge(let edge):
                        inbox.post(.edge(edge))
                    case .edgesLost(let line, let count):
                        inbox.post(.edgesLost(line: line, count: count))
                    case .failed(let error):
                        inbox.post(.gpioFailed(error.description))
                        breaks.finish()
                    }
                }
                if reportedFailure != nil { logger.notice("GPIO is back") }
                reportedFailure = nil
                if first { ready(); first = false }
                for await _ in broken {}
                backend.close()
                if Task.isCancelled { return }
            } catch {
                if reportedFailure != error.description {
                    logger.critical("GPIO unavailable: bells cannot be read", metadata: ["error": "\(error)"])
                    reportedFailure = error.description
                    inbox.post(.gpioFailed(error.description))
                }
                if first { ready(); first = false }
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    private func ready() {
        notifier.notify("READY=1\nSTATUS=watching bells")
    }

    private func process() async {
        // The next tick is a timer of the network loop: it wakes only the loop's thread.
        let loop = publisher.loop
        let timerOwner = ObjectIdentifier(inbox)
        var scheduled: MonotonicInstant?
        var nextPing = clock.now()
        // The first tick schedules the timers (watchdog included) before any input arrives.
        inbox.post(.tick)
        // Ended by closing the inbox at graceful shutdown (`cancelOnGracefulShutdown` would read
        // the stream from a task of its own on the cooperative pool: one more hop per edge).
        for await input in inbox.stream {
            switch input {
            case .edge(let edge):
                await controller.handle(edge)
            case .tick:
                scheduled = nil
                await controller.tick()
            case .gpioFailed(let reason):
                await controller.detach(reason: reason)
            case .edgesLost(let line, let count):
                await controller.edgesLost(line: line, count: count)
            case .command(let command, let correlation) where command.name == .test:
                // A few requests wait their turn; beyond that the oldest is answered, not dropped.
                if case .dropped(.command(let dropped, let data)) = selfTests.yield(.command(command, correlationData: correlation)) {
                    await publisher.send(await controller.refuse(name: dropped.name.rawValue, error: CommandError(field: nil, "a self-test runs and others wait; try again"),
                                                                 correlationData: data, correlationID: dropped.correlationID))
                }
            case .command(let command, let correlation):
                await publisher.send(await controller.perform(command, correlationData: correlation))
            }
            let now = clock.now()
            if let interval = notifier.watchdogInterval, now >= nextPing {
                // This runs on the network loop, the publisher's and controller's executor too: a
                // wedged loop stops these pings, and systemd restarts the agent.
                notifier.notify("WATCHDOG=1")
                nextPing = now + interval
            }
            var due = await controller.deadline
            if notifier.watchdogInterval != nil { due = min(due ?? nextPing, nextPing) }
            if let due, due != scheduled {
                scheduled = due
                let wait = clock.now().duration(to: due)
                loop.setTimer(owner: timerOwner, at: .now + max(.zero, wait)) { [inbox] in inbox.post(.tick) }
            }
        }
        loop.setTimer(owner: timerOwner, at: nil) {}
    }
}
