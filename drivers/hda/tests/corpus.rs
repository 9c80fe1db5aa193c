//! The driver's codec layer, unchanged, over 872 codec dumps from real machines
//! (`HDA_CODEC_DIR`, default `../shared/hda-codecs` beside the repository): every parseable
//! codec is enumerated and routed without a panic, non-dumps are rejected, and our playback
//! pin is compared with the output pins Linux had enabled when the dump was taken.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hda::codec::{self, EnumError, PINCAP_PRESENCE, SENSE_PRESENT, WCAP_DIGITAL};
use hda::verb::*;

/// One codec section of a dump.
#[derive(Debug, Default)]
struct DumpCodec {
    name: String,
    address: u8,
    vendor: u32,
    revision: u32,
    has_afg: bool,
    afg_in_amp: u32,
    afg_out_amp: u32,
    nodes: BTreeMap<u8, DumpNode>,
}

#[derive(Debug, Default, Clone)]
struct DumpNode {
    wcaps: u32,
    pincaps: u32,
    config: u32,
    pin_ctls: Option<u8>,
    in_amp: u32,
    out_amp: u32,
    connections: Vec<u8>,
    /// The jack control Linux made for this pin (name, index), if any.
    jack: Option<(String, u32)>,
}

/// Jack states recorded by `alsactl store` in `alsa-info.sh` output: (name, index) → plugged.
/// A name recorded twice with different values (two cards) is ambiguous and left out.
fn jack_states(text: &str) -> BTreeMap<(String, u32), bool> {
    let mut states: BTreeMap<(String, u32), Option<bool>> = BTreeMap::new();
    let (mut name, mut index) = (None::<String>, 0);
    for line in text.lines().map(str::trim) {
        if line.starts_with("control.") {
            (name, index) = (None, 0);
        } else if let Some(n) = line.strip_prefix("name '") {
            name = n.strip_suffix('\'').map(str::to_string);
        } else if let Some(i) = line.strip_prefix("index ") {
            index = i.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("value ") {
            let value = match v.trim() {
                "true" => true,
                "false" => false,
                _ => continue,
            };
            if let Some(n) = name.take().filter(|n| n.ends_with(" Jack")) {
                let entry = states.entry((n, index)).or_insert(Some(value));
                if *entry != Some(value) {
                    *entry = None;
                }
            }
        }
    }
    states
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

fn hex(text: &str) -> Option<u32> {
    let t = text.trim().trim_end_matches(':').trim_end_matches(',');
    u32::from_str_radix(t.strip_prefix("0x")?, 16).ok()
}

/// "ofs=0x00, nsteps=0x03, stepsize=0x27, mute=0" → amp caps register value.
fn amp_caps(text: &str) -> u32 {
    let mut caps = 0;
    for part in text.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        let v = hex(value)
            .or_else(|| value.trim().parse().ok())
            .unwrap_or(0);
        caps |= match key {
            "ofs" => v & 0x7f,
            "nsteps" => (v & 0x7f) << 8,
            "stepsize" => (v & 0x7f) << 16,
            "mute" => (v & 1) << 31,
            _ => 0,
        };
    }
    caps
}

/// Parses every codec section in a dump; `Err` when the file has none.
fn parse_dump(text: &str) -> Result<Vec<DumpCodec>, String> {
    let mut codecs: Vec<DumpCodec> = Vec::new();
    let mut node: Option<u8> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("Codec: ") {
            codecs.push(DumpCodec {
                name: name.to_string(),
                ..DumpCodec::default()
            });
            node = None;
            continue;
        }
        let Some(codec) = codecs.last_mut() else {
            continue;
        };
        if let Some(v) = line.strip_prefix("Address: ") {
            codec.address = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Vendor Id: ") {
            codec.vendor = hex(v).unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Revision Id: ") {
            codec.revision = hex(v).unwrap_or(0);
        } else if line.starts_with("AFG Function Id:") || line.starts_with("Default PCM:") {
            // Older dumps lack the function-id lines; an audio group is what has PCM caps.
            codec.has_afg = true;
        } else if let Some(v) = line.strip_prefix("Default Amp-In caps: ") {
            codec.afg_in_amp = amp_caps(v);
        } else if let Some(v) = line.strip_prefix("Default Amp-Out caps: ") {
            codec.afg_out_amp = amp_caps(v);
        } else if let Some(rest) = line.strip_prefix("Node ") {
            let nid = rest.split_whitespace().next().and_then(hex);
            let wcaps = rest
                .split("wcaps ")
                .nth(1)
                .and_then(|w| w.split(':').next())
                .and_then(hex);
            node = match (nid, wcaps) {
                (Some(nid), Some(wcaps)) if nid < 0x80 => {
                    codec.nodes.insert(
                        nid as u8,
                        DumpNode {
                            wcaps,
                            ..DumpNode::default()
                        },
                    );
                    Some(nid as u8)
                }
                _ => None,
            };
        } else if let Some(n) = node.and_then(|nid| codec.nodes.get_mut(&nid)) {
            let t = line.trim_start();
            if let Some(v) = t.strip_prefix("Pincap ") {
                n.pincaps = v.split(':').next().and_then(hex).unwrap_or(0);
            } else if let Some(v) = t.strip_prefix("Pin Default ") {
                n.config = v.split(':').next().and_then(hex).unwrap_or(0);
            } else if let Some(v) = t.strip_prefix("Control: name=\"") {
                // Phantom jacks are built-in pins, always "plugged": not a measurement.
                if let Some((name, rest)) = v.split_once('"')
                    && name.ends_with(" Jack")
                    && !name.ends_with("Phantom Jack")
                {
                    let index = rest
                        .split("index=")
                        .nth(1)
                        .and_then(|i| i.split(',').next())
                        .and_then(|i| i.trim().parse().ok())
                        .unwrap_or(0);
                    n.jack = Some((name.to_string(), index));
                }
            } else if let Some(v) = t.strip_prefix("Pin-ctls: ") {
                n.pin_ctls = v.split(':').next().and_then(hex).map(|c| c as u8);
            } else if let Some(v) = t.strip_prefix("Amp-In caps: ") {
                n.in_amp = amp_caps(v);
            } else if let Some(v) = t.strip_prefix("Amp-Out caps: ") {
                n.out_amp = amp_caps(v);
            } else if let Some(count) = t.strip_prefix("Connection: ") {
                let count: usize = count.trim().parse().unwrap_or(0);
                if count > 0
                    && let Some(list) = lines.next()
                {
                    n.connections = list
                        .split_whitespace()
                        .filter_map(|e| hex(e.trim_end_matches('*')))
                        .filter(|&e| e < 0x80)
                        .map(|e| e as u8)
                        .take(count)
                        .collect();
                }
            }
        }
    }
    if codecs.is_empty() {
        Err("no codec section: not a codec dump".into())
    } else {
        Ok(codecs)
    }
}

/// A codec that answers verbs from its dump, the way the hardware would have. Presence
/// detect is answered from the jack states the dump recorded; a pin whose state the dump
/// does not record is presented as unable to sense, as the model cannot say what it would
/// have measured.
struct DumpModel<'a> {
    codec: &'a DumpCodec,
    jacks: &'a BTreeMap<(String, u32), bool>,
    verbs: usize,
}

impl DumpModel<'_> {
    fn presence(&self, node: &DumpNode) -> Option<bool> {
        self.jacks.get(node.jack.as_ref()?).copied()
    }
}

impl CommandTransport for DumpModel<'_> {
    fn command(&mut self, cad: u8, nid: u8, verb: Verb) -> Result<u32, CommandError> {
        self.verbs += 1;
        assert!(
            self.verbs < 100_000,
            "enumeration of {} did not end",
            self.codec.name
        );
        if cad != self.codec.address {
            return Err(CommandError::Timeout {
                cad,
                nid,
                verb: verb.command(cad, nid),
            });
        }
        let bits = verb.bits();
        let (code, payload) = (bits >> 8, bits & 0xff);
        let c = self.codec;
        let node = c.nodes.get(&nid);
        let first = c.nodes.keys().next().copied().unwrap_or(2);
        let last = c.nodes.keys().last().copied().unwrap_or(1);
        Ok(match (code, nid, node) {
            (0xf00, 0, _) => match payload as u8 {
                PARAM_VENDOR_ID => c.vendor,
                PARAM_REVISION_ID => c.revision,
                PARAM_NODE_COUNT => 1 << 16 | 1,
                _ => 0,
            },
            (0xf00, 1, _) => match payload as u8 {
                PARAM_FUNCTION_GROUP_TYPE => {
                    if c.has_afg {
                        1
                    } else {
                        2
                    }
                }
                PARAM_NODE_COUNT => {
                    u32::from(first) << 16 | u32::from(last.saturating_sub(first) + 1)
                }
                PARAM_IN_AMP_CAPS => c.afg_in_amp,
                PARAM_OUT_AMP_CAPS => c.afg_out_amp,
                _ => 0,
            },
            (0xf00, _, Some(n)) => match payload as u8 {
                PARAM_AUDIO_WIDGET_CAPS => n.wcaps,
                PARAM_PIN_CAPS if self.presence(n).is_none() => n.pincaps & !PINCAP_PRESENCE,
                PARAM_PIN_CAPS => n.pincaps,
                PARAM_IN_AMP_CAPS => n.in_amp,
                PARAM_OUT_AMP_CAPS => n.out_amp,
                PARAM_CONNECTION_LIST_LEN => n.connections.len() as u32,
                _ => 0,
            },
            (0xf02, _, Some(n)) => (0..4)
                .filter_map(|k| {
                    n.connections
                        .get(payload as usize + k)
                        .map(|&e| u32::from(e) << (8 * k))
                })
                .fold(0, |a, b| a | b),
            (0xf1c, _, Some(n)) => n.config,
            (0xf09, _, Some(n)) => match self.presence(n) {
                Some(true) => SENSE_PRESENT,
                _ => 0,
            },
            _ => 0,
        })
    }
}

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("HDA_CODEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/hda-codecs")
        });
    assert!(
        dir.is_dir(),
        "codec dump corpus not found at {}: set HDA_CODEC_DIR to the directory of codec dumps",
        dir.display()
    );
    dir
}

#[test]
fn every_real_codec_is_enumerated_and_routed_like_linux() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut dumps, mut rejected, mut codecs, mut routed, mut no_route, mut no_afg) =
        (0, 0, 0, 0, 0, 0);
    let (mut recorders, mut sensed) = (0, 0);
    let (mut compared, mut agreed) = (0, 0);
    let mut disagreements = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let parsed = match parse_dump(&text) {
            Ok(parsed) => parsed,
            Err(e) => {
                eprintln!("corpus: {}: rejected: {e}", file.display());
                rejected += 1;
                continue;
            }
        };
        dumps += 1;
        let jacks = jack_states(&text);
        for dump in &parsed {
            codecs += 1;
            let mut model = DumpModel {
                codec: dump,
                jacks: &jacks,
                verbs: 0,
            };
            let codec = match codec::enumerate(&mut model, dump.address) {
                Ok(codec) => codec,
                Err(EnumError::NoAudioFunctionGroup) => {
                    no_afg += 1;
                    continue;
                }
                Err(e) => panic!("{}: {}: {e:?}", file.display(), dump.name),
            };
            let route = codec::playback_path(&codec);
            match &route {
                Some(route) => {
                    routed += 1;
                    let verbs = codec::activation(&codec, route, 1, 0x0011);
                    assert!(verbs.len() >= 4, "{}: {verbs:?}", dump.name);
                    codec::apply(&mut model, dump.address, &verbs).unwrap();
                }
                None => no_route += 1,
            }
            if codec.widgets.iter().any(|w| w.present.is_some()) {
                sensed += 1;
            }
            if let Some(capture) = codec::capture_path(&codec) {
                recorders += 1;
                let verbs = codec::capture_activation(&codec, &capture, 2, 0x0011);
                assert!(verbs.len() >= 4, "{}: {verbs:?}", dump.name);
                codec::apply(&mut model, dump.address, &verbs).unwrap();
            }
            let linux_out: Vec<u8> = dump
                .nodes
                .iter()
                .filter(|(_, n)| {
                    n.pin_ctls.is_some_and(|c| c & 0x40 != 0) && n.wcaps & WCAP_DIGITAL == 0
                })
                .map(|(&nid, _)| nid)
                .collect();
            if !linux_out.is_empty() {
                compared += 1;
                match route {
                    Some(route) if linux_out.contains(&route.pin()) => agreed += 1,
                    other => {
                        let describe = |nid: u8| {
                            format!("{nid:#04x} (config {:08x})", dump.nodes[&nid].config)
                        };
                        let theirs: Vec<String> = linux_out.iter().map(|&n| describe(n)).collect();
                        disagreements.push(format!(
                            "{} ({}): ours {}, Linux enabled {}",
                            file.file_name().unwrap().to_string_lossy(),
                            dump.name,
                            other.map_or("none".into(), |r| describe(r.pin())),
                            theirs.join(", ")
                        ))
                    }
                }
            }
        }
    }
    let agreement = 100.0 * agreed as f64 / compared.max(1) as f64;
    eprintln!(
        "corpus: {} files, {dumps} dumps, {rejected} rejected (not codec dumps)",
        files.len()
    );
    eprintln!(
        "corpus: {codecs} codecs: {routed} with a playback route, {no_route} without (no analog output), {no_afg} without an audio function group"
    );
    eprintln!(
        "corpus: {recorders} codecs with a capture route; {sensed} with jack states in the dump (presence detect)"
    );
    eprintln!(
        "corpus: our playback pin is one Linux enabled for output in {agreed} of {compared} codecs ({agreement:.1} %)"
    );
    for d in &disagreements {
        eprintln!("  disagreement: {d}");
    }
    assert!(dumps > 800, "only {dumps} dumps parsed");
    assert!(
        rejected >= 2,
        "the non-dump files (lspci, asound.conf output) must be rejected"
    );
    // Issue #3's bar. Most remaining disagreements are laptops whose speakers Linux had
    // muted because headphones were plugged in, in dumps that do not record jack states, and
    // old kernels whose per-model tables chose pins against the BIOS configuration.
    assert!(
        agreement >= 95.0,
        "agreement with Linux {agreement:.1} % is below 95 %"
    );
}

#[test]
fn files_that_are_not_codec_dumps_are_rejected() {
    assert!(parse_dump("00:1b.0 Audio device: Intel Corporation 82801H").is_err());
    assert!(parse_dump("").is_err());
    assert!(parse_dump("pcm.!default { type hw card 0 }").is_err());
}
