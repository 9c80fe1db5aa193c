//! The part of a WAV file QEMU's `wav` audiodev writes that matters here: its format and
//! its sample bytes.

/// Format and sample bytes of a canonical 44-byte-header PCM WAV.
pub struct Wav {
    pub rate: u32,
    pub channels: u16,
    pub bits: u16,
    /// Everything after the header. Its length comes from the file size: QEMU fills the
    /// header's sizes in only at exit.
    pub data: Vec<u8>,
}

impl Wav {
    pub fn parse(bytes: &[u8]) -> Wav {
        assert!(
            bytes.len() >= 44
                && &bytes[0..4] == b"RIFF"
                && &bytes[8..16] == b"WAVEfmt "
                && &bytes[36..40] == b"data",
            "not a canonical WAV file ({} bytes)",
            bytes.len()
        );
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        assert_eq!(u16_at(20), 1, "PCM");
        Wav {
            rate: u32_at(24),
            channels: u16_at(22),
            bits: u16_at(34),
            data: bytes[44..].to_vec(),
        }
    }
}
