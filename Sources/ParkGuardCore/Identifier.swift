/// Validation of the identifiers that appear in MQTT topics: site, unit, bell, camera, input and
/// output ids all match `[a-z0-9-]{1,32}` so that a topic can never be broken by a config value.
public enum Identifier {
    /// Why `value` is not a valid identifier, or `nil` when it is.
    public static func problem(with value: String) -> String? {
        if value.isEmpty { return "must not be empty" }
        if value.utf8.count > 32 { return "must be at most 32 characters, got \(value.utf8.count)" }
        for byte in value.utf8 {
            let ok = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-")
            if !ok { return "may contain only a-z, 0-9 and '-'" }
        }
        return nil
    }

    /// Whether `value` matches `[a-z0-9-]{1,32}`.
    public static func isValid(_ value: String) -> Bool { problem(with: value) == nil }
}
