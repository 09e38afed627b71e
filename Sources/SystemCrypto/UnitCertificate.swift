#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import ParkGuardCore

/// What the doctor reads from the unit's TLS certificate: who it names, when it expires and
/// whether it chains to the CA file. The one Swift owner of the libcrypto handles it opens, all
/// freed before ``inspect(certificate:caFile:)`` returns.
public struct UnitCertificate: Sendable, Equatable {
    /// The subject, `CN=park-north-u1` style.
    public var subject: String
    /// Whole days from now to `notAfter` (negative once expired).
    public var daysLeft: Int
    /// `notAfter`, `2027-12-05 10:00 UTC` style.
    public var expires: String
    /// `notAfter` as a wall time, for the unit's status.
    public var expiresAt: WallTime?
    /// `nil` when the certificate chains to the CA file; else libcrypto's reason.
    public var chainProblem: String?

    /// Why a certificate could not be read at all.
    public struct Unreadable: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Reads the PEM certificate at `certificate` and checks it against the PEM CA bundle at
    /// `caFile` (validity dates included).
    public static func inspect(certificate: String, caFile: String?) throws(Unreadable) -> UnitCertificate {
        guard let bio = BIO_new_file(certificate, "r") else { throw Unreadable(description: "cannot open \(certificate): \(lastError())") }
        let read = PEM_read_bio_X509(bio, nil, nil, nil)
        BIO_free(bio)
        guard let cert = read else { throw Unreadable(description: "\(certificate) holds no PEM certificate: \(lastError())") }
        defer { X509_free(cert) }
        var buffer = [CChar](repeating: 0, count: 256)
        X509_NAME_oneline(X509_get_subject_name(cert), &buffer, Int32(buffer.count))
        let subject = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: "/").filter { !$0.isEmpty }.joined(separator: ", ")
        guard let notAfter = X509_get0_notAfter(cert) else { throw Unreadable(description: "\(certificate) has no expiry date") }
        var days: Int32 = 0
        var seconds: Int32 = 0
        guard ASN1_TIME_diff(&days, &seconds, nil, notAfter) == 1 else {
            throw Unreadable(description: "\(certificate): its expiry date cannot be read")
        }
        var moment = tm()
        let readable = ASN1_TIME_to_tm(notAfter, &moment) == 1
        let expires = readable
            ? "\(moment.tm_year + 1900)-\(pad(moment.tm_mon + 1))-\(pad(moment.tm_mday)) \(pad(moment.tm_hour)):\(pad(moment.tm_min)) UTC"
            : "unknown"
        let expiresAt = readable ? WallTime(millisecondsSinceEpoch: Int64(timegm(&moment)) * 1000) : nil
        var result = UnitCertificate(subject: subject, daysLeft: Int(days) - (seconds < 0 ? 1 : 0), expires: expires, expiresAt: expiresAt,
                                     chainProblem: nil)
        if let caFile { result.chainProblem = verify(cert, caFile: caFile) }
        return result
    }

    private static func verify(_ cert: OpaquePointer, caFile: String) -> String? {
        guard let store = X509_STORE_new() else { return "out of memory" }
        defer { X509_STORE_free(store) }
        guard X509_STORE_load_locations(store, caFile, nil) == 1 else { return "cannot load the CA file \(caFile): \(lastError())" }
        guard let context = X509_STORE_CTX_new() else { return "out of memory" }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, cert, nil) == 1 else { return lastError() }
        if X509_verify_cert(context) == 1 { return nil }
        let code = X509_STORE_CTX_get_error(context)
        return String(cString: X509_verify_cert_error_string(Int(code)))
    }

    private static func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }

    private static func lastError() -> String { libcryptoError() }
}
