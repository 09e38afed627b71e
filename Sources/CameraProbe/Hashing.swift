#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SystemCrypto

/// The hashes and encodings camera authentication needs; the digests from the system's libcrypto.
public enum Hashing {
    /// Lowercase hex MD5 of UTF-8 text (HTTP Digest).
    public static func md5Hex(_ text: String) -> String {
        Digest.md5(Array(text.utf8)).map { hex[Int($0 >> 4)] + hex[Int($0 & 15)] }.joined()
    }

    /// SHA-1 of bytes (WS-UsernameToken).
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] { Digest.sha1(bytes) }

    /// Standard Base64 with padding.
    public static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// Random bytes for nonces.
    public static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
    }

    private static let hex = (0 ..< 16).map { String($0, radix: 16) }
}
