import Crypto
import Foundation
import ParkGuardCore
import SwiftASN1
import X509

/// A district's certificate authority on disk, with its inventory:
///
/// ```
/// DIR/ca.key          ECDSA P-256, 0600
/// DIR/ca.crt
/// DIR/inventory.json  every issued certificate and its status
/// DIR/crl.pem         the revocation list the broker loads
/// DIR/issued/ID.crt   every issued certificate
/// ```
///
/// Every command loads the inventory, checks its inputs against it, and writes the inventory
/// last: a refused command changes nothing.
public struct District {
    public let directory: String
    public var inventory: Inventory
    let caKey: P256.Signing.PrivateKey
    public let caCertificate: Certificate

    public var caKeyPath: String { directory + "/ca.key" }
    public var caCertificatePath: String { directory + "/ca.crt" }
    public var inventoryPath: String { directory + "/inventory.json" }
    public var crlPath: String { directory + "/crl.pem" }

    // MARK: CA

    /// Creates the CA in `directory` (which must not hold one already).
    public static func initialise(directory: String, name: String, days: Int = 3650, now: Date = Date()) throws(ProvisionError) -> District {
        guard !name.isEmpty, name.count <= 64 else { throw ProvisionError(.usage, "--name must be 1 to 64 characters") }
        guard (1 ... 36500).contains(days) else { throw ProvisionError(.usage, "--days must be from 1 to 36500") }
        if FileManager.default.fileExists(atPath: directory + "/ca.key") || FileManager.default.fileExists(atPath: directory + "/inventory.json") {
            throw ProvisionError(.cannotCreate, "\(directory) already holds a district CA; refusing to replace it")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory + "/issued", withIntermediateDirectories: true)
        } catch {
            throw ProvisionError(.cannotCreate, "\(directory): cannot create: \(error)")
        }
        let key = P256.Signing.PrivateKey()
        let subject: DistinguishedName
        let certificate: Certificate
        do {
            subject = try DistinguishedName {
                OrganizationName("ParkGuard")
                CommonName("\(name) CA")
            }
            let publicKey = Certificate.PublicKey(key.publicKey)
            certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(days) * 86400),
                issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: publicKey)
                },
                issuerPrivateKey: Certificate.PrivateKey(key))
        } catch {
            throw ProvisionError(.dataError, "cannot make the CA certificate: \(error)")
        }
        var district = District(directory: directory, inventory: Inventory(district: name), caKey: key, caCertificate: certificate)
        try AtomicFile.create(Data(key.pemRepresentation.utf8), at: district.caKeyPath, mode: 0o600)
        try AtomicFile.create(Data(try pem(certificate).utf8), at: district.caCertificatePath, mode: 0o644)
        try district.writeCRL(now: now)
        try district.inventory.save(district.inventoryPath)
        return district
    }

    /// Opens an existing district, checking the CA key's permissions and that key and certificate match.
    public static func open(directory: String) throws(ProvisionError) -> District {
        let inventory = try Inventory.load(directory + "/inventory.json")
        let keyPath = directory + "/ca.key"
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: keyPath),
              let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue else {
            throw ProvisionError(.noInput, "\(keyPath): cannot be read")
        }
        if mode & 0o077 != 0 {
            throw ProvisionError(.config, "\(keyPath): permissions \(String(mode & 0o777, radix: 8)) let others read the CA key; chmod 600 it")
        }
        let key: P256.Signing.PrivateKey
        let certificate: Certificate
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: keyPath, encoding: .utf8))
            certificate = try Certificate(pemEncoded: try String(contentsOfFile: directory + "/ca.crt", encoding: .utf8))
        } catch {
            throw ProvisionError(.dataError, "\(directory): cannot read the CA key or certificate: \(error)")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw ProvisionError(.dataError, "\(directory): ca.key does not belong to ca.crt")
        }
        return District(directory: directory, inventory: inventory, caKey: key, caCertificate: certificate)
    }

    // MARK: Issuing

    /// Signs a CSR made on a unit (the key never left it). The CSR's common name must be the unit's identity.
    public mutating func sign(csrPEM: String, as identity: Identity, days: Int = 825, now: Date = Date()) throws(ProvisionError) -> Certificate {
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(pemEncoded: csrPEM) } catch {
            throw ProvisionError(.dataError, "not a PEM certificate signing request: \(error)")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw ProvisionError(.dataError, "the request's signature does not verify: it was not made with the key it carries")
        }
        let names = csr.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { String(describing: $0.value) }
        guard names == [identity.commonName] else {
            throw ProvisionError(.dataError, "the request is for '\(names.joined(separator: ", "))', not '\(identity.commonName)'")
        }
        return try issue(identity, publicKey: csr.publicKey, days: days, enrolment: "csr", now: now)
    }

    /// Makes a key and a certificate here (bench preparation). Returns the key's PEM.
    public mutating func create(_ identity: Identity, days: Int = 825, now: Date = Date()) throws(ProvisionError) -> (Certificate, String) {
        let key = P256.Signing.PrivateKey()
        let certificate = try issue(identity, publicKey: Certificate.PublicKey(key.publicKey), days: days, enrolment: "bundle", now: now)
        return (certificate, key.pemRepresentation)
    }

    private mutating func issue(_ identity: Identity, publicKey: Certificate.PublicKey, days: Int, enrolment: String,
                                now: Date) throws(ProvisionError) -> Certificate {
        guard (1 ... 3650).contains(days) else { throw ProvisionError(.usage, "--days must be from 1 to 3650") }
        if let existing = inventory.active(identity.key) {
            throw ProvisionError(.conflict, "\(identity) already has an active certificate (serial \(existing.serial)); revoke it first")
        }
        let serial = Certificate.SerialNumber()
        let certificate: Certificate
        do {
            let subject = try DistinguishedName {
                OrganizationName("ParkGuard")
                OrganizationalUnitName(inventory.district)
                CommonName(identity.commonName)
            }
            // Servers (the broker, the console) are named by their host; clients by their URI.
            let usage: ExtendedKeyUsage.Usage
            var names: [GeneralName] = [.uniformResourceIdentifier(identity.uri)]
            switch identity {
            case .broker(let host), .console(let host):
                usage = .serverAuth
                names = [.dnsName(host)]
                if let address = Self.ipv4(host) { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address)))) }
            case .unit, .hub:
                usage = .clientAuth
            }
            certificate = try Certificate(
                version: .v3, serialNumber: serial, publicKey: publicKey,
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: min(now.addingTimeInterval(Double(days) * 86400), caCertificate.notValidAfter),
                issuer: caCertificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyAgreement: true))
                    try ExtendedKeyUsage([usage])
                    SubjectAlternativeNames(names)
                    AuthorityKeyIdentifier(keyIdentifier: try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                },
                issuerPrivateKey: Certificate.PrivateKey(caKey))
        } catch {
            throw ProvisionError(.dataError, "cannot issue the certificate: \(error)")
        }
        let kind: Inventory.Entry.Kind = switch identity {
        case .unit: .unit
        case .hub: .hub
        case .broker: .broker
        case .console: .console
        }
        inventory.entries.append(.init(id: identity.key, kind: kind, commonName: identity.commonName, serial: Self.hex(serial),
                                       status: .active, issued: now, notAfter: certificate.notValidAfter, revoked: nil, enrolment: enrolment))
        try AtomicFile.write(Data(try Self.pem(certificate).utf8), to: directory + "/issued/\(identity.key.replacingOccurrences(of: "/", with: "_"))-\(Self.hex(serial).prefix(16)).crt", mode: 0o644)
        try inventory.save(inventoryPath)
        return certificate
    }

    // MARK: Revocation

    /// Revokes the active certificate of `identity` and rewrites the CRL.
    public mutating func revoke(_ identity: Identity, now: Date = Date()) throws(ProvisionError) {
        guard let index = inventory.entries.firstIndex(where: { $0.id == identity.key && $0.status == .active }) else {
            let known = inventory.entries.contains { $0.id == identity.key }
            throw ProvisionError(known ? .conflict : .noInput,
                                 known ? "\(identity) has no active certificate (already revoked)" : "\(identity) is not in the inventory")
        }
        var updated = self
        updated.inventory.entries[index].status = .revoked
        updated.inventory.entries[index].revoked = now
        try updated.writeCRL(now: now)
        try updated.inventory.save(inventoryPath)
        self = updated
    }

    /// Writes `crl.pem`: every revoked serial, signed by the CA, valid for 30 days.
    mutating func writeCRL(now: Date) throws(ProvisionError) {
        inventory.crlNumber += 1
        let revoked = inventory.entries.filter { $0.status == .revoked }
        do {
            let der = try CRLBuilder.build(issuer: caCertificate.subject, key: caKey, number: inventory.crlNumber, thisUpdate: now,
                                           nextUpdate: now.addingTimeInterval(30 * 86400),
                                           revoked: revoked.map { (Self.bytes(hex: $0.serial), $0.revoked ?? now) },
                                           authorityKeyIdentifier: try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            try AtomicFile.write(Data(PEMDocument(type: "X509 CRL", derBytes: der).pemString.utf8), to: crlPath, mode: 0o644)
        } catch let error as ProvisionError {
            throw error
        } catch {
            throw ProvisionError(.dataError, "cannot make the revocation list: \(error)")
        }
    }

    // MARK: Helpers

    public static func pem(_ certificate: Certificate) throws(ProvisionError) -> String {
        do { return try certificate.serializeAsPEM().pemString } catch { throw ProvisionError(.dataError, "cannot encode: \(error)") }
    }

    /// A serial number as the inventory writes it: lowercase hex, two digits a byte.
    public static func hex(_ serial: Certificate.SerialNumber) -> String { serial.bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index ..< next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
