//! Raw video frames: camera layouts in, I420 (and an RGBA convenience) out.
//!
//! Accepted input: planar I420 (YUV 4:2:0, BT.601 limited range), tightly packed — the Y plane
//! (`width * height` bytes), then U and V (`ceil(width/2) * ceil(height/2)` bytes each) — or, as
//! phones deliver them, [`CameraPlanes`]: three planes with row and pixel strides, which covers
//! Android's `YUV_420_888` (I420, NV12 or NV21 behind one API) and iOS's bi-planar
//! `CVPixelBuffer` (NV12). Rotation is done by the `yuv` crate (`fast_transpose`). Camera
//! frames usually arrive sensor-oriented; the shell passes the clockwise [`Rotation`] that makes
//! them upright and the core rotates the pixels before encoding, so every receiver (including
//! browsers) gets an upright picture without relying on the RTP orientation extension.

use thiserror::Error;

/// Clockwise rotation to apply to a captured frame to make it upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// Already upright.
    #[default]
    None,
    /// Rotate 90° clockwise.
    Cw90,
    /// Rotate 180°.
    Cw180,
    /// Rotate 270° clockwise.
    Cw270,
}

/// A frame that does not match its declared size.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// Width or height is zero, odd, or larger than 4096.
    #[error("unsupported frame size {width}x{height} (even sizes from 2x2 to 4096x4096)")]
    BadSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The buffer is not `width * height * 3 / 2` bytes.
    #[error("I420 buffer of {got} bytes, expected {expected}")]
    BadLength {
        /// Bytes given.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A camera plane is too short for its declared size and strides, or a stride is too
    /// small for the width.
    #[error("{plane} plane: {detail}")]
    BadPlane {
        /// `Y`, `U` or `V`.
        plane: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// One plane of a camera frame: `data[row * row_stride + col * pixel_stride]` is the sample
/// at (`col`, `row`) (chroma planes are half size).
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    /// The bytes, from the plane's first sample.
    pub data: &'a [u8],
    /// Bytes from one row to the next (at least the row's width in samples times
    /// `pixel_stride`).
    pub row_stride: usize,
    /// Bytes from one sample to the next: 1 for planar, 2 for interleaved (NV12/NV21) chroma.
    pub pixel_stride: usize,
}

/// A YUV 4:2:0 camera frame as phones deliver it.
///
/// - I420: `u` and `v` are separate planes, `pixel_stride` 1.
/// - NV12 (iOS bi-planar `CVPixelBuffer`): one interleaved chroma plane `uv`; pass
///   `u = &uv[0..]`, `v = &uv[1..]`, `pixel_stride` 2. [`CameraPlanes::nv12`] does that.
/// - NV21 (Android cameras' usual `YUV_420_888` with pixel stride 2): V first; `v = &vu[0..]`,
///   `u = &vu[1..]`. [`CameraPlanes::nv21`].
///
/// Android's chroma buffers for pixel stride 2 may be one byte short (the other plane's last
/// sample is outside it); that is accepted, the missing sample repeats its neighbour.
#[derive(Debug, Clone, Copy)]
pub struct CameraPlanes<'a> {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Luma.
    pub y: Plane<'a>,
    /// Cb.
    pub u: Plane<'a>,
    /// Cr.
    pub v: Plane<'a>,
}

impl<'a> CameraPlanes<'a> {
    /// An NV12 frame: luma rows of `y_stride` bytes, then interleaved U/V rows of `uv_stride`.
    pub fn nv12(
        width: u32,
        height: u32,
        y: &'a [u8],
        y_stride: usize,
        uv: &'a [u8],
        uv_stride: usize,
    ) -> Self {
        Self::semi_planar(width, height, (y, y_stride), (uv, uv_stride), true)
    }

    /// An NV21 frame: like NV12 with V first.
    pub fn nv21(
        width: u32,
        height: u32,
        y: &'a [u8],
        y_stride: usize,
        vu: &'a [u8],
        vu_stride: usize,
    ) -> Self {
        Self::semi_planar(width, height, (y, y_stride), (vu, vu_stride), false)
    }

    /// Luma, then one interleaved chroma plane, U first if `u_first`.
    fn semi_planar(
        width: u32,
        height: u32,
        (y, y_stride): (&'a [u8], usize),
        (c, c_stride): (&'a [u8], usize),
        u_first: bool,
    ) -> Self {
        let chroma = |data: &'a [u8]| Plane {
            data,
            row_stride: c_stride,
            pixel_stride: 2,
        };
        let (first, second) = (chroma(c), chroma(c.get(1..).unwrap_or_default()));
        let (u, v) = if u_first {
            (first, second)
        } else {
            (second, first)
        };
        Self {
            width,
            height,
            y: Plane {
                data: y,
                row_stride: y_stride,
                pixel_stride: 1,
            },
            u,
            v,
        }
    }
}

/// Copies a strided plane of `w` x `h` samples into `out`, tightly packed.
fn copy_plane(
    name: &'static str,
    p: &Plane<'_>,
    w: usize,
    h: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let bad = |detail: String| FrameError::BadPlane {
        plane: name,
        detail,
    };
    if p.pixel_stride == 0 || p.row_stride < (w - 1) * p.pixel_stride + 1 {
        return Err(bad(format!(
            "row stride {} too small for {w} samples {} bytes apart",
            p.row_stride, p.pixel_stride
        )));
    }
    let needed = (h - 1) * p.row_stride + (w - 1) * p.pixel_stride + 1;
    // Android's interleaved chroma buffers may lack the very last byte (see CameraPlanes).
    let short_by_one = p.pixel_stride > 1 && p.data.len() + 1 == needed;
    if p.data.len() < needed && !short_by_one {
        return Err(bad(format!("{} bytes, {needed} needed", p.data.len())));
    }
    for row in 0..h {
        let start = row * p.row_stride;
        let line = &p.data[start..p.data.len().min(start + (w - 1) * p.pixel_stride + 1)];
        let before = out.len();
        if p.pixel_stride == 1 {
            out.extend_from_slice(&line[..w]);
        } else {
            out.extend(line.iter().step_by(p.pixel_stride));
        }
        // The one missing sample (short buffer): repeat its neighbour.
        if out.len() - before < w
            && let Some(&last) = out.last()
        {
            out.push(last);
        }
    }
    Ok(())
}

/// One I420 picture.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VideoFrame({}x{})", self.width, self.height)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
    let ok = |v: u32| (2..=4096).contains(&v) && v.is_multiple_of(2);
    if ok(width) && ok(height) {
        Ok(())
    } else {
        Err(FrameError::BadSize { width, height })
    }
}

/// Bytes of an I420 picture of this size (even sizes).
pub fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w / 2) * (h / 2)
}

impl VideoFrame {
    /// Wraps a tightly packed I420 buffer.
    pub fn from_i420(width: u32, height: u32, data: Vec<u8>) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let expected = i420_len(width, height);
        if data.len() != expected {
            return Err(FrameError::BadLength {
                got: data.len(),
                expected,
            });
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// For generators inside the core that build buffers of the right size by construction.
    #[cfg(any(test, feature = "emulator"))]
    pub(crate) fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), i420_len(width, height));
        Self {
            width,
            height,
            data,
        }
    }

    /// A mid-grey picture.
    pub fn grey(width: u32, height: u32) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let mut data = vec![128u8; i420_len(width, height)];
        data[..(width * height) as usize].fill(16);
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The whole I420 buffer.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The Y plane (stride = width).
    pub fn y(&self) -> &[u8] {
        &self.data[..self.y_len()]
    }

    /// The U plane (stride = width / 2).
    pub fn u(&self) -> &[u8] {
        let (y, c) = (self.y_len(), self.c_len());
        &self.data[y..y + c]
    }

    /// The V plane (stride = width / 2).
    pub fn v(&self) -> &[u8] {
        let (y, c) = (self.y_len(), self.c_len());
        &self.data[y + c..]
    }

    /// Mutable Y plane.
    pub fn y_mut(&mut self) -> &mut [u8] {
        let y = self.y_len();
        &mut self.data[..y]
    }

    fn y_len(&self) -> usize {
        (self.width * self.height) as usize
    }

    fn c_len(&self) -> usize {
        ((self.width / 2) * (self.height / 2)) as usize
    }

    /// A camera frame in any of the layouts of [`CameraPlanes`], turned upright by
    /// `rotation`.
    pub fn from_camera(frame: &CameraPlanes<'_>, rotation: Rotation) -> Result<Self, FrameError> {
        check_size(frame.width, frame.height)?;
        let (w, h) = (frame.width as usize, frame.height as usize);
        let mut data = Vec::with_capacity(i420_len(frame.width, frame.height));
        copy_plane("Y", &frame.y, w, h, &mut data)?;
        copy_plane("U", &frame.u, w / 2, h / 2, &mut data)?;
        copy_plane("V", &frame.v, w / 2, h / 2, &mut data)?;
        let upright = VideoFrame {
            width: frame.width,
            height: frame.height,
            data,
        };
        Ok(upright.rotated(rotation))
    }

    /// The frame turned upright.
    pub fn rotated(&self, rotation: Rotation) -> VideoFrame {
        // The yuv crate turns counter-clockwise.
        let mode = match rotation {
            Rotation::None => return self.clone(),
            Rotation::Cw90 => yuv::RotationMode::Rotate270,
            Rotation::Cw180 => yuv::RotationMode::Rotate180,
            Rotation::Cw270 => yuv::RotationMode::Rotate90,
        };
        let (w, h) = (self.width as usize, self.height as usize);
        let (nw, nh) = match rotation {
            Rotation::Cw90 | Rotation::Cw270 => (h, w),
            _ => (w, h),
        };
        let mut out = vec![0u8; self.data.len()];
        let (oy, oc) = (nw * nh, (nw / 2) * (nh / 2));
        let (dst_y, dst_c) = out.split_at_mut(oy);
        let (dst_u, dst_v) = dst_c.split_at_mut(oc);
        let planes = [
            (self.y(), w, h, dst_y, nw),
            (self.u(), w / 2, h / 2, dst_u, nw / 2),
            (self.v(), w / 2, h / 2, dst_v, nw / 2),
        ];
        for (src, pw, ph, dst, dst_stride) in planes {
            if let Err(e) = yuv::rotate_plane(src, pw, dst, dst_stride, pw, ph, mode) {
                // Sizes are checked on construction; this would be a bug.
                log::error!("rotating a frame failed: {e}");
                return self.clone();
            }
        }
        VideoFrame {
            width: nw as u32,
            height: nh as u32,
            data: out,
        }
    }

    /// The frame resized to `width` x `height` (bilinear). Sizes are rounded down to even.
    pub fn scaled(&self, width: u32, height: u32) -> VideoFrame {
        let (width, height) = ((width & !1).max(2), (height & !1).max(2));
        if width == self.width && height == self.height {
            return self.clone();
        }
        let mut out = Vec::with_capacity(i420_len(width, height));
        let (w, h) = (self.width as usize, self.height as usize);
        let (nw, nh) = (width as usize, height as usize);
        let planes = [
            (self.y(), w, h, nw, nh),
            (self.u(), w / 2, h / 2, nw / 2, nh / 2),
        ];
        let planes = [
            planes[0],
            planes[1],
            (self.v(), w / 2, h / 2, nw / 2, nh / 2),
        ];
        for (plane, pw, ph, ow, oh) in planes {
            scale_plane(plane, pw, ph, ow, oh, &mut out);
        }
        VideoFrame {
            width,
            height,
            data: out,
        }
    }

    /// RGBA8 pixels (BT.601 limited range), row-major, `width * height * 4` bytes.
    pub fn to_rgba(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (yp, up, vp) = (self.y(), self.u(), self.v());
        let mut out = Vec::with_capacity(w * h * 4);
        for row in 0..h {
            for col in 0..w {
                let y = f32::from(yp[row * w + col]) - 16.0;
                let ci = (row / 2) * (w / 2) + col / 2;
                let u = f32::from(up[ci]) - 128.0;
                let v = f32::from(vp[ci]) - 128.0;
                let c = |x: f32| x.round().clamp(0.0, 255.0) as u8;
                out.push(c(1.164 * y + 1.596 * v));
                out.push(c(1.164 * y - 0.392 * u - 0.813 * v));
                out.push(c(1.164 * y + 2.017 * u));
                out.push(255);
            }
        }
        out
    }

    /// PSNR of the luma plane against `reference` of the same size, in dB (99 if identical).
    pub fn psnr_y(&self, reference: &VideoFrame) -> Option<f64> {
        if self.width != reference.width || self.height != reference.height {
            return None;
        }
        let se: u64 = self
            .y()
            .iter()
            .zip(reference.y())
            .map(|(a, b)| {
                let d = i64::from(*a) - i64::from(*b);
                (d * d) as u64
            })
            .sum();
        if se == 0 {
            return Some(99.0);
        }
        let mse = se as f64 / self.y().len() as f64;
        Some(10.0 * (255.0 * 255.0 / mse).log10())
    }
}

fn scale_plane(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize, out: &mut Vec<u8>) {
    let fx = sw as f32 / dw as f32;
    let fy = sh as f32 / dh as f32;
    for oy in 0..dh {
        let sy = ((oy as f32 + 0.5) * fy - 0.5).max(0.0);
        let y0 = (sy as usize).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let wy = sy - y0 as f32;
        for ox in 0..dw {
            let sx = ((ox as f32 + 0.5) * fx - 0.5).max(0.0);
            let x0 = (sx as usize).min(sw - 1);
            let x1 = (x0 + 1).min(sw - 1);
            let wx = sx - x0 as f32;
            let p = |x: usize, y: usize| f32::from(src[y * sw + x]);
            let top = p(x0, y0) * (1.0 - wx) + p(x1, y0) * wx;
            let bottom = p(x0, y1) * (1.0 - wx) + p(x1, y1) * wx;
            out.push((top * (1.0 - wy) + bottom * wy).round() as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(w: u32, h: u32) -> VideoFrame {
        let data = (0..i420_len(w, h)).map(|i| (i % 251) as u8).collect();
        VideoFrame::from_i420(w, h, data).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rejects_bad_buffers() {
        assert_eq!(
            VideoFrame::from_i420(4, 4, vec![0; 10]),
            Err(FrameError::BadLength {
                got: 10,
                expected: 24
            })
        );
        assert!(matches!(
            VideoFrame::from_i420(3, 4, vec![0; 18]),
            Err(FrameError::BadSize { .. })
        ));
    }

    #[test]
    fn four_quarter_turns_are_identity() {
        let f = numbered(8, 4);
        let r = f.rotated(Rotation::Cw90);
        assert_eq!((r.width(), r.height()), (4, 8));
        let back = r
            .rotated(Rotation::Cw90)
            .rotated(Rotation::Cw90)
            .rotated(Rotation::Cw90);
        assert_eq!(back, f);
        assert_eq!(f.rotated(Rotation::Cw180).rotated(Rotation::Cw180), f);
        // 90° clockwise: the bottom-left pixel becomes the top-left one.
        assert_eq!(r.y()[0], f.y()[(3 * 8) as usize]);
    }

    /// The reference the layouts are compared with: rotation by coordinates, sample by sample.
    fn rotated_by_hand(f: &VideoFrame, rotation: Rotation) -> VideoFrame {
        let (w, h) = (f.width() as usize, f.height() as usize);
        let (nw, nh) = match rotation {
            Rotation::Cw90 | Rotation::Cw270 => (h, w),
            _ => (w, h),
        };
        let mut out = Vec::new();
        for (plane, pw, ph) in [(f.y(), w, h), (f.u(), w / 2, h / 2), (f.v(), w / 2, h / 2)] {
            let (ow, oh) = match rotation {
                Rotation::Cw90 | Rotation::Cw270 => (ph, pw),
                _ => (pw, ph),
            };
            for oy in 0..oh {
                for ox in 0..ow {
                    let (sx, sy) = match rotation {
                        Rotation::Cw90 => (oy, ph - 1 - ox),
                        Rotation::Cw180 => (pw - 1 - ox, ph - 1 - oy),
                        Rotation::Cw270 => (pw - 1 - oy, ox),
                        Rotation::None => (ox, oy),
                    };
                    out.push(plane[sy * pw + sx]);
                }
            }
        }
        VideoFrame::from_i420(nw as u32, nh as u32, out).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A picture with structure in every plane (the emulator's test pattern would do too).
    fn reference(w: u32, h: u32) -> VideoFrame {
        let mut f = VideoFrame::grey(w, h).unwrap_or_else(|e| panic!("{e}"));
        let (wu, hu) = (w as usize, h as usize);
        let mut data = Vec::new();
        for y in 0..hu {
            for x in 0..wu {
                data.push((16 + (x * 3 + y * 5) % 220) as u8);
            }
        }
        for k in [7usize, 11] {
            for y in 0..hu / 2 {
                for x in 0..wu / 2 {
                    data.push((16 + (x * k + y * (k + 2)) % 224) as u8);
                }
            }
        }
        f = VideoFrame::from_i420(w, h, data).unwrap_or(f);
        f
    }

    /// `f` laid out with padded strides: (y, chroma) buffers in the given layout.
    fn lay_out(
        f: &VideoFrame,
        layout: &str,
        y_stride: usize,
        c_stride: usize,
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (w, h) = (f.width() as usize, f.height() as usize);
        let mut y = vec![0xEE; y_stride * h];
        for row in 0..h {
            y[row * y_stride..row * y_stride + w].copy_from_slice(&f.y()[row * w..(row + 1) * w]);
        }
        let (cw, ch) = (w / 2, h / 2);
        match layout {
            "i420" => {
                let mut u = vec![0xEE; c_stride * ch];
                let mut v = vec![0xEE; c_stride * ch];
                for row in 0..ch {
                    u[row * c_stride..row * c_stride + cw]
                        .copy_from_slice(&f.u()[row * cw..(row + 1) * cw]);
                    v[row * c_stride..row * c_stride + cw]
                        .copy_from_slice(&f.v()[row * cw..(row + 1) * cw]);
                }
                (y, u, v)
            }
            nv => {
                let mut c = vec![0xEE; c_stride * ch];
                let (first, second) = if nv == "nv12" {
                    (f.u(), f.v())
                } else {
                    (f.v(), f.u())
                };
                for row in 0..ch {
                    for col in 0..cw {
                        c[row * c_stride + 2 * col] = first[row * cw + col];
                        c[row * c_stride + 2 * col + 1] = second[row * cw + col];
                    }
                }
                (y, c, Vec::new())
            }
        }
    }

    fn psnr_all(a: &VideoFrame, b: &VideoFrame) -> f64 {
        assert_eq!((a.width(), a.height()), (b.width(), b.height()));
        let se: u64 = a
            .data()
            .iter()
            .zip(b.data())
            .map(|(x, y)| (i64::from(*x) - i64::from(*y)).pow(2) as u64)
            .sum();
        if se == 0 {
            return 99.0;
        }
        10.0 * (255.0f64 * 255.0 / (se as f64 / a.data().len() as f64)).log10()
    }

    #[test]
    fn every_camera_layout_and_rotation_gives_the_reference_picture() {
        let reference = reference(64, 36);
        for layout in ["i420", "nv12", "nv21"] {
            // Row strides padded the way camera HALs pad them (64-byte alignment and more).
            let (y, c1, c2) = lay_out(
                &reference,
                layout,
                128,
                if layout == "i420" { 64 } else { 96 },
            );
            for rotation in [
                Rotation::None,
                Rotation::Cw90,
                Rotation::Cw180,
                Rotation::Cw270,
            ] {
                let planes = match layout {
                    "i420" => CameraPlanes {
                        width: 64,
                        height: 36,
                        y: Plane {
                            data: &y,
                            row_stride: 128,
                            pixel_stride: 1,
                        },
                        u: Plane {
                            data: &c1,
                            row_stride: 64,
                            pixel_stride: 1,
                        },
                        v: Plane {
                            data: &c2,
                            row_stride: 64,
                            pixel_stride: 1,
                        },
                    },
                    "nv12" => CameraPlanes::nv12(64, 36, &y, 128, &c1, 96),
                    _ => CameraPlanes::nv21(64, 36, &y, 128, &c1, 96),
                };
                let got = VideoFrame::from_camera(&planes, rotation)
                    .unwrap_or_else(|e| panic!("{layout} {rotation:?}: {e}"));
                let want = rotated_by_hand(&reference, rotation);
                let psnr = psnr_all(&got, &want);
                // Lossless: identical pictures (a wrong stride or swapped chroma is far below).
                assert!(psnr >= 99.0, "{layout} {rotation:?}: PSNR {psnr:.1} dB");
            }
        }
        // Android's buffer for a pixel-stride-2 plane ends at its own last sample, so the
        // other plane's last sample is missing: it repeats its neighbour, nothing else moves.
        let (y, mut c, _) = lay_out(&reference, "nv21", 128, 96);
        c.truncate(17 * 96 + 2 * 31 + 1);
        let got =
            VideoFrame::from_camera(&CameraPlanes::nv21(64, 36, &y, 128, &c, 96), Rotation::None)
                .unwrap_or_else(|e| panic!("{e}"));
        let psnr = psnr_all(&got, &reference);
        assert!(psnr > 55.0 && psnr < 99.0, "one sample off: {psnr:.1} dB");
        // And the bound can fail: swapped chroma is not the reference.
        let (y, c, _) = lay_out(&reference, "nv21", 128, 96);
        let wrong =
            VideoFrame::from_camera(&CameraPlanes::nv12(64, 36, &y, 128, &c, 96), Rotation::None)
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(psnr_all(&wrong, &reference) < 30.0);
    }

    #[test]
    fn camera_planes_that_do_not_fit_are_refused_with_the_plane_named() {
        let y = vec![0u8; 64 * 36];
        let uv = vec![0u8; 64 * 18];
        let short = CameraPlanes::nv12(64, 36, &y[..100], 64, &uv, 64);
        assert!(matches!(
            VideoFrame::from_camera(&short, Rotation::None),
            Err(FrameError::BadPlane { plane: "Y", .. })
        ));
        let narrow = CameraPlanes::nv12(64, 36, &y, 32, &uv, 64);
        assert!(matches!(
            VideoFrame::from_camera(&narrow, Rotation::None),
            Err(FrameError::BadPlane { plane: "Y", .. })
        ));
        let no_chroma = CameraPlanes::nv21(64, 36, &y, 64, &[], 64);
        assert!(matches!(
            VideoFrame::from_camera(&no_chroma, Rotation::None),
            Err(FrameError::BadPlane { plane: "U", .. })
        ));
    }

    #[test]
    fn scaling_keeps_flat_planes_flat_and_psnr_sees_differences() {
        let g = VideoFrame::grey(64, 36).unwrap_or_else(|e| panic!("{e}"));
        let s = g.scaled(32, 18);
        assert_eq!((s.width(), s.height()), (32, 18));
        assert!(s.y().iter().all(|&v| v == 16));
        assert_eq!(g.psnr_y(&g), Some(99.0));
        let mut n = g.clone();
        n.y_mut()[0] = 26;
        let p = n.psnr_y(&g).unwrap_or(0.0);
        assert!(p > 40.0 && p < 99.0, "{p}");
        assert_eq!(g.to_rgba().len(), 64 * 36 * 4);
    }
}
