//! Device connection states (`xen/include/public/io/xenbus.h`), as both ends write them to
//! their `state` key in xenstore.

/// `enum xenbus_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum XenbusState {
    Unknown = 0,
    Initialising = 1,
    /// Finished early initialisation, waiting for the peer (the backend's "ready" signal).
    InitWait = 2,
    /// Waiting for a connection from the peer (the frontend published its rings).
    Initialised = 3,
    Connected = 4,
    /// The device is being closed due to an error or an unplug event.
    Closing = 5,
    Closed = 6,
    Reconfiguring = 7,
    Reconfigured = 8,
}

impl XenbusState {
    /// Every state, in value order.
    pub const ALL: [XenbusState; 9] = [
        XenbusState::Unknown,
        XenbusState::Initialising,
        XenbusState::InitWait,
        XenbusState::Initialised,
        XenbusState::Connected,
        XenbusState::Closing,
        XenbusState::Closed,
        XenbusState::Reconfiguring,
        XenbusState::Reconfigured,
    ];

    pub fn from_value(value: u32) -> Option<XenbusState> {
        Self::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// Parses a `state` key's text ("4", with an optional trailing NUL or newline). Anything
    /// else, including numbers past 8, is `None`: the peer wrote garbage.
    pub fn parse(text: &str) -> Option<XenbusState> {
        let digits = text.trim_end_matches(['\0', '\n']);
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::from_value(digits.parse().ok()?)
    }

    /// The digit written to xenstore.
    pub const fn as_str(self) -> &'static str {
        ["0", "1", "2", "3", "4", "5", "6", "7", "8"][self as usize]
    }
}

impl core::fmt::Display for XenbusState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({:?})", *self as u8, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_from_their_digits_only() {
        for state in XenbusState::ALL {
            assert_eq!(XenbusState::parse(state.as_str()), Some(state));
        }
        assert_eq!(XenbusState::parse("4\0"), Some(XenbusState::Connected));
        for garbage in ["", "9", "-1", "04x", " 4", "99999999999", "\u{663}"] {
            assert_eq!(XenbusState::parse(garbage), None, "{garbage:?}");
        }
    }
}
