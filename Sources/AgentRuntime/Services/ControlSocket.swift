#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import ParkGuardCore
import ServiceLifecycle
import SocketIO

/// The daemon's local control socket (``ControlRequest``): a Unix socket that root and the
/// service's group may open (mode 0660 in a 0750 runtime directory), for `parkguardd doctor`
/// while the daemon holds the lines. At most ``maxClients`` at once; a request must arrive within
/// ``requestDeadline``. Never fatal: a socket that cannot be made is logged and the bells go on.
struct ControlSocket: Service {
    let path: String
    let controller: AgentController
    /// Runs the whole self-test once (the `selftest` request).
    let selfTest: @Sendable () async -> SelfTestResultPayload
    let logger: Logger

    static let maxClients = 4
    static let requestDeadline: Duration = .seconds(5)

    func run() async throws {
        let listener: UnixListener
        do {
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
                throw ControlRefusal("\(path) exists and is not a socket; it is left alone")
            }
            listener = try UnixListener(path: path, backlog: 8)
            guard chmod(path, 0o660) == 0 else { throw ControlRefusal("chmod \(path): \(String(cString: strerror(errno)))") }
        } catch {
            logger.error("control socket unavailable: `parkguardd doctor` cannot ask this daemon", metadata: ["path": "\(path)", "error": "\(error)"])
            return
        }
        logger.info("control socket ready", metadata: ["path": "\(path)"])
        let clients = Locked(0)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while true {
                    let client: StreamSocket
                    do throws(SocketError) { client = try await listener.accept() } catch {
                        if error.kind != .cancelled { logger.error("control socket stopped accepting", metadata: ["error": "\(error)"]) }
                        break
                    }
                    let admitted = clients.withLock { count in
                        guard count < Self.maxClients else { return false }
                        count += 1
                        return true
                    }
                    group.addTask {
                        await serve(client, admitted: admitted) { clients.withLock { $0 -= 1 } }
                    }
                }
            }
        }
        unlink(path)
    }

    /// What the one task serving a client waits on.
    private enum Input: Sendable {
        case line([UInt8])
        case tooLong
        case hangUp
        /// The request did not arrive in time.
        case requestDeadline
        /// The watch's time is up.
        case watchEnd
        case event(ControlEvent)
    }

    /// - Parameter release: frees an admitted client's place; called before the connection is
    ///   closed, so a client that saw the daemon hang up may connect again at once.
    private func serve(_ client: StreamSocket, admitted: Bool, release: () -> Void) async {
        // However the client behaves (a watcher that never reads blocks our writes), the
        // connection ends by then: a write waits at most until this deadline.
        let hardDeadline = ContinuousClock.now + Self.requestDeadline + .seconds(ControlRequest.maxWatchSeconds + 10)
        defer {
            if admitted { release() }
            client.shutdown()
        }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            func send(_ value: some Encodable) async throws {
                var data = try encoder.encode(value)
                data.append(0x0A)
                try await client.send(Array(data), deadline: hardDeadline)
            }
            guard admitted else {
                try await send(ControlRefusal("busy: \(Self.maxClients) clients are connected; try again"))
                return
            }
            // Everything this client can do arrives on one stream: its request line, its hang-up,
            // the deadlines and, while it watches, the controller's events (a bounded buffer: a
            // client that does not read loses the oldest, never the daemon's memory).
            let (inputs, sink) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .bufferingNewest(256))
            var watcher: UInt64?
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    var line: [UInt8] = []
                    // One reader for the whole connection: after the request, reading on only
                    // notices the hang-up.
                    reading: while true {
                        guard let bytes = try? await client.receive(upTo: 4096, deadline: hardDeadline), !bytes.isEmpty else { break }
                        line += bytes
                        if let end = line.firstIndex(of: 0x0A) {
                            sink.yield(.line(Array(line[..<end])))
                            line = []
                            while let more = try? await client.receive(upTo: 4096, deadline: hardDeadline), !more.isEmpty {}
                            break reading
                        } else if line.count > ControlRequest.maxLineBytes {
                            sink.yield(.tooLong)
                            break reading
                        }
                    }
                    sink.yield(.hangUp)
                }
                tasks.addTask {
                    try? await Task.sleep(for: Self.requestDeadline)
                    sink.yield(.requestDeadline)
                }
                do {
                    var watching = false
                    loop: for await input in inputs {
                        switch input {
                        case .hangUp:
                            break loop
                        case .tooLong:
                            try await send(ControlRefusal("request is longer than \(ControlRequest.maxLineBytes) bytes"))
                            break loop
                        case .requestDeadline:
                            guard !watching else { continue }
                            try await send(ControlRefusal("no request within \(Self.requestDeadline)"))
                            break loop
                        case .watchEnd:
                            try await send(ControlEvent(event: "end"))
                            break loop
                        case .event(let event):
                            try await send(event)
                        case .line(let line):
                            let request: ControlRequest
                            do throws(ControlRefusal) { request = try ControlRequest.parse(line) } catch {
                                try await send(error)
                                break loop
                            }
                            logger.info("control request", metadata: ["request": "\(request)"])
                            switch request {
                            case .status:
                                try await send(await controller.controlStatus())
                                break loop
                            case .outputs:
                                try await send(SelfTestReport(outputs: await controller.testOutputs(), inputs: []))
                                break loop
                            case .selfTest:
                                try await send(await selfTest())
                                break loop
                            case .watch(let seconds):
                                watching = true
                                watcher = await controller.watch { sink.yield(.event($0)) }
                                tasks.addTask {
                                    try? await Task.sleep(for: .seconds(seconds))
                                    sink.yield(.watchEnd)
                                }
                                try await send(ControlEvent(event: "watching"))
                            }
                        }
                    }
                } catch {}
                if let watcher { await controller.unwatch(watcher) }
                sink.finish()
                tasks.cancelAll()
            }
        } catch {}
    }
}
