/// HTTP and RTSP authentication (RFC 7617 Basic, RFC 7616 / RFC 2069 Digest with MD5), as
/// cameras speak it. Hashing is injected (`md5Hex`) so the core stays free of crypto libraries.
public enum HTTPAuthentication {
    /// One `WWW-Authenticate` challenge.
    public enum Challenge: Sendable, Equatable {
        case basic(realm: String)
        case digest(DigestChallenge)
    }

    /// The parameters of a Digest challenge.
    public struct DigestChallenge: Sendable, Equatable {
        public var realm: String
        public var nonce: String
        public var opaque: String?
        /// `auth` when the server offers it; `nil` for RFC 2069 digests without qop.
        public var qop: String?
        public var algorithm: String?
        public var stale: Bool

        public init(realm: String, nonce: String, opaque: String? = nil, qop: String? = nil, algorithm: String? = nil, stale: Bool = false) {
            self.realm = realm
            self.nonce = nonce
            self.opaque = opaque
            self.qop = qop
            self.algorithm = algorithm
            self.stale = stale
        }
    }

    /// Parses one `WWW-Authenticate` header value; `nil` for a scheme the probe cannot answer.
    public static func challenge(_ header: String) -> Challenge? {
        let trimmed = header.trimmingSpaces
        guard let space = trimmed.firstIndex(of: " ") else {
            return trimmed.lowercased() == "basic" ? .basic(realm: "") : nil
        }
        let scheme = trimmed[..<space].lowercased()
        let params = parameters(String(trimmed[trimmed.index(after: space)...]))
        switch scheme {
        case "basic":
            return .basic(realm: params["realm"] ?? "")
        case "digest":
            guard let nonce = params["nonce"], !nonce.isEmpty else { return nil }
            let algorithm = params["algorithm"]
            if let algorithm, algorithm.lowercased() != "md5" { return nil }
            let qops = params["qop"]?.split(separator: ",").map { $0.trimmingSpaces.lowercased() }
            if let qops, !qops.contains("auth") { return nil }
            return .digest(DigestChallenge(realm: params["realm"] ?? "", nonce: nonce, opaque: params["opaque"],
                                           qop: qops == nil ? nil : "auth", algorithm: algorithm,
                                           stale: params["stale"]?.lowercased() == "true"))
        default:
            return nil
        }
    }

    /// The best challenge among several headers: Digest before Basic.
    public static func preferred(_ headers: [String]) -> Challenge? {
        let parsed = headers.compactMap(challenge)
        return parsed.first { if case .digest = $0 { true } else { false } } ?? parsed.first
    }

    /// `auth-param` list: `key=value` or `key="quoted, value"`, comma separated.
    public static func parameters(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var chars = Substring(text)
        while !chars.isEmpty {
            while let c = chars.first, c == " " || c == "," || c == "\t" { chars.removeFirst() }
            guard let eq = chars.firstIndex(of: "=") else { break }
            let key = chars[..<eq].trimmingSpaces.lowercased()
            chars = chars[chars.index(after: eq)...]
            while let c = chars.first, c == " " { chars.removeFirst() }
            var value = ""
            if chars.first == "\"" {
                chars.removeFirst()
                while let c = chars.first, c != "\"" {
                    chars.removeFirst()
                    if c == "\\", let escaped = chars.first { value.append(escaped); chars.removeFirst() } else { value.append(c) }
                }
                if !chars.isEmpty { chars.removeFirst() }
            } else {
                let end = chars.firstIndex(of: ",") ?? chars.endIndex
                value = chars[..<end].trimmingSpaces
                chars = chars[end...]
            }
            if !key.isEmpty { result[key] = value }
        }
        return result
    }

    /// The `Authorization` header value answering `challenge`.
    /// - Parameters:
    ///   - uri: exactly the Request-URI of the request being authorised.
    ///   - cnonce: the client nonce (random in production; fixed in tests).
    ///   - nonceCount: how many times this nonce has been used, from 1.
    ///   - md5Hex: lowercase hex MD5 of UTF-8 text.
    ///   - base64: standard Base64 of bytes.
    public static func authorization(for challenge: Challenge, method: String, uri: String, username: String, password: String,
                                     cnonce: String, nonceCount: Int, md5Hex: (String) -> String,
                                     base64: ([UInt8]) -> String) -> String {
        switch challenge {
        case .basic:
            return "Basic " + base64(Array("\(username):\(password)".utf8))
        case .digest(let digest):
            let ha1 = md5Hex("\(username):\(digest.realm):\(password)")
            let ha2 = md5Hex("\(method):\(uri)")
            let nc = String(repeating: "0", count: max(0, 8 - String(nonceCount, radix: 16).count)) + String(nonceCount, radix: 16)
            var fields = [("username", quoted(username)), ("realm", quoted(digest.realm)), ("nonce", quoted(digest.nonce)),
                          ("uri", quoted(uri))]
            let response: String
            if let qop = digest.qop {
                response = md5Hex("\(ha1):\(digest.nonce):\(nc):\(cnonce):\(qop):\(ha2)")
                fields += [("qop", qop), ("nc", nc), ("cnonce", quoted(cnonce))]
            } else {
                response = md5Hex("\(ha1):\(digest.nonce):\(ha2)")
            }
            fields.append(("response", quoted(response)))
            if let opaque = digest.opaque { fields.append(("opaque", quoted(opaque))) }
            if let algorithm = digest.algorithm { fields.append(("algorithm", algorithm)) }
            return "Digest " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
        }
    }

    /// Checks an `Authorization` header against the expected credentials (the simulator's side).
    /// - Returns: whether it proves knowledge of `password` for `nonce` (Digest) or matches (Basic).
    public static func verify(_ header: String, method: String, realm: String, nonce: String, username: String, password: String,
                              md5Hex: (String) -> String, base64: ([UInt8]) -> String) -> Bool {
        let trimmed = header.trimmingSpaces
        if trimmed.lowercased().hasPrefix("basic ") {
            return trimmed.dropFirst(6).trimmingSpaces == base64(Array("\(username):\(password)".utf8))
        }
        guard trimmed.lowercased().hasPrefix("digest ") else { return false }
        let p = parameters(String(trimmed.dropFirst(7)))
        guard p["username"] == username, p["realm"] == realm, p["nonce"] == nonce, let uri = p["uri"], let response = p["response"] else {
            return false
        }
        let ha1 = md5Hex("\(username):\(realm):\(password)")
        let ha2 = md5Hex("\(method):\(uri)")
        let expected: String
        if let qop = p["qop"] {
            guard let nc = p["nc"], let cnonce = p["cnonce"] else { return false }
            expected = md5Hex("\(ha1):\(nonce):\(nc):\(cnonce):\(qop):\(ha2)")
        } else {
            expected = md5Hex("\(ha1):\(nonce):\(ha2)")
        }
        return expected == response.lowercased()
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
