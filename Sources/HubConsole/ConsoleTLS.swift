import Foundation
import NIOSSL

/// The console's TLS: a certificate chain and its private key from PEM files, checked before the
/// hub starts so that a wrong file is named at once rather than at the first browser's handshake.
public enum ConsoleTLS {
    /// Why the files cannot serve: the file and what is wrong with it.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads `certificate` (PEM, the server's certificate first, then any intermediates) and
    /// `key` (PEM), which must belong to the certificate (its file's mode is the caller's to
    /// check, as for every secret the hub reads). TLS 1.2 at least.
    /// - Throws: ``Problem`` naming the file.
    public static func load(certificate: String, key: String) throws -> TLSConfiguration {
        for (option, path) in [("--console-cert", certificate), ("--console-key", key)] where access(path, R_OK) != 0 {
            throw Problem(description: "\(option) \(path): \(String(cString: strerror(errno)))")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw Problem(description: "--console-cert \(certificate): not a PEM certificate")
        }
        guard !chain.isEmpty else { throw Problem(description: "--console-cert \(certificate): no certificate in the file") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw Problem(description: "--console-key \(key): not a PEM private key")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        do {
            // Building the context checks that the key belongs to the certificate.
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw Problem(description: "--console-key \(key) does not belong to --console-cert \(certificate)")
        }
        return configuration
    }
}
