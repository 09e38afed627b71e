import Foundation
import Logging
import NIOCore
import NIOPosix
import ParkGuardCore
import ServiceLifecycle

/// Serves the virtual chip to agents on a Unix stream socket, one ``SimWire`` JSON object per
/// line. A malformed line gets an error reply and changes nothing; an over-long line closes the
/// connection.
public struct GPIOSocketServer: Service {
    public static let maxLineBytes = 64 * 1024
    let chip: VirtualChip
    let path: String
    let logger: Logger
    let ready: @Sendable () -> Void

    public init(chip: VirtualChip, path: String, logger: Logger, ready: @escaping @Sendable () -> Void = {}) {
        self.chip = chip
        self.path = path
        self.logger = logger
        self.ready = ready
    }

    public func run() async throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        ready()
        try await untilGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await serve(connection) }
                    }
                }
            }
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let (id, edges) = chip.connect()
        defer { chip.disconnect(id) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await message in edges { try await outbound.write(Self.encode(message)) }
                    }
                    var pending = ByteBuffer()
                    var lineNumber = 0
                    reading: for try await chunk in inbound {
                        var chunk = chunk
                        pending.writeBuffer(&chunk)
                        while let newline = pending.readableBytesView.firstIndex(of: 0x0A) {
                            let length = newline - pending.readerIndex
                            let bytes = pending.readBytes(length: length) ?? []
                            pending.moveReaderIndex(forwardBy: 1)
                            lineNumber += 1
                            try await outbound.write(Self.encode(reply(to: bytes, lineNumber: lineNumber, connection: id)))
                        }
                        if pending.readableBytes > Self.maxLineBytes {
                            try await outbound.write(Self.encode(SimWire.Message(
                                ev: .error, message: "line \(lineNumber + 1) is longer than \(Self.maxLineBytes) bytes; closing")))
                            break reading
                        }
                        pending.discardReadBytes()
                    }
                    chip.disconnect(id)
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("gpio connection ended", metadata: ["error": "\(error)"])
        }
    }

    private func reply(to bytes: [UInt8], lineNumber: Int, connection: UInt64) -> SimWire.Message {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
            return SimWire.Message(ev: .error, message: "line \(lineNumber): empty request")
        }
        do {
            let request = try JSONDecoder().decode(SimWire.Request.self, from: Data(bytes))
            return chip.handle(request, from: connection)
        } catch {
            return SimWire.Message(ev: .error, message: "line \(lineNumber): not a valid request (\(Self.describe(error)))")
        }
    }

    static func encode(_ message: SimWire.Message) -> ByteBuffer {
        var bytes = (try? JSONEncoder().encode(message)).map { [UInt8]($0) } ?? Array(#"{"ev":"error"}"#.utf8)
        bytes.append(0x0A)
        return ByteBuffer(bytes: bytes)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        case DecodingError.dataCorrupted: "not JSON"
        default: "\(error)"
        }
    }
}
