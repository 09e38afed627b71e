import ParkGuardCore
import Testing

@Suite("HTTP answers read by the camera probe")
struct HTTPResponseReaderTests {
    static let limits = HTTPResponseReader.Limits(head: 1024, body: 64)

    /// Feeds `text` one byte at a time, as the slowest socket would, then the close if asked.
    func read(_ text: String, close: Bool = false, limits: HTTPResponseReader.Limits = limits) throws(HTTPParseError) -> HTTPResponse? {
        var reader = HTTPResponseReader(limits: limits)
        for byte in text.utf8 {
            if let response = try reader.feed([byte]) { return response }
        }
        return close ? try reader.finish() : nil
    }

    @Test("a Content-Length body is complete at its last byte, however the bytes arrive")
    func contentLength() throws {
        let response = try #require(try read("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(response.status == 200 && response.reason == "OK")
        #expect(response.headers("content-type") == ["image/jpeg"])
        #expect(response.body == Array("hello".utf8))
        #expect(try read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell") == nil)
    }

    @Test("chunks are joined, chunk extensions and trailers are skipped")
    func chunked() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Check: 1\r\n\r\n"
        let response = try #require(try read(text))
        #expect(String(decoding: response.body, as: UTF8.self) == "hello world")
    }

    @Test("without a length the body ends with the connection; a close in the head or a chunk is an error")
    func untilClose() throws {
        #expect(try read("HTTP/1.0 200 OK\r\n\r\n<Envelope/>") == nil)
        #expect(try read("HTTP/1.0 200 OK\r\n\r\n<Envelope/>", close: true)?.body == Array("<Envelope/>".utf8))
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nContent-", close: true) }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", close: true) }
        #expect(throws: HTTPParseError.self) { try read("", close: true) }
    }

    @Test("an HTTP/1.1 answer framed by its length or chunks leaves the connection for the next request; a close, HTTP/1.0 or extra bytes do not")
    func keepAlive() throws {
        #expect(try read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")?.keepAlive == true)
        #expect(try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")?.keepAlive == true)
        #expect(try read("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\nok")?.keepAlive == false)
        #expect(try read("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")?.keepAlive == false)
        #expect(try read("HTTP/1.1 200 OK\r\n\r\nok", close: true)?.keepAlive == false)
        var reader = HTTPResponseReader(limits: Self.limits)
        #expect(try reader.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1".utf8))?.keepAlive == false)
    }

    @Test("interim 100 Continue answers are skipped; 204 has no body")
    func interim() throws {
        let response = try #require(try read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
        #expect(response.status == 401)
        #expect(try read("HTTP/1.1 204 No Content\r\n\r\n")?.status == 204)
        #expect(throws: HTTPParseError.self) { try read(String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 5)) }
    }

    @Test("every bound holds: head, body by length and by chunks, chunk lines, trailers")
    func bounds() {
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 1100)) }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n") }
        #expect(throws: HTTPParseError.self) {
            try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "20\r\n" + String(repeating: "a", count: 32) + "\r\n", count: 3))
        }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "b", count: 65), close: true) }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "0", count: 1100)) }
        #expect(throws: HTTPParseError.self) {
            try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-T: 1\r\n", count: 200))
        }
    }

    @Test("what is not an HTTP answer is refused as soon as it shows")
    func refusals() {
        #expect(throws: HTTPParseError.self) { try read("RTSP/1.0 200 OK\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/2 200\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 999 Odd\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY") }
        #expect(throws: HTTPParseError.self) { try read("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n") }
    }
}
