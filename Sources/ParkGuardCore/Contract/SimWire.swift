/// The line protocol between the agent's `sim` GPIO backend and `parkguard-sim`'s virtual chip:
/// one JSON object per line over a Unix stream socket. It mirrors the kernel's character device:
/// lines are requested with direction, active-low and bias; edges carry `CLOCK_MONOTONIC`
/// nanoseconds and are logical (active-low applied) like the kernel's.
public enum SimWire {
    /// Agent → simulator.
    public struct Request: Codable, Sendable, Equatable {
        public enum Op: String, Codable, Sendable { case hello, request, set, get }
        public var op: Op
        /// Echoed in the reply.
        public var id: UInt64
        public var line: Int?
        /// `input` or `output`.
        public var direction: String?
        public var activeLow: Bool?
        public var bias: String?
        /// For `set` and output `request`: the physical level.
        public var value: Bool?
        public var consumer: String?

        public init(op: Op, id: UInt64, line: Int? = nil, direction: String? = nil, activeLow: Bool? = nil,
                    bias: String? = nil, value: Bool? = nil, consumer: String? = nil) {
            self.op = op
            self.id = id
            self.line = line
            self.direction = direction
            self.activeLow = activeLow
            self.bias = bias
            self.value = value
            self.consumer = consumer
        }
    }

    /// Simulator → agent: a reply (with the request's `id`) or an edge event.
    public struct Message: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case ok, error, edge }
        public var ev: Kind
        public var id: UInt64?
        public var line: Int?
        /// Logical level (`get`, `request`) or the level after the edge.
        public var value: Bool?
        /// For edges: rising (logical 0 → 1) or falling.
        public var rising: Bool?
        /// For edges: `CLOCK_MONOTONIC` nanoseconds.
        public var ts: UInt64?
        /// For edges: the line's edge number since it was requested, from 1, as libgpiod 2's
        /// `line_seqno`. A jump is edges the chip dropped (`parkguard-sim overflow`).
        public var seq: UInt64?
        public var message: String?
        /// For `hello`: the simulator's chip label and line count.
        public var chip: String?
        public var lines: Int?

        public init(ev: Kind, id: UInt64? = nil, line: Int? = nil, value: Bool? = nil, rising: Bool? = nil,
                    ts: UInt64? = nil, seq: UInt64? = nil, message: String? = nil, chip: String? = nil, lines: Int? = nil) {
            self.ev = ev
            self.id = id
            self.line = line
            self.value = value
            self.rising = rising
            self.ts = ts
            self.seq = seq
            self.message = message
            self.chip = chip
            self.lines = lines
        }
    }
}
