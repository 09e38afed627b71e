import ParkGuardCore

/// Who a certificate names. The common name is also the broker username
/// (`use_identity_as_username`), so it never contains `/`, `+` or `#`, which mosquitto refuses in
/// ACL patterns.
public enum Identity: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// A park unit: may write only under its own topic root and read only its own commands.
    case unit(site: String, unit: String)
    /// A hub (control-room consumer): reads everything, and alone may publish commands.
    case hub(name: String)
    /// The district broker's server certificate.
    case broker(host: String)
    /// The control-room console's server certificate (HTTPS); it cannot log in to the broker
    /// (server authentication only, and no ACL entry).
    case console(host: String)

    /// The certificate's common name and broker username: `unit:{site}:{unit}`, `hub:{name}`.
    public var commonName: String {
        switch self {
        case .unit(let site, let unit): "unit:\(site):\(unit)"
        case .hub(let name): "hub:\(name)"
        case .broker(let host), .console(let host): host
        }
    }

    /// The URI in the subject alternative name.
    public var uri: String {
        switch self {
        case .unit(let site, let unit): "urn:parkguard:unit:\(site):\(unit)"
        case .hub(let name): "urn:parkguard:hub:\(name)"
        case .broker(let host): "urn:parkguard:broker:\(host)"
        case .console(let host): "urn:parkguard:console:\(host)"
        }
    }

    /// The inventory key: `{site}/{unit}`, `hub/{name}`, `broker/{host}`, `console/{host}`.
    public var key: String {
        switch self {
        case .unit(let site, let unit): "\(site)/\(unit)"
        case .hub(let name): "hub/\(name)"
        case .broker(let host): "broker/\(host)"
        case .console(let host): "console/\(host)"
        }
    }

    public var description: String {
        switch self {
        case .unit(let site, let unit): "unit \(site)/\(unit)"
        case .hub(let name): "hub \(name)"
        case .broker(let host): "broker \(host)"
        case .console(let host): "console \(host)"
        }
    }

    /// Reads a common name back; `nil` when it is not one of ours.
    public init?(commonName: String) {
        let parts = commonName.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 3, parts[0] == "unit", Identifier.isValid(parts[1]), Identifier.isValid(parts[2]) {
            self = .unit(site: parts[1], unit: parts[2])
        } else if parts.count == 2, parts[0] == "hub", Identifier.isValid(parts[1]) {
            self = .hub(name: parts[1])
        } else {
            return nil
        }
    }
}

/// A provisioning failure, with the exit code the command line uses.
public struct ProvisionError: Error, Sendable, CustomStringConvertible {
    /// `sysexits.h` codes.
    public enum Code: Int32, Sendable {
        case usage = 64, dataError = 65, noInput = 66, cannotCreate = 73, ioError = 74, conflict = 75, config = 78
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
