import Logging
import MQTTAdapter
import ParkGuardCore
import ServiceLifecycle

/// The broker connection as a service: runs the client, feeds its events to the ``Publisher``,
/// validates incoming commands and posts them to the bell loop. On graceful shutdown it
/// publishes `offline` explicitly, waits for in-flight messages, and disconnects cleanly.
struct MQTTSession: Service {
    let client: MosquittoClient
    let publisher: Publisher
    let controller: AgentController
    let inbox: AgentInbox
    let topics: Topics
    let bells: Set<String>
    let authenticator: CommandAuthenticator?
    let clock: any AgentClock
    let logger: Logger

    func run() async throws {
        client.start()
        // Events are read where libmosquitto's callbacks yield them: on the network loop's thread.
        await withTaskExecutorPreference(publisher.loop) { await handleEvents() }
    }

    private func handleEvents() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                // Alarms whose receipt is overdue go again; overdue ones are announced. The ticker
                // sleeps until the next such deadline (a fleet's thousands of units each woken every
                // second cost more CPU than all their traffic).
                group.addTask { [publisher, controller] in
                    while !Task.isCancelled, let wait = await publisher.receiptTickWait() {
                        try? await Task.sleep(for: wait)
                        let notices = await publisher.tickReceipts()
                        if !notices.isEmpty { await controller.announce(notices) }
                    }
                }
                for await event in client.events {
                    guard let message = await publisher.handle(event) else { continue }
                    await dispatch(message)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: { [publisher, controller, clock] in
            Task {
                let offline = controller.statusMessage(online: false, stamp: clock.stamp(), reason: "clean shutdown")
                await publisher.finish(with: offline, timeout: .seconds(3))
            }
        }
    }

    private func dispatch(_ message: MQTTMessage) async {
        guard let name = topics.commandName(of: message.topic) else {
            logger.warning("message on an unexpected topic ignored", metadata: ["topic": "\(message.topic.prefix(200))"])
            return
        }
        if message.retained {
            // A retained command would replay on every reconnect; refuse it.
            await publisher.send(await controller.refuse(name: name, error: CommandError(field: "retain", "commands must not be retained"),
                                                         correlationData: message.correlationData, payload: message.payload))
            return
        }
        if name == "receipt" {
            await receive(message)
            return
        }
        var payload = message.payload
        do {
            if let authenticator, authenticator.applies(to: name, payload: payload) {
                payload = try authenticator.open(name: name, payload: payload)
            }
            let command = try CommandParser.parse(name: name, payload: payload, bells: bells)
            inbox.post(.command(command, correlationData: message.correlationData))
        } catch {
            // `payload` is the verified inner payload once the signature checked out, else the
            // request as it came: either way only its correlationId is echoed.
            await publisher.send(await controller.refuse(name: name, error: error, correlationData: message.correlationData, payload: payload))
        }
    }
}

extension MQTTSession {
    /// A receipt from the hub: verified where hub keys are set, validated, then handed to the
    /// publisher, which retires the alarms it names. A refused receipt retires nothing and is
    /// answered on `cmd/receipt/result`.
    private func receive(_ message: MQTTMessage) async {
        do {
            var payload = message.payload
            if let authenticator, authenticator.requiresSignedReceipts || SignedCommand.isEnvelope(payload) {
                payload = try authenticator.openReceipt(payload)
            }
            let receipt = try Receipt.parse(payload)
            let notices = await publisher.receipt(receipt.ids)
            if !notices.isEmpty { await controller.announce(notices) }
        } catch {
            logger.warning("receipt refused", metadata: ["topic": "\(message.topic)", "field": "\(error.field ?? "-")", "error": "\(error.message)"])
            await publisher.receiptRefused()
            await publisher.send(await controller.refuse(name: "receipt", error: error, correlationData: message.correlationData))
        }
    }
}

/// The `telemetry` heartbeat, with a broker round-trip probe half an interval ahead of it. It
/// also announces on `event` what the figures show changed: drops, storage faults, clock sync.
struct Heartbeat: Service {
    let publisher: Publisher
    let controller: AgentController
    let outbox: Outbox
    let storageFaults: AsyncStream<String?>
    let topics: Topics
    let interval: Duration
    let diskPath: String
    let clock: any AgentClock
    let started: MonotonicInstant

    func run() async throws {
        try await untilGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await relayStorageFaults() }
                group.addTask { try await beat() }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    private func relayStorageFaults() async {
        for await fault in storageFaults {
            if let fault {
                await controller.announce(.storageFault, "outbox storage failed: \(fault); alarms still go out while the broker is reachable")
            } else {
                await controller.announce(.storageFault, "outbox storage works again", data: ["recovered": "true"])
            }
        }
    }

    /// Beats on a fixed schedule (each deadline one interval after the previous one), so the time
    /// spent building and handing over a heartbeat does not stretch the interval; after a stall
    /// (a suspended VM, an overloaded host) it starts a new schedule instead of bursting.
    private func beat() async throws {
        var synced = SystemClock.clockSynced()
        var reportedDrops = TelemetryPayload.Drops()
        let lead = min(interval / 2, .seconds(2))
        var due = ContinuousClock.now + lead
        while true {
            await publisher.probeRoundTrip()
            try await Task.sleep(until: due, clock: .continuous)
            let message = await telemetry()
            await publisher.send(message)
            let drops = await publisher.figures().drops
            if drops != reportedDrops {
                await controller.announce(.dropped, "messages were dropped: the queue was full or the broker refused them", data: [
                    "queueFull": "\(drops.queueFull)", "telemetryCoalesced": "\(drops.telemetryCoalesced)",
                    "rejectedByBroker": "\(drops.rejectedByBroker)", "snapshots": "\(drops.snapshots)",
                ])
                reportedDrops = drops
            }
            let nowSynced = SystemClock.clockSynced()
            if nowSynced, !synced { await controller.announce(.clockSynced, "the wall clock is synchronised") }
            synced = nowSynced
            due = due + interval
            if due < ContinuousClock.now + lead { due = ContinuousClock.now + lead }
            try await Task.sleep(until: due - lead, clock: .continuous)
        }
    }

    private func telemetry() async -> Outgoing {
        let figures = await publisher.figures()
        let stats = SystemStats.read(diskPath: diskPath)
        let now = clock.now()
        var payload = TelemetryPayload(
            stamp: clock.stamp(), session: await controller.session, uptimeSeconds: stats.uptimeSeconds,
            agentUptimeSeconds: UInt64(max(0, started.duration(to: now).components.seconds)),
            outboxDepth: figures.depth, outboxBytes: figures.bytes, drops: figures.drops,
            brokerRttMs: figures.rtt.map { Double($0.nanoseconds) / 1e6 }, link: figures.link, receipts: figures.receipts)
        payload.load1 = stats.load?.0
        payload.load5 = stats.load?.1
        payload.load15 = stats.load?.2
        payload.memTotalBytes = stats.memTotal
        payload.memAvailableBytes = stats.memAvailable
        payload.agentRssBytes = stats.rss
        payload.diskFreeBytes = stats.diskFree
        payload.diskTotalBytes = stats.diskTotal
        payload.cpuTemperatureC = stats.cpuTemperature
        payload.storageFault = outbox.figures.storageFault
        payload.annunciation = await controller.annunciationFigures
        payload.edgesLost = await controller.edgesLostFigure
        return .json(payload, topic: topics.telemetry, qos: 0, retain: false, kind: .telemetry)
    }
}

/// Runs `body` until graceful shutdown; the shutdown ends it normally rather than as a failure
/// that would cancel the whole service group.
func untilGracefulShutdown(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do { try await cancelWhenGracefulShutdown(body) } catch is CancellationError {}
}
