import Foundation
import Logging
import MQTTAdapter
import ParkGuardCore
import ParkGuardTestKit
import Testing

/// libmosquitto's external loop, driven for many clients by one ``MosquittoNetworkLoop`` thread,
/// against a real mosquitto.
@Suite("Many MQTT clients on one network thread", .serialized)
struct SharedNetworkLoopTests {
    let logger = Logger(label: "test")

    /// Counts the events of a client in the background.
    final class Tally: Sendable {
        let connects = Locked(0)
        let acks = Locked(0)
        let closed = Locked(false)
        let messages = Locked<[String]>([])
    }

    func watch(_ client: MosquittoClient, subscribe filter: String? = nil) -> Tally {
        let tally = Tally()
        Task {
            for await event in client.events {
                switch event {
                case .connected(0, _):
                    tally.connects.withLock { $0 += 1 }
                    if let filter { _ = try? client.subscribe(filter, qos: 1) }
                case .published: tally.acks.withLock { $0 += 1 }
                case .message(let message): tally.messages.withLock { $0.append(message.topic) }
                case .closed: tally.closed.withLock { $0 = true }
                default: break
                }
            }
        }
        return tally
    }

    @Test("300 clients on one shared loop connect, and every QoS 1 publish is acknowledged and delivered")
    func manyClientsPublish() async throws {
        let directory = try ScratchDirectory()
        let broker = try await Broker(in: directory)
        let network = try MosquittoNetworkLoop()
        let subscriber = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "sub-\(getpid())"),
                                             network: network, logger: logger)
        let received = watch(subscriber, subscribe: "loop/+")
        subscriber.start()
        let clients = try (0 ..< 300).map {
            try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "c\($0)-\(getpid())"),
                                network: network, logger: logger)
        }
        let tallies = clients.map { watch($0) }
        clients.forEach { $0.start() }
        #expect(try await eventually(timeout: .seconds(20)) { tallies.allSatisfy { $0.connects.withLock { $0 } == 1 } })
        #expect(try await eventually { received.connects.withLock { $0 } == 1 })
        try await Task.sleep(for: .milliseconds(200))  // the subscription is granted
        for (index, client) in clients.enumerated() {
            try client.publish(topic: "loop/\(index)", payload: Array("hello".utf8), qos: 1, retain: false)
        }
        #expect(try await eventually(timeout: .seconds(20)) { tallies.allSatisfy { $0.acks.withLock { $0 } == 1 } })
        #expect(try await eventually(timeout: .seconds(20)) { Set(received.messages.withLock { $0 }).count == 300 })
        for client in clients { await client.stop() }
        // stop() returns once the loop is done with the client; the watcher sees `.closed` just after.
        #expect(try await eventually { tallies.allSatisfy { $0.closed.withLock { $0 } } })
        try await broker.stop()
    }

    @Test("after the broker restarts, every client on the shared loop reconnects by itself")
    func reconnectAfterBrokerRestart() async throws {
        let directory = try ScratchDirectory()
        let broker = try await Broker(in: directory)
        let network = try MosquittoNetworkLoop()
        let clients = try (0 ..< 50).map {
            try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "r\($0)-\(getpid())",
                                                       reconnectInitial: .milliseconds(200), reconnectMax: .seconds(1)),
                                network: network, logger: logger)
        }
        let tallies = clients.map { watch($0) }
        clients.forEach { $0.start() }
        #expect(try await eventually(timeout: .seconds(10)) { tallies.allSatisfy { $0.connects.withLock { $0 } == 1 } })
        try await broker.stop()
        try await Task.sleep(for: .seconds(1))
        try await broker.restart()
        #expect(try await eventually(timeout: .seconds(15)) { tallies.allSatisfy { $0.connects.withLock { $0 } == 2 } })
        for client in clients { await client.stop() }
        try await broker.stop()
    }

    @Test("a broker that refuses the connection is reported as a failed connect with its reason, again after each backoff")
    func refusedConnectIsReported() async throws {
        let network = try MosquittoNetworkLoop()
        let port = freePort()  // nothing listens there
        let client = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: port, clientID: "refused-\(getpid())",
                                                                reconnectInitial: .milliseconds(100), reconnectMax: .milliseconds(300)),
                                         network: network, logger: logger)
        let failures = Locked<[String]>([])
        Task {
            for await event in client.events {
                if case .connectFailed(let error, _) = event { failures.withLock { $0.append(error.description) } }
            }
        }
        client.start()
        #expect(try await eventually(timeout: .seconds(10)) { failures.withLock { $0.count } >= 2 })
        let first = failures.withLock { $0.first } ?? ""
        #expect(first.contains("127.0.0.1:\(port)"), "names the broker: \(first)")
        #expect(first.lowercased().contains("refused") || first.contains("closed before"), "says why: \(first)")
        await client.stop()
    }

    @Test("stop() on a shared-loop client sends DISCONNECT, so the broker does not publish its Will")
    func cleanStopSuppressesWill() async throws {
        let directory = try ScratchDirectory()
        let broker = try await Broker(in: directory)
        let network = try MosquittoNetworkLoop()
        let watcher = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "w-\(getpid())"),
                                          network: network, logger: logger)
        let seen = watch(watcher, subscribe: "will/#")
        watcher.start()
        let clean = try MosquittoClient(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "clean-\(getpid())",
                                                               will: ("will/clean", Array("gone".utf8))), network: network, logger: logger)
        let cleanTally = watch(clean)
        clean.start()
        #expect(try await eventually { cleanTally.connects.withLock { $0 } == 1 && seen.connects.withLock { $0 } == 1 })
        await clean.stop()
        #expect(try await eventually { cleanTally.closed.withLock { $0 } })
        try await Task.sleep(for: .seconds(1))
        #expect(seen.messages.withLock { $0 }.isEmpty)
        await watcher.stop()
        try await broker.stop()
    }
}
