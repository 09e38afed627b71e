import ArgumentParser
import Foundation
import SwiftASN1
import ParkGuardCore
import ProvisioningKit
import X509

/// `parkguard-provision`: the district CA, unit and hub identities, revocation, and the broker
/// configuration that confines every unit to its own topic root.
@main
struct ParkGuardProvision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguard-provision",
        abstract: "Per-unit identity for ParkGuard: district CA, unit certificates, revocation, broker configuration.",
        discussion: "Exit codes: 0 ok, 64 bad usage, 65 bad input data, 66 missing input, 73 would overwrite, 74 I/O error, 75 conflicts with the inventory, 78 unsafe permissions.",
        version: ParkGuardVersion.current,
        subcommands: [CA.self, UnitCommand.self, Hub.self, Broker.self, List.self])
}

/// Runs `body`, turning a ``ProvisionError`` into its message and exit code.
func guarded(_ body: () throws -> Void) throws {
    do { try body() } catch let error as ProvisionError {
        FileHandle.standardError.write(Data("parkguard-provision: \(error.message)\n".utf8))
        throw ExitCode(error.code.rawValue)
    }
}

struct DistrictOption: ParsableArguments {
    @Option(help: "The district CA directory.") var district = "."
}

struct UnitName: ParsableArguments {
    @Option(help: "Site id ([a-z0-9-]{1,32}).") var site: String
    @Option(help: "Unit id ([a-z0-9-]{1,32}).") var unit: String
    func validate() throws {
        guard Identifier.isValid(site) else { throw ValidationError("--site must match [a-z0-9-]{1,32}; got '\(site)'") }
        guard Identifier.isValid(unit) else { throw ValidationError("--unit must match [a-z0-9-]{1,32}; got '\(unit)'") }
    }
    var identity: Identity { .unit(site: site, unit: unit) }
}

/// `host[:port]` of the district broker.
struct BrokerAddress: ExpressibleByArgument {
    var host: String
    var port: Int
    init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { return nil }
        self.host = String(host)
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1 ... 65535).contains(port) else { return nil }
            self.port = port
        } else {
            port = 8883
        }
    }
}

struct CA: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ca", abstract: "The district CA.", subcommands: [Init.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the district CA (ECDSA P-256; key file 0600).")
        @OptionGroup var district: DistrictOption
        @Option(help: "District name, shown in certificates.") var name: String
        @Option(help: "Validity in days.") var days = 3650
        func run() throws {
            try guarded {
                let created = try District.initialise(directory: district.district, name: name, days: days)
                print("district CA created: \(created.caCertificatePath) (key \(created.caKeyPath), 0600)")
            }
        }
    }
}

struct UnitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit", abstract: "Unit identities: on-unit CSR, signing, bench bundles, revocation.",
        subcommands: [CSR.self, Sign.self, Create.self, Bundle.self, Revoke.self])

    struct CSR: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "On the unit: make the key (it never leaves) and a signing request.")
        @OptionGroup var name: UnitName
        @Option(help: "Where to write unit.key (0600) and unit.csr.") var out = "/etc/parkguard/tls"
        func run() throws {
            try guarded {
                let (key, csr) = try UnitRequest.make(name.identity, directory: out)
                print("key: \(key) (0600, stays here)\nrequest: \(csr) — take it to the district for `unit sign`")
            }
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "At the district: sign a unit's request.")
        @OptionGroup var district: DistrictOption
        @OptionGroup var name: UnitName
        @Option(help: "The unit's unit.csr.") var csr: String
        @Option(help: "Where to write the certificate.") var out: String
        @Option(help: "Validity in days.") var days = 825
        func run() throws {
            try guarded {
                guard let text = try? String(contentsOfFile: csr, encoding: .utf8) else {
                    throw ProvisionError(.noInput, "\(csr): cannot be read")
                }
                if FileManager.default.fileExists(atPath: out) { throw ProvisionError(.cannotCreate, "\(out) already exists; not overwriting it") }
                var opened = try District.open(directory: district.district)
                let certificate = try opened.sign(csrPEM: text, as: name.identity, days: days)
                try Data(try District.pem(certificate).utf8).write(to: URL(fileURLWithPath: out))
                print("signed \(name.identity): \(out), serial \(District.hex(certificate.serialNumber))")
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bench preparation: key, certificate and configuration together, as a bundle directory.")
        @OptionGroup var district: DistrictOption
        @OptionGroup var name: UnitName
        @Option(help: "The district broker, host[:port] (port 8883 by default).") var broker: BrokerAddress
        @Option(help: "The bundle directory to create.") var out: String
        @Option(help: "Validity in days.") var days = 825
        @Option(help: "Where the bundle will live on the unit (the TLS paths in agent.yaml).") var etc = "/etc/parkguard"
        func run() throws {
            try guarded {
                if FileManager.default.fileExists(atPath: out + "/agent.yaml") { throw ProvisionError(.cannotCreate, "\(out) already holds a bundle") }
                var opened = try District.open(directory: district.district)
                let (certificate, key) = try opened.create(name.identity, days: days)
                try UnitBundle.write(directory: out, site: name.site, unit: name.unit, brokerHost: broker.host, brokerPort: broker.port,
                                     caPEM: try District.pem(opened.caCertificate), certificatePEM: try District.pem(certificate), key: key, etc: etc)
                print("bundle for \(name.identity): \(out) (agent.yaml, tls/ca.crt, tls/unit.crt, tls/unit.key 0600)")
            }
        }
    }

    struct Bundle: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "CSR flow: a bundle from a signed certificate; the key stays on the unit.")
        @OptionGroup var district: DistrictOption
        @OptionGroup var name: UnitName
        @Option(help: "The certificate `unit sign` wrote.") var cert: String
        @Option(help: "The district broker, host[:port].") var broker: BrokerAddress
        @Option(help: "The bundle directory to create.") var out: String
        @Option(help: "Where the bundle will live on the unit (the TLS paths in agent.yaml).") var etc = "/etc/parkguard"
        func run() throws {
            try guarded {
                let opened = try District.open(directory: district.district)
                guard let text = try? String(contentsOfFile: cert, encoding: .utf8), let certificate = try? Certificate(pemEncoded: text) else {
                    throw ProvisionError(.dataError, "\(cert): not a PEM certificate")
                }
                guard let entry = opened.inventory.active(name.identity.key),
                      entry.serial == District.hex(certificate.serialNumber) else {
                    throw ProvisionError(.conflict, "\(cert) is not the active certificate of \(name.identity) in the inventory")
                }
                try UnitBundle.write(directory: out, site: name.site, unit: name.unit, brokerHost: broker.host, brokerPort: broker.port,
                                     caPEM: try District.pem(opened.caCertificate), certificatePEM: text, key: nil, etc: etc)
                print("bundle for \(name.identity): \(out) (no key: the unit keeps tls/unit.key from `unit csr`)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a unit's certificate and rewrite the CRL (then re-render the broker config).")
        @OptionGroup var district: DistrictOption
        @OptionGroup var name: UnitName
        func run() throws {
            try guarded {
                var opened = try District.open(directory: district.district)
                try opened.revoke(name.identity)
                print("revoked \(name.identity); CRL \(opened.crlPath) number \(opened.inventory.crlNumber)")
            }
        }
    }
}

struct Hub: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Hub identities: read everything, publish commands.",
                                                    subcommands: [Create.self, Revoke.self, Sign.self, Console.self])

    struct HubName: ParsableArguments {
        @Option(help: "Hub name ([a-z0-9-]{1,32}).") var name: String
        func validate() throws { guard Identifier.isValid(name) else { throw ValidationError("--name must match [a-z0-9-]{1,32}") } }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Key and certificate for a hub consumer.")
        @OptionGroup var district: DistrictOption
        @OptionGroup var hub: HubName
        @Option(help: "Directory for hub.key (0600), hub.crt and ca.crt.") var out: String
        func run() throws {
            try guarded {
                if FileManager.default.fileExists(atPath: out + "/hub.key") { throw ProvisionError(.cannotCreate, "\(out)/hub.key already exists") }
                var opened = try District.open(directory: district.district)
                let (certificate, key) = try opened.create(.hub(name: hub.name))
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try write(key, out + "/hub.key", 0o600)
                try write(try District.pem(certificate), out + "/hub.crt", 0o644)
                try write(try District.pem(opened.caCertificate), out + "/ca.crt", 0o644)
                try write(try HubSigner.publicKeyPEM(privateKeyPEM: key), out + "/hub.pub", 0o644)
                print("hub \(hub.name): \(out)/hub.crt, \(out)/hub.key (0600), \(out)/hub.pub (for the units' commands.hubKeys)")
            }
        }
    }

    struct Console: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Key and server certificate for the hub's console (HTTPS): parkguard-hub run --console-cert console.crt --console-key console.key.",
            discussion: "Browsers trust it once the district CA (ca.crt) is installed on the control room's machines.")
        @OptionGroup var district: DistrictOption
        @Option(help: "The console's host name or IPv4 address, as operators' browsers reach it.") var host: String
        @Option(help: "Directory for console.key (0600), console.crt and ca.crt.") var out: String
        @Flag(help: "Revoke the host's active console certificate and issue a new one.") var replace = false
        func validate() throws {
            guard !host.isEmpty, host.utf8.count <= 253, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-".contains($0)) }),
                  !host.hasPrefix("-"), !host.hasPrefix(".") else {
                throw ValidationError("--host must be a host name or IPv4 address (letters, digits, '.', '-'); got '\(host.prefix(64))'")
            }
        }
        func run() throws {
            try guarded {
                if FileManager.default.fileExists(atPath: out + "/console.key"), !replace {
                    throw ProvisionError(.cannotCreate, "\(out)/console.key already exists (--replace issues a new one)")
                }
                var opened = try District.open(directory: district.district)
                if replace, opened.inventory.active("console/\(host)") != nil { try opened.revoke(.console(host: host)) }
                let (certificate, key) = try opened.create(.console(host: host))
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                if FileManager.default.fileExists(atPath: out + "/console.key") { try FileManager.default.removeItem(atPath: out + "/console.key") }
                try write(key, out + "/console.key", 0o600)
                try write(try District.pem(certificate), out + "/console.crt", 0o644)
                try write(try District.pem(opened.caCertificate), out + "/ca.crt", 0o644)
                print("console \(host): \(out)/console.crt, \(out)/console.key (0600); browsers trust it with \(out)/ca.crt")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a hub's certificate.")
        @OptionGroup var district: DistrictOption
        @OptionGroup var hub: HubName
        func run() throws {
            try guarded {
                var opened = try District.open(directory: district.district)
                try opened.revoke(.hub(name: hub.name))
                print("revoked hub \(hub.name)")
            }
        }
    }
}

extension Hub {
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a command for one unit; prints the payload to publish on its cmd/{command} topic.",
            discussion: "Example: mosquitto_pub ... -t parkguard/v1/north-park/gate-1/cmd/silence -m \"$(parkguard-provision hub sign --key hub/hub.key --name control --site north-park --unit gate-1 --command silence --payload '{\"bell\":\"gate\"}')\"")
        @OptionGroup var hub: HubName
        @Option(help: "The hub's private key (hub.key).") var key: String
        @OptionGroup var target: UnitName
        @Option(help: "ack, silence, test or rebirth.") var command: String
        @Option(help: "The command's own JSON payload.") var payload = "{}"
        @Option(help: "Hub time in ms since the epoch (default: now).") var ts: Int64?
        func validate() throws {
            guard Command.Name(rawValue: command) != nil else { throw ValidationError("--command must be ack, silence, test or rebirth") }
        }
        func run() throws {
            try guarded {
                guard let pem = try? String(contentsOfFile: key, encoding: .utf8) else { throw ProvisionError(.noInput, "\(key): cannot be read") }
                let stamp = ts ?? Int64(Date().timeIntervalSince1970 * 1000)
                print(try HubSigner.envelope(privateKeyPEM: pem, hub: hub.name, unit: "\(target.site)/\(target.unit)", command: command,
                                             timestamp: stamp, payload: payload))
            }
        }
    }
}

struct Broker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The district broker.", subcommands: [Config.self])

    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the mosquitto configuration: TLS listener requiring client certificates, CRL, per-unit ACL.",
            discussion: "Run it again after every unit sign/create/revoke and send the broker SIGHUP (or restart it).")
        @OptionGroup var district: DistrictOption
        @Option(help: "The broker's host name (in its server certificate).") var host: String
        @Option(help: "TLS listener port.") var port = 8883
        @Option(help: "Address to bind (default: all).") var bind: String?
        @Option(help: "Output directory (broker.key is made once and kept).") var out: String
        @Option(help: "Where the files will live on the broker (default: the output directory).") var installDir: String?
        @Option(help: "Persistence directory on the broker (default: persistence off).") var persistence: String?
        func validate() throws { guard (1 ... 65535).contains(port) else { throw ValidationError("--port must be 1 to 65535") } }
        func run() throws {
            try guarded {
                var opened = try District.open(directory: district.district)
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let keyPath = out + "/broker.key"
                if opened.inventory.active("broker/\(host)") == nil || !FileManager.default.fileExists(atPath: keyPath) {
                    if opened.inventory.active("broker/\(host)") != nil { try opened.revoke(.broker(host: host)) }
                    let (certificate, key) = try opened.create(.broker(host: host))
                    if FileManager.default.fileExists(atPath: keyPath) { try FileManager.default.removeItem(atPath: keyPath) }
                    try write(key, keyPath, 0o600)
                    try write(try District.pem(certificate), out + "/broker.crt", 0o644)
                }
                let dir = installDir ?? out
                try write(try District.pem(opened.caCertificate), out + "/ca.crt", 0o644)
                try write(try String(contentsOfFile: opened.crlPath, encoding: .utf8), out + "/crl.pem", 0o644)
                try write(BrokerConfig.acl(opened.inventory), out + "/acl", 0o644)
                try write(BrokerConfig.mosquittoConf(port: port, bind: bind, caFile: dir + "/ca.crt", certFile: dir + "/broker.crt",
                                                     keyFile: dir + "/broker.key", crlFile: dir + "/crl.pem", aclFile: dir + "/acl",
                                                     persistence: persistence), out + "/parkguard.conf", 0o644)
                let units = opened.inventory.entries.filter { $0.kind == .unit && $0.status == .active }.count
                print("broker config: \(out)/parkguard.conf (listener \(port), \(units) active unit(s); run mosquitto -c \(dir)/parkguard.conf)")
            }
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The inventory: every identity, serial and status.")
    @OptionGroup var district: DistrictOption
    func run() throws {
        try guarded {
            let opened = try District.open(directory: district.district)
            for entry in opened.inventory.entries {
                print("\(entry.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(entry.kind.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(entry.id.padding(toLength: 36, withPad: " ", startingAt: 0)) \(entry.serial.prefix(16))… until \(ISO8601DateFormatter().string(from: entry.notAfter))")
            }
        }
    }
}

/// Writes a file with `mode`, replacing it atomically.
func write(_ text: String, _ path: String, _ mode: mode_t) throws {
    try AtomicFile.write(Data(text.utf8), to: path, mode: mode)
}
