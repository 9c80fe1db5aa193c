//! Minimal bindings to the speexdsp resampler (`speex/speex_resampler.h`), int16 API only,
//! behind a safe owner type.

use core::ffi::c_int;
use core::ptr::NonNull;

/// Opaque `SpeexResamplerState`.
#[repr(C)]
struct State {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn speex_resampler_init(
        nb_channels: u32,
        in_rate: u32,
        out_rate: u32,
        quality: c_int,
        err: *mut c_int,
    ) -> *mut State;
    fn speex_resampler_destroy(st: *mut State);
    fn speex_resampler_process_interleaved_int(
        st: *mut State,
        input: *const i16,
        in_len: *mut u32,
        out: *mut i16,
        out_len: *mut u32,
    ) -> c_int;
    fn speex_resampler_process_interleaved_float(
        st: *mut State,
        input: *const f32,
        in_len: *mut u32,
        out: *mut f32,
        out_len: *mut u32,
    ) -> c_int;
    fn speex_resampler_skip_zeros(st: *mut State) -> c_int;
    fn speex_resampler_get_output_latency(st: *mut State) -> c_int;
    fn speex_resampler_reset_mem(st: *mut State) -> c_int;
}

/// An owned speexdsp resampler for interleaved 16-bit frames.
pub struct Speex {
    st: NonNull<State>,
    channels: usize,
}

impl Speex {
    /// `quality` 0..=10. `None` if speexdsp refuses the parameters.
    pub fn new(in_rate: u32, out_rate: u32, channels: usize, quality: i32) -> Option<Speex> {
        let nb = u32::try_from(channels).ok().filter(|&c| c > 0)?;
        let mut err: c_int = 0;
        // SAFETY: plain values and a valid out-pointer for the error code; the returned state
        // (or null) is owned by us from here on.
        let st = unsafe { speex_resampler_init(nb, in_rate, out_rate, quality, &mut err) };
        let st = NonNull::new(st)?;
        if err != 0 {
            // SAFETY: `st` came from `speex_resampler_init` and is not used again.
            unsafe { speex_resampler_destroy(st.as_ptr()) };
            return None;
        }
        Some(Speex { st, channels })
    }

    /// Converts interleaved frames; returns `(input_frames_consumed, output_frames_written)`.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> (usize, usize) {
        let clamp = |n: usize| u32::try_from(n / self.channels).unwrap_or(u32::MAX);
        let (mut in_len, mut out_len) = (clamp(input.len()), clamp(output.len()));
        // SAFETY: the lengths are whole frames within the slices, speexdsp reads at most
        // `in_len` frames from `input` and writes at most `out_len` frames to `output`, the
        // two do not overlap (shared vs exclusive borrow), and `st` is live and exclusively
        // ours (`&mut self`).
        unsafe {
            speex_resampler_process_interleaved_int(
                self.st.as_ptr(),
                input.as_ptr(),
                &mut in_len,
                output.as_mut_ptr(),
                &mut out_len,
            );
        }
        (in_len as usize, out_len as usize)
    }

    /// Like [`Speex::process`] on `f32` samples (1.0 = full scale): shows the filter's own
    /// quality without 16-bit quantisation.
    pub fn process_float(&mut self, input: &[f32], output: &mut [f32]) -> (usize, usize) {
        let clamp = |n: usize| u32::try_from(n / self.channels).unwrap_or(u32::MAX);
        let (mut in_len, mut out_len) = (clamp(input.len()), clamp(output.len()));
        // SAFETY: as in `process`: whole frames within the slices, no overlap, live state
        // exclusively ours.
        unsafe {
            speex_resampler_process_interleaved_float(
                self.st.as_ptr(),
                input.as_ptr(),
                &mut in_len,
                output.as_mut_ptr(),
                &mut out_len,
            );
        }
        (in_len as usize, out_len as usize)
    }

    /// Drops the filter's leading silence so the output lines up with the input.
    pub fn skip_zeros(&mut self) {
        // SAFETY: `st` is live and exclusively ours.
        unsafe { speex_resampler_skip_zeros(self.st.as_ptr()) };
    }

    /// Latency in output frames.
    pub fn output_latency(&self) -> usize {
        // SAFETY: `st` is live; the call only reads it.
        let n = unsafe { speex_resampler_get_output_latency(self.st.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Clears the filter history.
    pub fn reset(&mut self) {
        // SAFETY: `st` is live and exclusively ours.
        unsafe { speex_resampler_reset_mem(self.st.as_ptr()) };
    }
}

impl Drop for Speex {
    fn drop(&mut self) {
        // SAFETY: `st` came from `speex_resampler_init`, is destroyed once, never used after.
        unsafe { speex_resampler_destroy(self.st.as_ptr()) };
    }
}
