/// Bounds on a configuration or scenario file, checked while it is read and parsed and before
/// anything is validated, so that a broken or hostile file (an alias bomb, a huge value, a
/// million bells) costs little and gets one short error naming the limit, never a crash loop.
///
/// The standard limits are far above any real unit: a configuration with 64 bells and 64
/// cameras is about 40 KiB, 3,000 nodes and 5 levels deep.
public struct ConfigLimits: Sendable, Equatable {
    /// Largest file read, in bytes.
    public var maxBytes: Int
    /// Most YAML nodes (keys, values, list items), counted with every alias expanded.
    public var maxNodes: Int
    /// Deepest nesting of mappings and lists.
    public var maxDepth: Int
    /// Longest single value or key, in bytes.
    public var maxScalarBytes: Int
    /// Most errors reported one by one; the rest are counted ("and N more").
    public var maxErrors: Int

    public init(maxBytes: Int, maxNodes: Int, maxDepth: Int, maxScalarBytes: Int, maxErrors: Int) {
        self.maxBytes = maxBytes
        self.maxNodes = maxNodes
        self.maxDepth = maxDepth
        self.maxScalarBytes = maxScalarBytes
        self.maxErrors = maxErrors
    }

    /// 1 MiB, 50,000 nodes, 32 levels, 4 KiB values, 20 errors shown.
    public static let standard = ConfigLimits(maxBytes: 1 << 20, maxNodes: 50_000, maxDepth: 32, maxScalarBytes: 4096, maxErrors: 20)

    /// `1 MiB`, `4 KiB` or `100 bytes`.
    public static func describe(bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    /// A value as an error message shows it: in quotes, cut to 60 characters with its size
    /// after it when longer, so no error line echoes a huge value.
    public static func quote(_ text: String) -> String {
        let limit = 60
        guard text.count > limit else { return "'\(text)'" }
        return "'\(text.prefix(limit))…' (\(text.utf8.count) bytes)"
    }
}
