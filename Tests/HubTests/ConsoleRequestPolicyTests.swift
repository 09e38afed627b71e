import HubConsole
import Testing

/// What the console lets through before any route: its own names only, and state changes only
/// from its own page (or a script sending JSON).
@Suite("Console request policy")
struct ConsoleRequestPolicyTests {
    let policy = ConsoleRequestPolicy(boundTo: "0.0.0.0", extra: ["console.district.example", "[fd00::7]"], hostName: "Hub-1")

    func post(host: String? = "console.district.example:8080", origin: String? = nil, type: String? = "application/json",
              site: String? = nil) -> ConsoleRequestPolicy.Refusal? {
        policy.judge(method: "POST", host: host, origin: origin, contentType: type, fetchSite: site)
    }

    @Test("loopback, this machine's name and the configured names are answered, with or without a port; a wildcard bind adds none")
    func names() {
        for host in ["localhost:8080", "127.0.0.1", "[::1]:8080", "hub-1:8080", "HUB-1", "console.district.example", "[fd00::7]:443"] {
            #expect(policy.judge(method: "GET", host: host, origin: nil, contentType: nil, fetchSite: nil) == nil, "\(host)")
        }
        #expect(policy.names.contains("0.0.0.0") == false)
        #expect(ConsoleRequestPolicy(boundTo: "10.1.2.3", extra: [], hostName: "").names == ["localhost", "127.0.0.1", "::1", "10.1.2.3"])
    }

    @Test("a request under another Host (DNS rebinding) or none is refused, reads included, naming the header")
    func foreignHost() throws {
        let rebound = try #require(policy.judge(method: "GET", host: "attacker.example:8080", origin: nil, contentType: nil, fetchSite: nil))
        #expect(rebound.status == 421 && rebound.message.contains("'attacker.example:8080'") && rebound.message.contains("--console-name"))
        #expect(policy.judge(method: "GET", host: nil, origin: nil, contentType: nil, fetchSite: nil)?.status == 400)
        #expect(policy.judge(method: "GET", host: "", origin: nil, contentType: nil, fetchSite: nil)?.status == 400)
        let long = try #require(policy.judge(method: "GET", host: String(repeating: "a", count: 5000), origin: nil, contentType: nil, fetchSite: nil))
        #expect(long.status == 421 && long.message.count < 150, "a refusal quotes a long Host short")
    }

    @Test("a state change from the console's own page or a JSON script passes")
    func ownPage() {
        #expect(post(origin: "http://console.district.example:8080", site: "same-origin") == nil)
        #expect(post(origin: "HTTP://Console.District.Example:8080") == nil)
        #expect(post(origin: "https://console.district.example:8080") == nil, "through a TLS proxy that passes the Host on")
        #expect(post(origin: "https://attacker.example") != nil)
        #expect(post(type: "application/json; charset=utf-8") == nil, "curl or a script: no Origin, a JSON body")
    }

    @Test("a cross-site request is refused: another Origin, Sec-Fetch-Site cross-site or same-site, a form or text/plain body")
    func crossSite() {
        #expect(post(origin: "http://attacker.example")?.status == 403)
        #expect(post(origin: "ftp://console.district.example:8080")?.status == 403, "a scheme other than http or https is another origin")
        #expect(post(origin: "http://console.district.example:9090")?.status == 403, "another port is another origin")
        #expect(post(origin: "null")?.status == 403)
        #expect(post(site: "cross-site")?.status == 403)
        #expect(post(site: "same-site")?.status == 403)
        #expect(post(type: "text/plain")?.status == 415)
        #expect(post(type: "application/x-www-form-urlencoded")?.status == 415)
        #expect(post(type: "multipart/form-data; boundary=x")?.status == 415)
        #expect(post(type: nil)?.status == 415)
        #expect(post(origin: "http://attacker.example", type: "text/plain")?.message.contains("Origin") == true, "the origin is judged first")
        #expect(policy.judge(method: "GET", host: "localhost", origin: "http://attacker.example", contentType: nil, fetchSite: "cross-site") == nil,
                "reads are judged by their Host only (the browser keeps a cross-site read's answer from the page)")
    }
}
