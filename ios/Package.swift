// swift-tools-version:6.0
// The iOS app's platform-neutral part (SamtaleKit: Foundation and Observation only) over the
// core's generated Swift bindings (SamtaleCore). The SwiftUI app in App/ uses it through the
// Xcode project (project.yml); its Apple-only files are not part of this package.
//
// On Linux (scripts/test-ios, in the Swift chroot) the core is the host build of samtale-ffi
// (target/debug/libsamtale_ffi.so) behind a plain module map; on a Mac it is the
// xcframework from scripts/build-ios-xcframework. Sources/SamtaleCore and
// Sources/SamtaleCoreFFI are generated (see .gitignore), not committed.
import PackageDescription

#if os(Linux)
let ffi: Target = .systemLibrary(name: "SamtaleCoreFFI", path: "Sources/SamtaleCoreFFI")
let coreLinker: [LinkerSetting] = [.linkedLibrary("samtale_ffi")]
#else
let ffi: Target = .binaryTarget(name: "SamtaleCoreFFI", path: "Frameworks/SamtaleCoreFFI.xcframework")
let coreLinker: [LinkerSetting] = []
#endif

let package = Package(
    name: "Samtale",
    platforms: [.iOS(.v18), .macOS(.v15)],
    products: [.library(name: "SamtaleKit", targets: ["SamtaleKit"])],
    targets: [
        ffi,
        // The generated bindings are Swift 5 code (uniffi); the app's own code is Swift 6.
        .target(name: "SamtaleCore", dependencies: ["SamtaleCoreFFI"], path: "Sources/SamtaleCore",
                swiftSettings: [.swiftLanguageMode(.v5)], linkerSettings: coreLinker),
        .target(name: "SamtaleKit", dependencies: ["SamtaleCore"], path: "Sources/SamtaleKit"),
        .testTarget(name: "SamtaleKitTests", dependencies: ["SamtaleKit"], path: "Tests/SamtaleKitTests"),
    ],
    swiftLanguageModes: [.v6]
)
