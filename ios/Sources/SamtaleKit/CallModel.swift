import Foundation
import Observation
import SamtaleCore

/// What only the phone can do: the app's `ApplePlatform` (AVFoundation, UIKit); tests give a
/// recording one. Called on the main actor.
@MainActor
public protocol Platform: AnyObject {
    var microphoneAccess: DeviceAccess { get }
    var cameraAccess: DeviceAccess { get }
    /// Shows the system dialogs for what was never asked (microphone first, then camera), then
    /// calls `answered` on the main actor. The screen before explained why (`permissions`).
    func requestAccess(_ answered: @escaping @MainActor () -> Void)
    /// The help line in the phone app (the citizen presses call there).
    func dial(_ number: String)
    /// The app's page in the Settings app (to allow the microphone).
    func openSettings()
    /// Tells VoiceOver (`UIAccessibility.post`).
    func announce(_ announcement: Announcement)
    /// Switches the audio session, microphone and camera (the app's `CallDevices`).
    func apply(_ plan: DevicePlan)
}

/// The other participant's pictures, on the core's video thread: the video view takes them
/// there (converting to a pixel buffer off the main thread) and draws on the main thread.
public final class VideoRelay: @unchecked Sendable {
    private let lock = NSLock()
    private var sink: (@Sendable (RemoteVideoFrame) -> Void)?
    private var count = 0

    public init() {}

    /// The view that shows the pictures now (`nil`: none; pictures are dropped).
    public func show(on sink: (@Sendable (RemoteVideoFrame) -> Void)?) {
        lock.lock()
        self.sink = sink
        lock.unlock()
    }

    /// Pictures received since the start.
    public var frames: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func deliver(_ frame: RemoteVideoFrame) {
        lock.lock()
        count += 1
        let s = sink
        lock.unlock()
        s?(frame)
    }
}

/// The core's observer: screens go to the main actor in the order they came (the core calls
/// from its `call-notify` thread, never waiting on the app), pictures to the `VideoRelay`.
final class CoreBridge: CallObserver, @unchecked Sendable {
    let video = VideoRelay()
    /// Set once, on the main actor, before the first screen is handled there.
    @MainActor weak var model: CallModel?

    func onScreen(screen: Screen) {
        DispatchQueue.main.async {
            MainActor.assumeIsolated { self.model?.deliver(screen) }
        }
    }

    func onRemoteVideo(frame: RemoteVideoFrame) {
        video.deliver(frame)
    }
}

/// A registration for screens; ends when dropped or cancelled.
public final class ScreenSubscription: @unchecked Sendable {
    private let lock = NSLock()
    private var onCancel: (() -> Void)?

    init(_ onCancel: @escaping () -> Void) { self.onCancel = onCancel }

    public func cancel() {
        lock.lock()
        let c = onCancel
        onCancel = nil
        lock.unlock()
        c?()
    }

    deinit { cancel() }
}

/// The app's one view model: the core's screen as it is, for SwiftUI to draw, and the citizen's
/// presses passed back. No call logic and no words of its own: what a screen shows and what a
/// button does are the core's (`Screen`, `act`); only what the phone alone can do (dialogs,
/// the phone app, Settings, devices, VoiceOver) is done here, through `Platform`. The same
/// decisions as the Android app's `CallController`.
@MainActor
@Observable
public final class CallModel {
    /// The screen drawn now.
    public private(set) var screen: Screen
    /// What the views draw for it.
    public private(set) var presentation: Presentation
    /// The devices the call runs now.
    public private(set) var devices = DevicePlan()
    /// What VoiceOver was told last.
    public private(set) var lastAnnouncement: Announcement?
    /// Less than 600 pt tall (a phone held sideways): two answers side by side.
    public var low = false {
        didSet { if low != oldValue { presentation = Presentation(screen, low: low) } }
    }

    /// The notification, picture labels (from the core's catalog).
    public let texts: ShellTexts
    /// For the audio pump (`pullAudio`/`pushAudio`) and the camera (`pushCameraFrame`).
    @ObservationIgnored public let core: Samtale
    @ObservationIgnored public let video: VideoRelay
    @ObservationIgnored private let platform: Platform
    @ObservationIgnored private var announcer = Announcer()
    @ObservationIgnored private var follower = DeviceFollower()
    @ObservationIgnored private var network = NetworkChangeFilter()
    /// The citizen pressed "camera on" and was asked for the permission: turn it on if given.
    @ObservationIgnored private var cameraWanted = false
    @ObservationIgnored private var listeners: [UUID: (Screen) -> Void] = [:]

    /// Starts the core. Throws `SamtaleError.BadBrand` for a brand file the core refuses.
    public init(config: AppConfig, secureStore: SecureStore?, platform: Platform) throws {
        let bridge = CoreBridge()
        core = try Samtale(config: config, observer: bridge, secureStore: secureStore)
        video = bridge.video
        self.platform = platform
        texts = core.shellTexts()
        let first = core.currentScreen()
        screen = first
        presentation = Presentation(first)
        bridge.model = self
        reportPermissions()
        deliver(core.currentScreen())
    }

    /// A screen from the core (main actor, in order).
    func deliver(_ s: Screen) {
        if s != screen {
            screen = s
            presentation = Presentation(s, low: low)
        }
        let plan = follower.plan(s, microphone: platform.microphoneAccess, camera: platform.cameraAccess)
        if plan != devices { devices = plan }
        platform.apply(plan)
        if isLive(s.state) && cameraWanted && platform.cameraAccess == .authorized {
            cameraWanted = false
            core.setCameraEnabled(enabled: true)
        }
        if let a = announcer.next(s) {
            lastAnnouncement = a
            platform.announce(a)
        }
        for l in listeners.values { l(s) }
    }

    /// Calls `listener` with the current screen now and with every change (main actor).
    public func observe(_ listener: @escaping (Screen) -> Void) -> ScreenSubscription {
        let id = UUID()
        listeners[id] = listener
        listener(screen)
        return ScreenSubscription { [weak self] in
            DispatchQueue.main.async {
                MainActor.assumeIsolated { _ = self?.listeners.removeValue(forKey: id) }
            }
        }
    }

    // MARK: The citizen's presses

    /// A screen's button: the core's, except what only the phone can do.
    public func act(_ action: Action) {
        guard action.enabled else { return }
        switch action.kind {
        case .callHelp: platform.dial(screen.help.dial)
        case .askPermissions: platform.requestAccess { [weak self] in self?.permissionsAnswered() }
        case .openSettings: platform.openSettings()
        default: core.act(action: action.kind)
        }
    }

    /// A toggle during the call; `isOn` as shown (`Toggle.on`).
    public func toggle(_ id: String, isOn: Bool) {
        switch id {
        case "microphone": core.setMicrophoneMuted(muted: isOn)
        case "camera":
            switch CameraToggle.decide(isOn: isOn, access: platform.cameraAccess) {
            case .setEnabled(let on): core.setCameraEnabled(enabled: on)
            case .openSettings: platform.openSettings()
            case .ask:
                cameraWanted = true
                platform.requestAccess { [weak self] in self?.permissionsAnswered() }
            }
        default: break
        }
    }

    public func digit(_ d: UInt8) { core.pressDigit(digit: d) }
    public func deleteDigit() { core.deleteDigit() }

    /// A back control or the VoiceOver escape gesture (two-finger Z). `false`: nothing to go
    /// back to (the start screen).
    @discardableResult
    public func back() -> Bool { core.back() }

    /// A join link (universal link or the app's scheme). `false`: not a code link, or a call is
    /// on (the link is ignored then).
    @discardableResult
    public func openLink(_ url: URL) -> Bool { core.openLink(url: url.absoluteString) }

    /// Pasted text (a code in a message).
    public func paste(_ text: String) { core.pasteCode(text: text) }

    // MARK: The phone

    /// The app came to the front (`scenePhase == .active`) or left it. Coming back, the
    /// permissions are read again (the citizen may have changed them in Settings).
    public func appVisible(_ visible: Bool) {
        core.setAppVisible(visible: visible)
        if visible {
            reportPermissions()
            deliver(screen)
        }
    }

    /// A path from `NWPathMonitor`: the core hears of a new network at once.
    public func networkPath(_ path: NetworkPath) {
        if network.update(path) { core.networkChanged() }
    }

    /// Tells the core what the phone allows now.
    public func reportPermissions() {
        core.setPermissions(microphone: platform.microphoneAccess.permission,
                            camera: platform.cameraAccess.permission)
    }

    private func permissionsAnswered() {
        if platform.cameraAccess != .authorized { cameraWanted = false }
        reportPermissions()
        deliver(screen)
    }

    /// Ends everything (the app is closing): devices off, the core shut down.
    public func shutdown() {
        video.show(on: nil)
        devices = DevicePlan()
        platform.apply(devices)
        core.shutdown()
    }
}
