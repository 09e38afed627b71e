/// `host:port` as the command lines take it (broker, console, control API addresses).
public enum HostPort {
    /// The host and port of `text`, or `nil` when it is not `host:port` with a port in `ports`.
    public static func parse(_ text: String, ports: ClosedRange<Int> = 1 ... 65535) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), colon > text.startIndex,
              let port = Int(text[text.index(after: colon)...]), ports.contains(port) else { return nil }
        return (String(text[..<colon]), port)
    }
}
