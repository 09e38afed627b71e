import Foundation
import Hummingbird
import Logging
import ParkGuardCore

/// What the console checks before any route sees a request. Pure: the ``ConsoleRequestGuard``
/// middleware feeds it the request's headers and answers its refusal.
///
/// - The `Host` must be one of the console's names. A page on another site whose DNS name is made
///   to point at the console's address (DNS rebinding) reaches it under that site's name, so it is
///   refused before it can read `/api/state` or send a command.
/// - A request that changes state (anything but GET and HEAD) must come from the console's own
///   page: `Content-Type: application/json` (a cross-site form or a `text/plain` fetch cannot send
///   it without a CORS preflight, which the console never grants), an `Origin`, when present,
///   equal to the console's own (http or https, under the request's `Host`), and no `Sec-Fetch-Site` other than `same-origin` or `none`.
///   Scripts and curl send no `Origin` and pass with a JSON body.
public struct ConsoleRequestPolicy: Sendable, Equatable {
    /// Lower-case host names and addresses (without port or brackets) the console answers to.
    public let names: Set<String>

    /// The names the console answers to: loopback, the bound address unless it is a wildcard, this
    /// machine's host name, and `extra` (`--console-name`: the name operators type, a DNS alias).
    public init(boundTo host: String, extra: [String], hostName: String = ConsoleRequestPolicy.machineName()) {
        var names: Set<String> = ["localhost", "127.0.0.1", "::1"]
        let bound = Self.bare(host)
        if !["", "0.0.0.0", "::", "*"].contains(bound) { names.insert(bound) }
        if !hostName.isEmpty { names.insert(hostName.lowercased()) }
        for name in extra { names.insert(Self.bare(name)) }
        self.names = names
    }

    /// Why a request is refused: its HTTP status and a short message naming the header.
    public struct Refusal: Sendable, Equatable, Error {
        public var status: Int
        public var message: String
    }

    /// Judges a request from its method and headers; nil lets it through.
    public func judge(method: String, host: String?, origin: String?, contentType: String?, fetchSite: String?) -> Refusal? {
        guard let host, !host.isEmpty else { return Refusal(status: 400, message: "the Host header is missing") }
        guard host.utf8.count <= 255, names.contains(Self.bare(host)) else {
            return Refusal(status: 421, message: "Host \(ConfigLimits.quote(host)) is not a name of this console (add it with --console-name)")
        }
        guard method != "GET", method != "HEAD" else { return nil }
        if let fetchSite, fetchSite != "same-origin", fetchSite != "none" {
            return Refusal(status: 403, message: "Sec-Fetch-Site \(ConfigLimits.quote(fetchSite)): only the console's own page may change state")
        }
        if let origin {
            // Its own origin is the Host it was reached under, over http:// (served directly) or
            // https:// (through a TLS proxy in front of it that passes the Host on).
            let own = origin.lowercased()
            guard own == "http://" + host.lowercased() || own == "https://" + host.lowercased() else {
                return Refusal(status: 403, message: "Origin \(ConfigLimits.quote(origin)) is not this console's")
            }
        }
        let type = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/json" else {
            return Refusal(status: 415, message: "Content-Type \(ConfigLimits.quote(contentType ?? "")): the request must be application/json")
        }
        return nil
    }

    /// `name`, `name:port`, `[v6]` or `[v6]:port` as the bare lower-case name or address.
    static func bare(_ authority: String) -> String {
        let text = authority.lowercased().trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return text }
            return String(text[text.index(after: text.startIndex) ..< close])
        }
        // One colon: name:port. More: an IPv6 address without brackets (no port can follow).
        if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") { return String(text[..<colon]) }
        return text
    }

    /// This machine's host name, lower case ("" if it has none).
    public static func machineName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(cString: buffer).lowercased()
    }
}

/// Applies the ``ConsoleRequestPolicy`` to every request, and gives every answer the headers a
/// browser needs to refuse framing, sniffing and script from anywhere but the console itself.
struct ConsoleRequestGuard<Context: RequestContext>: RouterMiddleware {
    let policy: ConsoleRequestPolicy
    /// Served over TLS: browsers are also told to come back only over HTTPS.
    let tls: Bool
    /// The browser headers of every answer (``Console/securityHeaders(tileOrigin:)``).
    let headers: HTTPFields
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        if let refusal = policy.judge(method: request.method.rawValue, host: request.head.authority, origin: request.headers[.origin],
                                      contentType: request.headers[.contentType], fetchSite: request.headers.first { $0.name.canonicalName == "sec-fetch-site" }?.value) {
            logger.warning("console request refused", metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path.prefix(120))",
                                                                 "status": "\(refusal.status)", "error": "\(refusal.message)"])
            let body = (try? JSONEncoder().encode(Console.Answer(ok: false, error: refusal.message))) ?? Data("{}".utf8)
            response = Response(status: .init(code: refusal.status), headers: [.contentType: "application/json", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        } else {
            response = try await next(request, context)
        }
        response.headers.append(contentsOf: headers)
        if tls { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }
}
