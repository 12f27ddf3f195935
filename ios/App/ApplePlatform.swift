import AVFoundation
import SamtaleCore
import SamtaleKit
import UIKit

/// What only the phone can do, for SamtaleKit's CallModel.
@MainActor
final class ApplePlatform: Platform {
    weak var devices: CallDevices?

    var microphoneAccess: DeviceAccess {
        switch AVAudioApplication.shared.recordPermission {
        case .granted: return .authorized
        case .denied: return .denied
        case .undetermined: return .notDetermined
        @unknown default: return .notDetermined
        }
    }

    var cameraAccess: DeviceAccess {
        switch AVCaptureDevice.authorizationStatus(for: .video) {
        case .authorized: return .authorized
        case .denied: return .denied
        case .restricted: return .restricted
        case .notDetermined: return .notDetermined
        @unknown default: return .notDetermined
        }
    }

    /// The system dialogs, microphone first (the texts are the app's Info.plist
    /// usage descriptions, from the core's catalog).
    func requestAccess(_ answered: @escaping @MainActor () -> Void) {
        Task { @MainActor in
            if AVAudioApplication.shared.recordPermission == .undetermined {
                _ = await AVAudioApplication.requestRecordPermission()
            }
            if AVCaptureDevice.authorizationStatus(for: .video) == .notDetermined {
                _ = await AVCaptureDevice.requestAccess(for: .video)
            }
            answered()
        }
    }

    func dial(_ number: String) {
        guard let url = URL(string: "tel:\(number)") else { return }
        UIApplication.shared.open(url)
    }

    func openSettings() {
        guard let url = URL(string: UIApplication.openSettingsURLString) else { return }
        UIApplication.shared.open(url)
    }

    func announce(_ announcement: Announcement) {
        switch announcement.kind {
        case .screenChanged: UIAccessibility.post(notification: .screenChanged, argument: announcement.text)
        case .announcement: UIAccessibility.post(notification: .announcement, argument: announcement.text)
        }
    }

    func apply(_ plan: DevicePlan) {
        devices?.apply(plan)
        // The screen stays on while a call is being made or held.
        UIApplication.shared.isIdleTimerDisabled = plan.audio
    }
}
