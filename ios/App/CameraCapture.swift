import AVFoundation
import SamtaleCore
import SamtaleKit

/// The front camera (SamtaleKit's `CameraPlan.call`): 640x480, 15 frames a second, bi-planar
/// full-range 4:2:0 straight to the core (`Chroma.nv12`, strides as the buffer has them), with
/// the rotation iOS says the picture needs to stand upright. The self-view shows the same
/// session (`SelfView`).
final class CameraCapture: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    let session = AVCaptureSession()
    private let core: Samtale
    private let queue = DispatchQueue(label: "samtale-camera")
    private var rotation: AVCaptureDevice.RotationCoordinator?
    private var observers: [NSObjectProtocol] = []

    init(core: Samtale) {
        self.core = core
    }

    func start() {
        let plan = CameraPlan.call
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .front),
              let input = try? AVCaptureDeviceInput(device: device) else {
            NSLog("Samtale camera: no front camera")
            return
        }
        session.beginConfiguration()
        session.sessionPreset = .vga640x480
        if session.canAddInput(input) { session.addInput(input) }
        let output = AVCaptureVideoDataOutput()
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_420YpCbCr8BiPlanarFullRange]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(self, queue: queue)
        if session.canAddOutput(output) { session.addOutput(output) }
        session.commitConfiguration()
        if (try? device.lockForConfiguration()) != nil {
            let frame = CMTime(value: 1, timescale: CMTimeScale(plan.framesPerSecond))
            device.activeVideoMinFrameDuration = frame
            device.activeVideoMaxFrameDuration = frame
            device.unlockForConfiguration()
        }
        rotation = AVCaptureDevice.RotationCoordinator(device: device, previewLayer: nil)
        // Another app took the camera (iPad multitasking, a FaceTime call): it comes back by
        // itself when the interruption ends; a runtime error restarts it.
        observers.append(NotificationCenter.default.addObserver(
            forName: AVCaptureSession.runtimeErrorNotification, object: session, queue: nil
        ) { [weak self] _ in
            guard let self else { return }
            self.queue.async { self.session.startRunning() }
        })
        queue.async { self.session.startRunning() }
    }

    func stop() {
        for o in observers { NotificationCenter.default.removeObserver(o) }
        observers = []
        queue.async { self.session.stopRunning() }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        guard let buffer = CMSampleBufferGetImageBuffer(sampleBuffer),
              CVPixelBufferGetPlaneCount(buffer) == 2,
              CVPixelBufferLockBaseAddress(buffer, .readOnly) == kCVReturnSuccess else { return }
        defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
        guard let luma = CVPixelBufferGetBaseAddressOfPlane(buffer, 0),
              let chroma = CVPixelBufferGetBaseAddressOfPlane(buffer, 1) else { return }
        let degrees = rotation?.videoRotationAngleForHorizonLevelCapture ?? 90
        let frame = VideoPlanes.cameraFrame(
            width: CVPixelBufferGetWidth(buffer), height: CVPixelBufferGetHeight(buffer),
            luma: luma, lumaStride: CVPixelBufferGetBytesPerRowOfPlane(buffer, 0),
            chroma: chroma, chromaStride: CVPixelBufferGetBytesPerRowOfPlane(buffer, 1),
            rotation: cameraRotation(degrees: Double(degrees)))
        // A picture the core cannot take is dropped (it says why in its log); the next one
        // comes in 66 ms.
        try? core.pushCameraFrame(frame: frame)
    }
}
