import AVFoundation
import SamtaleCore
import SamtaleKit

/// The phone's audio and camera, switched as SamtaleKit's `DevicePlan` says (the Android app's
/// `CallDevices`). Main actor.
@MainActor
final class CallDevices {
    private let model: CallModel
    private var audio: AudioDevice?
    private(set) var camera: CameraCapture?

    init(model: CallModel) {
        self.model = model
    }

    func apply(_ plan: DevicePlan) {
        if plan.audio && audio == nil {
            let a = AudioDevice(core: model.core)
            a.start(microphone: plan.microphone)
            audio = a
        } else if !plan.audio, let a = audio {
            a.stop()
            audio = nil
        }
        audio?.setMicrophone(plan.microphone)
        if plan.camera && camera == nil {
            let c = CameraCapture(core: model.core)
            c.start()
            camera = c
        } else if !plan.camera, let c = camera {
            c.stop()
            camera = nil
        }
    }
}
