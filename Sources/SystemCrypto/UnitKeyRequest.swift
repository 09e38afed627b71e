import COpenSSL

/// A new ECDSA P-256 key for the unit and a certificate signing request for it (subject
/// `O=ParkGuard, CN=unit:{site}:{unit}`, signed with SHA-256), both PEM, made by the system's
/// libcrypto: the on-unit half of the CSR flow (`parkguardd csr`), so the key is made where it
/// will live and never leaves. The district's `parkguard-provision unit sign` checks the request's
/// signature and name and adds the extensions. The one Swift owner of the handles it opens, all
/// freed before ``make(commonName:organization:)`` returns.
public struct UnitKeyRequest: Sendable {
    /// The private key, PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    public var keyPEM: [UInt8]
    /// The request, PEM (`BEGIN CERTIFICATE REQUEST`).
    public var requestPEM: [UInt8]

    /// Why no key or request could be made.
    public struct Failed: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func make(commonName: String, organization: String = "ParkGuard") throws(Failed) -> UnitKeyRequest {
        guard !commonName.isEmpty, commonName.utf8.count <= 64, organization.utf8.count <= 64 else {
            throw Failed(description: "a common name of 1 to 64 bytes is needed")
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw Failed(description: libcryptoError()) }
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
              EVP_PKEY_generate(context, &generated) == 1, let key = generated else {
            throw Failed(description: "cannot make a P-256 key: \(libcryptoError())")
        }
        defer { EVP_PKEY_free(key) }
        guard let request = X509_REQ_new() else { throw Failed(description: libcryptoError()) }
        defer { X509_REQ_free(request) }
        guard X509_REQ_set_version(request, 0) == 1, let subject = X509_REQ_get_subject_name(request),
              X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, organization, -1, -1, 0) == 1,
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1,
              X509_REQ_set_pubkey(request, key) == 1,
              X509_REQ_sign(request, key, EVP_sha256()) > 0 else {
            throw Failed(description: "cannot make the signing request: \(libcryptoError())")
        }
        let keyPEM = try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
        let requestPEM = try pem { PEM_write_bio_X509_REQ($0, request) }
        return UnitKeyRequest(keyPEM: keyPEM, requestPEM: requestPEM)
    }

    /// What `write` puts into a memory BIO.
    private static func pem(_ write: (OpaquePointer) -> Int32) throws(Failed) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw Failed(description: libcryptoError()) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw Failed(description: "cannot write PEM: \(libcryptoError())") }
        var bytes = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
        let count = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        guard count == bytes.count else { throw Failed(description: "cannot read PEM back") }
        return bytes
    }
}
