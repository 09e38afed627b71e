// swift-tools-version:6.1
import Foundation
import PackageDescription

/// libgpiod's API changed incompatibly at 2.0 (Debian 13, Raspberry Pi OS trixie, bookworm-backports)
/// and the two cannot be installed side by side, so the GPIO adapter is compiled for the one that
/// pkg-config finds: `LIBGPIOD_V2` selects `GPIODChipV2.swift` over `GPIODChip.swift`. No flag to
/// remember; `PARKGUARD_LIBGPIOD=1|2` overrides the probe (cross builds, or pkg-config missing).
let libgpiodMajor: Int = {
    if let forced = ProcessInfo.processInfo.environment["PARKGUARD_LIBGPIOD"], let major = Int(forced) { return major }
    #if os(Linux)
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["pkg-config", "--modversion", "libgpiod"]
    let output = Pipe()
    probe.standardOutput = output
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return 1 }
    probe.waitUntilExit()
    let version = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return Int(version.split(separator: ".").first ?? "") ?? 1
    #else
    return 1
    #endif
}()

/// One set of compiler settings for every target: Swift 6 language mode (strict concurrency)
/// plus the upcoming features that keep existentials and imports honest.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The unit's own modules are optimized for size in release builds: the daemon's stripped binary
/// has a 20 MB budget (issue 21), and same-window benchmarks show no cost on the press path
/// (docs/performance-notes.md). The probes' transport and HTTP/ONVIF exchanges (CameraProbe,
/// SocketIO) keep -O: the probes' CPU is most of the idle daemon's. The codecs they call in
/// ParkGuardCore (RTSP, HTTP, XML, RTP) are -Osize with the rest of the core. The prebuilt
/// standard library is not affected.
let unitSettings: [SwiftSetting] = swiftSettings + [.unsafeFlags(["-Osize"], .when(configuration: .release))]

let package = Package(
    name: "ParkGuard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parkguardd", targets: ["parkguardd"]),
        .executable(name: "parkguard-sim", targets: ["parkguard-sim"]),
        .executable(name: "parkguard-bench", targets: ["parkguard-bench"]),
        .executable(name: "parkguard-provision", targets: ["parkguard-provision"]),
        .executable(name: "parkguard-hub", targets: ["parkguard-hub"]),
        .executable(name: "parkguard-fuzz", targets: ["parkguard-fuzz"]),
        .library(name: "ParkGuardHub", targets: ["ParkGuardHub"]),
        .library(name: "ParkGuardCore", targets: ["ParkGuardCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        // The core's heap for the delivery queue (the simulator has it through SwiftNIO too).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // Only its bcrypt (operators' passwords), in the console; never in the daemon.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already in the graph through postgres-nio: the console's TLS (HummingbirdTLS).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // MARK: Pure core: no I/O, injected clock.
        .target(
            name: "ParkGuardCore",
            dependencies: [.product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: unitSettings
        ),

        // MARK: C libraries (the agent's C surfaces: GPIO, MQTT, and the certificate checks of its doctor).
        .systemLibrary(
            name: "CGPIOD",
            pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),

        // The unit certificate's expiry and chain for `parkguardd doctor` (libmosquitto's TLS maps it already).
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        .systemLibrary(
            name: "CTurboJPEG",
            pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]
        ),

        // The configuration's YAML parser: libyaml itself, read event by event (ConfigLoader).
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),

        // <sys/timex.h> is not in Glibc's module map: one inline function, nothing else.
        .target(name: "CSystemClock"),
        .target(name: "CEpoll"),

        // MARK: Adapters.
        // The system's libcrypto for the daemon: digests, ECDSA verification, certificate checks
        // (swift-crypto stays on the hub and provisioning side; the daemon maps libcrypto anyway).
        .target(
            name: "SystemCrypto",
            dependencies: ["ParkGuardCore", "COpenSSL"],
            swiftSettings: unitSettings
        ),
        .target(
            name: "ConfigLoader",
            dependencies: [
                "ParkGuardCore",
                "CYAML",
            ],
            swiftSettings: unitSettings
        ),
        .target(
            name: "GPIOAdapter",
            dependencies: [
                "ParkGuardCore",
                "CGPIOD",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: unitSettings + (libgpiodMajor >= 2 ? [.define("LIBGPIOD_V2")] : [])
        ),
        .target(
            name: "MQTTAdapter",
            dependencies: [
                "ParkGuardCore",
                "CMosquitto",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: unitSettings
        ),

        // Non-blocking sockets for the daemon's few connections (camera probes, the control
        // socket), waited on by one epoll thread: the daemon carries no SwiftNIO.
        .target(
            name: "SocketIO",
            dependencies: ["ParkGuardCore", "CEpoll"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CameraProbe",
            dependencies: [
                "ParkGuardCore",
                "CTurboJPEG",
                "SystemCrypto",
                "SocketIO",
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The agent.
        .target(
            name: "AgentRuntime",
            dependencies: [
                "ParkGuardCore",
                "ConfigLoader",
                "GPIOAdapter",
                "MQTTAdapter",
                "CameraProbe",
                "CSystemClock",
                "SystemCrypto",
                "SocketIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: unitSettings
        ),
        .executableTarget(
            name: "parkguardd",
            dependencies: [
                "AgentRuntime",
                "SystemCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: unitSettings,
            // Full RELRO on every release: Debian 12's ld adds it by default, Debian 13's (the one
            // the toolchain uses there) does not, and lintian flags its absence.
            // The Swift driver links executables with -rdynamic, which exports every symbol and so
            // keeps every function alive through --gc-sections; nothing looks the daemon's
            // symbols up at run time, and without it the linker drops what is never called:
            // 880 KB of the stripped binary (issue 21's 20 MB budget).
            linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "relro", "-Xlinker", "-z", "-Xlinker", "now"]),
                             .unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(configuration: .release))]
        ),

        // MARK: Simulator (placed by path, like swift-argument-parser's Examples/).
        .target(
            name: "SimulatorKit",
            dependencies: [
                "ParkGuardCore",
                "ConfigLoader",
                "GPIOAdapter",
                "CameraProbe",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Simulator/SimulatorKit",
            swiftSettings: swiftSettings
        ),
        // Fleet mode: many real agents in one process (links the agent runtime; the simulator
        // serving one unit does not need it, but one binary keeps the verbs together).
        .target(
            name: "FleetKit",
            dependencies: [
                "SimulatorKit",
                "AgentRuntime",
                "MQTTAdapter",
                "ConfigLoader",
                "GPIOAdapter",
                "ParkGuardCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Simulator/FleetKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "parkguard-sim",
            dependencies: [
                "SimulatorKit",
                "FleetKit",
                "ConfigLoader",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Simulator/parkguard-sim",
            swiftSettings: swiftSettings
        ),

        // MARK: Provisioning (swift-certificates only here, never in the daemon).
        .target(
            name: "ProvisioningKit",
            dependencies: [
                "ParkGuardCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Provisioning/ProvisioningKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "parkguard-provision",
            dependencies: [
                "ProvisioningKit",
                "ParkGuardCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Provisioning/parkguard-provision",
            swiftSettings: swiftSettings
        ),

        // MARK: The hub side (GRDB only here, never in the daemon).
        // The hub's pure core (fleet state, de-duplication, contract checks of what it ingests):
        // no I/O and only the core beneath it, so the fuzzer links it without GRDB or Crypto.
        .target(
            name: "HubIngest",
            dependencies: ["ParkGuardCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ParkGuardHub",
            dependencies: [
                "ParkGuardCore",
                "HubIngest",
                "MQTTAdapter",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HubConsole",
            dependencies: [
                "ParkGuardHub", "ParkGuardCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HubPostgres",
            dependencies: [
                "ParkGuardHub",
                "ParkGuardCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "parkguard-hub",
            dependencies: [
                "ParkGuardHub",
                "HubConsole",
                "HubPostgres",
                "ParkGuardCore",
                "MQTTAdapter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Benchmarks.
        .executableTarget(
            name: "parkguard-bench",
            dependencies: [
                "SimulatorKit",
                "ParkGuardHub",
                "FleetKit",
                "MQTTAdapter",
                "AgentRuntime",
                "ParkGuardCore",
                "ParkGuardTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/parkguard-bench",
            swiftSettings: swiftSettings
        ),

        // MARK: Fuzzing (Tests/Fuzz/run builds these with -sanitize=fuzzer,address -DFUZZING).
        .target(
            name: "CLibFuzzer",
            path: "Tests/Fuzz/CLibFuzzer"
        ),
        .executableTarget(
            name: "parkguard-fuzz",
            dependencies: [
                "ParkGuardCore",
                "ConfigLoader",
                "HubIngest",
                "CLibFuzzer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/Fuzz/parkguard-fuzz",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests.
        // Real processes and free loopback ports, shared by the integration tests and the benchmarks.
        .target(
            name: "ParkGuardTestKit",
            dependencies: ["ParkGuardCore"],
            path: "Tests/ParkGuardTestKit",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParkGuardCoreTests",
            dependencies: ["ParkGuardCore", "ConfigLoader", "CameraProbe", "ParkGuardTestKit", "parkguard-fuzz"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AgentRuntimeTests",
            dependencies: [
                "AgentRuntime", "MQTTAdapter", "ParkGuardCore", "ParkGuardTestKit", "SystemCrypto", "SocketIO",
                .product(name: "Logging", package: "swift-log"),
                // Signs as the hub does, to check the daemon's libcrypto verification against it.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProvisioningTests",
            dependencies: ["parkguard-provision", "parkguardd", "ParkGuardTestKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubTests",
            dependencies: [
                "ParkGuardHub", "HubConsole", "HubPostgres", "ParkGuardCore", "ParkGuardTestKit", "FleetKit", "parkguard-hub", "parkguard-sim",
                .product(name: "Logging", package: "swift-log"),
                // To write a log of an earlier schema, as a migration's starting point.
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "parkguardd", "parkguard-sim", "parkguard-hub", "ParkGuardCore", "ParkGuardTestKit", "CameraProbe", "FleetKit", "SimulatorKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// MARK: The unit side alone.
// `PARKGUARD_UNIT_ONLY=1` drops the control room's side (hub, console, alarm log), provisioning
// and the benchmarks, with the integration tests that start a hub: what a unit runs, built and
// tested in a root of another Debian release (Firmware/buildroot) without building PostgreSQL,
// Hummingbird and GRDB clients a unit never links.
if ProcessInfo.processInfo.environment["PARKGUARD_UNIT_ONLY"] == "1" {
    let notOnAUnit: Set<String> = ["ParkGuardHub", "HubConsole", "HubPostgres", "parkguard-hub", "HubTests",
                                   "ProvisioningKit", "parkguard-provision", "ProvisioningTests", "parkguard-bench"]
    package.targets.removeAll { notOnAUnit.contains($0.name) }
    package.products.removeAll { notOnAUnit.contains($0.name) }
    // Their packages too, so nothing resolves or builds them.
    let hubPackages = ["GRDB.swift", "hummingbird", "hummingbird-auth", "postgres-nio", "swift-nio-ssl", "swift-certificates", "swift-asn1"]
    package.dependencies.removeAll { dependency in
        guard case .sourceControl(_, let location, _) = dependency.kind else { return false }
        return hubPackages.contains { location.hasSuffix("/\($0).git") }
    }
    for target in package.targets where target.name == "IntegrationTests" {
        target.dependencies.removeAll { dependency in
            if case .byNameItem(let name, _) = dependency { return notOnAUnit.contains(name) }
            return false
        }
        // The suites that start a parkguard-hub.
        target.exclude += ["ConsoleTests.swift", "ConsoleTLSTests.swift", "ReceiptTests.swift", "SelfTestTests.swift"]
    }
}
