import Crypto
import SystemCrypto
import Testing

/// The daemon's libcrypto adapter, checked against published test vectors and against
/// swift-crypto, which the hub signs commands with.
@Suite("System libcrypto")
struct SystemCryptoTests {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    @Test("MD5, SHA-1 and SHA-256 give the published digests of \"abc\" and of nothing")
    func digests() {
        let abc = Array("abc".utf8)
        #expect(hex(Digest.md5(abc)) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(hex(Digest.sha1(abc)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(Digest.sha256(abc)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Digest.md5([])) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(hex(Digest.sha1([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    @Test("a hub's P-256 signature made by swift-crypto verifies; another message, another key or a broken signature does not")
    func verifiesTheHubsSignatures() throws {
        let hub = P256.Signing.PrivateKey()
        let message = Array(#"{"bell":"gate","by":"operator-7"}"#.utf8)
        let signature = Array(try hub.signature(for: message).derRepresentation)
        let key = try P256PublicKey(pem: hub.publicKey.pemRepresentation)
        #expect(key.isValidSignature(der: signature, for: message))
        #expect(!key.isValidSignature(der: signature, for: message + [0x20]))
        let other = try P256PublicKey(pem: P256.Signing.PrivateKey().publicKey.pemRepresentation)
        #expect(!other.isValidSignature(der: signature, for: message))
        var flipped = signature
        flipped[flipped.count - 1] ^= 0x01
        #expect(!key.isValidSignature(der: flipped, for: message))
        #expect(!key.isValidSignature(der: [], for: message))
        #expect(!key.isValidSignature(der: Array(signature.prefix(10)), for: message))
    }

    @Test("anything but a PEM P-256 public key is refused with a reason")
    func refusesOtherKeys() {
        #expect(throws: P256PublicKey.Invalid.self) { try P256PublicKey(pem: "not a key") }
        #expect(throws: P256PublicKey.Invalid.self) { try P256PublicKey(pem: P384.Signing.PrivateKey().publicKey.pemRepresentation) }
        #expect(throws: P256PublicKey.Invalid.self) { try P256PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
        #expect(throws: P256PublicKey.Invalid.self) { try P256PublicKey(pem: String(repeating: "A", count: 20_000)) }
        do {
            _ = try P256PublicKey(pem: P384.Signing.PrivateKey().publicKey.pemRepresentation)
        } catch {
            #expect(error.description == "not an EC key on P-256")
        }
    }
}
