// swift-tools-version:6.1
// Culvert: a network tunnel extension manager for Linux.
// Module split and the reasons for it: docs/ARCHITECTURE.md.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "culvert",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "culvertd", targets: ["culvertd"]),
        .executable(name: "culvertctl", targets: ["culvertctl"]),
        .executable(name: "culvert-varlink-certify", targets: ["culvert-varlink-certify"]),
        .executable(name: "culvert-tui", targets: ["culvert-tui"]),
        .executable(name: "culvert-bench", targets: ["culvert-bench"]),
        .executable(name: "culvert-fuzz", targets: ["culvert-fuzz"]),
        .library(name: "CulvertClient", targets: ["CulvertClient"]),
        .library(name: "CulvertProvider", targets: ["CulvertProvider"]),
        .executable(name: "culvert-test-provider", targets: ["culvert-test-provider"]),
        .executable(name: "culvert-wireguard", targets: ["culvert-wireguard"]),
        .executable(name: "culvert-hostile-provider", targets: ["culvert-hostile-provider"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Exact: tunnel/Sources/WireGuardCrypto/BoringSSLAEAD.swift calls BoringSSL through swift-crypto's
        // CCryptoBoringSSL module, which is not a stable API.
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        // culvertd's metrics (issue 16): swift-metrics' API, served in Prometheus text by swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C: the only place C types exist. Everything above wraps them.
        .target(name: "CCulvert", dependencies: ["CMnl", "CNftnl"], path: "Sources/CCulvert"),
        .systemLibrary(
            name: "CNetlink", path: "Sources/CNetlink", pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses", pkgConfig: "ncursesw", providers: [.apt(["libncurses-dev"])]),
        .systemLibrary(name: "CMnl", path: "Sources/CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        // The kill switch's nftables table (issue 16), built in CCulvert's nftables.c.
        .systemLibrary(name: "CNftnl", path: "Sources/CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),

        // Pure model: wire types, state machines, errors. Imports no Glibc.
        .target(name: "CulvertCore", swiftSettings: strict),
        // The one place that makes syscalls.
        .target(name: "CulvertSystem", dependencies: ["CCulvert", "CNetlink", "CMnl", "CSeccomp"], swiftSettings: strict),
        .target(
            name: "CulvertVarlink", dependencies: ["CulvertSystem"],
            exclude: ["Interfaces"], swiftSettings: strict),
        // Culvert's own interfaces typed: generated names, ManagerError, io.culvert.Provider's parameters.
        .target(name: "CulvertWire", dependencies: ["CulvertVarlink"], exclude: ["Interfaces"], swiftSettings: strict),
        // Extension bundles: manifest, canonical signing payload, Ed25519 signatures, verified copies.
        .target(
            name: "CulvertBundle",
            dependencies: ["CulvertSystem", "CulvertVarlink", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(
            name: "CulvertManager",
            dependencies: [
                "CulvertCore", "CulvertSystem", "CulvertVarlink", "CulvertWire", "CulvertBundle",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(name: "CulvertProvider", dependencies: ["CulvertSystem", "CulvertVarlink", "CulvertWire"], swiftSettings: strict),
        .executableTarget(
            name: "culvert-test-provider", dependencies: ["CulvertProvider", "CulvertSystem"], path: "Tests/Fixtures/culvert-test-provider",
            swiftSettings: strict),
        // Issue 11's attacker: a provider that tries to escape its containment (ContainmentTests).
        .executableTarget(
            name: "culvert-hostile-provider", dependencies: ["CulvertProvider"], path: "Tests/Fixtures/culvert-hostile-provider",
            swiftSettings: strict),
        .target(
            name: "CulvertClient", dependencies: ["CulvertCore", "CulvertVarlink", "CulvertWire", "CulvertSystem"],
            swiftSettings: strict),
        .target(
            name: "CulvertTesting",
            dependencies: ["CulvertCore", "CulvertSystem", "CulvertVarlink", "CulvertWire", "CulvertClient", "CulvertBundle"],
            swiftSettings: strict),

        .executableTarget(
            name: "culvertd",
            dependencies: [
                "CulvertManager", "CulvertCore", "CulvertVarlink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "culvertctl",
            dependencies: [
                "CulvertClient", "CulvertCore", "CulvertBundle", "CulvertSystem", "CulvertVarlink", "WireGuardConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        // culvert-tui's screen as a value: the reducer and the layout, without a terminal, so they can be unit-tested.
        .target(name: "CulvertTUIModel", dependencies: ["CulvertClient", "CulvertCore"], swiftSettings: strict),
        .executableTarget(
            name: "culvert-tui",
            dependencies: [
                "CulvertTUIModel", "CulvertClient", "CulvertCore", "CNcurses",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "culvert-varlink-certify",
            dependencies: [
                "CulvertVarlink", "CulvertSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "culvert-bench",
            dependencies: [
                "CulvertVarlink", "CulvertWire", "CulvertSystem", "CulvertTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "culvert-fuzz",
            dependencies: [
                "CulvertVarlink", "CulvertBundle", "CulvertSystem", "CulvertCore", "CCulvert", "WireGuardCrypto", "WireGuardDevice",
            ],
            swiftSettings: strict),

        // tunnel/: the WireGuard provider (issue 14). Crypto primitives, then the protocol as pure value types.
        .systemLibrary(name: "CBlake2", path: "tunnel/Sources/CBlake2", pkgConfig: "libb2", providers: [.apt(["libb2-dev"])]),
        .target(
            name: "WireGuardCrypto", dependencies: ["CBlake2", .product(name: "Crypto", package: "swift-crypto")],
            path: "tunnel/Sources/WireGuardCrypto", swiftSettings: strict),
        .target(
            name: "WireGuardProtocol", dependencies: ["WireGuardCrypto"], path: "tunnel/Sources/WireGuardProtocol",
            swiftSettings: strict),
        // The io.culvert.wireguard profile schema and the wg-quick reader (culvertctl profile import); pure Swift.
        .target(name: "WireGuardConfig", dependencies: ["CulvertCore"], path: "tunnel/Sources/WireGuardConfig", swiftSettings: strict),
        // The provider's protocol core as pure values: routing, replay, sessions, the device, timers (docs/ARCHITECTURE.md, "The WireGuard provider").
        .target(
            name: "WireGuardDevice", dependencies: ["WireGuardCrypto", "WireGuardProtocol"], path: "tunnel/Sources/WireGuardDevice",
            swiftSettings: strict),
        // The provider executable: WireGuardDevice on the CulvertProvider SDK (issue 14, item 3).
        .executableTarget(
            name: "culvert-wireguard", dependencies: ["CulvertProvider", "WireGuardConfig", "WireGuardDevice", "WireGuardCrypto"],
            path: "tunnel/Sources/culvert-wireguard", swiftSettings: strict),
        // By hand, release build: in-place ChaCha20-Poly1305 against swift-crypto's ChaChaPoly (docs/ARCHITECTURE.md, "The WireGuard provider").
        .executableTarget(
            name: "wireguard-crypto-bench",
            dependencies: ["WireGuardCrypto", .product(name: "Crypto", package: "swift-crypto")],
            path: "tunnel/Sources/wireguard-crypto-bench", swiftSettings: strict),
        .testTarget(
            name: "WireGuardTests", dependencies: ["WireGuardCrypto", "WireGuardProtocol", "CulvertCore"],
            path: "tunnel/Tests/WireGuardTests",
            exclude: ["noise_reference.py"], swiftSettings: strict),
        .testTarget(
            name: "WireGuardConfigTests", dependencies: ["WireGuardConfig", "CulvertCore"], path: "tunnel/Tests/WireGuardConfigTests",
            swiftSettings: strict),
        .testTarget(
            name: "WireGuardDeviceTests",
            dependencies: ["WireGuardDevice", "WireGuardCrypto", "WireGuardProtocol", "CulvertSystem", "CulvertCore"],
            path: "tunnel/Tests/WireGuardDeviceTests", swiftSettings: strict),

        .testTarget(name: "CulvertCoreTests", dependencies: ["CulvertCore"], swiftSettings: strict),
        .testTarget(
            name: "CulvertClientTests", dependencies: ["CulvertClient", "CulvertCore", "CulvertVarlink", "CulvertWire"],
            swiftSettings: strict),
        .testTarget(
            name: "CulvertTUIModelTests", dependencies: ["CulvertTUIModel", "CulvertClient", "CulvertCore"], swiftSettings: strict),
        .testTarget(
            name: "CulvertManagerTests", dependencies: ["CulvertManager", "CulvertSystem", "CulvertVarlink"], swiftSettings: strict),
        .testTarget(name: "CulvertSystemTests", dependencies: ["CulvertSystem", "CulvertProvider", "CulvertCore"], swiftSettings: strict),
        .testTarget(name: "CulvertBundleTests", dependencies: ["CulvertBundle", "CulvertSystem"], swiftSettings: strict),
        .testTarget(
            name: "CulvertVarlinkTests", dependencies: ["CulvertVarlink", "CulvertSystem"],
            swiftSettings: strict),
        .testTarget(
            name: "CulvertWireTests", dependencies: ["CulvertWire", "CulvertVarlink"], swiftSettings: strict),
        .testTarget(
            name: "CulvertIntegrationTests",
            dependencies: ["CulvertClient", "CulvertTesting", "CulvertVarlink", "CulvertSystem", "CulvertCore", "CulvertBundle"],
            swiftSettings: strict),
    ]
)
