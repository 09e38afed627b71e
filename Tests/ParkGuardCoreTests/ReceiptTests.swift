import ConfigLoader
import Foundation
import ParkGuardCore
import Testing

/// The receipt contract as a unit reads it: bounded, every field checked, nothing retired on refusal.
@Suite("Receipts")
struct ReceiptContractTests {
    private func payload(_ object: [String: Any]) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object))
    }

    private func ids(_ count: Int, bytes: Int = 36) -> [String] {
        (0 ..< count).map { index in String(repeating: "a", count: bytes - 6) + String(format: "%06d", index) }
    }

    @Test("a receipt round-trips: what the hub writes the unit reads, ids in order")
    func roundTrip() throws {
        let receipt = Receipt(ids: ["3f2c1d9e-0b7a-4c1e-9d2f-1a2b3c4d5e6f", "b"], hub: "hub-1")
        let read = try Receipt.parse(receipt.payload(time: "2026-12-03T08:00:00.000Z"))
        #expect(read == receipt)
    }

    @Test("100 ids are accepted, 101 and 0 are refused naming ids")
    func idCountBounds() throws {
        #expect(try Receipt.parse(payload(["schema": Receipt.schema, "ids": ids(100)])).ids.count == 100)
        #expect(try Receipt.parse(payload(["schema": Receipt.schema, "ids": ids(99)])).ids.count == 99)
        for count in [0, 101] {
            #expect(throws: CommandError.self) { try Receipt.parse(payload(["schema": Receipt.schema, "ids": ids(count)])) }
            do { _ = try Receipt.parse(payload(["schema": Receipt.schema, "ids": ids(count)])) } catch { #expect(error.field == "ids") }
        }
    }

    @Test("an id of 64 bytes is accepted; 65 bytes, an empty id or a number is refused naming the entry")
    func idLengthBounds() throws {
        #expect(try Receipt.parse(payload(["schema": Receipt.schema, "ids": ids(1, bytes: 64)])).ids[0].utf8.count == 64)
        for bad: Any in [ids(1, bytes: 65)[0], "", 42] {
            do {
                _ = try Receipt.parse(payload(["schema": Receipt.schema, "ids": ["ok", bad]]))
                Issue.record("accepted \(bad)")
            } catch { #expect(error.field == "ids[1]") }
        }
    }

    @Test("unknown fields, a wrong schema, a non-object, bad JSON and an oversized payload are refused naming the place")
    func refusals() {
        let cases: [([UInt8], String)] = [
            (payload(["schema": Receipt.schema, "ids": ["a"], "retire": "all"]), "retire"),
            (payload(["schema": "parkguard/cmd/1", "ids": ["a"]]), "schema"),
            (payload(["ids": ["a"]]), "schema"),
            (Array("[1,2]".utf8), "payload"),
            (Array("{\"schema\":".utf8), "payload"),
            ([0xFF, 0xFE], "payload"),
            (payload(["schema": Receipt.schema, "ids": ["a"], "hub": "no spaces allowed"]), "hub"),
            (payload(["schema": Receipt.schema, "ids": "a"]), "ids"),
            (Array(repeating: 0x20, count: Receipt.maxPayloadBytes + 1), "payload"),
        ]
        for (bytes, field) in cases {
            do {
                _ = try Receipt.parse(bytes)
                Issue.record("accepted a receipt with a bad \(field)")
            } catch {
                #expect(error.field == field, "\(error)")
            }
        }
    }

    @Test("a payload of exactly the limit is read; one byte more is refused before parsing")
    func sizeBound() throws {
        let base = payload(["schema": Receipt.schema, "ids": ["a"]])
        let padded = base + Array(repeating: 0x20, count: Receipt.maxPayloadBytes - base.count)
        #expect(try Receipt.parse(padded).ids == ["a"])
        #expect(throws: CommandError.self) { try Receipt.parse(padded + [0x20]) }
    }

    @Test("the delivery keys: receipts are the default; puback, timeouts and the overdue limit are read and bounded")
    func deliveryConfig() throws {
        let base = """
        site: s
        unit: u
        broker: {host: 127.0.0.1}
        gpio: {backend: sim, socket: /tmp/x.sock}
        bells: [{id: b1, line: 1}]
        """
        let defaults = try ConfigFile.parse(base, file: "agent.yaml")
        #expect(defaults.delivery == DeliveryConfig())
        #expect(defaults.delivery.retireOn == .receipt)
        let custom = try ConfigFile.parse(base + "\ndelivery: {retireOn: puback, receiptTimeout: 2s, receiptTimeoutMax: 30s, receiptOverdue: 5m}\n",
                                          file: "agent.yaml")
        #expect(custom.delivery == DeliveryConfig(retireOn: .puback, receiptTimeout: .seconds(2), receiptTimeoutMax: .seconds(30),
                                                  receiptOverdue: .seconds(300)))
        for (bad, key) in [("retireOn: never", "retireOn"), ("receiptTimeout: 0s", "receiptTimeout"),
                           ("receiptTimeout: 20s, receiptTimeoutMax: 10s", "receiptTimeoutMax"), ("receipts: on", "receipts")] {
            do {
                _ = try ConfigFile.parse(base + "\ndelivery: {\(bad)}\n", file: "agent.yaml")
                Issue.record("accepted delivery {\(bad)}")
            } catch {
                #expect(error.errors.contains { $0.key.hasSuffix(key) }, "\(error.errors)")
            }
        }
    }
}
