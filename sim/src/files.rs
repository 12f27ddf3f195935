//! Media files for the emulator's devices: Y4M and WAV in, WAV and PNG out.

use samtale_core::VideoFrame;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// At most this many pictures are read from a Y4M file (they are kept in memory and looped).
const MAX_Y4M_FRAMES: usize = 900;

/// Reads a Y4M file (4:2:0, 8 bit) into pictures.
pub fn read_y4m(path: &Path) -> Result<(Vec<VideoFrame>, Option<u32>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = BufReader::new(file);
    let mut header = String::new();
    r.read_line(&mut header)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut fields = header.split_whitespace();
    if fields.next() != Some("YUV4MPEG2") {
        return Err(format!("{}: not a Y4M file", path.display()));
    }
    let (mut w, mut h, mut fps) = (0u32, 0u32, None);
    for f in fields {
        let (tag, value) = f.split_at(1);
        match tag {
            "W" => w = value.parse().unwrap_or(0),
            "H" => h = value.parse().unwrap_or(0),
            "F" => {
                let mut parts = value.split(':');
                let num: u32 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                let den: u32 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1);
                if num > 0 && den > 0 {
                    fps = Some((num / den).max(1));
                }
            }
            "C" if !value.starts_with("420") => {
                return Err(format!(
                    "{}: colour space C{value} is not supported (use 4:2:0)",
                    path.display()
                ));
            }
            _ => {}
        }
    }
    let len = samtale_core::media::frame::i420_len(w, h);
    let mut frames = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        if !line.starts_with("FRAME") {
            return Err(format!("{}: corrupt frame header", path.display()));
        }
        let mut data = vec![0u8; len];
        r.read_exact(&mut data)
            .map_err(|e| format!("{}: truncated frame: {e}", path.display()))?;
        frames.push(VideoFrame::from_i420(w, h, data).map_err(|e| e.to_string())?);
        if frames.len() >= MAX_Y4M_FRAMES {
            break;
        }
    }
    if frames.is_empty() {
        return Err(format!("{}: no frames", path.display()));
    }
    Ok((frames, fps))
}

/// Reads a WAV file as 48 kHz mono 16-bit samples (channels are mixed, other rates resampled
/// linearly).
pub fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let raw: Vec<i32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = spec.bits_per_sample.saturating_sub(16);
            reader
                .samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        if shift > 0 {
                            v >> shift
                        } else {
                            v << (16 - spec.bits_per_sample)
                        }
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .map(|s| s.map(|v| (v * 32767.0) as i32))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
    };
    let mono: Vec<f64> = raw
        .chunks(channels)
        .map(|c| c.iter().map(|v| f64::from(*v)).sum::<f64>() / c.len() as f64)
        .collect();
    if mono.is_empty() {
        return Err(format!("{}: no samples", path.display()));
    }
    let ratio = f64::from(spec.sample_rate) / 48_000.0;
    let out_len = (mono.len() as f64 / ratio) as usize;
    Ok((0..out_len)
        .map(|i| {
            let x = i as f64 * ratio;
            let i0 = (x as usize).min(mono.len() - 1);
            let i1 = (i0 + 1).min(mono.len() - 1);
            let v = mono[i0] + (mono[i1] - mono[i0]) * (x - i0 as f64);
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect())
}

/// Writes 48 kHz mono 16-bit samples.
pub fn write_wav(path: &Path, samples: &[i16]) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w =
        hound::WavWriter::create(path, spec).map_err(|e| format!("{}: {e}", path.display()))?;
    for s in samples {
        w.write_sample(*s).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())
}

/// Writes a picture as PNG.
pub fn write_png(path: &Path, frame: &VideoFrame) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), frame.width(), frame.height());
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&frame.to_rgba())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip_and_y4m_parse() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let wav = dir.path().join("a.wav");
        let samples: Vec<i16> = (0..4800).map(|i| ((i % 100) * 100) as i16).collect();
        write_wav(&wav, &samples).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_wav(&wav).unwrap_or_default(), samples);

        let y4m = dir.path().join("v.y4m");
        let mut data = b"YUV4MPEG2 W4 H2 F15:1 C420jpeg\n".to_vec();
        for _ in 0..3 {
            data.extend_from_slice(b"FRAME\n");
            data.extend_from_slice(&[16u8; 8 + 2 + 2]);
        }
        std::fs::write(&y4m, data).unwrap_or_else(|e| panic!("{e}"));
        let (frames, fps) = read_y4m(&y4m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((frames.len(), fps), (3, Some(15)));
        assert!(read_y4m(&wav).is_err());
        let png = dir.path().join("f.png");
        write_png(&png, &frames[0]).unwrap_or_else(|e| panic!("{e}"));
        assert!(std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0) > 0);
    }
}
