//! PCM format codes (`XENSND_PCM_FORMAT_*`), their xenstore names, and the xenstore lists of
//! formats and rates.

use super::LINUX_RATES;

/// A sndif PCM format code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PcmFormat {
    S8 = 0,
    U8 = 1,
    S16Le = 2,
    S16Be = 3,
    U16Le = 4,
    U16Be = 5,
    S24Le = 6,
    S24Be = 7,
    U24Le = 8,
    U24Be = 9,
    S32Le = 10,
    S32Be = 11,
    U32Le = 12,
    U32Be = 13,
    F32Le = 14,
    F32Be = 15,
    F64Le = 16,
    F64Be = 17,
    Iec958SubframeLe = 18,
    Iec958SubframeBe = 19,
    MuLaw = 20,
    ALaw = 21,
    ImaAdpcm = 22,
    Mpeg = 23,
    Gsm = 24,
}

impl PcmFormat {
    /// Every format, in code order.
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

    /// The format a wire code names; `None` for codes past `XENSND_PCM_FORMAT_GSM`.
    pub fn from_code(code: u8) -> Option<PcmFormat> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The header's xenstore name (`XENSND_PCM_FORMAT_*_STR`).
    pub const fn name(self) -> &'static str {
        use PcmFormat::*;
        match self {
            S8 => "s8",
            U8 => "u8",
            S16Le => "s16_le",
            S16Be => "s16_be",
            U16Le => "u16_le",
            U16Be => "u16_be",
            S24Le => "s24_le",
            S24Be => "s24_be",
            U24Le => "u24_le",
            U24Be => "u24_be",
            S32Le => "s32_le",
            S32Be => "s32_be",
            U32Le => "u32_le",
            U32Be => "u32_be",
            F32Le => "float_le",
            F32Be => "float_be",
            F64Le => "float64_le",
            F64Be => "float64_be",
            Iec958SubframeLe => "iec958_subframe_le",
            Iec958SubframeBe => "iec958_subframe_be",
            MuLaw => "mu_law",
            ALaw => "a_law",
            ImaAdpcm => "ima_adpcm",
            Mpeg => "mpeg",
            Gsm => "gsm",
        }
    }

    /// Parses a xenstore name, case-insensitively like Linux. Also accepts libxl's spellings
    /// of the float formats (`f32_le`, `f64_be`, ...), which libxl writes and Linux ignores.
    pub fn from_name(name: &str) -> Option<PcmFormat> {
        const LIBXL_ALIASES: [(&str, PcmFormat); 4] = [
            ("f32_le", PcmFormat::F32Le),
            ("f32_be", PcmFormat::F32Be),
            ("f64_le", PcmFormat::F64Le),
            ("f64_be", PcmFormat::F64Be),
        ];
        let alias = LIBXL_ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name));
        alias.map(|(_, format)| *format).or_else(|| {
            Self::ALL
                .into_iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
        })
    }

    /// Bytes per sample; `None` for compressed formats, which have no fixed frame size.
    pub const fn bytes_per_sample(self) -> Option<u32> {
        use PcmFormat::*;
        match self {
            S8 | U8 | MuLaw | ALaw => Some(1),
            S16Le | S16Be | U16Le | U16Be => Some(2),
            S24Le | S24Be | U24Le | U24Be => Some(4), // 24 bits in 4 bytes, as in ALSA
            S32Le | S32Be | U32Le | U32Be | F32Le | F32Be => Some(4),
            Iec958SubframeLe | Iec958SubframeBe => Some(4),
            F64Le | F64Be => Some(8),
            ImaAdpcm | Mpeg | Gsm => None,
        }
    }
}

/// A set of formats, as the bit mask HW_PARAM_QUERY carries (`1 << code`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatSet(pub u64);

impl FormatSet {
    /// Every defined format.
    pub const ALL: FormatSet = FormatSet((1 << 25) - 1);

    pub const fn contains(self, format: PcmFormat) -> bool {
        self.0 & (1 << format.code()) != 0
    }

    pub const fn with(self, format: PcmFormat) -> FormatSet {
        FormatSet(self.0 | 1 << format.code())
    }

    pub const fn intersect(self, other: FormatSet) -> FormatSet {
        FormatSet(self.0 & other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The formats in the set, in code order.
    pub fn iter(self) -> impl Iterator<Item = PcmFormat> {
        PcmFormat::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }
}

/// Parses a `sample-formats` value ("s16_le,s24_le"). Unknown names are skipped, as Linux
/// does; the second value counts them so the caller can log the guest's mistake.
pub fn parse_formats(list: &str) -> (FormatSet, usize) {
    let mut set = FormatSet::default();
    let mut unknown = 0;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match PcmFormat::from_name(name) {
            Some(format) => set = set.with(format),
            None => unknown += 1,
        }
    }
    (set, unknown)
}

/// Parses a `sample-rates` value ("44100,48000") into a mask over [`LINUX_RATES`]: only those
/// rates are honoured, as in Linux. The second value counts skipped entries.
pub fn parse_rates(list: &str) -> (u16, usize) {
    let mut mask = 0u16;
    let mut unknown = 0;
    for item in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let index = item
            .parse::<u32>()
            .ok()
            .and_then(|rate| LINUX_RATES.iter().position(|&r| r == rate));
        match index {
            Some(i) => mask |= 1 << i,
            None => unknown += 1,
        }
    }
    (mask, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn codes_and_names_round_trip() {
        for format in PcmFormat::ALL {
            assert_eq!(PcmFormat::from_code(format.code()), Some(format));
            assert_eq!(PcmFormat::from_name(format.name()), Some(format));
        }
        assert_eq!(PcmFormat::from_code(25), None);
    }

    #[test]
    fn libxl_float_spellings_are_accepted() {
        assert_eq!(PcmFormat::from_name("f32_le"), Some(PcmFormat::F32Le));
        assert_eq!(PcmFormat::from_name("F64_BE"), Some(PcmFormat::F64Be));
        assert_eq!(PcmFormat::from_name("float_le"), Some(PcmFormat::F32Le));
    }

    #[test]
    fn format_lists_skip_and_count_unknown_names() {
        let (set, unknown) =
            parse_formats("s16_le, S24_LE,bogus,,f32_le,a-very-long-name-beyond-limits");
        assert_eq!(unknown, 2);
        let got: Vec<_> = set.iter().collect();
        assert_eq!(got, [PcmFormat::S16Le, PcmFormat::S24Le, PcmFormat::F32Le]);
    }

    #[test]
    fn only_linux_rates_are_honoured() {
        let (mask, unknown) = parse_rates("44100,48000,12345,x,192000");
        assert_eq!(unknown, 2);
        assert_eq!(mask, 1 << 6 | 1 << 7 | 1 << 11);
    }

    #[test]
    fn compressed_formats_have_no_sample_size() {
        assert_eq!(PcmFormat::Gsm.bytes_per_sample(), None);
        assert_eq!(PcmFormat::S24Le.bytes_per_sample(), Some(4));
    }
}
