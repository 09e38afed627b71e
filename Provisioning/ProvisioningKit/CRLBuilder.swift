import Crypto
import Foundation
import SwiftASN1
import X509

/// A version 2 X.509 revocation list (RFC 5280 §5), DER-encoded with swift-asn1 and signed with
/// ECDSA P-256/SHA-256. swift-certificates reads certificates and CSRs but does not build CRLs;
/// this is the one structure we assemble ourselves, and OpenSSL (through mosquitto) checks it in
/// the provisioning tests.
enum CRLBuilder {
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let crlNumber: ASN1ObjectIdentifier = [2, 5, 29, 20]
    static let authorityKeyIdentifier: ASN1ObjectIdentifier = [2, 5, 29, 35]

    static func build(issuer: DistinguishedName, key: P256.Signing.PrivateKey, number: Int, thisUpdate: Date, nextUpdate: Date,
                      revoked: [([UInt8], Date)], authorityKeyIdentifier aki: ArraySlice<UInt8>?) throws -> [UInt8] {
        var tbs = DER.Serializer()
        try tbs.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(1)  // v2
            try algorithm(&coder)
            try coder.serialize(issuer)
            try coder.serialize(try utcTime(thisUpdate))
            try coder.serialize(try utcTime(nextUpdate))
            if !revoked.isEmpty {
                try coder.appendConstructedNode(identifier: .sequence) { list in
                    for (serial, date) in revoked {
                        try list.appendConstructedNode(identifier: .sequence) { entry in
                            try entry.serialize(ArraySlice(serial))
                            try entry.serialize(try utcTime(date))
                        }
                    }
                }
            }
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { explicit in
                try explicit.appendConstructedNode(identifier: .sequence) { extensions in
                    try extensions.appendConstructedNode(identifier: .sequence) { ext in
                        try ext.serialize(crlNumber)
                        var value = DER.Serializer()
                        try value.serialize(number)
                        try ext.serialize(ASN1OctetString(contentBytes: ArraySlice(value.serializedBytes)))
                    }
                    if let aki {
                        try extensions.appendConstructedNode(identifier: .sequence) { ext in
                            try ext.serialize(authorityKeyIdentifier)
                            var value = DER.Serializer()
                            value.appendConstructedNode(identifier: .sequence) { seq in
                                seq.appendPrimitiveNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { $0.append(contentsOf: aki) }
                            }
                            try ext.serialize(ASN1OctetString(contentBytes: ArraySlice(value.serializedBytes)))
                        }
                    }
                }
            }
        }
        let tbsBytes = tbs.serializedBytes
        let signature = try key.signature(for: tbsBytes).derRepresentation
        var list = DER.Serializer()
        try list.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(tbsBytes)
            try algorithm(&coder)
            try coder.serialize(ASN1BitString(bytes: ArraySlice(signature)))
        }
        return list.serializedBytes
    }

    private static func algorithm(_ coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { try $0.serialize(ecdsaWithSHA256) }
    }

    private static func utcTime(_ date: Date) throws -> UTCTime {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return try UTCTime(year: c.year!, month: c.month!, day: c.day!, hours: c.hour!, minutes: c.minute!, seconds: c.second!)
    }
}
