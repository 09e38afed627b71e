import Foundation

/// A district made by the real `parkguard-provision` as an installer would: its CA, one hub
/// identity (`control`), unit bundles, and a mosquitto on the configuration the tool renders
/// (mutual TLS with the district CA, the CRL, the per-unit ACL). Clients reach it as
/// `localhost`, the name in the broker's certificate.
public struct ProvisionedDistrict: Sendable {
    public let directory: ScratchDirectory
    public var path: String { directory.file("district") }
    public var caFile: String { directory.file("hub/ca.crt") }
    public var hubCertFile: String { directory.file("hub/hub.crt") }
    public var hubKeyFile: String { directory.file("hub/hub.key") }

    /// Creates the CA and the hub identity.
    public init(in directory: ScratchDirectory) async throws {
        self.directory = directory
        try await provision("ca", "init", "--district", path, "--name", "Test District")
        try await provision("hub", "create", "--district", path, "--name", "control", "--out", directory.file("hub"))
    }

    /// Where the bundles of `site`'s units are: `bundles(site)/<unit>/tls/…`.
    public func bundles(_ site: String) -> String { directory.file("bundles-\(site)") }

    /// A bundle (key, certificate, agent.yaml) for each of `units` at `site`, in ``bundles(_:)``.
    public func addUnits(site: String, _ units: [String]) async throws {
        for unit in units {
            try await provision("unit", "create", "--district", path, "--site", site, "--unit", unit, "--broker", "localhost:8883",
                                "--out", bundles(site) + "/" + unit, "--etc", bundles(site) + "/" + unit)
        }
    }

    /// The hub's options for this district: its certificate and key, the district CA.
    public var hubTLSArguments: [String] { ["--ca-file", caFile, "--cert-file", hubCertFile, "--key-file", hubKeyFile] }

    /// mosquitto on the rendered configuration, re-rendered for the port it gets (persistence
    /// off, as `broker config` renders it without `--persistence`). Rendered after the units are
    /// added: the ACL lists the identities in the inventory at that moment.
    public func broker() async throws -> Broker {
        try await Broker(in: directory) { port in
            try await provision("broker", "config", "--district", path, "--host", "localhost", "--port", "\(port)", "--bind", "127.0.0.1",
                                "--out", directory.file("broker"))
            // The tests run as root and the key files are 0600: mosquitto must not drop to its user.
            return "user root\n" + (try String(contentsOfFile: directory.file("broker/parkguard.conf"), encoding: .utf8))
        }
    }

    private func provision(_ arguments: String...) async throws {
        let result = try await run(Products.path("parkguard-provision"), arguments)
        guard result.status == 0 else {
            throw HarnessError("parkguard-provision \(arguments.prefix(2).joined(separator: " ")) failed (\(result.status)): \(result.error)")
        }
    }
}
