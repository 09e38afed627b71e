import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ParkGuardCore
import ParkGuardHub
import ServiceLifecycle

/// The control-room console: one page served by the hub itself (no CDN, no external asset),
/// with the fleet's units and cameras, the unresolved incidents on top (acknowledge, resolve
/// with an outcome and a note, each with its timeline), and live updates over server-sent events. Operators log in (``ConsoleAccess``); what each may do
/// follows their role, and every action is in the audit trail.
public struct Console: Service {
    /// The largest request body the console reads; an acknowledgement is under 300 bytes.
    public static let maxBodyBytes = 4096

    /// On every answer: only the console's own files (no inline script or style; images also
    /// from the district's map tile server, when one is configured), no framing, no plugins,
    /// no sniffing, no referrer.
    static func securityHeaders(tileOrigin: String?) -> HTTPFields { [
        .contentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:\(tileOrigin.map { " " + $0 } ?? ""); "
            + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        .init("X-Frame-Options")!: "DENY",
        .init("Referrer-Policy")!: "no-referrer",
    ] }

    /// The district's map tile server as a URL template with `{z}`, `{x}` and `{y}` (OpenStreetMap
    /// numbering, 256-pixel tiles), over http or https; nil when the template is not one.
    public static func tileOrigin(of template: String) -> String? {
        guard template.utf8.count <= 300, ["{z}", "{x}", "{y}"].allSatisfy(template.contains),
              !template.contains(where: { $0.isWhitespace || "\"'<>\\`".contains($0) || !$0.isASCII }),
              let components = URLComponents(string: template.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty, components.user == nil else { return nil }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    /// The session cookie: HttpOnly (no script reads it) and SameSite=Strict (no other site's
    /// page sends it).
    static let cookieName = "parkguard_session"

    /// Unresolved incidents on one page of the console; the rest are a page away, never cut off.
    public static let incidentsPerPage = 50

    let hub: Hub
    let access: ConsoleAccess
    let incidents: any IncidentLog & SnapshotLog & CameraEventLog
    let host: String
    let port: Int
    let logger: Logger
    let policy: ConsoleRequestPolicy
    /// The control room's time zone (IANA name): the page shows every time in it.
    let timeZone: String
    /// HTTPS with this configuration (``ConsoleTLS/load(certificate:key:)``); plain HTTP when nil.
    let tls: TLSConfiguration?
    /// The map tile URL template the page draws incidents' places with (see ``tileOrigin(of:)``).
    let mapTiles: String?
    /// A unit whose last self-test is older than this is listed as overdue.
    let selfTestMaxAge: TimeInterval
    let onBound: @Sendable (Int) -> Void

    /// - Parameter names: host names the console answers to besides loopback, the bound address
    ///   and this machine's name (see ``ConsoleRequestPolicy``).
    public init(hub: Hub, access: ConsoleAccess, incidents: any IncidentLog & SnapshotLog & CameraEventLog, host: String, port: Int, names: [String] = [], timeZone: String = "UTC",
                tls: TLSConfiguration? = nil, mapTiles: String? = nil, selfTestMaxAge: TimeInterval = 8 * 86_400, logger: Logger,
                onBound: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.selfTestMaxAge = selfTestMaxAge
        precondition(mapTiles.map { Self.tileOrigin(of: $0) != nil } ?? true, "the caller validates the tile template")
        self.timeZone = timeZone
        self.tls = tls
        self.mapTiles = mapTiles
        self.hub = hub
        self.incidents = incidents
        self.access = access
        self.host = host
        self.port = port
        self.logger = logger
        policy = ConsoleRequestPolicy(boundTo: host, extra: names)
        self.onBound = onBound
    }

    public func run() async throws {
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: ConsoleRequestGuard(policy: policy, tls: tls != nil,
                                                   headers: Self.securityHeaders(tileOrigin: mapTiles.flatMap(Self.tileOrigin)), logger: logger))
        // Under TLS the session cookie is Secure: a browser never sends it over plain HTTP.
        let secure = tls != nil
        let hub = hub
        let access = access
        let incidents = incidents
        let logger = logger
        let timeZone = timeZone
        let mapTiles = mapTiles
        router.get("/") { _, _ in Self.asset(ConsoleAssets.page, type: "text/html; charset=utf-8") }
        router.get("/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console.js") { _, _ in Self.asset(ConsoleAssets.script, type: "text/javascript; charset=utf-8") }

        router.post("/api/login") { request, context in
            do {
                let login = try await Self.decode(LoginRequest.self, request, context, expecting: "name and password")
                let (token, user) = try await access.login(name: login.name, password: login.password, address: context.address)
                var response = try Self.json(SessionAnswer(user, timeZone: timeZone, mapTiles: mapTiles))
                response.setCookie(Cookie(name: Self.cookieName, value: token, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
                return response
            } catch {
                return Self.refusal(error, logger: logger)
            }
        }
        router.get("/api/session") { request, context in
            await Self.authorized(request, context, access, logger: logger) { user in try Self.json(SessionAnswer(user, timeZone: timeZone, mapTiles: mapTiles)) }
        }
        router.post("/api/logout") { request, context in
            await Self.authorized(request, context, access, changesState: true, logger: logger) { user in
                try await access.logout(user, address: context.address)
                var response = try Self.json(Answer(ok: true, error: nil))
                response.setCookie(Cookie(name: Self.cookieName, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
                return response
            }
        }
        router.get("/api/state") { request, context in
            await Self.authorized(request, context, access, logger: logger) { _ in
                let offset = min(max(request.uri.queryParameters.get("offset", as: Int.self) ?? 0, 0), 1_000_000_000)
                let page = try await incidents.openIncidents(offset: offset, limit: Self.incidentsPerPage)
                let ids = page.incidents.map(\.id)
                let pictures = try await incidents.snapshots(ofIncidents: ids)
                let cameraEvents = try await incidents.cameraEvents(ofIncidents: ids)
                return try await Self.json(ConsoleState(incidents: page, pageSize: Self.incidentsPerPage, counts: hub.counts, snapshots: pictures,
                                                        cameraEvents: cameraEvents))
            }
        }
        // Units whose self-test failed, is overdue or never came, and certificates about to expire.
        let selfTestMaxAge = selfTestMaxAge
        router.get("/api/checks") { request, context in
            await Self.authorized(request, context, access, logger: logger) { _ in
                let units = await hub.units
                return try Self.json(ChecksAnswer(maxAgeDays: Int(selfTestMaxAge / 86_400),
                                                  items: UnitChecks.attention(units, now: Date(), maxAge: selfTestMaxAge)))
            }
        }
        router.get("/api/incidents/:id") { request, context in
            await Self.authorized(request, context, access, logger: logger) { user in
                let incident = try await Self.incident(context, incidents)
                // Operator actions on the incident's bell from its opening to its resolution; the
                // addresses they came from are for supervisors (as the whole audit trail is).
                let key = "\(incident.unit.site)/\(incident.unit.unit)/\(incident.bell)"
                let actions = try await access.audit(since: incident.openedAt.addingTimeInterval(-1), limit: 10_000)
                    .filter { $0.target == key && $0.at <= (incident.resolvedAt ?? .distantFuture).addingTimeInterval(1) }
                    .map { entry in var entry = entry; if user.role < .supervisor { entry.address = "" }; return entry }
                return try Self.json(IncidentDetail(incident: incident, alarms: try await incidents.alarms(ofIncident: incident.id), actions: actions,
                                                    snapshots: try await incidents.snapshots(ofIncidents: [incident.id])[incident.id] ?? [],
                                                    cameraEvents: try await incidents.cameraEvents(ofIncidents: [incident.id])[incident.id] ?? []))
            }
        }
        // A camera's picture of an alarm, as the unit sent it (its comment segment says what it is).
        router.get("/api/snapshots/:id") { request, context in
            await Self.authorized(request, context, access, logger: logger) { _ in
                let text = context.parameters.get("id") ?? ""
                guard text.utf8.count <= 19, let id = Int64(text), id > 0 else {
                    throw ConsoleAccess.Refusal(status: 400, message: "picture id \(ConfigLimits.quote(text)) is not a positive number")
                }
                guard let (_, jpeg) = try await incidents.snapshot(id: id) else {
                    throw ConsoleAccess.Refusal(status: 404, message: "no picture \(id)")
                }
                // Not kept by the browser: a shared control-room screen shows nothing after logout.
                return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
            }
        }
        router.post("/api/incidents/:id/ack") { request, context in
            await Self.authorized(request, context, access, role: .operator, changesState: true, logger: logger) { user in
                let incident = try await Self.incident(context, incidents)
                guard incident.resolvedAt == nil else {
                    throw ConsoleAccess.Refusal(status: 409, message: "incident \(incident.id) is resolved already")
                }
                // The operator has taken the call: that is logged whatever the unit answers; the
                // unit's call-accepted light is asked for and its answer reported.
                await hub.recordAcknowledgement(unit: incident.unit, bell: incident.bell, by: user.name)
                let outcome = await hub.acknowledge(unit: incident.unit, bell: incident.bell, by: user.name)
                try await access.record(.acknowledge, by: user, target: "\(incident.unit.site)/\(incident.unit.unit)/\(incident.bell)",
                                        detail: "incident \(incident.id); " + (outcome.ok ? "accepted by the unit" : "the unit did not confirm: \(outcome.error ?? "")"),
                                        address: context.address)
                await hub.incidentsChanged()  // the timeline now has the acknowledgement
                return try Self.json(IncidentAckAnswer(ok: true, unitAccepted: outcome.ok, error: outcome.error))
            }
        }
        // A note on an open incident (what the operator learned, who was called): in the audit
        // trail, and so on the incident's timeline.
        router.post("/api/incidents/:id/note") { request, context in
            await Self.authorized(request, context, access, role: .operator, changesState: true, logger: logger) { user in
                let incident = try await Self.incident(context, incidents)
                let note = try Self.checkedNote(try await Self.decode(NoteRequest.self, request, context, expecting: "note").note)
                guard !note.isEmpty else { throw ConsoleAccess.Refusal(status: 400, message: "note is empty") }
                guard incident.resolvedAt == nil else { throw ConsoleAccess.Refusal(status: 409, message: "incident \(incident.id) is resolved already") }
                try await access.record(.note, by: user, target: "\(incident.unit.site)/\(incident.unit.unit)/\(incident.bell)",
                                        detail: "incident \(incident.id): \(note)", address: context.address)
                await hub.incidentsChanged()
                return try Self.json(Answer(ok: true, error: nil))
            }
        }
        router.post("/api/incidents/:id/resolve") { request, context in
            await Self.authorized(request, context, access, role: .operator, changesState: true, logger: logger) { user in
                let incident = try await Self.incident(context, incidents)
                let resolve = try await Self.decode(ResolveRequest.self, request, context, expecting: "outcome and note")
                guard let outcome = IncidentOutcome(rawValue: resolve.outcome) else {
                    throw ConsoleAccess.Refusal(status: 400, message: "outcome must be one of \(IncidentOutcome.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let note = try Self.checkedNote(resolve.note ?? "")
                let now = Date()
                let audit = AuditEntry(at: now, actor: user.name, action: .resolve, target: "\(incident.unit.site)/\(incident.unit.unit)/\(incident.bell)",
                                       detail: "incident \(incident.id): \(outcome.rawValue)" + (note.isEmpty ? "" : " — \(note)"), address: context.address)
                switch try await incidents.resolve(id: incident.id, by: user.name, outcome: outcome, note: note, at: now, audit: audit) {
                case .resolved:
                    await hub.incidentsChanged()
                    return try Self.json(Answer(ok: true, error: nil))
                case .notFound:
                    throw ConsoleAccess.Refusal(status: 404, message: "no incident \(ConfigLimits.quote(incident.id))")
                case .notAcknowledged:
                    throw ConsoleAccess.Refusal(status: 409, message: "incident \(incident.id) must be acknowledged before it is resolved")
                case .alreadyResolved:
                    throw ConsoleAccess.Refusal(status: 409, message: "incident \(incident.id) is resolved already")
                }
            }
        }
        router.get("/api/events") { request, context in
            await Self.authorized(request, context, access, logger: logger) { _ in
                Self.events(from: hub, token: request.cookies[Self.cookieName]?.value, address: context.address, access: access)
            }
        }
        router.post("/api/ack") { request, context in
            await Self.authorized(request, context, access, role: .operator, changesState: true, logger: logger) { user in
                let ack = try await Self.decode(AckRequest.self, request, context, expecting: "site, unit and bell")
                // Who acknowledges is the session's operator; a `by` in the body is ignored.
                let outcome = await hub.acknowledge(unit: UnitKey(site: ack.site, unit: ack.unit), bell: ack.bell, by: user.name)
                try await access.record(.acknowledge, by: user, target: "\(ack.site)/\(ack.unit)/\(ack.bell)",
                                        detail: outcome.ok ? "accepted by the unit" : "failed: \(outcome.error ?? "")", address: context.address)
                return try Self.json(Answer(ok: outcome.ok, error: outcome.error), status: outcome.ok ? .ok : .badGateway)
            }
        }
        // A supervisor's commands to a unit: silence its sirens (one bell or all), run its self-test.
        router.post("/api/units/:site/:unit/silence") { request, context in
            await Self.authorized(request, context, access, role: .supervisor, changesState: true, logger: logger) { user in
                let unit = try await Self.unit(context, hub)
                let bell = try await Self.decode(SilenceRequest.self, request, context, expecting: "an optional bell").bell
                if let bell, !Identifier.isValid(bell) {
                    throw ConsoleAccess.Refusal(status: 400, message: "bell \(ConfigLimits.quote(bell)) is not a bell id ([a-z0-9-]{1,32})")
                }
                let outcome = await hub.command(.silence, to: unit, bell: bell, by: user.name)
                try await access.record(.silence, by: user, target: "\(unit.site)/\(unit.unit)" + (bell.map { "/\($0)" } ?? ""),
                                        detail: outcome.ok ? "accepted by the unit" : "failed: \(outcome.error ?? "")", address: context.address)
                // A unit that answered is a 200 even when it did not pass (a self-test's findings).
                return try Self.json(CommandAnswer(outcome), status: outcome.error == nil ? .ok : .badGateway)
            }
        }
        router.post("/api/units/:site/:unit/test") { request, context in
            await Self.authorized(request, context, access, role: .supervisor, changesState: true, logger: logger) { user in
                let unit = try await Self.unit(context, hub)
                let outcome = await hub.command(.test, to: unit, by: user.name, timeout: .seconds(20))
                try await access.record(.selfTest, by: user, target: "\(unit.site)/\(unit.unit)",
                                        detail: outcome.ok ? (outcome.detail ?? "answered") : "failed: \(outcome.error ?? "")", address: context.address)
                // A unit that answered is a 200 even when it did not pass (a self-test's findings).
                return try Self.json(CommandAnswer(outcome), status: outcome.error == nil ? .ok : .badGateway)
            }
        }
        router.get("/api/audit") { request, context in
            await Self.authorized(request, context, access, role: .supervisor, logger: logger) { _ in
                let limit = request.uri.queryParameters.get("limit", as: Int.self).map { min(max($0, 1), 1000) } ?? 100
                let entries = try await access.audit(since: Date().addingTimeInterval(-7 * 86400), limit: 100_000)
                return try Self.json(Array(entries.suffix(limit).reversed()))
            }
        }
        let onBound = onBound
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let app = Application(router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "parkguard-hub"),
                              onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [])
    }

    /// Runs `body` for the request's operator when the session is valid, the role is at least
    /// `role` and, for a state change, the request carries the session's CSRF token; otherwise
    /// answers the refusal (401, 403; 503 when the database cannot be reached).
    static func authorized(_ request: Request, _ context: ConsoleRequestContext, _ access: ConsoleAccess, role: OperatorRole = .viewer,
                           changesState: Bool = false, logger: Logger,
                           _ body: (ConsoleAccess.Operator) async throws -> Response) async -> Response {
        do {
            let user = try await access.authenticate(token: request.cookies[cookieName]?.value, address: context.address)
            if changesState, !ConsoleAccess.csrfMatches(request.headers.first(where: { $0.name.canonicalName == csrfHeader.lowercased() })?.value, user) {
                throw ConsoleAccess.Refusal(status: 403, message: "the request lacks this session's \(csrfHeader) header", retryAfter: nil)
            }
            guard user.role >= role else {
                throw ConsoleAccess.Refusal(status: 403, message: "\(user.name) is a \(user.role.rawValue); this needs a \(role.rawValue)", retryAfter: nil)
            }
            return try await body(user)
        } catch {
            return refusal(error, logger: logger)
        }
    }

    /// The header the page sends the session's CSRF token in.
    static let csrfHeader = "X-ParkGuard-CSRF"

    static func refusal(_ error: any Error, logger: Logger) -> Response {
        guard let refusal = error as? ConsoleAccess.Refusal else {
            logger.error("console request failed", metadata: ["error": "\(String(describing: error).prefix(300))"])
            return (try? json(Answer(ok: false, error: "the hub's database cannot be reached; try again"), status: .serviceUnavailable))
                ?? Response(status: .serviceUnavailable)
        }
        var response = (try? json(Answer(ok: false, error: refusal.message), status: .init(code: refusal.status))) ?? Response(status: .init(code: refusal.status))
        if let wait = refusal.retryAfter { response.headers[.retryAfter] = String(wait) }
        return response
    }

    /// Decodes a JSON body of at most ``maxBodyBytes``, or throws the refusal (413, 400).
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: ConsoleRequestContext, expecting fields: String) async throws -> T {
        do {
            return try await request.decode(as: T.self, context: context)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw ConsoleAccess.Refusal(status: 413, message: "the request body is over \(maxBodyBytes) bytes", retryAfter: nil)
        } catch {
            throw ConsoleAccess.Refusal(status: 400, message: "the request must be JSON with \(fields)", retryAfter: nil)
        }
    }

    /// The live stream. First `snapshot`: every unit and the hub's counts. Then, every
    /// ``ConsoleDeltas/interval`` while any unit changed, `units` with the units that changed
    /// (their whole views) and the counts; and at once when incidents changed, `incidents` (the
    /// page asks for its page of incidents again). Every 15 s (or sooner under a short idle timeout) a check
    /// that the session still holds, which keeps an open console logged in; a session that ends
    /// (logout elsewhere, a disabled account) ends the stream with an `ended` event.
    static func events(from hub: Hub, token: String?, address: String, access: ConsoleAccess) -> Response {
        // Unbounded: what is queued here is at most one snapshot and a few batches, as the writer
        // drains it at the pace of the connection and the batches come every 250 ms.
        let (lines, sink) = AsyncStream.makeStream(of: String.self)
        let deltas = Locked(ConsoleDeltas())
        let relay = Task {
            let (units, updates) = await hub.watch()
            sink.yield(Self.event("snapshot", UnitsEvent(units: units, counts: await hub.counts)))
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await update in updates {
                        // A new or changed incident is signalled at once (a person may be waiting
                        // on it); unit rows wait for the next batch.
                        if case .unit(let view) = update { deltas.withLock { $0.add(view) } } else { sink.yield("event: incidents\ndata: {}\n\n") }
                    }
                }
                group.addTask {
                    while (try? await Task.sleep(for: ConsoleDeltas.interval)) != nil {
                        let changed = deltas.withLock { $0.take() }
                        if !changed.isEmpty { sink.yield(Self.event("units", UnitsEvent(units: changed, counts: await hub.counts))) }
                    }
                }
                await group.next()
                group.cancelAll()
            }
            sink.finish()
        }
        let keepalive = Task {
            let interval = min(15, access.settings.idleTimeout / 3)
            while (try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))) != nil {
                do {
                    _ = try await access.authenticate(token: token, address: address)
                    sink.yield(": keepalive\n\n")
                } catch let refusal as ConsoleAccess.Refusal {
                    sink.yield("event: ended\ndata: \(String(decoding: (try? JSONEncoder().encode(refusal.message)) ?? Data(), as: UTF8.self))\n\n")
                    sink.finish()
                    return
                } catch {
                    sink.yield(": keepalive (database unreachable)\n\n")
                }
            }
        }
        let body = ResponseBody { writer in
            defer { relay.cancel(); keepalive.cancel() }
            try await writer.write(ByteBuffer(string: ": connected\n\n"))
            for await line in lines {
                try await writer.write(ByteBuffer(string: line))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// The units of a `snapshot` or a `units` event, with the hub's counts.
    struct UnitsEvent: Encodable {
        var units: [UnitView]
        var counts: HubCore.Counts
    }

    /// One server-sent event: its name and its data as one line of JSON.
    private static func event<T: Encodable>(_ name: String, _ value: T) -> String {
        let data = (try? encoded(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "event: \(name)\ndata: \(data)\n\n"
    }

    /// The page of incidents and the counts; the units come with the live stream.
    struct ConsoleState: Encodable {
        var incidents: IncidentPage
        var pageSize: Int
        var counts: HubCore.Counts
        /// The pictures of the page's incidents, and what their cameras did, by incident id.
        var snapshots: [String: [SnapshotRef]]
        var cameraEvents: [String: [CameraEventRecord]]
    }

    /// An incident with its alarms and the operators' actions on its bell, oldest first.
    struct IncidentDetail: Encodable {
        var incident: IncidentRecord
        var alarms: [AlarmRecord]
        var actions: [AuditEntry]
        var snapshots: [SnapshotRef]
        var cameraEvents: [CameraEventRecord]
    }

    struct NoteRequest: Decodable {
        var note: String
    }

    /// An operator's note: at most ``IncidentRule/maxNoteBytes``, no control characters but line ends.
    static func checkedNote(_ note: String) throws -> String {
        guard note.utf8.count <= IncidentRule.maxNoteBytes else {
            throw ConsoleAccess.Refusal(status: 400, message: "note is over \(IncidentRule.maxNoteBytes) bytes")
        }
        guard !note.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\r" }) else {
            throw ConsoleAccess.Refusal(status: 400, message: "note has a control character")
        }
        return note
    }

    struct SilenceRequest: Decodable {
        var bell: String?
    }

    /// A unit's answer to a supervisor's command: `ok`, why not, and what it found (a self-test).
    struct CommandAnswer: Encodable {
        var ok: Bool
        var error: String?
        var detail: String?
        init(_ outcome: Hub.CommandOutcome) {
            ok = outcome.ok
            error = outcome.error
            detail = outcome.detail
        }
    }

    /// The unit the request's `:site` and `:unit` name, if the hub knows it (400, 404).
    static func unit(_ context: ConsoleRequestContext, _ hub: Hub) async throws -> UnitKey {
        let site = context.parameters.get("site") ?? "", unit = context.parameters.get("unit") ?? ""
        guard Identifier.isValid(site), Identifier.isValid(unit) else {
            throw ConsoleAccess.Refusal(status: 400, message: "\(ConfigLimits.quote(site))/\(ConfigLimits.quote(unit)) is not a unit ([a-z0-9-]{1,32} each)")
        }
        let key = UnitKey(site: site, unit: unit)
        guard await hub.knows(key) else { throw ConsoleAccess.Refusal(status: 404, message: "no unit \(site)/\(unit) has reported to this hub") }
        return key
    }

    struct ResolveRequest: Decodable {
        var outcome: String
        var note: String?
    }

    /// The operator's acknowledgement is logged (`ok`); whether the unit lit its call-accepted
    /// output, and if not why.
    struct IncidentAckAnswer: Encodable {
        var ok: Bool
        var unitAccepted: Bool
        var error: String?
    }

    /// The incident the request's `:id` names, or the refusal (400 for a malformed id, 404).
    static func incident(_ context: ConsoleRequestContext, _ incidents: any IncidentLog) async throws -> IncidentRecord {
        let id = context.parameters.get("id") ?? ""
        // An incident is named by its opening alarm's id, which the contract bounds to 1 to 64 bytes.
        guard !id.isEmpty, id.utf8.count <= 64, !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ConsoleAccess.Refusal(status: 400, message: "incident id \(ConfigLimits.quote(id)) is not an alarm id (1 to 64 bytes, no control character)")
        }
        guard let incident = try await incidents.incident(id: id) else {
            throw ConsoleAccess.Refusal(status: 404, message: "no incident \(ConfigLimits.quote(id))")
        }
        return incident
    }

    struct AckRequest: Decodable {
        var site: String
        var unit: String
        var bell: String
    }

    struct LoginRequest: Decodable {
        var name: String
        var password: String
    }

    /// Who is logged in, and the token the page sends back with each state change.
    struct SessionAnswer: Encodable {
        var ok = true
        var name: String
        var role: OperatorRole
        var language: ConsoleLanguage
        var timeZone: String
        var csrfToken: String
        /// The map tile template, when the district has a tile server.
        var mapTiles: String?
        init(_ user: ConsoleAccess.Operator, timeZone: String, mapTiles: String?) {
            self.mapTiles = mapTiles
            name = user.name
            role = user.role
            language = user.language
            self.timeZone = timeZone
            csrfToken = user.csrfToken
        }
    }

    /// Every answer to a request that changes state, and every refusal: `ok`, and why not.
    struct Answer: Encodable {
        var ok: Bool
        var error: String?
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoded(value))))
    }

    /// JSON as the console sends it, in answers and in stream events: keys sorted, dates RFC 3339.
    private static func encoded<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }
}

/// The console's request context: Hummingbird's basic one with bodies capped at
/// ``Console/maxBodyBytes`` (its default is 2 MiB).
public struct ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
    public var maxUploadSize: Int { Console.maxBodyBytes }
    /// The client's address as the audit trail shows it.
    var address: String { remoteAddress?.ipAddress ?? "unknown" }
}

/// The answer to `GET /api/checks`.
struct ChecksAnswer: Encodable {
    var maxAgeDays: Int
    var items: [UnitCheckItem]
}
