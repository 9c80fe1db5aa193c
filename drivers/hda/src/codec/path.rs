//! Choosing the pins and the routes to them: pure functions of an enumerated [`Codec`].
//!
//! Output pins are ranked the way an HDA auto-parser reads the BIOS pin configuration: a
//! line out that is built in is really a speaker; line outs count only in the first
//! association the BIOS declared; when there are no line outs but several headphones, those
//! not at sequence 15 are line outs; then line outs, speakers, headphones, each in
//! association/sequence order. Presence detect then decides what the user hears: a jack with
//! something plugged in (a headphone first, as it silences the others under automute) beats
//! every pin without sense, and those beat jacks known to be empty. Docking-station jacks
//! come after the machine's own, and pins whose configuration says nothing is wired come
//! last: some firmware marks every pin so, and the codec must still play.
//!
//! Routes are breadth-first searches, at most [`MAX_DEPTH`] widgets long, through mixers and
//! selectors only (never through another pin or converter), so cycles and lying graphs
//! cannot make them loop. The shortest route wins; a playback route avoids the analog
//! loopback mixer (a mixer fed by pins) when it can, as that would mix the inputs in too.

use heapless::Vec;

use super::*;

/// A route from a converter to a pin: `hops[0]` is the pin, the last is the converter; each
/// hop but the last records which of its connections leads on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub hops: Vec<(u8, u8), MAX_DEPTH>,
}

impl Route {
    pub fn pin(&self) -> u8 {
        self.hops[0].0
    }

    pub fn converter(&self) -> u8 {
        self.hops[self.hops.len() - 1].0
    }
}

/// A route from an input converter (ADC) to an input pin: `hops[0]` is the converter, the
/// last is the pin; each hop but the last records which of its connections leads on (the
/// ADC's connection list points back toward the pins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRoute {
    pub hops: Vec<(u8, u8), MAX_DEPTH>,
}

impl CaptureRoute {
    pub fn converter(&self) -> u8 {
        self.hops[0].0
    }

    pub fn pin(&self) -> u8 {
        self.hops[self.hops.len() - 1].0
    }
}

/// What an output pin is for, after the BIOS fix-ups; in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    LineOut,
    Speaker,
    Headphone,
    /// Can output but is declared as something else (or a line out of a second association).
    Other,
}

/// Analog pins that can drive an output, with the role their configuration gives them.
fn output_roles(codec: &Codec) -> Vec<(u8, Role), MAX_WIDGETS> {
    let mut pins: Vec<(u8, Role), MAX_WIDGETS> = Vec::new();
    let mut line_out_association = None;
    for w in &codec.widgets {
        if w.kind != WidgetType::Pin
            || w.pin_caps & PINCAP_OUT == 0
            || w.digital()
            || matches!(w.default_device(), DEVICE_SPDIF_OUT | DEVICE_DIGITAL_OUT)
        {
            continue;
        }
        let association = w.association_sequence() >> 4;
        let role = match w.default_device() {
            _ if w.unconnected() => Role::Other,
            DEVICE_LINE_OUT if w.built_in() => Role::Speaker,
            // Association 0 is reserved, and a second association is not the main output.
            DEVICE_LINE_OUT if association != 0 => {
                match line_out_association.get_or_insert(association) {
                    first if *first == association => Role::LineOut,
                    _ => Role::Other,
                }
            }
            DEVICE_SPEAKER => Role::Speaker,
            DEVICE_HP_OUT => Role::Headphone,
            _ => Role::Other,
        };
        let _ = pins.push((w.nid, role));
    }
    let headphones = pins.iter().filter(|p| p.1 == Role::Headphone).count();
    if line_out_association.is_none() && headphones > 1 {
        for (nid, role) in pins.iter_mut() {
            let real_headphone = codec
                .widget(*nid)
                .is_some_and(|w| w.association_sequence() & 0xf == 0xf);
            if *role == Role::Headphone && !real_headphone {
                *role = Role::LineOut;
            }
        }
    }
    pins
}

/// Output pins, best first.
fn ranked_outputs(codec: &Codec) -> Vec<u8, MAX_WIDGETS> {
    let mut keyed: Vec<((u8, bool, u8, u8), u8), MAX_WIDGETS> = output_roles(codec)
        .iter()
        .filter_map(|&(nid, role)| {
            let w = codec.widget(nid)?;
            let tier = match (role, w.present) {
                _ if w.unconnected() => 4,
                (Role::Other, _) => 3,
                (_, Some(true)) => 0,
                (_, None) => 1,
                (_, Some(false)) => 2,
            };
            // What a plugged jack silences under automute: headphones silence line outs and
            // speakers, line outs silence speakers.
            let order = match (tier, role) {
                (0, Role::Headphone) => 0,
                (0, Role::LineOut) => 1,
                (0, _) => 2,
                (_, role) => role as u8,
            };
            let key = (tier, w.on_dock(), order, w.association_sequence());
            Some((key, nid))
        })
        .collect();
    keyed.sort_unstable();
    keyed.iter().map(|&(_, nid)| nid).collect()
}

/// A mixer fed by a pin: the analog loopback mixer.
fn loopback(codec: &Codec, w: &Widget) -> bool {
    w.kind == WidgetType::Mixer
        && w.connections
            .iter()
            .any(|&n| codec.widget(n).is_some_and(|s| s.kind == WidgetType::Pin))
}

/// Breadth-first search from `start` along connection lists to a widget `goal` accepts,
/// passing only through widgets `through` accepts. The route comes back start first, each
/// hop with the index of the connection that leads on. Bounded by [`MAX_DEPTH`] widgets, and
/// each widget is entered once, so cycles end it.
fn search(
    codec: &Codec,
    start: u8,
    through: impl Fn(&Widget) -> bool,
    goal: impl Fn(&Widget) -> bool,
) -> Option<Vec<(u8, u8), MAX_DEPTH>> {
    // For each node reached: the node and connection index it was reached from, and depth.
    let mut from = [(0u8, 0u8); 128];
    let mut depth = [0u8; 128];
    let mut queue = [0u8; 128];
    let (mut head, mut tail) = (0, 0);
    let mut seen = 1u128 << (start & 0x7f);
    queue[tail] = start & 0x7f;
    tail += 1;
    depth[usize::from(start & 0x7f)] = 1;
    while head < tail {
        let nid = queue[head];
        head += 1;
        let Some(w) = codec.widget(nid) else { continue };
        let d = depth[usize::from(nid)];
        for (index, &next) in w.connections.iter().enumerate() {
            if next >= 128 || seen & (1 << next) != 0 {
                continue;
            }
            let Some(n) = codec.widget(next) else {
                continue;
            };
            if goal(n) {
                let mut hops: Vec<(u8, u8), MAX_DEPTH> = Vec::new();
                let _ = hops.push((next, 0));
                let (mut at, mut via) = (nid, index as u8);
                loop {
                    let _ = hops.push((at, via));
                    if at == start {
                        break;
                    }
                    (at, via) = from[usize::from(at)];
                }
                hops.reverse();
                return Some(hops);
            }
            if usize::from(d) + 2 <= MAX_DEPTH && through(n) {
                seen |= 1 << next;
                from[usize::from(next)] = (nid, index as u8);
                depth[usize::from(next)] = d + 1;
                queue[tail] = next;
                tail += 1;
            }
        }
    }
    None
}

fn mixer_or_selector(w: &Widget) -> bool {
    matches!(w.kind, WidgetType::Mixer | WidgetType::Selector)
}

/// The route from output `pin` to the nearest analog output converter.
fn route_to_dac(codec: &Codec, pin: u8) -> Option<Route> {
    let dac = |w: &Widget| w.kind == WidgetType::Output && !w.digital();
    search(
        codec,
        pin,
        |w| mixer_or_selector(w) && !loopback(codec, w),
        dac,
    )
    .or_else(|| search(codec, pin, mixer_or_selector, dac))
    .map(|hops| Route { hops })
}

/// The playback route: the best-ranked output pin that reaches an analog output converter.
/// `None`: the codec cannot play (no output pin, no converter, or no way between them).
pub fn playback_path(codec: &Codec) -> Option<Route> {
    ranked_outputs(codec)
        .iter()
        .find_map(|&pin| route_to_dac(codec, pin))
}

/// Input pins, best first: microphones, line ins, CD, aux, then anything else that can
/// input; within each, a jack with something plugged in, then built-in ones, then jacks that
/// cannot sense, then empty jacks; docking-station jacks after the machine's own, pins wired
/// to nothing last.
fn ranked_inputs(codec: &Codec) -> Vec<u8, MAX_WIDGETS> {
    // The node id ends each key: it breaks ties and is what comes out.
    let mut keyed: Vec<(bool, u8, u8, bool, u8), MAX_WIDGETS> = codec
        .widgets
        .iter()
        .filter(|w| {
            w.kind == WidgetType::Pin
                && w.pin_caps & PINCAP_IN != 0
                && !w.digital()
                && !matches!(w.default_device(), DEVICE_SPDIF_IN | DEVICE_DIGITAL_IN)
        })
        .map(|w| {
            let role = match w.default_device() {
                DEVICE_MIC_IN => 0,
                DEVICE_LINE_IN => 1,
                DEVICE_CD => 2,
                DEVICE_AUX => 3,
                _ => 4,
            };
            let presence = match w.present {
                Some(true) => 0,
                None if w.built_in() => 1,
                None => 2,
                Some(false) => 3,
            };
            (w.unconnected(), role, presence, w.on_dock(), w.nid)
        })
        .collect();
    keyed.sort_unstable();
    keyed.iter().map(|key| key.4).collect()
}

/// The capture route: the best-ranked input pin that some analog input converter reaches,
/// by the shortest route (lowest converter first on ties). `None`: the codec cannot record.
pub fn capture_path(codec: &Codec) -> Option<CaptureRoute> {
    ranked_inputs(codec).iter().find_map(|&pin| {
        codec
            .widgets
            .iter()
            .filter(|w| w.kind == WidgetType::Input && !w.digital())
            .filter_map(|adc| search(codec, adc.nid, mixer_or_selector, |w| w.nid == pin))
            .min_by_key(|hops| hops.len())
            .map(|hops| CaptureRoute { hops })
    })
}
