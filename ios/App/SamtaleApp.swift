// The SwiftUI app (Apple-only: UIKit, AVFoundation, Network). Thin: it draws SamtaleKit's
// CallModel and wires the phone's devices; every decision and word is the core's.
import SamtaleCore
import SamtaleKit
import SwiftUI
import UIKit

@main
struct SamtaleApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var delegate
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            RootView(started: AppDelegate.started)
                // The app's own scheme: <bundle id>://j/<code> (a QR code, a text message).
                .onOpenURL { url in AppDelegate.started.model?.openLink(url) }
                // Universal links: https://<server>/j/#<code> (and the older /j/<code>; the
                // apple-app-site-association file on the municipality's server names this
                // app). webpageURL keeps the fragment; the core reads the code from it.
                .onContinueUserActivity(NSUserActivityTypeBrowsingWeb) { activity in
                    if let url = activity.webpageURL { AppDelegate.started.model?.openLink(url) }
                }
        }
        .onChange(of: scenePhase) { _, phase in
            // In front: the core asks whether the contact person is in the room (home screen),
            // and the permissions are read again (Settings may have changed them).
            AppDelegate.started.model?.appVisible(phase == .active)
        }
    }
}

/// The one core of the app, started once at launch.
@MainActor
final class Started {
    let model: CallModel?
    let devices: CallDevices?
    /// Why the app could not start (a brand the core refuses: caught by samtale-brand at build
    /// time, so a shipped app never shows it).
    let problem: String?
    private let network = NetworkMonitor()

    init() {
        do {
            let brand = try BrandConfig.load(from: Bundle.main.resourceURL ?? Bundle.main.bundleURL)
            let support = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                                      appropriateFor: nil, create: true)
            let config = brand.appConfig(storageDir: support.path, language: preferredLanguage(Locale.preferredLanguages),
                                         serverURL: ProcessInfo.processInfo.environment["SAMTALE_SERVER_URL"])
            let platform = ApplePlatform()
            let model = try CallModel(config: config, secureStore: KeychainStore(service: brand.bundleIdentifier),
                                      platform: platform)
            let devices = CallDevices(model: model)
            platform.devices = devices
            devices.apply(model.devices)
            network.start { [weak model] path in model?.networkPath(path) }
            self.model = model
            self.devices = devices
            problem = nil
        } catch {
            model = nil
            devices = nil
            problem = "\(error)"
        }
    }
}

final class AppDelegate: NSObject, UIApplicationDelegate {
    @MainActor static let started = Started()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        _ = Self.started
        return true
    }

    /// Swiping the app away hangs up (the caseworker sees the citizen leave at once).
    func applicationWillTerminate(_ application: UIApplication) {
        Self.started.model?.shutdown()
    }
}

struct RootView: View {
    let started: Started

    var body: some View {
        if let model = started.model {
            ScreenView(model: model, devices: started.devices)
        } else {
            // Not for citizens: a build whose brand the core refused.
            SwiftUI.Text(verbatim: started.problem ?? "")
                .padding()
        }
    }
}
