//! Synthetic codec graphs served by a verb-answering fake (`graphs/`): the driver's
//! enumeration, path choice and activation verbs, checked against golden answers. Each test
//! names the `hda.md` §6 checklist item it covers.

mod graphs;

use graphs::*;
use hda::codec::{
    self, Codec, MAX_DEPTH, PIN_HP_EN, PIN_IN_EN, PIN_OUT_EN, PIN_VREF_80, WidgetType,
};
use hda::verb::*;

fn enumerate(fake: &mut Fake) -> Codec {
    codec::enumerate(fake, fake.cad).expect("the fake codec enumerates")
}

fn playback_pin(fake: &mut Fake) -> Option<u8> {
    codec::playback_path(&enumerate(fake)).map(|r| r.pin())
}

fn capture_pin(fake: &mut Fake) -> Option<u8> {
    codec::capture_path(&enumerate(fake)).map(|r| r.pin())
}

fn short(nid: u8, verb: u16, payload: u8) -> (u8, Verb) {
    (nid, Verb::short(verb, payload))
}

fn long(nid: u8, verb: u8, payload: u16) -> (u8, Verb) {
    (nid, Verb::long(verb, payload))
}

/// §6 item 17 (and 14: a shared DAC behind a mixer hop, EAPD, amps at their 0 dB offset):
/// with nothing plugged in, the Realtek-like laptop plays on its speaker, and the verbs are
/// exactly: D0 for the group and the powered DAC, stream and format, the DAC's amp at its
/// offset, the mixer's DAC input unmuted and its loopback input muted, the pin's selection
/// and amp, pin control, EAPD.
#[test]
fn alc_like_speaker_route_and_golden_verbs() {
    let mut fake = alc_like();
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x14, 0), (0x0c, 0), (0x02, 0)]);
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    let golden = [
        short(0x01, SET_POWER_STATE, 0),
        short(0x02, SET_POWER_STATE, 0),
        short(0x02, SET_CONVERTER_STREAM, 0x10),
        long(0x02, SET_CONVERTER_FORMAT, 0x0011),
        long(0x02, SET_AMP_GAIN_MUTE, 0xb057),
        long(0x0c, SET_AMP_GAIN_MUTE, 0x7000),
        long(0x0c, SET_AMP_GAIN_MUTE, 0x7180),
        short(0x14, SET_CONNECTION_SELECT, 0),
        long(0x14, SET_AMP_GAIN_MUTE, 0xb000),
        short(0x14, SET_PIN_CONTROL, PIN_OUT_EN),
        short(0x14, SET_EAPD, 0x02),
    ];
    assert_eq!(verbs.as_slice(), &golden);
    // The verbs go through the transport unchanged.
    fake.log.clear();
    fake.send(&verbs);
    assert_eq!(fake.log, golden);
}

/// §6 items 16 and 17: a headphone that senses a plug (F09 bit 31) wins over the speaker;
/// the pin gets HP_EN (it is a headphone with HP drive) and EAPD. Enumeration triggers the
/// measurement (709) before reading it, because the pin says it needs a trigger.
#[test]
fn alc_like_plugged_headphone_is_chosen_with_hp_drive() {
    let mut fake = alc_like();
    fake.node(0x15).sense = Some(PLUGGED);
    let codec = enumerate(&mut fake);
    let sense = fake
        .log
        .iter()
        .filter(|(n, _)| *n == 0x15)
        .map(|(_, v)| v.bits() >> 8)
        .filter(|&id| id == 0x709 || id == 0xf09)
        .collect::<Vec<_>>();
    assert_eq!(sense, [0x709, 0xf09], "trigger, then read");
    assert_eq!(codec.widget(0x15).unwrap().present, Some(true));
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x15, 0), (0x0c, 0), (0x02, 0)]);
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert_eq!(
        &verbs[verbs.len() - 4..],
        &[
            short(0x15, SET_CONNECTION_SELECT, 0),
            long(0x15, SET_AMP_GAIN_MUTE, 0xb000),
            short(0x15, SET_PIN_CONTROL, PIN_OUT_EN | PIN_HP_EN),
            short(0x15, SET_EAPD, 0x02),
        ]
    );
}

/// §6 item 16: speaker vs line out. Where the jacks cannot sense, the line out is the
/// primary output (BIOS configuration order); once it can sense, an empty line-out jack
/// loses to the built-in speaker and a plugged one wins; a plugged headphone beats a
/// plugged line out (it is what automute leaves playing). The line out has HP drive but
/// is not a headphone: no HP_EN; and no EAPD, as its pin cannot.
#[test]
fn alc_like_speaker_versus_line_out_by_presence() {
    let mut fake = alc_like();
    for nid in [0x15, 0x18, 0x1a, 0x1b] {
        fake.node(nid).pin_caps &= !(PC_PRESENCE | PC_TRIGGER);
    }
    let codec = enumerate(&mut fake);
    assert!(
        fake.received(0x1b, 0xf09).is_empty(),
        "no sense verb without the capability"
    );
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.pin(), 0x1b, "line out first by configuration");
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert!(verbs.contains(&short(0x1b, SET_PIN_CONTROL, PIN_OUT_EN)));
    assert!(
        !verbs
            .iter()
            .any(|(_, v)| v.bits() >> 8 == u32::from(SET_EAPD))
    );

    let mut fake = alc_like();
    assert_eq!(playback_pin(&mut fake), Some(0x14), "empty line-out jack");
    fake.node(0x1b).sense = Some(PLUGGED);
    assert_eq!(playback_pin(&mut fake), Some(0x1b), "plugged line out");
    fake.node(0x15).sense = Some(PLUGGED);
    assert_eq!(playback_pin(&mut fake), Some(0x15), "plugged headphone");
}

/// §6 item 16: a pin whose configuration overrides jack detection (F1C bit 8) is never
/// asked, and a pin that does not answer the sense verb is treated as unable to sense.
#[test]
fn presence_is_read_only_where_it_means_something() {
    let mut fake = alc_like();
    fake.node(0x15).config |= 1 << 8;
    fake.node(0x1b).sense = None;
    let codec = enumerate(&mut fake);
    assert!(fake.received(0x15, 0xf09).is_empty());
    assert_eq!(codec.widget(0x15).unwrap().present, None);
    assert_eq!(codec.widget(0x1b).unwrap().present, None);
    assert_eq!(codec.widget(0x14).unwrap().present, None, "no presence cap");
    // The line out is not known to be empty any more: back to configuration order.
    assert_eq!(codec::playback_path(&codec).unwrap().pin(), 0x1b);
}

/// §6 items 16 and 17 for capture: with the mic jack empty the internal mic records
/// through ADC 0x08's capture mixer (its other inputs muted); a plugged mic jack wins and
/// gets its 80 % bias and boost amp at 0 dB; a line in never gets a bias, even with VRef
/// caps.
#[test]
fn alc_like_capture_routes_and_golden_verbs() {
    let mut fake = alc_like();
    let codec = enumerate(&mut fake);
    let route = codec::capture_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x08, 0), (0x23, 4), (0x12, 0)]);
    let verbs = codec::capture_activation(&codec, &route, 2, 0x0011);
    let golden = [
        short(0x01, SET_POWER_STATE, 0),
        short(0x08, SET_CONVERTER_STREAM, 0x20),
        long(0x08, SET_CONVERTER_FORMAT, 0x0011),
        short(0x12, SET_PIN_CONTROL, PIN_IN_EN),
        long(0x23, SET_AMP_GAIN_MUTE, 0x7400),
        long(0x23, SET_AMP_GAIN_MUTE, 0x7080),
        long(0x23, SET_AMP_GAIN_MUTE, 0x7180),
        long(0x23, SET_AMP_GAIN_MUTE, 0x7280),
        long(0x23, SET_AMP_GAIN_MUTE, 0x7380),
        long(0x23, SET_AMP_GAIN_MUTE, 0x7580),
        long(0x08, SET_AMP_GAIN_MUTE, 0x700a),
    ];
    assert_eq!(verbs.as_slice(), &golden);

    fake.node(0x18).sense = Some(PLUGGED);
    let codec = enumerate(&mut fake);
    let route = codec::capture_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x08, 0), (0x23, 0), (0x18, 0)]);
    let verbs = codec::capture_activation(&codec, &route, 2, 0x0011);
    assert!(verbs.contains(&long(0x18, SET_AMP_GAIN_MUTE, 0x7000)));
    assert!(verbs.contains(&short(0x18, SET_PIN_CONTROL, PIN_IN_EN | PIN_VREF_80)));

    // Without microphones, the line in, without bias.
    fake.nodes.remove(&0x18);
    fake.nodes.remove(&0x12);
    assert_eq!(capture_pin(&mut fake), Some(0x1a));
    let codec = enumerate(&mut fake);
    let route = codec::capture_path(&codec).unwrap();
    let verbs = codec::capture_activation(&codec, &route, 2, 0x0011);
    assert!(verbs.contains(&short(0x1a, SET_PIN_CONTROL, PIN_IN_EN)));
}

/// §6 item 14: the digital S/PDIF pin and its digital converter are never an analog route,
/// and a pin that is really a microphone is not used while an output pin can play.
#[test]
fn digital_and_input_pins_are_not_playback_choices() {
    let mut fake = alc_like();
    for nid in [0x14, 0x15, 0x1b, 0x19] {
        fake.nodes.remove(&nid);
    }
    // Only the mic jack (which can output) and S/PDIF remain: the mic jack, as a last resort.
    assert_eq!(playback_pin(&mut fake), Some(0x18));
    fake.nodes.remove(&0x18);
    assert_eq!(
        playback_pin(&mut fake),
        None,
        "S/PDIF only: no analog playback"
    );
}

/// A small playback graph: DAC 0x02, then whatever `between` adds, then pin 0x10.
fn chain(between: Vec<(u8, Node)>, pin_conns: &[u8]) -> Fake {
    let mut nodes = vec![
        (0x02, widget(DAC, STEREO | OUT_AMP)),
        (
            0x10,
            widget(PIN, STEREO)
                .pin(PC_OUT, 0x0101_4010)
                .conns(pin_conns),
        ),
    ];
    nodes.extend(between);
    Fake::new(nodes)
}

/// §6 item 14: DAC → mixer → pin. The mixer has no 701; its DAC input is unmuted and its
/// other input muted.
#[test]
fn dac_mixer_pin() {
    let mut fake = chain(
        vec![
            (
                0x0c,
                widget(MIXER, STEREO | IN_AMP | AMP_OVERRIDE)
                    .amps(amp(true, 0, 0, 0), 0)
                    .conns(&[0x0b, 0x02]),
            ),
            (0x0b, widget(MIXER, STEREO).conns(&[0x10])),
        ],
        &[0x0c],
    );
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x10, 0), (0x0c, 1), (0x02, 0)]);
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert!(verbs.contains(&long(0x0c, SET_AMP_GAIN_MUTE, 0x7100)));
    assert!(verbs.contains(&long(0x0c, SET_AMP_GAIN_MUTE, 0x7080)));
    assert!(
        !verbs
            .iter()
            .any(|&(n, v)| n == 0x0c && v.bits() >> 8 == 0x701)
    );
    assert!(
        !verbs.iter().any(|&(n, _)| n == 0x0b),
        "nothing sent off the route"
    );
}

/// §6 item 14: DAC → selector → pin, where the DAC is the selector's second input: 701 1.
#[test]
fn dac_selector_pin_needs_701() {
    let mut fake = chain(
        vec![
            (0x0f, widget(SELECTOR, STEREO).conns(&[0x03, 0x02])),
            (0x03, widget(DAC, STEREO | DIGITAL)),
        ],
        &[0x0f],
    );
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(
        route.hops.as_slice(),
        &[(0x10, 0), (0x0f, 1), (0x02, 0)],
        "the digital converter is skipped"
    );
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert!(verbs.contains(&short(0x0f, SET_CONNECTION_SELECT, 1)));
    assert!(
        !verbs.contains(&short(0x10, SET_CONNECTION_SELECT, 0)),
        "a single connection needs no selection"
    );
}

/// §6 item 14: a shared DAC for headphone and speaker through one mixer: both pins route to
/// it, and the speaker is chosen.
#[test]
fn headphone_and_speaker_share_one_dac() {
    let mut fake = Fake::new([
        (0x02, widget(DAC, STEREO | OUT_AMP)),
        (0x0c, widget(MIXER, STEREO).conns(&[0x02])),
        (
            0x14,
            widget(PIN, STEREO).pin(PC_OUT, CFG_SPEAKER).conns(&[0x0c]),
        ),
        (
            0x15,
            widget(PIN, STEREO)
                .pin(PC_OUT | PC_HP_DRIVE, CFG_HP)
                .conns(&[0x0c]),
        ),
    ]);
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x14, 0), (0x0c, 0), (0x02, 0)]);
    fake.nodes.remove(&0x14);
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x15, 0), (0x0c, 0), (0x02, 0)]);
}

/// §6 item 14: the shortest route wins, and playback avoids the analog loopback mixer (a
/// mixer fed by pins) even when it is listed first.
#[test]
fn routes_are_shortest_and_avoid_the_loopback_mixer() {
    let mut fake = Fake::new([
        (0x02, widget(DAC, STEREO)),
        (0x0b, widget(MIXER, STEREO).conns(&[0x18, 0x02])),
        (0x0c, widget(MIXER, STEREO).conns(&[0x0d])),
        (0x0d, widget(SELECTOR, STEREO).conns(&[0x02])),
        (
            0x10,
            widget(PIN, STEREO)
                .pin(PC_OUT, 0x0101_4010)
                .conns(&[0x0b, 0x0c]),
        ),
        (0x18, widget(PIN, STEREO).pin(PC_IN, CFG_MIC_JACK)),
    ]);
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(
        route.hops.as_slice(),
        &[(0x10, 1), (0x0c, 0), (0x0d, 0), (0x02, 0)]
    );
    // Without the clean route, through the loopback mixer.
    fake.nodes.remove(&0x0d);
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x10, 0), (0x0b, 1), (0x02, 0)]);
}

/// §6 item 14: long-form lists with a range (and an invalid range, skipped), short-form
/// ranges, and indices that follow the expanded list: the DAC at expanded index 4 is
/// selected with 701 4.
#[test]
fn long_and_short_connection_lists_with_ranges() {
    let mut fake = chain(
        vec![
            (
                0x20,
                // 0x03, range to 0x05 (0x04 0x05), 0x07, invalid range 0x07 → 0x06, 0x02
                widget(SELECTOR, STEREO).raw_conns(&[0x0003, 0x8005, 0x0007, 0x8006, 0x0002], true),
            ),
            (
                0x21,
                widget(SELECTOR, STEREO).raw_conns(&[0x30, 0xb3, 0x20], false),
            ),
        ],
        &[0x21],
    );
    let codec = enumerate(&mut fake);
    assert_eq!(
        codec.widget(0x20).unwrap().connections.as_slice(),
        &[0x03, 0x04, 0x05, 0x07, 0x02]
    );
    assert_eq!(
        codec.widget(0x21).unwrap().connections.as_slice(),
        &[0x30, 0x31, 0x32, 0x33, 0x20]
    );
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(
        route.hops.as_slice(),
        &[(0x10, 0), (0x21, 4), (0x20, 4), (0x02, 0)]
    );
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert!(verbs.contains(&short(0x20, SET_CONNECTION_SELECT, 4)));
    assert!(verbs.contains(&short(0x21, SET_CONNECTION_SELECT, 4)));
}

/// §6 item 14: a zero entry keeps its place (indices after it stay right); a second zero
/// entry ends the list; a long-form id above 127 cannot alias to a real node.
#[test]
fn zero_entries_and_out_of_range_ids() {
    let mut fake = chain(
        vec![(
            0x20,
            widget(SELECTOR, STEREO).raw_conns(&[0x0000, 0x0082, 0x0002], true),
        )],
        &[0x20],
    );
    let codec = enumerate(&mut fake);
    assert_eq!(
        codec.widget(0x20).unwrap().connections.as_slice(),
        &[0, 0, 0x02]
    );
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x10, 0), (0x20, 2), (0x02, 0)]);

    fake.node(0x20).entries = vec![0x0000, 0x0000, 0x0002];
    let codec = enumerate(&mut fake);
    assert_eq!(codec.widget(0x20).unwrap().connections.as_slice(), &[0]);
    assert_eq!(codec::playback_path(&codec), None);
}

/// §6 item 14: depth. A route of exactly MAX_DEPTH widgets is found; one more is not.
#[test]
fn routes_longer_than_the_depth_bound_are_not_followed() {
    let selectors = |n: u8| -> Vec<(u8, Node)> {
        (0..n)
            .map(|i| {
                let next = if i + 1 == n { 0x02 } else { 0x21 + i };
                (0x20 + i, widget(SELECTOR, STEREO).conns(&[next]))
            })
            .collect()
    };
    let longest = MAX_DEPTH as u8 - 2;
    let mut fake = chain(selectors(longest), &[0x20]);
    let route = codec::playback_path(&enumerate(&mut fake)).unwrap();
    assert_eq!(route.hops.len(), MAX_DEPTH);
    let mut fake = chain(selectors(longest + 1), &[0x20]);
    assert_eq!(codec::playback_path(&enumerate(&mut fake)), None);
}

/// §6 item 14: cycles end the search, with or without a converter behind them.
#[test]
fn cycles_end_the_search() {
    let mut fake = chain(
        vec![
            (0x0c, widget(MIXER, STEREO).conns(&[0x0d])),
            (0x0d, widget(MIXER, STEREO).conns(&[0x0c, 0x0e])),
            (0x0e, widget(SELECTOR, STEREO).conns(&[0x0d, 0x0c])),
        ],
        &[0x0c],
    );
    assert_eq!(codec::playback_path(&enumerate(&mut fake)), None);
    fake.node(0x0e).entries.push(0x02);
    let route = codec::playback_path(&enumerate(&mut fake)).unwrap();
    assert_eq!(
        route.hops.as_slice(),
        &[(0x10, 0), (0x0c, 0), (0x0d, 1), (0x0e, 2), (0x02, 0)]
    );
}

/// §6 item 14: pins with connectivity NONE are skipped while a wired pin can play, and
/// still used when every pin says NONE (firmware that never filled the configuration in).
#[test]
fn unconnected_pins_are_a_last_resort() {
    let mut fake = Fake::new([
        (0x02, widget(DAC, STEREO)),
        (
            0x10,
            widget(PIN, STEREO).pin(PC_OUT, 0x4101_4010).conns(&[0x02]),
        ),
        (0x11, widget(PIN, STEREO).pin(PC_OUT, CFG_HP).conns(&[0x02])),
    ]);
    assert_eq!(playback_pin(&mut fake), Some(0x11));
    fake.node(0x11).config = CFG_NONE;
    assert_eq!(playback_pin(&mut fake), Some(0x10));
}

/// §6 item 14: a line out with "fixed" connectivity is a speaker: it loses to a line-out
/// jack, and beats a headphone. A line out of a second association is not the main output.
#[test]
fn a_fixed_line_out_counts_as_a_speaker() {
    let fixed_line_out = 0x9901_0130; // fixed, internal ATAPI, line out, assoc 3
    let mut fake = Fake::new([
        (0x02, widget(DAC, STEREO)),
        (
            0x10,
            widget(PIN, STEREO)
                .pin(PC_OUT, fixed_line_out)
                .conns(&[0x02]),
        ),
        (
            0x11,
            widget(PIN, STEREO).pin(PC_OUT, 0x0101_4010).conns(&[0x02]),
        ),
        (0x12, widget(PIN, STEREO).pin(PC_OUT, CFG_HP).conns(&[0x02])),
    ]);
    assert_eq!(playback_pin(&mut fake), Some(0x11), "the line-out jack");
    fake.nodes.remove(&0x11);
    assert_eq!(
        playback_pin(&mut fake),
        Some(0x10),
        "the speaker, over the headphone"
    );
    // Two line-out jacks in different associations: the first association's.
    fake.node(0x10).config = 0x0101_4020; // assoc 2
    fake.node(0x12).config = 0x0101_4010; // assoc 1, later node
    assert_eq!(playback_pin(&mut fake), Some(0x10));
}

/// §6 item 14: amplifier and format capabilities come from the function group unless the
/// widget's override bit says it has its own; the 0 dB step used is the right one.
#[test]
fn amp_and_format_overrides() {
    let mut fake = Fake::new([
        (
            0x02,
            widget(DAC, STEREO | OUT_AMP | AMP_OVERRIDE | FORMAT_OVERRIDE)
                .amps(0, amp(true, 2, 0x7f, 0x40)),
        ),
        (0x03, widget(DAC, STEREO | OUT_AMP)),
        (
            0x10,
            widget(PIN, STEREO).pin(PC_OUT, 0x0101_4010).conns(&[0x03]),
        ),
    ]);
    fake.node(0x02).pcm = 0x0002_0060;
    fake.node(0x02).formats = 0x5;
    fake.afg_out_amp = amp(true, 5, 0x3f, 0x30);
    let codec = enumerate(&mut fake);
    let own = codec.widget(0x02).unwrap();
    assert_eq!(
        (own.out_amp_caps, own.pcm, own.formats),
        (amp(true, 2, 0x7f, 0x40), 0x0002_0060, 5)
    );
    let inherited = codec.widget(0x03).unwrap();
    assert_eq!(
        (inherited.out_amp_caps, inherited.pcm, inherited.formats),
        (fake.afg_out_amp, fake.afg_pcm, fake.afg_formats)
    );
    let route = codec::playback_path(&codec).unwrap();
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert!(verbs.contains(&long(0x03, SET_AMP_GAIN_MUTE, 0xb030)));
}

/// §6 item 14: widget caps with delay bits set (19:16) and mono widgets (no stereo bit):
/// the type is still read from bits 23:20, and mono widgets route like stereo ones.
#[test]
fn delay_bits_and_mono_widgets() {
    let mut fake = Fake::new([
        (
            0x02,
            widget(DAC, 0xd << 16 | OUT_AMP | AMP_OVERRIDE).amps(0, amp(true, 0, 0x1f, 0x1f)),
        ),
        (0x0c, widget(MIXER, 0xd << 16).conns(&[0x02])),
        (
            0x10,
            widget(PIN, 0xd << 16)
                .pin(PC_OUT, CFG_SPEAKER)
                .conns(&[0x0c]),
        ),
    ]);
    let codec = enumerate(&mut fake);
    let kinds = [0x02, 0x0c, 0x10].map(|nid| codec.widget(nid).unwrap().kind);
    assert_eq!(
        kinds,
        [WidgetType::Output, WidgetType::Mixer, WidgetType::Pin]
    );
    let route = codec::playback_path(&codec).unwrap();
    assert_eq!(route.hops.as_slice(), &[(0x10, 0), (0x0c, 0), (0x02, 0)]);
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert!(verbs.contains(&long(0x02, SET_AMP_GAIN_MUTE, 0xb01f)));
}

/// §6 item 15: a capture-only card (no output converter, or no pin that can output) has no
/// playback path and still records; a playback-only card (QEMU's hda-output) has no
/// capture path.
#[test]
fn capture_only_and_playback_only_cards() {
    let adc = (0x04, widget(ADC, STEREO | IN_AMP).conns(&[0x05]));
    let mic = (0x05, widget(PIN, STEREO).pin(PC_IN, CFG_MIC_JACK));
    let mut no_dac = Fake::new([adc.clone(), mic.clone()]);
    let codec = enumerate(&mut no_dac);
    assert_eq!(codec::playback_path(&codec), None);
    assert_eq!(
        codec::capture_path(&codec).unwrap().hops.as_slice(),
        &[(0x04, 0), (0x05, 0)]
    );

    let mut no_output_pin = Fake::new([(0x02, widget(DAC, STEREO)), adc.clone(), mic.clone()]);
    let codec = enumerate(&mut no_output_pin);
    assert_eq!(codec::playback_path(&codec), None);
    assert!(codec::capture_path(&codec).is_some());

    // hda-output (hda.md §3.1): DAC 2 → line-out pin 3, nothing else.
    let mut output_only = Fake::new([
        (0x02, widget(DAC, 0x1d).amps(0, 0x8003_4a4a)),
        (
            0x03,
            widget(PIN, 0x101).pin(PC_OUT, 0x0000_4010).conns(&[0x02]),
        ),
    ]);
    output_only.vendor = 0x1af4_0012;
    let codec = enumerate(&mut output_only);
    assert_eq!(codec::capture_path(&codec), None);
    let route = codec::playback_path(&codec).unwrap();
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    assert_eq!(
        verbs.as_slice(),
        &[
            short(0x01, SET_POWER_STATE, 0),
            short(0x02, SET_CONVERTER_STREAM, 0x10),
            long(0x02, SET_CONVERTER_FORMAT, 0x0011),
            long(0x02, SET_AMP_GAIN_MUTE, 0xb04a),
            short(0x03, SET_PIN_CONTROL, PIN_OUT_EN),
        ]
    );
}

/// §6 item 16: EAPD only where the pin has the capability, HP_EN only on a headphone with
/// HP drive, VRef only for microphones.
#[test]
fn eapd_hp_drive_and_vref_only_where_they_belong() {
    let mut fake = Fake::new([
        (0x02, widget(DAC, STEREO)),
        (0x04, widget(ADC, STEREO).conns(&[0x18])),
        (0x10, widget(PIN, STEREO).pin(PC_OUT, CFG_HP).conns(&[0x02])),
        (0x18, widget(PIN, STEREO).pin(PC_IN, CFG_MIC_JACK)),
    ]);
    let verbs = |fake: &mut Fake| {
        let codec = enumerate(fake);
        let route = codec::playback_path(&codec).unwrap();
        let mut all: Vec<(u8, Verb)> = codec::activation(&codec, &route, 1, 0x11).to_vec();
        let capture = codec::capture_path(&codec).unwrap();
        all.extend(codec::capture_activation(&codec, &capture, 2, 0x11));
        all
    };
    let plain = verbs(&mut fake);
    assert!(
        plain.contains(&short(0x10, SET_PIN_CONTROL, PIN_OUT_EN)),
        "no HP drive"
    );
    assert!(
        !plain
            .iter()
            .any(|(_, v)| v.bits() >> 8 == u32::from(SET_EAPD))
    );
    assert!(
        plain.contains(&short(0x18, SET_PIN_CONTROL, PIN_IN_EN)),
        "no VRef caps"
    );

    fake.node(0x10).pin_caps |= PC_HP_DRIVE | PC_EAPD;
    fake.node(0x18).pin_caps |= PC_VREF_50;
    let capable = verbs(&mut fake);
    assert!(capable.contains(&short(0x10, SET_PIN_CONTROL, PIN_OUT_EN | PIN_HP_EN)));
    assert!(capable.contains(&short(0x10, SET_EAPD, 0x02)));
    assert!(
        capable.contains(&short(0x18, SET_PIN_CONTROL, PIN_IN_EN | 0b001)),
        "50 %"
    );

    // The same pins declared as line out and line in: no HP_EN, no VRef.
    fake.node(0x10).config = 0x0101_4010;
    fake.node(0x18).config = CFG_LINE_IN;
    let lines = verbs(&mut fake);
    assert!(lines.contains(&short(0x10, SET_PIN_CONTROL, PIN_OUT_EN)));
    assert!(lines.contains(&short(0x18, SET_PIN_CONTROL, PIN_IN_EN)));
}

/// §6 item 14: a connection list longer than the driver keeps is cut at
/// `MAX_CONNECTIONS`, never overflowing; what lies beyond is unreachable.
#[test]
fn long_connection_lists_are_bounded() {
    let mut many: Vec<u8> = (0x20..0x48).collect();
    many.push(0x02);
    let mut fake = chain(vec![(0x0c, widget(MIXER, STEREO).conns(&many))], &[0x0c]);
    let codec = enumerate(&mut fake);
    assert_eq!(
        codec.widget(0x0c).unwrap().connections.len(),
        codec::MAX_CONNECTIONS
    );
    assert_eq!(codec::playback_path(&codec), None);
}

/// §6 item 17: "power D0 with wait": `apply` sends the route's verbs in order and, after each
/// power-up, reads the power state until the node reports D0 before sending anything else;
/// a node that never settles costs a bounded number of reads and does not stop the route.
#[test]
fn apply_waits_for_each_power_up_to_settle() {
    let mut fake = alc_like();
    let codec = enumerate(&mut fake);
    let route = codec::playback_path(&codec).unwrap();
    let verbs = codec::activation(&codec, &route, 1, 0x0011);
    fake.log.clear();
    fake.settling = 3;
    codec::apply(&mut fake, 0, &verbs).unwrap();
    let f05 = Verb::short(GET_POWER_STATE, 0);
    let mut expected = vec![verbs[0]];
    expected.extend([(0x01, f05); 4]); // three reads in D3, one in D0
    expected.push(verbs[1]);
    expected.push((0x02, f05));
    expected.extend_from_slice(&verbs[2..]);
    assert_eq!(fake.log, expected);

    fake.log.clear();
    fake.settling = usize::MAX;
    codec::apply(&mut fake, 0, &verbs).unwrap();
    let reads = fake.log.iter().filter(|(_, v)| *v == f05).count();
    assert_eq!(reads, 2 * codec::POWER_POLLS);
    assert_eq!(fake.log.last(), verbs.last(), "the route is still opened");

    // A transport error stops it: nothing is sent to a codec that is not there.
    fake.log.clear();
    assert!(codec::apply(&mut fake, 3, &verbs).is_err());
    assert!(fake.log.is_empty());
}
