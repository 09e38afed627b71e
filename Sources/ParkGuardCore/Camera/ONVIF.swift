/// The two ONVIF device-service calls the probe makes (ONVIF Core Specification §8.3), as SOAP 1.2.
///
/// The answers are read with ``XMLElementText``: the probe needs a handful of leaf values from a
/// known element, and a tolerant scanner keeps libxml2 out of the statically linked daemon.
public enum ONVIF {
    /// `GetSystemDateAndTime`: needs no authentication, so it is how reachability and clock
    /// drift are read before any signed call (WS-UsernameToken fails when the clocks differ).
    public static let getSystemDateAndTime = envelope(header: "", body: #"<tds:GetSystemDateAndTime/>"#)

    /// `GetDeviceInformation`, signed with WS-UsernameToken when `token` is given.
    public static func getDeviceInformation(token: UsernameToken?) -> String {
        signed(#"<tds:GetDeviceInformation/>"#, token: token)
    }

    /// `body` in an envelope, with `token` in its header when given.
    public static func signed(_ body: String, token: UsernameToken?) -> String {
        envelope(header: token?.header ?? "", body: body)
    }

    public static func envelope(header: String, body: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>\
        <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
        xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" \
        xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl">\
        \(header.isEmpty ? "" : "<s:Header>\(header)</s:Header>")<s:Body>\(body)</s:Body></s:Envelope>
        """
    }

    /// A WS-Security UsernameToken with `PasswordDigest = Base64(SHA1(nonce + created + password))`.
    public struct UsernameToken: Sendable, Equatable {
        public var username: String
        public var digest: String
        public var nonceBase64: String
        public var created: String

        /// - Parameters:
        ///   - nonce: fresh random bytes.
        ///   - created: the RFC 3339 time, in the camera's clock when it is known.
        public init(username: String, password: String, nonce: [UInt8], created: String,
                    sha1: ([UInt8]) -> [UInt8], base64: ([UInt8]) -> String) {
            self.username = username
            self.created = created
            nonceBase64 = base64(nonce)
            digest = base64(sha1(nonce + Array(created.utf8) + Array(password.utf8)))
        }

        /// The `wsse:Security` header element.
        public var header: String {
            """
            <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" \
            xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">\
            <wsse:UsernameToken><wsse:Username>\(XMLElementText.escape(username))</wsse:Username>\
            <wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">\(digest)</wsse:Password>\
            <wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">\(nonceBase64)</wsse:Nonce>\
            <wsu:Created>\(created)</wsu:Created></wsse:UsernameToken></wsse:Security>
            """
        }
    }

    /// A SOAP fault in an answer, with its most specific subcode (`NotAuthorized`, ...).
    public struct Fault: Error, Sendable, Equatable, CustomStringConvertible {
        public var code: String
        public var reason: String
        public var isNotAuthorized: Bool { code.lowercased().contains("notauthorized") || code.lowercased().contains("failedauthentication") }
        public var description: String { reason.isEmpty ? code : "\(code): \(reason)" }
    }

    /// The fault in `xml`, if it is one.
    public static func fault(in xml: String) -> Fault? {
        guard let fault = XMLElementText.first("Fault", in: xml) else { return nil }
        let values = XMLElementText.all("Value", in: fault).map { $0.trimmingSpaces }
        let code = String((values.last.map { $0.split(separator: ":").last.map(String.init) ?? $0 } ?? "Fault").prefix(64))
        let reason = XMLElementText.first("Text", in: fault).map { XMLElementText.plain($0) } ?? ""
        return Fault(code: code, reason: String(reason.prefix(200)))
    }

    /// The camera's UTC clock from a `GetSystemDateAndTimeResponse`.
    /// - Throws: ``RTSPParseError`` when the answer has no complete `UTCDateTime`.
    public static func utcDateTime(in xml: String) throws(RTSPParseError) -> WallTime {
        guard let utc = XMLElementText.first("UTCDateTime", in: xml) else {
            throw RTSPParseError("the answer has no UTCDateTime element")
        }
        func field(_ parent: String, _ name: String, _ range: ClosedRange<Int>) throws(RTSPParseError) -> Int {
            guard let block = XMLElementText.first(parent, in: utc), let text = XMLElementText.first(name, in: block),
                  let value = Int(text.trimmingSpaces), range.contains(value) else {
                throw RTSPParseError("UTCDateTime has no valid \(parent).\(name)")
            }
            return value
        }
        let year = try field("Date", "Year", 1970 ... 9999)
        let month = try field("Date", "Month", 1 ... 12)
        let day = try field("Date", "Day", 1 ... 31)
        let hour = try field("Time", "Hour", 0 ... 23)
        let minute = try field("Time", "Minute", 0 ... 59)
        let second = try field("Time", "Second", 0 ... 60)
        let days = WallTime.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second)
        return WallTime(millisecondsSinceEpoch: seconds * 1000)
    }

    /// Manufacturer, model and firmware from a `GetDeviceInformationResponse`.
    public static func deviceInformation(in xml: String) -> [String: String]? {
        var info: [String: String] = [:]
        for key in ["Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId"] {
            if let value = XMLElementText.first(key, in: xml) { info[key] = String(XMLElementText.plain(value).prefix(100)) }
        }
        return info.isEmpty ? nil : info
    }
}

/// Finds elements by local name (any namespace prefix) in XML text and returns their inner text.
/// Tolerant by design: it never throws, and returns `nil` rather than guessing.
public enum XMLElementText {
    /// The inner text of the first element named `localName`.
    public static func first(_ localName: String, in xml: some StringProtocol) -> String? {
        all(localName, in: xml, limit: 1).first
    }

    /// The inner text of every element named `localName`, outermost first.
    public static func all(_ localName: String, in xml: some StringProtocol, limit: Int = 64) -> [String] {
        elements(localName, in: xml, limit: limit).map(\.inner)
    }

    /// Every element named `localName`, outermost first: its opening tag (for ``attribute(_:in:)``)
    /// and its inner text.
    public static func elements(_ localName: String, in xml: some StringProtocol, limit: Int = 64) -> [(tag: String, inner: String)] {
        let chars = Array(xml.utf8)
        var results: [(tag: String, inner: String)] = []
        var index = 0
        while index < chars.count, results.count < limit {
            guard chars[index] == UInt8(ascii: "<") else { index += 1; continue }
            let name: String, tagEnd: Int, selfClosing: Bool
            switch openTag(chars, at: index) {
            case .tag(let found, let end, let closed): (name, tagEnd, selfClosing) = (found, end, closed)
            case .notATag: index += 1; continue
            // A tag that runs to the end of the text: what follows is not XML to trust, and
            // scanning on from every later '<' would cost the square of its length.
            case .unterminated: return results
            }
            guard local(name) == localName else { index += 1; continue }
            let tag = String(decoding: chars[index ..< tagEnd], as: UTF8.self)
            if selfClosing {
                results.append((tag, ""))
                index = tagEnd
                continue
            }
            let closing = Array("</\(name)>".utf8)
            guard let close = find(closing, in: chars, from: tagEnd) else { return results }
            results.append((tag, String(decoding: chars[tagEnd ..< close], as: UTF8.self)))
            index = close + closing.count
        }
        return results
    }

    /// The value of attribute `name` (any prefix) in an opening tag, entities decoded.
    public static func attribute(_ name: String, in tag: String) -> String? {
        var rest = Substring(tag)
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).last ?? ""
            var after = rest[rest.index(after: equals)...].drop(while: { $0 == " " })
            guard let quote = after.first, quote == "\"" || quote == "'" else { return nil }
            after = after.dropFirst()
            guard let end = after.firstIndex(of: quote) else { return nil }
            if (key.split(separator: ":").last ?? key) == name { return plain(String(after[..<end])) }
            rest = after[after.index(after: end)...]
        }
        return nil
    }

    /// Inner text without tags and with the five predefined entities decoded.
    public static func plain(_ text: String) -> String {
        var out = ""
        var inTag = false
        for c in text {
            if c == "<" { inTag = true } else if c == ">" { inTag = false } else if !inTag { out.append(c) }
        }
        let trimmed = out.trimmingSpaces
        // Most values carry no entity: skip the five passes over the text.
        guard trimmed.utf8.contains(UInt8(ascii: "&")) else { return trimmed }
        return trimmed
            .replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"")
            .replacing("&apos;", with: "'").replacing("&amp;", with: "&")
    }

    /// Escapes text for an element body.
    public static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
    }

    /// What starts at a '<': an opening tag (name, the index after its '>', self-closing), not an
    /// opening tag at all, or one whose '>' never comes.
    private enum Opening { case tag(String, Int, Bool), notATag, unterminated }

    private static func openTag(_ chars: [UInt8], at start: Int) -> Opening {
        var index = start + 1
        guard index < chars.count, chars[index] != UInt8(ascii: "/"), chars[index] != UInt8(ascii: "?"), chars[index] != UInt8(ascii: "!") else { return .notATag }
        let nameStart = index
        while index < chars.count, !isSpace(chars[index]), chars[index] != UInt8(ascii: ">"), chars[index] != UInt8(ascii: "/") { index += 1 }
        guard index > nameStart else { return .notATag }
        let name = String(decoding: chars[nameStart ..< index], as: UTF8.self)
        var quote: UInt8?
        while index < chars.count {
            let c = chars[index]
            if let q = quote { if c == q { quote = nil } } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { quote = c } else if c == UInt8(ascii: ">") {
                return .tag(name, index + 1, index > 0 && chars[index - 1] == UInt8(ascii: "/"))
            }
            index += 1
        }
        return .unterminated
    }

    private static func local(_ name: String) -> Substring {
        name.split(separator: ":").last ?? Substring(name)
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0], Array(haystack[index ..< index + needle.count]) == needle { return index }
            index += 1
        }
        return nil
    }
}
