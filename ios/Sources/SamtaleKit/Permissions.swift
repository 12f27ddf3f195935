import SamtaleCore

/// What the phone says about the microphone or the camera: `AVAuthorizationStatus`
/// (`AVCaptureDevice.authorizationStatus(for:)`) and `AVAudioApplication.recordPermission`,
/// in one platform-neutral shape.
public enum DeviceAccess: Sendable, Equatable {
    /// Never asked: the system dialog will be shown when asked.
    case notDetermined
    /// Turned off by a profile (parental controls, a managed phone): only settings can change it.
    case restricted
    /// The citizen said no (now or earlier): only the Settings app can change it.
    case denied
    case authorized

    /// What the core is told (`Samtale.setPermissions`). iOS remembers a refusal itself, so
    /// unlike Android nothing is kept by the app.
    public var permission: Permission {
        switch self {
        case .authorized: return .granted
        case .notDetermined: return .notAsked
        case .denied, .restricted: return .denied
        }
    }
}

/// What pressing the camera toggle does (the same rules as the Android app's).
public enum CameraToggle: Equatable, Sendable {
    /// The core switches the camera (`setCameraEnabled(enabled)`).
    case setEnabled(Bool)
    /// Refused before: only the Settings app can change it.
    case openSettings
    /// Never asked: show the system dialog, then turn the camera on if allowed.
    case ask

    /// `isOn`: the toggle's state as shown (`Toggle.on`).
    public static func decide(isOn: Bool, access: DeviceAccess) -> CameraToggle {
        if isOn || access == .authorized { return .setEnabled(!isOn) }
        switch access {
        case .denied, .restricted: return .openSettings
        case .notDetermined, .authorized: return .ask
        }
    }
}
