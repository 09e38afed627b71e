import Crypto
import Foundation
import SwiftASN1
import X509

/// The unit's half of the CSR flow: the key is made on the unit and never leaves it.
public enum UnitRequest {
    /// Writes `unit.key` (0600) and `unit.csr` into `directory`, refusing to overwrite a key.
    public static func make(_ identity: Identity, directory: String) throws(ProvisionError) -> (key: String, csr: String) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ProvisionError(.cannotCreate, "\(directory): cannot create: \(error)")
        }
        let keyPath = directory + "/unit.key", csrPath = directory + "/unit.csr"
        let key = P256.Signing.PrivateKey()
        let pem: String
        do {
            let csr = try CertificateSigningRequest(
                version: .v1,
                subject: try DistinguishedName {
                    OrganizationName("ParkGuard")
                    CommonName(identity.commonName)
                },
                privateKey: Certificate.PrivateKey(key), attributes: CertificateSigningRequest.Attributes(),
                signatureAlgorithm: .ecdsaWithSHA256)
            pem = try csr.serializeAsPEM().pemString
        } catch {
            throw ProvisionError(.dataError, "cannot make the request: \(error)")
        }
        try AtomicFile.create(Data(key.pemRepresentation.utf8), at: keyPath, mode: 0o600)
        try AtomicFile.write(Data(pem.utf8), to: csrPath, mode: 0o644)
        return (keyPath, csrPath)
    }
}
