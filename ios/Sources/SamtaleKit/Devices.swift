import SamtaleCore

/// Whether a call is being made or held: devices on, background audio keeps it alive.
public func isLive(_ state: UiState) -> Bool {
    switch state {
    case .joining, .waiting, .inCall, .reconnecting: return true
    case .idle, .ended, .failed: return false
    }
}

/// Which devices run now: the audio session and speaker while a call is live; the microphone
/// and camera also only when allowed and not switched off by the citizen. The same rule as the
/// Android app's `CallDevices.follow`.
public struct DevicePlan: Equatable, Sendable {
    /// The audio session is active (`.playAndRecord`, `.videoChat`) and the core's audio plays.
    public var audio = false
    public var microphone = false
    public var camera = false

    public init(audio: Bool = false, microphone: Bool = false, camera: Bool = false) {
        self.audio = audio
        self.microphone = microphone
        self.camera = camera
    }
}

/// Follows the screens and keeps the citizen's choices between them (screens without the
/// call's toggles keep the last ones; a call's end resets them).
public struct DeviceFollower: Sendable {
    private var micOn = true
    private var cameraOn = true

    public init() {}

    public mutating func plan(_ s: Screen, microphone: DeviceAccess, camera: DeviceAccess) -> DevicePlan {
        let live = isLive(s.state)
        if let t = s.toggles.first(where: { $0.id == "microphone" }) { micOn = t.on }
        if let t = s.toggles.first(where: { $0.id == "camera" }) { cameraOn = t.on }
        if !live {
            micOn = true
            cameraOn = true
        }
        return DevicePlan(
            audio: live,
            microphone: live && micOn && microphone == .authorized,
            camera: live && cameraOn && camera == .authorized
        )
    }
}

/// The audio the core takes and gives (`pushAudio`/`pullAudio`): 48 kHz mono 16-bit, 10 ms
/// frames. The app's `AVAudioSession` asks for exactly this; the hardware may differ (a
/// Bluetooth headset at 16 kHz) and `AVAudioEngine` converts.
public enum AudioFormat {
    public static let sampleRate = 48_000.0
    public static let channels = 1
    public static let frame = 480
    /// The session's preferred I/O buffer: one frame.
    public static let ioBufferDuration = 0.010
}

/// How the audio session is set up for a call: `AVAudioSession.Category.playAndRecord`, mode
/// `.videoChat` (the voice-processing path: echo cancelling, noise suppression, automatic
/// gain), the loudspeaker by default (a phone lying on the table), Bluetooth headsets allowed.
public struct AudioSessionPlan: Equatable, Sendable {
    public enum Category: Equatable, Sendable { case playAndRecord }
    public enum Mode: Equatable, Sendable { case videoChat }
    public enum Option: Hashable, Sendable { case allowBluetooth, defaultToSpeaker }

    public let category: Category
    public let mode: Mode
    public let options: Set<Option>
    /// The engine's input node runs with voice processing
    /// (`inputNode.setVoiceProcessingEnabled(true)`).
    public let voiceProcessing: Bool

    public static let call = AudioSessionPlan(
        category: .playAndRecord, mode: .videoChat, options: [.allowBluetooth, .defaultToSpeaker],
        voiceProcessing: true)
}

/// The camera for a call: the front camera (the citizen sees who they talk to and is seen),
/// 640x480 at 15 frames a second in bi-planar full-range 4:2:0
/// (`kCVPixelFormatType_420YpCbCr8BiPlanarFullRange`, handed to the core as `Chroma.nv12`
/// without conversion). Late frames are dropped (`alwaysDiscardsLateVideoFrames`).
public struct CameraPlan: Equatable, Sendable {
    public enum Position: Equatable, Sendable { case front }
    public let position: Position
    public let width: UInt32
    public let height: UInt32
    public let framesPerSecond: Int
    public let fourCC: String

    public static let call = CameraPlan(position: .front, width: 640, height: 480, framesPerSecond: 15, fourCC: "420f")
}

/// The clockwise rotation the core applies to a camera picture before sending, from the angle
/// iOS says the picture must turn to stand upright
/// (`AVCaptureDevice.RotationCoordinator.videoRotationAngleForHorizonLevelCapture`, in degrees,
/// any multiple of 90, or in between while the phone turns: rounded to the nearest quarter).
public func cameraRotation(degrees: Double) -> Rotation {
    guard degrees.isFinite else { return .none }
    let quarter = Int((degrees / 90).rounded()) % 4
    switch (quarter + 4) % 4 {
    case 1: return .cw90
    case 2: return .cw180
    case 3: return .cw270
    default: return .none
    }
}
