import AVFoundation
import SamtaleCore
import SamtaleKit
import SwiftUI
import UIKit

/// The other participant's video: the core's I420 pictures (on its video thread) written into
/// bi-planar pixel buffers from a pool (`VideoPlanes.writeNV12`) and shown by an
/// `AVSampleBufferDisplayLayer` (aspect fill, no conversion on the main thread).
struct RemoteVideoView: UIViewRepresentable {
    let relay: VideoRelay

    func makeUIView(context: Context) -> RemoteVideoUIView {
        let view = RemoteVideoUIView()
        relay.show { [weak view] frame in view?.offer(frame) }
        return view
    }

    func updateUIView(_ uiView: RemoteVideoUIView, context: Context) {}

    static func dismantleUIView(_ uiView: RemoteVideoUIView, coordinator: ()) {
        uiView.stopped = true
    }
}

final class RemoteVideoUIView: UIView {
    override class var layerClass: AnyClass { AVSampleBufferDisplayLayer.self }
    private var display: AVSampleBufferDisplayLayer { layer as! AVSampleBufferDisplayLayer }
    /// The pool and its size: only the core's video thread touches them.
    nonisolated(unsafe) private var pool: CVPixelBufferPool?
    nonisolated(unsafe) private var poolSize = (0, 0)
    /// Set on the main thread when the view goes; read on the video thread (a late picture is
    /// dropped either way).
    nonisolated(unsafe) var stopped = false

    override init(frame: CGRect) {
        super.init(frame: frame)
        display.videoGravity = .resizeAspectFill
        backgroundColor = .black
        isAccessibilityElement = true
    }

    required init?(coder: NSCoder) { nil }

    /// On the core's video thread: converted there, shown on the main thread.
    nonisolated func offer(_ frame: RemoteVideoFrame) {
        guard !stopped, let buffer = pixelBuffer(frame), let made = sampleBuffer(buffer) else { return }
        nonisolated(unsafe) let sample = made
        DispatchQueue.main.async { [weak self] in
            MainActor.assumeIsolated {
                guard let self, !self.stopped else { return }
                let renderer = self.display.sampleBufferRenderer
                if renderer.status == .failed { renderer.flush() }
                renderer.enqueue(sample)
            }
        }
    }

    nonisolated private func pixelBuffer(_ frame: RemoteVideoFrame) -> CVPixelBuffer? {
        let w = Int(frame.width), h = Int(frame.height)
        if pool == nil || poolSize != (w, h) {
            let attrs: [String: Any] = [
                kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_420YpCbCr8BiPlanarFullRange,
                kCVPixelBufferWidthKey as String: w,
                kCVPixelBufferHeightKey as String: h,
                kCVPixelBufferIOSurfacePropertiesKey as String: [String: Any](),
            ]
            var p: CVPixelBufferPool?
            CVPixelBufferPoolCreate(nil, nil, attrs as CFDictionary, &p)
            pool = p
            poolSize = (w, h)
        }
        guard let pool else { return nil }
        var out: CVPixelBuffer?
        guard CVPixelBufferPoolCreatePixelBuffer(nil, pool, &out) == kCVReturnSuccess, let buffer = out,
              CVPixelBufferLockBaseAddress(buffer, []) == kCVReturnSuccess else { return nil }
        defer { CVPixelBufferUnlockBaseAddress(buffer, []) }
        guard let luma = CVPixelBufferGetBaseAddressOfPlane(buffer, 0),
              let chroma = CVPixelBufferGetBaseAddressOfPlane(buffer, 1),
              VideoPlanes.writeNV12(i420: frame.i420, width: w, height: h,
                                    luma: luma, lumaStride: CVPixelBufferGetBytesPerRowOfPlane(buffer, 0),
                                    chroma: chroma, chromaStride: CVPixelBufferGetBytesPerRowOfPlane(buffer, 1))
        else { return nil }
        return buffer
    }

    nonisolated private func sampleBuffer(_ buffer: CVPixelBuffer) -> CMSampleBuffer? {
        var format: CMVideoFormatDescription?
        CMVideoFormatDescriptionCreateForImageBuffer(allocator: nil, imageBuffer: buffer, formatDescriptionOut: &format)
        guard let format else { return nil }
        var timing = CMSampleTimingInfo(duration: .invalid, presentationTimeStamp: CMClockGetTime(CMClockGetHostTimeClock()),
                                        decodeTimeStamp: .invalid)
        var sample: CMSampleBuffer?
        CMSampleBufferCreateReadyWithImageBuffer(allocator: nil, imageBuffer: buffer, formatDescription: format,
                                                 sampleTiming: &timing, sampleBufferOut: &sample)
        if let sample, let attachments = CMSampleBufferGetSampleAttachmentsArray(sample, createIfNecessary: true),
           CFArrayGetCount(attachments) > 0 {
            let dict = unsafeBitCast(CFArrayGetValueAtIndex(attachments, 0), to: CFMutableDictionary.self)
            CFDictionarySetValue(dict, Unmanaged.passUnretained(kCMSampleAttachmentKey_DisplayImmediately).toOpaque(),
                                 Unmanaged.passUnretained(kCFBooleanTrue).toOpaque())
        }
        return sample
    }
}

/// The citizen's own picture: the camera's session in a preview layer (mirrored, as a mirror).
struct SelfView: UIViewRepresentable {
    let session: AVCaptureSession

    func makeUIView(context: Context) -> SelfUIView {
        let view = SelfUIView()
        view.preview.session = session
        view.preview.videoGravity = .resizeAspectFill
        view.isAccessibilityElement = true
        return view
    }

    func updateUIView(_ uiView: SelfUIView, context: Context) {
        // A new camera (turned off and on again) has a new session.
        if uiView.preview.session !== session { uiView.preview.session = session }
    }
}

final class SelfUIView: UIView {
    override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
    var preview: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
}
