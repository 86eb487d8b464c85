//! VP8 over libvpx's own API. vpx-encode, the safe wrapper, can neither force a keyframe nor
//! change the bitrate, and a call needs both: a keyframe answers the far end's PLI, and the
//! bitrate follows the bandwidth estimate.
//!
//! Settings follow libwebrtc's VP8 encoder: one pass, CBR, no lag, frame dropping on, realtime
//! deadline, a long keyframe interval (keyframes come on request), and threads by resolution.

use std::os::raw::{c_int, c_uint};
use std::ptr;

use vpx_sys::*;

use crate::{MediaError, VideoFrame};

/// RTP's video clock: timestamps count 90 kHz ticks.
const TIMEBASE: c_int = 90_000;

/// The coarsest quantizer a shared screen is encoded with (a camera's is 56).
const MAX_Q_SCREEN: c_uint = 40;

/// A shared screen's keyframe may be this many per cent of a frame's share of the bitrate.
const MAX_INTRA_PCT_SCREEN: c_uint = 3000;

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct Vp8Config {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Encoder threads; [`threads_for`] picks like libwebrtc when None.
    pub threads: Option<u32>,
    /// Speed: -16 (slowest) to 16 (fastest); negative means "at most that slow, faster if
    /// behind" in realtime mode. libwebrtc uses -6 on desktop.
    pub cpu_used: i32,
    /// A shared screen rather than a camera: VP8's screen-content mode (sharp edges of text
    /// kept, long static stretches cheap).
    pub screen: bool,
}

impl Vp8Config {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Self {
        Self {
            width,
            height,
            fps,
            bitrate_kbps,
            threads: None,
            cpu_used: -6,
            screen: false,
        }
    }
}

/// Encoder threads for a picture size and core count, as libwebrtc chooses them. On two cores
/// this is always one: a second thread cost 1.7 times the CPU here and collapsed under load
/// (docs/traps.md, trap 9).
pub fn threads_for(width: u32, height: u32, cores: usize) -> u32 {
    let pixels = width * height;
    if pixels >= 1920 * 1080 && cores > 8 {
        8
    } else if pixels >= 1280 * 960 && cores > 6 {
        3
    } else if pixels > 640 * 480 && cores >= 3 {
        2
    } else {
        1
    }
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    /// Its temporal layer: 0, or 1 for a picture nothing refers to, which a receiver that
    /// wants half the frame rate can go without ([`Vp8Encoder::set_temporal_layers`]).
    pub layer: u8,
    /// Carried over from the source frame.
    pub capture_us: u64,
}

fn check(err: vpx_codec_err_t, what: &str) -> Result<(), MediaError> {
    if err == vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        // SAFETY: vpx_codec_err_to_string returns a static C string for every code.
        let text = unsafe { std::ffi::CStr::from_ptr(vpx_codec_err_to_string(err)) };
        Err(MediaError::Codec(format!(
            "{what}: {}",
            text.to_string_lossy()
        )))
    }
}

/// A VP8 encoder.
pub struct Vp8Encoder {
    /// Boxed: libvpx keeps pointers into the context, so it must not move.
    ctx: Box<vpx_codec_ctx_t>,
    cfg: Box<vpx_codec_enc_cfg_t>,
    width: u32,
    height: u32,
    fps: u32,
    pts: i64,
    force_keyframe: bool,
    /// Two temporal layers: every other picture is layer 1, which refers only to the last
    /// layer-0 picture and updates nothing (reference frames, probabilities), so dropping
    /// the layer-1 pictures leaves the rest decodable at half the rate.
    temporal_layers: bool,
    /// Pictures asked of the encoder since layering started; odd ones are layer 1.
    layer_count: u64,
}

// The context is used from one thread at a time (&mut self); libvpx has no thread affinity.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(config: &Vp8Config) -> Result<Self, MediaError> {
        VideoFrame::black(config.width, config.height)?;
        if config.fps == 0 || config.bitrate_kbps == 0 {
            return Err(MediaError::Codec(
                "frame rate and bitrate must be above zero".into(),
            ));
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let threads = config
            .threads
            .unwrap_or_else(|| threads_for(config.width, config.height, cores));
        // libvpx fills both structs and they are read only after it has: all-zero bytes are
        // not valid for every field, so they start uninitialised rather than zeroed.
        let mut cfg = Box::<vpx_codec_enc_cfg_t>::new_uninit();
        let ctx = Box::<vpx_codec_ctx_t>::new_uninit();
        // SAFETY: config_default writes a complete configuration when it succeeds.
        let mut cfg = unsafe {
            check(
                vpx_codec_enc_config_default(vpx_codec_vp8_cx(), cfg.as_mut_ptr(), 0),
                "default config",
            )?;
            cfg.assume_init()
        };
        cfg.g_w = config.width;
        cfg.g_h = config.height;
        cfg.g_threads = threads;
        cfg.g_timebase = vpx_rational {
            num: 1,
            den: TIMEBASE,
        };
        cfg.g_pass = vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.g_lag_in_frames = 0;
        cfg.g_error_resilient = 0;
        cfg.rc_end_usage = vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        cfg.rc_dropframe_thresh = 30;
        cfg.rc_resize_allowed = 0;
        cfg.rc_min_quantizer = 2;
        // A screen keeps its text readable: pictures are dropped before they go this coarse.
        cfg.rc_max_quantizer = if config.screen { MAX_Q_SCREEN } else { 56 };
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        cfg.kf_mode = vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_max_dist = 3000;
        let mut ctx = ctx;
        // SAFETY: init writes every field of the context when it succeeds.
        let ctx = unsafe {
            check(
                vpx_codec_enc_init_ver(
                    ctx.as_mut_ptr(),
                    vpx_codec_vp8_cx(),
                    &*cfg,
                    0,
                    VPX_ENCODER_ABI_VERSION as c_int,
                ),
                "encoder init",
            )?;
            ctx.assume_init()
        };
        let mut encoder = Self {
            ctx,
            cfg,
            width: config.width,
            height: config.height,
            fps: config.fps,
            pts: 0,
            force_keyframe: false,
            temporal_layers: false,
            layer_count: 0,
        };
        // libwebrtc: keyframes may use up to 0.5 × optimal buffer × fps / 10 % of the target.
        // A screen's keyframe carries most of what is seen (what follows changes little), so
        // it may be as large as a few seconds' worth.
        let max_intra = if config.screen {
            MAX_INTRA_PCT_SCREEN
        } else {
            (600.0 * 0.5 * config.fps as f64 / 10.0).max(300.0) as c_uint
        };
        encoder.control(vp8e_enc_control_id::VP8E_SET_CPUUSED, config.cpu_used)?;
        encoder.control(vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        encoder.control(vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1)?;
        if config.screen {
            encoder.control(vp8e_enc_control_id::VP8E_SET_SCREEN_CONTENT_MODE, 1)?;
        }
        encoder.control(
            vp8e_enc_control_id::VP8E_SET_TOKEN_PARTITIONS,
            if threads > 1 { 1 } else { 0 },
        )?;
        encoder.control(
            vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
            max_intra as c_int,
        )?;
        Ok(encoder)
    }

    fn control(&mut self, id: vp8e_enc_control_id, value: c_int) -> Result<(), MediaError> {
        // SAFETY: the context is initialised; these controls take one int.
        unsafe {
            check(
                vpx_codec_control_(&mut *self.ctx, id as c_int, value),
                "encoder control",
            )
        }
    }

    /// The next encoded frame is a keyframe (to answer a PLI or FIR).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Encodes two temporal layers from the next picture on (`EncodedFrame::layer`), or one.
    /// Layers cost some compression (no golden frame), so they are on only while a receiver
    /// takes half the rate.
    pub fn set_temporal_layers(&mut self, on: bool) {
        if on != self.temporal_layers {
            self.temporal_layers = on;
            self.layer_count = 0;
        }
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.cfg.rc_target_bitrate
    }

    /// Changes the target bitrate from the next frame on.
    pub fn set_bitrate_kbps(&mut self, kbps: u32) -> Result<(), MediaError> {
        self.cfg.rc_target_bitrate = kbps.max(10);
        self.apply_config()
    }

    /// Changes the frame rate the rate control plans for (frames keep their own timestamps).
    pub fn set_fps(&mut self, fps: u32) -> Result<(), MediaError> {
        self.fps = fps.max(1);
        Ok(())
    }

    fn apply_config(&mut self) -> Result<(), MediaError> {
        // SAFETY: the context is initialised and cfg is a valid configuration for it.
        unsafe {
            check(
                vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg),
                "encoder reconfigure",
            )
        }
    }

    /// Encodes one picture. None when rate control drops the frame to stay on budget.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedFrame>, MediaError> {
        if frame.width() != self.width || frame.height() != self.height {
            return Err(MediaError::Codec(format!(
                "frame is {}x{}, encoder is {}x{}",
                frame.width(),
                frame.height(),
                self.width,
                self.height
            )));
        }
        // SAFETY: vpx_img_wrap fills the whole image (it clears it first). The wrapped buffer
        // outlives the encode call, and libvpx only reads it.
        let mut image = std::mem::MaybeUninit::<vpx_image_t>::uninit();
        let wrapped = unsafe {
            vpx_img_wrap(
                image.as_mut_ptr(),
                vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width,
                self.height,
                1,
                frame.data().as_ptr() as *mut u8,
            )
        };
        if wrapped.is_null() {
            return Err(MediaError::Codec("cannot wrap the frame for libvpx".into()));
        }
        let image = unsafe { image.assume_init() };
        let duration = (TIMEBASE as u32 / self.fps).max(1);
        let keyframe_asked = std::mem::take(&mut self.force_keyframe);
        if keyframe_asked {
            // A keyframe starts the pattern again: it is layer 0.
            self.layer_count = 0;
        }
        let layer = u8::from(self.temporal_layers && self.layer_count % 2 == 1);
        if self.temporal_layers {
            self.layer_count += 1;
        }
        // `long` in C: 64 bits on Linux and macOS, 32 on Windows.
        let flags: vpx_enc_frame_flags_t = if keyframe_asked {
            VPX_EFLAG_FORCE_KF as vpx_enc_frame_flags_t
        } else if !self.temporal_layers {
            0
        } else if layer == 0 {
            // Refers to and updates only the last picture (of layer 0).
            (VP8_EFLAG_NO_REF_GF
                | VP8_EFLAG_NO_REF_ARF
                | VP8_EFLAG_NO_UPD_GF
                | VP8_EFLAG_NO_UPD_ARF) as vpx_enc_frame_flags_t
        } else {
            // Refers to the last layer-0 picture, changes nothing a later picture uses.
            (VP8_EFLAG_NO_REF_GF
                | VP8_EFLAG_NO_REF_ARF
                | VP8_EFLAG_NO_UPD_LAST
                | VP8_EFLAG_NO_UPD_GF
                | VP8_EFLAG_NO_UPD_ARF
                | VP8_EFLAG_NO_UPD_ENTROPY) as vpx_enc_frame_flags_t
        };
        unsafe {
            check(
                vpx_codec_encode(
                    &mut *self.ctx,
                    &image,
                    self.pts,
                    duration.into(),
                    flags,
                    VPX_DL_REALTIME.into(),
                ),
                "encode",
            )?;
        }
        self.pts += i64::from(duration);
        let mut out: Option<EncodedFrame> = None;
        let mut iter: vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: packets stay valid until the next encode call; we copy them out now.
            let packet = unsafe { vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if packet.is_null() {
                break;
            }
            let packet = unsafe { &*packet };
            if packet.kind != vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            let data = unsafe { packet.data.frame };
            let bytes =
                unsafe { std::slice::from_raw_parts(data.buf as *const u8, data.sz as usize) };
            let keyframe = data.flags & VPX_FRAME_IS_KEY != 0;
            match out.as_mut() {
                Some(encoded) => {
                    encoded.data.extend_from_slice(bytes);
                    encoded.keyframe |= keyframe;
                }
                None => {
                    out = Some(EncodedFrame {
                        data: bytes.to_vec(),
                        keyframe,
                        // A keyframe libvpx chose itself is still only layer 0 by position.
                        layer: if keyframe { 0 } else { layer },
                        capture_us: frame.capture_us,
                    })
                }
            }
        }
        if out.is_none() && keyframe_asked {
            // A dropped frame must not swallow a keyframe request.
            self.force_keyframe = true;
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: initialised in new(), destroyed once here.
        unsafe {
            vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// True when a VP8 frame's header says keyframe (RFC 6386 §9.1: bit 0 of the first byte is 0).
pub fn is_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

/// A VP8 decoder that says when it needs a keyframe.
pub struct Vp8Decoder {
    ctx: Box<vpx_codec_ctx_t>,
    /// After a failure, delta frames cannot be trusted until the next keyframe.
    awaiting_keyframe: bool,
}

unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self, MediaError> {
        let mut ctx = Box::<vpx_codec_ctx_t>::new_uninit();
        let cfg = vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        };
        // SAFETY: init writes every field of the context when it succeeds.
        let ctx = unsafe {
            check(
                vpx_codec_dec_init_ver(
                    ctx.as_mut_ptr(),
                    vpx_codec_vp8_dx(),
                    &cfg,
                    0,
                    VPX_DECODER_ABI_VERSION as c_int,
                ),
                "decoder init",
            )?;
            ctx.assume_init()
        };
        Ok(Self {
            ctx,
            awaiting_keyframe: true,
        })
    }

    /// True until a keyframe has decoded, and again after any frame fails: the caller should
    /// ask the sender for a keyframe (PLI).
    pub fn needs_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Decodes one frame. Err means this frame could not be decoded (or must not be, because
    /// a keyframe is awaited): ask for a keyframe.
    pub fn decode(&mut self, data: &[u8], capture_us: u64) -> Result<VideoFrame, MediaError> {
        let keyframe = is_keyframe(data);
        if self.awaiting_keyframe && !keyframe {
            return Err(MediaError::Codec("waiting for a keyframe".into()));
        }
        let result = unsafe {
            vpx_codec_decode(
                &mut *self.ctx,
                data.as_ptr(),
                data.len() as c_uint,
                ptr::null_mut(),
                0,
            )
        };
        if let Err(e) = check(result, "decode") {
            self.awaiting_keyframe = true;
            return Err(e);
        }
        let mut corrupt: c_int = 0;
        unsafe {
            vpx_codec_control_(
                &mut *self.ctx,
                vp8_dec_control_id::VP8D_GET_FRAME_CORRUPTED as c_int,
                &mut corrupt as *mut c_int,
            );
        }
        if corrupt != 0 {
            self.awaiting_keyframe = true;
            return Err(MediaError::Codec(
                "the frame decoded with corruption".into(),
            ));
        }
        let mut iter: vpx_codec_iter_t = ptr::null();
        let image = unsafe { vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
        if image.is_null() {
            return Err(MediaError::Codec("the decoder produced no picture".into()));
        }
        // SAFETY: the image stays valid until the next decode call; it is copied out here.
        let image = unsafe { &*image };
        let (w, h) = (image.d_w, image.d_h);
        let mut frame = VideoFrame::black(w & !1, h & !1)?;
        frame.capture_us = capture_us;
        let (fw, fh) = (frame.width() as usize, frame.height() as usize);
        let (y, u, v) = frame.planes_mut();
        unsafe {
            copy_plane(image.planes[0], image.stride[0], y, fw, fh);
            copy_plane(image.planes[1], image.stride[1], u, fw / 2, fh / 2);
            copy_plane(image.planes[2], image.stride[2], v, fw / 2, fh / 2);
        }
        self.awaiting_keyframe = false;
        Ok(frame)
    }
}

/// Copies a strided plane into a packed one.
unsafe fn copy_plane(src: *const u8, stride: c_int, dst: &mut [u8], width: usize, height: usize) {
    for row in 0..height {
        let line = std::slice::from_raw_parts(src.add(row * stride as usize), width);
        dst[row * width..(row + 1) * width].copy_from_slice(line);
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        unsafe {
            vpx_codec_destroy(&mut *self.ctx);
        }
    }
}
