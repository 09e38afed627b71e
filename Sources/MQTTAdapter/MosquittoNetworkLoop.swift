import CMosquitto
import Foundation
import ParkGuardCore

/// One thread that drives the network of many ``MosquittoClient``s through libmosquitto's
/// external-loop API (`mosquitto_socket`, `mosquitto_loop_read`, `mosquitto_loop_write`,
/// `mosquitto_loop_misc`), waiting on all their sockets with one epoll set.
///
/// A client created with a network loop has no thread of its own. Connects are asynchronous
/// (`mosquitto_connect_bind_async`, `mosquitto_reconnect_async`), each client keeps its own
/// jittered ``ReconnectBackoff``, and keep-alives are served by `loop_misc` once a second. The
/// fleet simulator runs thousands of agents this way; a field unit keeps one thread per client.
public final class MosquittoNetworkLoop: Sendable {
    private let epoll: Int32
    private let wake: WakePipe
    private let requests = Locked(Requests())

    private struct Requests {
        var added: [MosquittoClient] = []
        var stopping: [ObjectIdentifier] = []
        var dirty: Set<ObjectIdentifier> = []
        var signalled = false
    }

    /// Starts the loop's thread. It runs for the life of the process.
    public init() throws(MQTTError) {
        MosquittoLibrary.initialise()
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else {
            throw MQTTError(code: Int32(MOSQ_ERR_ERRNO.rawValue), operation: "epoll_create1", message: String(cString: strerror(errno)))
        }
        epoll = fd
        wake = try WakePipe()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = -1
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, wake.readDescriptor, &event)
        Thread.detachNewThread { [self] in run() }
    }

    // MARK: What clients ask for (any thread)

    func register(_ client: MosquittoClient) {
        post { $0.added.append(client) }
    }

    /// The client queued a packet: write it out.
    func flush(_ client: MosquittoClient) {
        post { $0.dirty.insert(ObjectIdentifier(client)) }
    }

    /// The client queued DISCONNECT: write it, then drop the client and end its events.
    func stop(_ client: MosquittoClient) {
        post { $0.stopping.append(ObjectIdentifier(client)) }
    }

    private func post(_ change: (inout Requests) -> Void) {
        let signal = requests.withLock { requests -> Bool in
            change(&requests)
            defer { requests.signalled = true }
            return !requests.signalled
        }
        if signal { wake.signal() }
    }

    // MARK: The loop thread

    /// The loop thread's view of one client.
    private final class Slot {
        let client: MosquittoClient
        var socket: Int32 = -1
        var watchingWrites = false
        var everConnected = false
        var connectDue: ContinuousClock.Instant?
        var stopping = false
        var backoff: ReconnectBackoff

        init(_ client: MosquittoClient, now: ContinuousClock.Instant) {
            self.client = client
            backoff = ReconnectBackoff(initial: client.settings.reconnectInitial, maximum: client.settings.reconnectMax)
            connectDue = now
        }

        var handle: OpaquePointer { client.handle }
    }

    private func run() {
        var slots: [ObjectIdentifier: Slot] = [:]
        var bySocket: [Int32: Slot] = [:]
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var lastMisc = ContinuousClock.now

        /// Brings the epoll set in line with the client's socket after any libmosquitto call.
        func sync(_ slot: Slot) {
            let socket = mosquitto_socket(slot.handle)
            if socket != slot.socket {
                if slot.socket >= 0 {
                    if bySocket[slot.socket] === slot { bySocket[slot.socket] = nil }
                    _ = epoll_ctl(epoll, EPOLL_CTL_DEL, slot.socket, nil)
                    connectionEnded(slot)
                }
                slot.socket = socket
                slot.watchingWrites = false
                if socket >= 0 {
                    bySocket[socket] = slot
                    var event = epoll_event()
                    event.events = EPOLLIN.rawValue
                    event.data.fd = socket
                    _ = epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event)
                }
            }
            guard slot.socket >= 0 else { return }
            if slot.client.box.connectedOnce { slot.backoff.reset() }
            let wantsWrite = mosquitto_want_write(slot.handle)
            if wantsWrite != slot.watchingWrites {
                var event = epoll_event()
                event.events = EPOLLIN.rawValue | (wantsWrite ? EPOLLOUT.rawValue : 0)
                event.data.fd = slot.socket
                _ = epoll_ctl(epoll, EPOLL_CTL_MOD, slot.socket, &event)
                slot.watchingWrites = wantsWrite
            }
        }

        /// The socket closed (error, keep-alive timeout, or our DISCONNECT went out).
        func connectionEnded(_ slot: Slot) {
            guard !slot.stopping else { return }
            let wait = slot.backoff.next { Double.random(in: 0 ..< 1) }
            slot.connectDue = ContinuousClock.now + wait
        }

        func connect(_ slot: Slot) {
            slot.connectDue = nil
            let settings = slot.client.settings
            let keepalive = Int32(max(5, settings.keepalive.components.seconds))
            let rc = slot.everConnected
                ? mosquitto_reconnect_async(slot.handle)
                : mosquitto_connect_bind_async(slot.handle, settings.host, Int32(settings.port), keepalive, nil)
            slot.everConnected = true
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                let wait = slot.backoff.next { Double.random(in: 0 ..< 1) }
                slot.client.box.yield(.connectFailed(MQTTError(code: rc, operation: "connect \(settings.host):\(settings.port)",
                                                               message: errorText(rc)), retryIn: wait))
                slot.connectDue = ContinuousClock.now + wait
            }
            sync(slot)
        }

        /// After any call: the epoll set follows the socket, and a stopping client whose
        /// DISCONNECT is out (or that has no connection) is done.
        func settle(_ slot: Slot) {
            sync(slot)
            if slot.stopping, slot.socket < 0 || !mosquitto_want_write(slot.handle) { finish(slot) }
        }

        func finish(_ slot: Slot) {
            guard slots[ObjectIdentifier(slot.client)] != nil else { return }
            if slot.socket >= 0 {
                if bySocket[slot.socket] === slot { bySocket[slot.socket] = nil }
                _ = epoll_ctl(epoll, EPOLL_CTL_DEL, slot.socket, nil)
            }
            slots[ObjectIdentifier(slot.client)] = nil
            slot.client.loopEnded()
        }

        while true {
            let now = ContinuousClock.now
            let taken = requests.withLock { requests -> Requests in
                defer { requests = Requests() }
                return requests
            }
            for client in taken.added where slots[ObjectIdentifier(client)] == nil {
                slots[ObjectIdentifier(client)] = Slot(client, now: now)
            }
            for id in taken.stopping {
                guard let slot = slots[id] else { continue }
                slot.stopping = true
                slot.connectDue = nil
                if slot.socket >= 0 { _ = mosquitto_loop_write(slot.handle, 1) }
                settle(slot)
            }
            for id in taken.dirty {
                guard let slot = slots[id], slot.socket >= 0 else { continue }
                _ = mosquitto_loop_write(slot.handle, 1)
                settle(slot)
            }
            var nextDue = lastMisc + .seconds(1)
            for slot in slots.values {
                guard let due = slot.connectDue else { continue }
                if due <= now { connect(slot) } else { nextDue = min(nextDue, due) }
            }

            let timeout = Int32(clamping: max(0, now.duration(to: nextDue).milliseconds))
            let count = events.withUnsafeMutableBufferPointer { buffer in
                epoll_wait(epoll, buffer.baseAddress, Int32(buffer.count), timeout)
            }
            for index in 0 ..< max(0, Int(count)) {
                let event = events[index]
                if event.data.fd == -1 {
                    wake.drain()
                    continue
                }
                guard let slot = bySocket[event.data.fd] else { continue }
                if event.events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                    _ = mosquitto_loop_read(slot.handle, 16)
                    settle(slot)
                }
                if slot.socket >= 0, event.events & EPOLLOUT.rawValue != 0 {
                    _ = mosquitto_loop_write(slot.handle, 16)
                    settle(slot)
                }
            }
            let after = ContinuousClock.now
            if after - lastMisc >= .seconds(1) {
                lastMisc = after
                for slot in slots.values where slot.socket >= 0 {
                    _ = mosquitto_loop_misc(slot.handle)
                    settle(slot)
                }
            }
        }
    }
}
