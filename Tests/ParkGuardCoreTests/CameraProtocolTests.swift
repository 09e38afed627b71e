import CameraProbe
import Foundation
import ParkGuardCore
import Testing

@Suite("Camera protocol codecs: RTSP, Digest, SDP, ONVIF, JPEG")
struct CameraProtocolTests {
    @Test("an RTSP response is parsed with its headers and a Content-Length body")
    func rtspResponse() throws {
        let text = "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\nRTSP/1.0"
        guard case .message(let message, let consumed) = try RTSPParser.parse(Array(text.utf8)) else {
            Issue.record("expected a message")
            return
        }
        #expect(message.status == 200)
        #expect(message.header("cseq") == "2")
        #expect(message.body == Array("v=0\r\n".utf8))
        #expect(consumed == text.utf8.count - "RTSP/1.0".utf8.count)
    }

    @Test("a partial RTSP message asks for more bytes; a non-RTSP one is refused at once")
    func rtspIncompleteAndGarbage() throws {
        #expect(try RTSPParser.parse(Array("RTSP/1.0 200 OK\r\nCSeq: 1\r\n".utf8)) == .incomplete)
        #expect(try RTSPParser.parse(Array("RTSP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)) == .incomplete)
        #expect(throws: RTSPParseError.self) { try RTSPParser.parse(Array("\u{01}\u{02}garbage".utf8)) }
        #expect(throws: RTSPParseError.self) { try RTSPParser.parse(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)) }
        #expect(throws: RTSPParseError.self) { try RTSPParser.parse(Array("RTSP/1.0 200 OK\r\nContent-Length: -4\r\n\r\n".utf8)) }
        #expect(throws: RTSPParseError.self) { try RTSPParser.parse(Array(repeating: UInt8(ascii: "R"), count: 20_000)) }
    }

    @Test("a request round-trips through encode and parse")
    func rtspRoundTrip() throws {
        let request = RTSPMessage(start: .request(method: "DESCRIBE", uri: "rtsp://127.0.0.1:8554/stream"),
                                  headers: [("CSeq", "3"), ("Accept", "application/sdp")], body: [])
        #expect(try RTSPParser.parse(request.encoded()) == .message(request, consumed: request.encoded().count))
    }

    @Test("Digest with qop=auth matches RFC 2617's worked example")
    func digestRFC2617() {
        let challenge = HTTPAuthentication.challenge(
            #"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#)
        guard case .digest(let digest)? = challenge else {
            Issue.record("not parsed as Digest")
            return
        }
        #expect(digest.qop == "auth")
        let header = HTTPAuthentication.authorization(for: .digest(digest), method: "GET", uri: "/dir/index.html", username: "Mufasa",
                                                      password: "Circle Of Life", cnonce: "0a4f113b", nonceCount: 1,
                                                      md5Hex: Hashing.md5Hex, base64: Hashing.base64)
        #expect(header.contains(#"response="6629fae49393a05397450978507c4ef1""#))
        #expect(header.contains("nc=00000001"))
        #expect(HTTPAuthentication.verify(header, method: "GET", realm: "testrealm@host.com", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                          username: "Mufasa", password: "Circle Of Life", md5Hex: Hashing.md5Hex, base64: Hashing.base64))
        #expect(!HTTPAuthentication.verify(header, method: "GET", realm: "testrealm@host.com", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                           username: "Mufasa", password: "wrong", md5Hex: Hashing.md5Hex, base64: Hashing.base64))
    }

    @Test("Digest without qop (RFC 2069, common on cameras) and Basic are answered; unknown schemes are not")
    func digestWithoutQop() {
        let challenge = HTTPAuthentication.challenge(#"Digest realm="IP Camera", nonce="abc123""#)
        guard case .digest(let digest)? = challenge else {
            Issue.record("not parsed")
            return
        }
        #expect(digest.qop == nil)
        let header = HTTPAuthentication.authorization(for: .digest(digest), method: "DESCRIBE", uri: "rtsp://cam/stream", username: "admin",
                                                      password: "secret", cnonce: "x", nonceCount: 1, md5Hex: Hashing.md5Hex, base64: Hashing.base64)
        let expected = Hashing.md5Hex(Hashing.md5Hex("admin:IP Camera:secret") + ":abc123:" + Hashing.md5Hex("DESCRIBE:rtsp://cam/stream"))
        #expect(header.contains(#"response="\#(expected)""#))
        #expect(!header.contains("qop"))
        #expect(HTTPAuthentication.authorization(for: .basic(realm: "x"), method: "GET", uri: "/", username: "Aladdin", password: "open sesame",
                                                 cnonce: "", nonceCount: 1, md5Hex: Hashing.md5Hex, base64: Hashing.base64)
                == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        #expect(HTTPAuthentication.challenge("Negotiate abc") == nil)
        #expect(HTTPAuthentication.challenge(#"Digest realm="x", nonce="y", algorithm=SHA-256"#) == nil)
        #expect(HTTPAuthentication.preferred(["Basic realm=\"a\"", "Digest realm=\"a\", nonce=\"n\""]).map { if case .digest = $0 { true } else { false } } == true)
    }

    @Test("SDP: the first video media line gives the codec; audio-only offers no video")
    func sdp() throws {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=x\r\nm=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n"
        let summary = try SDPSummary.parse(sdp)
        #expect(summary.offersVideo)
        #expect(summary.videoCodec == "H265")
        #expect(try SDPSummary.parse("v=0\nm=video 0 RTP/AVP 26\n").videoCodec == "JPEG")
        #expect(try !SDPSummary.parse("v=0\r\nm=audio 0 RTP/AVP 0\r\n").offersVideo)
        #expect(throws: RTSPParseError.self) { try SDPSummary.parse("<html>not sdp</html>") }
    }

    @Test("ONVIF: the camera's UTC clock, device information and NotAuthorized faults are read")
    func onvif() throws {
        let answer = """
            <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>
            <tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:LocalDateTime><tt:Time><tt:Hour>9</tt:Hour></tt:Time></tt:LocalDateTime>
            <tt:UTCDateTime><tt:Time><tt:Hour>8</tt:Hour><tt:Minute>30</tt:Minute><tt:Second>15</tt:Second></tt:Time>
            <tt:Date><tt:Year>2026</tt:Year><tt:Month>11</tt:Month><tt:Day>25</tt:Day></tt:Date></tt:UTCDateTime>
            </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>
            """
        #expect(try ONVIF.utcDateTime(in: answer).rfc3339 == "2026-11-25T08:30:15.000Z")
        #expect(throws: RTSPParseError.self) { try ONVIF.utcDateTime(in: "<a><tt:UTCDateTime><tt:Time/></tt:UTCDateTime></a>") }
        let fault = """
            <s:Envelope><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value>\
            </s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not authorized</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>
            """
        #expect(ONVIF.fault(in: fault)?.isNotAuthorized == true)
        #expect(ONVIF.fault(in: answer) == nil)
        #expect(ONVIF.deviceInformation(in: "<x><tds:Manufacturer>Acme &amp; Co</tds:Manufacturer><tds:Model>Z1</tds:Model></x>")
                == ["Manufacturer": "Acme & Co", "Model": "Z1"])
    }

    @Test("WS-UsernameToken digest is Base64(SHA1(nonce + created + password)) as in the ONVIF guide")
    func usernameToken() {
        // ONVIF Application Programmer's Guide, §6.1.1.3: nonce, created and password give this digest.
        let nonce = [UInt8](Data(base64Encoded: "LKqI6G/AikKCQrN0zqZFlg==")!)
        let token = ONVIF.UsernameToken(username: "admin", password: "userpassword", nonce: nonce, created: "2010-09-16T07:50:45Z",
                                        sha1: Hashing.sha1, base64: Hashing.base64)
        #expect(token.digest == "tuOSpGlFlIXsozq4HFNeeGeFLEI=")
    }

    @Test("JPEG: dimensions from the frame header; a truncated or foreign file is refused")
    func jpeg() throws {
        let image = try JPEGCodec.encodeGrey([UInt8](repeating: 128, count: 64 * 48), width: 64, height: 48)
        #expect(try JPEGInfo.read(image) == JPEGInfo(width: 64, height: 48, components: 1))
        #expect(throws: RTSPParseError.self) { try JPEGInfo.read(Array(image.prefix(image.count / 2))) }
        #expect(throws: RTSPParseError.self) { try JPEGInfo.read(Array("GIF89a".utf8)) }
        let thumbnail = try JPEGCodec.decodeThumbnail(image)
        #expect(thumbnail.width == 8 && thumbnail.height == 6)
        #expect(abs(thumbnail.meanLuma - 128) < 3)
    }
}
