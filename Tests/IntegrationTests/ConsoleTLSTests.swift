import Foundation
import ParkGuardTestKit
import Testing

/// The console over HTTPS with a certificate the district CA issued (`parkguard-provision hub
/// console`), and the refusals of every wrong certificate or key file, with the real binaries.
@Suite("Hub console over TLS", .serialized)
struct ConsoleTLSTests {
    @Test("with --console-cert and --console-key the console speaks HTTPS on any address: the district CA verifies it, the session cookie is Secure, browsers are told to stay on HTTPS, plain HTTP gets no page")
    func servesHTTPS() async throws {
        let directory = try ScratchDirectory()
        let district = try await ProvisionedDistrict(in: directory)
        let issued = try await run(Products.path("parkguard-provision"), ["hub", "console", "--district", district.path, "--host", "127.0.0.1",
                                                                          "--out", directory.file("console")])
        #expect(issued.status == 0, "hub console: \(issued.error)")
        let again = try await run(Products.path("parkguard-provision"), ["hub", "console", "--district", district.path, "--host", "127.0.0.1",
                                                                         "--out", directory.file("console")])
        #expect(again.status == 73 && again.error.contains("console.key already exists"), "\(again.error)")
        let mode = try FileManager.default.attributesOfItem(atPath: directory.file("console/console.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let broker = try await Broker(in: directory)
        let db = directory.file("hub.sqlite")
        let hubTool = Products.path("parkguard-hub")
        let added = try await run("/bin/sh", ["-c", "echo 'correct horse battery' | \"$0\" operator add anna --role operator --db \"$1\"", hubTool, db])
        #expect(added.status == 0, "operator add: \(added.error)")
        // Any address is allowed with a certificate: 0.0.0.0 without one is refused (below).
        let hub = try Child(hubTool, ["run", "--broker", "127.0.0.1:\(broker.port)", "--db", db, "--console", "0.0.0.0:0",
                                      "--console-cert", directory.file("console/console.crt"), "--console-key", directory.file("console/console.key"),
                                      "--console-name", "127.0.0.1", "--client-id", "tls-hub-\(getpid())"],
                            in: directory, name: "hub")
        defer { hub.signal(SIGTERM) }
        var url: String?
        _ = try await eventually { url = hub.stdout.split(separator: "\n").first { $0.hasPrefix("console: ") }.map { String($0.dropFirst(9)) }; return url != nil }
        let printed = try #require(url, "the hub did not print its console address: \(hub.stderr.suffix(400))")
        #expect(printed.hasPrefix("https://0.0.0.0:"), "\(printed)")
        let port = try #require(printed.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "/"))) })

        let client = """
            import http.client, json, socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[1])
            port = int(sys.argv[2])
            def ask(method, path, body=None):
                c = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
                c.request(method, path, body=json.dumps(body) if body is not None else None, headers={"Content-Type": "application/json"})
                r = c.getresponse()
                return {"status": r.status, "cookie": r.getheader("Set-Cookie") or "", "hsts": r.getheader("Strict-Transport-Security") or "",
                        "body": r.read().decode()[:200]}
            out = {"page": ask("GET", "/"), "login": ask("POST", "/api/login", {"name": "anna", "password": "correct horse battery"})}
            # The same port without TLS: no page, no password taken.
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
            try:
                answer = s.recv(200)
            except OSError as e:
                answer = b""
            out["plain"] = answer.decode("latin-1")
            # A client that trusts only the system's CAs refuses the district's certificate.
            try:
                http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(), timeout=5).request("GET", "/")
                out["untrusted"] = "accepted"
            except ssl.SSLError as e:
                out["untrusted"] = "refused: " + str(e)[:80]
            print(json.dumps(out))
            """
        let asked = try await run("/usr/bin/python3", ["-c", client, directory.file("console/ca.crt"), String(port)])
        let answers = (try? JSONSerialization.jsonObject(with: Data(asked.output.utf8)) as? [String: Any]) ?? [:]
        let page = answers["page"] as? [String: Any], login = answers["login"] as? [String: Any]
        #expect(page?["status"] as? Int == 200 && (page?["hsts"] as? String)?.hasPrefix("max-age=") == true, "\(asked.output) \(asked.error)")
        let cookie = login?["cookie"] as? String ?? ""
        #expect(login?["status"] as? Int == 200 && cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
        #expect(!(answers["plain"] as? String ?? "x").contains("200 OK"), "plain HTTP got a page: \(answers["plain"] ?? "")")
        #expect((answers["untrusted"] as? String)?.hasPrefix("refused") == true, "\(answers["untrusted"] ?? "")")
    }

    @Test("a key readable by others, a key of another certificate, a file that is no certificate, half a pair, plain HTTP off loopback: each refused naming the option, before anything is served")
    func refusesWrongFiles() async throws {
        let directory = try ScratchDirectory()
        let district = try await ProvisionedDistrict(in: directory)
        for host in ["127.0.0.1", "localhost"] {
            let issued = try await run(Products.path("parkguard-provision"), ["hub", "console", "--district", district.path, "--host", host,
                                                                              "--out", directory.file("console-\(host)")])
            #expect(issued.status == 0, "hub console: \(issued.error)")
        }
        let badHost = try await run(Products.path("parkguard-provision"), ["hub", "console", "--district", district.path, "--host", "a b",
                                                                           "--out", directory.file("nope")])
        #expect(badHost.status == 64 && badHost.error.contains("--host"), "\(badHost.error)")
        let cert = directory.file("console-127.0.0.1/console.crt"), key = directory.file("console-127.0.0.1/console.key")
        let otherKey = directory.file("console-localhost/console.key")
        let looseKey = directory.file("loose.key")
        try FileManager.default.copyItem(atPath: key, toPath: looseKey)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: looseKey)
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: directory.file("garbage.crt")))
        let db = directory.file("hub.sqlite")
        let base = ["run", "--broker", "127.0.0.1:1", "--db", db, "--console", "127.0.0.1:0"]
        let cases: [([String], Int32, String)] = [
            (["--console-cert", cert, "--console-key", looseKey], 64, "let others read it; chmod 600 it"),
            (["--console-cert", cert, "--console-key", otherKey], 78, "does not belong to --console-cert"),
            (["--console-cert", directory.file("garbage.crt"), "--console-key", key], 78, "garbage.crt: not a PEM certificate"),
            (["--console-cert", directory.file("missing.crt"), "--console-key", key], 78, "missing.crt: No such file or directory"),
            (["--console-cert", cert], 64, "go together"),
            (["--console-cert", cert, "--console-key", key, "--console-insecure-http"], 64, "contradicts"),
        ]
        for (extra, code, words) in cases {
            let result = try await run(Products.path("parkguard-hub"), base + extra)
            #expect(result.status == code && result.error.contains(words), "\(extra.suffix(2)): \(result.status) \(result.error)")
        }
        let offLoopback = try await run(Products.path("parkguard-hub"), ["run", "--broker", "127.0.0.1:1", "--db", db, "--console", "0.0.0.0:0"])
        #expect(offLoopback.status == 64 && offLoopback.error.contains("--console-cert"), "\(offLoopback.error)")
        #expect(!FileManager.default.fileExists(atPath: db), "a refused start created the hub's database")
    }
}
