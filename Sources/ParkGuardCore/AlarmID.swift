/// Alarm ids: random UUIDs (version 4, lowercase), drawn from the kernel's `getrandom` through
/// `SystemRandomNumberGenerator`, which needs no file descriptor. (Foundation's `UUID()` reads
/// `/dev/urandom` where it must, and returned the all-zero UUID when a process had run out of
/// descriptors: every alarm would then carry the same id, and the hub drops duplicates by id.)
public enum AlarmID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    public static func make<G: RandomNumberGenerator>(using generator: inout G) -> String {
        var bytes = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
        let hex = bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }
        return [hex[0 ..< 4], hex[4 ..< 6], hex[6 ..< 8], hex[8 ..< 10], hex[10 ..< 16]].map { $0.joined() }.joined(separator: "-")
    }
}
