//! For the emulator only (`emulator` feature): the emulated microphone, camera and speaker
//! go through the same entry points the phones' audio and camera callbacks call, so that
//! testers exercise what citizens run.

use crate::{CameraFrame, Chroma, Rotation, Samtale};
use samtale_core::VideoFrame;
use samtale_core::devices::MediaPort;
use samtale_core::media::FRAME_SAMPLES;
use std::sync::Arc;

/// `Samtale` as the emulator's devices' port.
#[derive(Debug, Clone)]
pub struct PhonePort(pub Arc<Samtale>);

impl MediaPort for PhonePort {
    fn push_audio(&self, pcm: &[i16]) {
        self.0.push_audio(pcm.to_vec());
    }

    fn pull_audio(&self, out: &mut [i16; FRAME_SAMPLES]) {
        let pcm = self.0.pull_audio();
        let n = pcm.len().min(FRAME_SAMPLES);
        out[..n].copy_from_slice(&pcm[..n]);
        out[n..].fill(0);
    }

    fn push_video(&self, frame: &VideoFrame) {
        // As a camera delivers it: three planes with their strides.
        let w = frame.width();
        let camera = CameraFrame {
            width: w,
            height: frame.height(),
            y: frame.y().to_vec(),
            y_row_stride: w,
            chroma: Chroma::Planar {
                u: frame.u().to_vec(),
                v: frame.v().to_vec(),
                row_stride: w / 2,
                pixel_stride: 1,
            },
            rotation: Rotation::None,
        };
        if let Err(e) = self.0.push_camera_frame(camera) {
            log::warn!("the emulated camera's frame was refused: {e}");
        }
    }
}
