import Foundation
import SamtaleCore

/// Camera pictures to the core, and the core's pictures to the screen, plane by plane. The
/// app's capture delegate and video view call these with the `CVPixelBuffer`'s base addresses
/// and strides (locked for reading or writing); here they are plain memory.
public enum VideoPlanes {
    /// A bi-planar 4:2:0 camera picture (`420f`/`420v`: plane 0 luma, plane 1 Cb Cr
    /// interleaved) as the core takes it. Rows are copied with their strides as they are (the
    /// core reads `rowStride` bytes per row); nothing is converted.
    public static func cameraFrame(width: Int, height: Int,
                                   luma: UnsafeRawPointer, lumaStride: Int,
                                   chroma: UnsafeRawPointer, chromaStride: Int,
                                   rotation: Rotation) -> CameraFrame {
        let chromaRows = (height + 1) / 2
        return CameraFrame(
            width: UInt32(width), height: UInt32(height),
            y: Data(bytes: luma, count: lumaStride * height), yRowStride: UInt32(lumaStride),
            chroma: .nv12(uv: Data(bytes: chroma, count: chromaStride * chromaRows), rowStride: UInt32(chromaStride)),
            rotation: rotation)
    }

    /// Writes the core's I420 picture (`RemoteVideoFrame.i420`: Y, then U, then V, tightly
    /// packed) into a bi-planar 4:2:0 pixel buffer (what `AVSampleBufferDisplayLayer` shows),
    /// honouring the buffer's strides. `false` when the picture's size does not add up (then
    /// nothing is written).
    @discardableResult
    public static func writeNV12(i420: Data, width: Int, height: Int,
                                 luma: UnsafeMutableRawPointer, lumaStride: Int,
                                 chroma: UnsafeMutableRawPointer, chromaStride: Int) -> Bool {
        let cw = (width + 1) / 2, ch = (height + 1) / 2
        guard width > 0, height > 0, lumaStride >= width, chromaStride >= cw * 2,
              i420.count == width * height + 2 * cw * ch else { return false }
        i420.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            guard let s = src.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let y = luma.assumingMemoryBound(to: UInt8.self)
            for row in 0..<height {
                (y + row * lumaStride).update(from: s + row * width, count: width)
            }
            let u = s + width * height, v = u + cw * ch
            let uv = chroma.assumingMemoryBound(to: UInt8.self)
            for row in 0..<ch {
                let line = uv + row * chromaStride
                for col in 0..<cw {
                    line[2 * col] = u[row * cw + col]
                    line[2 * col + 1] = v[row * cw + col]
                }
            }
        }
        return true
    }
}
