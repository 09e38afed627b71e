import COpenSSL

/// A hub's ECDSA P-256 public key, read from PEM by the system's libcrypto, for verifying signed
/// commands (SHA-256, DER-encoded signatures, as swift-crypto's `P256.Signing` makes them at the
/// hub). The one Swift owner of its `EVP_PKEY`.
public final class P256PublicKey: @unchecked Sendable {
    // @unchecked: the key is never changed after init, and OpenSSL 3 allows a constant EVP_PKEY to
    // be used for verification from several threads; each verification has its own context.
    private let key: OpaquePointer

    /// Why a PEM text is not a P-256 public key.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` PEM block; refuses anything but an EC key on P-256.
    public init(pem: String) throws(Invalid) {
        let bytes = Array(pem.utf8)
        guard bytes.count <= 16 * 1024 else { throw Invalid(description: "longer than 16 KiB") }
        let bio = bytes.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
        guard let bio else { throw Invalid(description: libcryptoError()) }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PUBKEY(bio, nil, nil, nil) else {
            throw Invalid(description: "not a PEM public key (\(libcryptoError()))")
        }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_is_a(key, "EC") == 1,
              EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1,
              String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "prime256v1" else {
            EVP_PKEY_free(key)
            throw Invalid(description: "not an EC key on P-256")
        }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` (DER) is this key's ECDSA signature over SHA-256 of `message`.
    public func isValidSignature(der signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            return false
        }
        let result = signature.withUnsafeBytes { sig in
            message.withUnsafeBytes { data in
                EVP_DigestVerify(context, sig.baseAddress?.assumingMemoryBound(to: UInt8.self), sig.count,
                                 data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count)
            }
        }
        // 0 is a wrong signature, a negative value a malformed one: both are refusals.
        ERR_clear_error()
        return result == 1
    }
}
