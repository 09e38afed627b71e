import COpenSSL

/// Message digests from the system's libcrypto (OpenSSL 3), which libmosquitto's TLS maps into the
/// daemon anyway: the camera probes' MD5 (HTTP Digest) and SHA-1 (WS-UsernameToken) cost no code
/// of their own.
public enum Digest {
    /// MD5 of `bytes` (16 bytes).
    public static func md5(_ bytes: [UInt8]) -> [UInt8] { digest(EVP_md5(), bytes) }
    /// SHA-1 of `bytes` (20 bytes).
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] { digest(EVP_sha1(), bytes) }
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { digest(EVP_sha256(), bytes) }

    private static func digest(_ type: OpaquePointer?, _ bytes: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBufferPointer { out in
                EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, type, nil)
            }
        }
        // EVP_Digest fails only without memory or without the algorithm, which OpenSSL's default
        // provider always has: nothing a caller could do differently.
        precondition(ok == 1, "libcrypto digest failed: \(libcryptoError())")
        return Array(output.prefix(Int(length)))
    }
}
