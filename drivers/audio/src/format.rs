//! Sample formats: every family the Xen sound protocol names, even where a device supports
//! fewer, so the backend can describe any guest stream with one type.

/// A PCM sample format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcmFormat {
    S8,
    U8,
    S16Le,
    S16Be,
    U16Le,
    U16Be,
    /// 24 bits in the low bytes of 32.
    S24Le,
    S24Be,
    U24Le,
    U24Be,
    S32Le,
    S32Be,
    U32Le,
    U32Be,
    F32Le,
    F32Be,
    F64Le,
    F64Be,
    /// IEC 958 subframes: 24-bit samples with status bits, in 32.
    Iec958SubframeLe,
    Iec958SubframeBe,
    MuLaw,
    ALaw,
    ImaAdpcm,
    Mpeg,
    Gsm,
}

impl PcmFormat {
    /// Every format.
    pub const ALL: [PcmFormat; 25] = {
        use PcmFormat::*;
        [
            S8,
            U8,
            S16Le,
            S16Be,
            U16Le,
            U16Be,
            S24Le,
            S24Be,
            U24Le,
            U24Be,
            S32Le,
            S32Be,
            U32Le,
            U32Be,
            F32Le,
            F32Be,
            F64Le,
            F64Be,
            Iec958SubframeLe,
            Iec958SubframeBe,
            MuLaw,
            ALaw,
            ImaAdpcm,
            Mpeg,
            Gsm,
        ]
    };

    /// Bytes per sample; `None` for compressed formats.
    pub const fn bytes_per_sample(self) -> Option<u32> {
        use PcmFormat::*;
        match self {
            S8 | U8 | MuLaw | ALaw => Some(1),
            S16Le | S16Be | U16Le | U16Be => Some(2),
            S24Le | S24Be | U24Le | U24Be | S32Le | S32Be | U32Le | U32Be | F32Le | F32Be => {
                Some(4)
            }
            Iec958SubframeLe | Iec958SubframeBe => Some(4),
            F64Le | F64Be => Some(8),
            ImaAdpcm | Mpeg | Gsm => None,
        }
    }

    /// Position in [`PcmFormat::ALL`], the bit in a [`FormatSet`].
    pub fn index(self) -> u32 {
        Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as u32
    }
}

/// A set of formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatSet(u32);

impl FormatSet {
    pub const EMPTY: FormatSet = FormatSet(0);

    pub fn with(self, format: PcmFormat) -> FormatSet {
        FormatSet(self.0 | 1 << format.index())
    }

    pub fn contains(self, format: PcmFormat) -> bool {
        self.0 & 1 << format.index() != 0
    }

    pub fn intersect(self, other: FormatSet) -> FormatSet {
        FormatSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = PcmFormat> {
        PcmFormat::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }
}
