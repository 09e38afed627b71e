import Foundation

/// A real PostgreSQL server (Debian's `postgresql` package) on a free loopback port, in a data
/// directory of its own, with a `parkguard` superuser and database, trusted on loopback.
/// Run as the `postgres` user when the tests run as root (PostgreSQL refuses root).
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    public let port: Int
    /// `postgres://parkguard@127.0.0.1:PORT/parkguard`
    public let url: String
    private let data: String
    private var child: Child
    private let directory: ScratchDirectory
    private let start: (String, [String])

    public init(in directory: ScratchDirectory) async throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw HarnessError("PostgreSQL is not installed (apt-get install postgresql)")
        }
        let bin = "/usr/lib/postgresql/\(version)/bin"
        var template = Array("/tmp/parkguard-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        data = String(cString: made)
        let asRoot = getuid() == 0
        if asRoot { _ = try await run("/bin/chown", ["postgres:postgres", data]) }
        func asPostgres(_ arguments: [String]) -> (String, [String]) {
            asRoot ? ("/usr/sbin/runuser", ["-u", "postgres", "--"] + arguments) : (arguments[0], Array(arguments.dropFirst()))
        }
        let (initdb, initArguments) = asPostgres([bin + "/initdb", "-D", data + "/db", "-U", "parkguard", "--auth=trust", "-E", "UTF8", "--no-sync"])
        let initialised = try await run(initdb, initArguments)
        guard initialised.status == 0 else { throw HarnessError("initdb failed: \(initialised.error.suffix(500))") }
        for _ in 0 ..< 5 {
            let port = freePort()
            let (postgres, arguments) = asPostgres([bin + "/postgres", "-D", data + "/db", "-p", "\(port)", "-k", data,
                                                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            let child = try Child(postgres, arguments, in: directory, name: "postgres-\(port)")
            if try await eventually(timeout: .seconds(15), { isListening(port) || !child.process.isRunning }), child.process.isRunning {
                self.directory = directory
                start = (postgres, arguments)
                let created = try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "parkguard", "-d", "postgres",
                                                        "-c", "CREATE DATABASE parkguard"])
                guard created.status == 0 else { throw HarnessError("createdb failed: \(created.error)") }
                self.port = port
                self.child = child
                url = "postgres://parkguard@127.0.0.1:\(port)/parkguard"
                return
            }
            child.signal(SIGKILL)
        }
        throw HarnessError("PostgreSQL did not start on any of 5 free ports")
    }

    /// Stops the server (immediate shutdown, as a crash would: no checkpoint) and starts it
    /// again on the same port and data; returns once it accepts connections.
    public func restart(after pause: Duration = .seconds(1)) async throws {
        if let pid = (try? String(contentsOfFile: data + "/db/postmaster.pid", encoding: .utf8))?.split(separator: "\n").first.flatMap({ Int32($0) }) {
            kill(pid, SIGQUIT)
        }
        _ = try await child.exitStatus(within: .seconds(15))
        try await Task.sleep(for: pause)
        child = try Child(start.0, start.1, in: directory, name: "postgres-\(port)-again")
        guard try await eventually(timeout: .seconds(20), { isListening(port) }) else { throw HarnessError("PostgreSQL restart failed: \(child.stderr.suffix(300))") }
    }

    /// Runs `sql` with psql in the `parkguard` database (stopping at the first error).
    public func psql(_ sql: String) async throws -> (status: Int32, output: String, error: String) {
        try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "parkguard", "-d", "parkguard", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    /// Stops the server (fast shutdown) and removes its data.
    public func stop() async {
        if let pid = (try? String(contentsOfFile: data + "/db/postmaster.pid", encoding: .utf8))?.split(separator: "\n").first.flatMap({ Int32($0) }) {
            kill(pid, SIGINT)
        }
        _ = try? await child.exitStatus(within: .seconds(15))
        try? FileManager.default.removeItem(atPath: data)
    }
}
