import Foundation
import SamtaleCore

/// The app's brand, as `samtale-brand build --ios OUT` wrote it into the bundle: `Brand.plist`
/// (id, server, default language) and `brand.toml` (which the core reads for every rule and
/// text). The colours and pictures are in the asset catalog (`BrandPrimary`, `BrandLogo`, ...).
public struct BrandConfig: Equatable, Sendable {
    public let id: String
    public let bundleIdentifier: String
    public let serverURL: String
    public let defaultLanguage: String
    public let toml: String

    public enum LoadError: Error, Equatable, CustomStringConvertible {
        case missing(String)
        case unreadable(String)
        case field(String)

        public var description: String {
            switch self {
            case .missing(let f): return "\(f) is not in the app: build the brand (samtale-brand build DIR --ios OUT)"
            case .unreadable(let f): return "\(f) cannot be read"
            case .field(let k): return "Brand.plist has no \(k)"
            }
        }
    }

    /// Reads the two files from `directory` (the app bundle's resources).
    public static func load(from directory: URL) throws -> BrandConfig {
        let plistURL = directory.appendingPathComponent("Brand.plist")
        let tomlURL = directory.appendingPathComponent("brand.toml")
        for url in [plistURL, tomlURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw LoadError.missing(url.lastPathComponent)
        }
        guard let data = try? Data(contentsOf: plistURL),
              let plist = try? PropertyListSerialization.propertyList(from: data, format: nil) as? [String: Any]
        else { throw LoadError.unreadable("Brand.plist") }
        guard let toml = try? String(contentsOf: tomlURL, encoding: .utf8) else { throw LoadError.unreadable("brand.toml") }
        func field(_ key: String) throws -> String {
            guard let v = plist[key] as? String, !v.isEmpty else { throw LoadError.field(key) }
            return v
        }
        return BrandConfig(id: try field("BrandId"), bundleIdentifier: try field("BundleIdentifier"),
                           serverURL: try field("ServerURL"), defaultLanguage: try field("DefaultLanguage"),
                           toml: toml)
    }

    /// The core's configuration. `serverURL` overrides the brand's (the testers' lab, tests);
    /// `language` is the phone's (`preferredLanguage`), `nil` for the brand's default.
    public func appConfig(storageDir: String, language: String?, serverURL: String? = nil,
                          logLevel: LogLevel = .info) -> AppConfig {
        AppConfig(serverUrl: serverURL ?? self.serverURL, brandId: id, storageDir: storageDir,
                  logLevel: logLevel, brandToml: toml, language: language, extraCaPem: nil)
    }
}

/// `da` or `en` from the phone's first preferred language (`Locale.preferredLanguages`), as
/// the Android app decides; `nil` lets the core use the brand's default.
public func preferredLanguage(_ preferred: [String]) -> String? {
    guard let tag = preferred.first else { return nil }
    let lang = tag.split(whereSeparator: { $0 == "-" || $0 == "_" }).first.map { String($0).lowercased() }
    return lang == "da" || lang == "en" ? lang : nil
}
