extension StringProtocol {
    /// The text without leading and trailing whitespace and line breaks (what Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` does, without Foundation).
    public var trimmingWhitespace: String {
        // Two index walks and one copy: through `reversed()` twice, each character went through
        // unspecialised generic code, a quarter of a fleet's CPU as its units read /proc.
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first ... last])
    }
}

extension Double {
    /// The value with `digits` decimals, rounded half away from zero: `String(format: "%.1f", x)`
    /// without Foundation. Values beyond ±10^15 (and non-finite ones) are written as Swift does.
    public func fixed(_ digits: Int) -> String {
        guard isFinite, abs(self) < 1e15, digits >= 0, digits <= 6 else { return "\(self)" }
        var scale: UInt64 = 1
        for _ in 0 ..< digits { scale *= 10 }
        let scaled = UInt64((abs(self) * Double(scale)).rounded())
        let sign = self < 0 && scaled > 0 ? "-" : ""
        guard digits > 0 else { return sign + String(scaled) }
        let fraction = String(scaled % scale)
        return sign + String(scaled / scale) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}

/// The folder part of a file path, as `NSString.deletingLastPathComponent` gives it: `""` for a
/// bare name, `/` for a file at the root.
public func parentDirectory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "" }
    if slash == trimmed.startIndex { return "/" }
    var parent = trimmed[..<slash]
    while parent.count > 1, parent.hasSuffix("/") { parent = parent.dropLast() }
    return String(parent)
}
