//! Raw video frames: I420 in, I420 (and an RGBA convenience) out.
//!
//! Accepted input: planar I420 (YUV 4:2:0, BT.601 limited range), tightly packed — the Y plane
//! (`width * height` bytes), then U and V (`ceil(width/2) * ceil(height/2)` bytes each). Camera
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

    /// The frame turned upright.
    pub fn rotated(&self, rotation: Rotation) -> VideoFrame {
        if rotation == Rotation::None {
            return self.clone();
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let (nw, nh) = match rotation {
            Rotation::Cw90 | Rotation::Cw270 => (h, w),
            _ => (w, h),
        };
        let mut out = Vec::with_capacity(self.data.len());
        let planes = [
            (self.y(), w, h),
            (self.u(), w / 2, h / 2),
            (self.v(), w / 2, h / 2),
        ];
        for (plane, pw, ph) in planes {
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
