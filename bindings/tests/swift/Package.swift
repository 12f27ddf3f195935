// swift-tools-version:5.9
// The Swift bindings, tested on Linux (Foundation + XCTest). scripts/test-swift copies the
// generated SamtaleCore.swift and the C header in (Sources/ is generated, not committed) and runs
// `swift test` inside a Debian trixie chroot with swiftlang.
import PackageDescription

let package = Package(
    name: "SamtaleCoreTests",
    targets: [
        .systemLibrary(name: "SamtaleCoreFFI", path: "Sources/SamtaleCoreFFI"),
        .target(
            name: "SamtaleCore",
            dependencies: ["SamtaleCoreFFI"],
            path: "Sources/SamtaleCore",
            linkerSettings: [.linkedLibrary("samtale_ffi")]
        ),
        .testTarget(name: "SamtaleCoreTests", dependencies: ["SamtaleCore"]),
    ]
)
