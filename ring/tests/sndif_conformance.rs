//! Our sndif, ring and errno definitions against the real Xen headers (`XEN_INCLUDE`).

mod support;

use std::mem::{offset_of, size_of};

use support::{Conformance, mutated_headers};
use xen_ring::errno;
use xen_ring::ring;
use xen_ring::sndif::{self, PcmFormat, wire};

const HEADERS: &[&str] = &[
    "xen/xen.h",
    "xen/errno.h",
    "xen/io/ring.h",
    "xen/io/sndif.h",
];

fn sndif_checks() -> Conformance {
    let mut c = Conformance::new(HEADERS);
    c.expect("XENSND_PROTOCOL_VERSION", sndif::XENSND_PROTOCOL_VERSION);
    for (name, value) in [
        ("XENSND_OP_OPEN", sndif::XENSND_OP_OPEN),
        ("XENSND_OP_CLOSE", sndif::XENSND_OP_CLOSE),
        ("XENSND_OP_READ", sndif::XENSND_OP_READ),
        ("XENSND_OP_WRITE", sndif::XENSND_OP_WRITE),
        ("XENSND_OP_SET_VOLUME", sndif::XENSND_OP_SET_VOLUME),
        ("XENSND_OP_GET_VOLUME", sndif::XENSND_OP_GET_VOLUME),
        ("XENSND_OP_MUTE", sndif::XENSND_OP_MUTE),
        ("XENSND_OP_UNMUTE", sndif::XENSND_OP_UNMUTE),
        ("XENSND_OP_TRIGGER", sndif::XENSND_OP_TRIGGER),
        ("XENSND_OP_HW_PARAM_QUERY", sndif::XENSND_OP_HW_PARAM_QUERY),
        ("XENSND_OP_TRIGGER_START", sndif::XENSND_OP_TRIGGER_START),
        ("XENSND_OP_TRIGGER_PAUSE", sndif::XENSND_OP_TRIGGER_PAUSE),
        ("XENSND_OP_TRIGGER_STOP", sndif::XENSND_OP_TRIGGER_STOP),
        ("XENSND_OP_TRIGGER_RESUME", sndif::XENSND_OP_TRIGGER_RESUME),
        ("XENSND_EVT_CUR_POS", sndif::XENSND_EVT_CUR_POS),
    ] {
        c.expect(name, value);
    }
    for format in PcmFormat::ALL {
        let macro_name = format!("XENSND_PCM_FORMAT_{}", c_format_suffix(format));
        c.expect(&macro_name, format.code());
        c.expect_str(&format!("{macro_name}_STR"), format.name());
    }
    for (name, value) in [
        ("XENSND_DRIVER_NAME", sndif::XENSND_DRIVER_NAME),
        ("XENSND_LIST_SEPARATOR", sndif::XENSND_LIST_SEPARATOR),
        ("XENSND_FIELD_BE_VERSIONS", sndif::XENSND_FIELD_BE_VERSIONS),
        ("XENSND_FIELD_FE_VERSION", sndif::XENSND_FIELD_FE_VERSION),
        (
            "XENSND_FIELD_VCARD_SHORT_NAME",
            sndif::XENSND_FIELD_VCARD_SHORT_NAME,
        ),
        (
            "XENSND_FIELD_VCARD_LONG_NAME",
            sndif::XENSND_FIELD_VCARD_LONG_NAME,
        ),
        ("XENSND_FIELD_RING_REF", sndif::XENSND_FIELD_RING_REF),
        ("XENSND_FIELD_EVT_CHNL", sndif::XENSND_FIELD_EVT_CHNL),
        (
            "XENSND_FIELD_EVT_RING_REF",
            sndif::XENSND_FIELD_EVT_RING_REF,
        ),
        (
            "XENSND_FIELD_EVT_EVT_CHNL",
            sndif::XENSND_FIELD_EVT_EVT_CHNL,
        ),
        ("XENSND_FIELD_DEVICE_NAME", sndif::XENSND_FIELD_DEVICE_NAME),
        ("XENSND_FIELD_TYPE", sndif::XENSND_FIELD_TYPE),
        (
            "XENSND_FIELD_STREAM_UNIQUE_ID",
            sndif::XENSND_FIELD_STREAM_UNIQUE_ID,
        ),
        (
            "XENSND_FIELD_CHANNELS_MIN",
            sndif::XENSND_FIELD_CHANNELS_MIN,
        ),
        (
            "XENSND_FIELD_CHANNELS_MAX",
            sndif::XENSND_FIELD_CHANNELS_MAX,
        ),
        (
            "XENSND_FIELD_SAMPLE_RATES",
            sndif::XENSND_FIELD_SAMPLE_RATES,
        ),
        (
            "XENSND_FIELD_SAMPLE_FORMATS",
            sndif::XENSND_FIELD_SAMPLE_FORMATS,
        ),
        ("XENSND_FIELD_BUFFER_SIZE", sndif::XENSND_FIELD_BUFFER_SIZE),
        (
            "XENSND_STREAM_TYPE_PLAYBACK",
            sndif::XENSND_STREAM_TYPE_PLAYBACK,
        ),
        (
            "XENSND_STREAM_TYPE_CAPTURE",
            sndif::XENSND_STREAM_TYPE_CAPTURE,
        ),
    ] {
        c.expect_str(name, value);
    }
    c.expect(
        "XENSND_SAMPLE_RATE_MAX_LEN",
        sndif::XENSND_SAMPLE_RATE_MAX_LEN,
    );
    c.expect(
        "XENSND_SAMPLE_FORMAT_MAX_LEN",
        sndif::XENSND_SAMPLE_FORMAT_MAX_LEN,
    );
    c.expect("XENSND_EVENT_PAGE_SIZE", sndif::XENSND_EVENT_PAGE_SIZE);
    c.expect("XENSND_IN_RING_OFFS", sndif::XENSND_IN_RING_OFFS);
    c.expect("XENSND_IN_RING_SIZE", sndif::XENSND_IN_RING_SIZE);
    c.expect("XENSND_IN_RING_LEN", sndif::XENSND_IN_RING_LEN);

    macro_rules! layout {
        ($c_type:literal, $rust:ty { $($c_field:literal => $field:ident),* $(,)? }) => {{
            c.size($c_type, size_of::<$rust>());
            $(c.offset($c_type, $c_field, offset_of!($rust, $field));)*
        }};
    }
    layout!("struct xensnd_open_req", wire::OpenReq {
        "pcm_rate" => pcm_rate, "pcm_format" => pcm_format, "pcm_channels" => pcm_channels,
        "reserved" => reserved, "buffer_sz" => buffer_sz, "gref_directory" => gref_directory,
        "period_sz" => period_sz,
    });
    layout!("struct xensnd_rw_req", wire::RwReq { "offset" => offset, "length" => length });
    layout!("struct xensnd_trigger_req", wire::TriggerReq { "type" => kind });
    layout!("struct xensnd_query_hw_param", wire::HwParam {
        "formats" => formats, "rates" => rates, "channels" => channels, "buffer" => buffer,
        "period" => period,
    });
    c.offset(
        "struct xensnd_query_hw_param",
        "rates.min",
        offset_of!(wire::HwParam, rates.min),
    );
    c.offset(
        "struct xensnd_query_hw_param",
        "rates.max",
        offset_of!(wire::HwParam, rates.max),
    );
    c.offset(
        "struct xensnd_query_hw_param",
        "period.max",
        offset_of!(wire::HwParam, period.max),
    );
    layout!("struct xensnd_req", wire::Req {
        "id" => id, "operation" => operation, "reserved" => reserved, "op" => op,
    });
    c.size("((struct xensnd_req *)0)->op", size_of::<[u8; 56]>());
    layout!("struct xensnd_resp", wire::Resp {
        "id" => id, "operation" => operation, "reserved" => reserved, "status" => status,
        "resp" => resp,
    });
    layout!("struct xensnd_cur_pos_evt", wire::CurPosEvt { "position" => position });
    layout!("struct xensnd_evt", wire::Event {
        "id" => id, "type" => kind, "reserved" => reserved, "op" => op,
    });
    layout!("struct xensnd_event_page", wire::EventPageHeader {
        "in_cons" => in_cons, "in_prod" => in_prod, "reserved" => reserved,
    });
    c.offset(
        "struct xensnd_page_directory",
        "gref_dir_next_page",
        wire::DIR_NEXT_PAGE,
    );
    c.offset("struct xensnd_page_directory", "gref", wire::DIR_GREFS);
    c.size("grant_ref_t", 4);
    // The shared ring that DEFINE_RING_TYPES(xen_sndif, ...) lays out.
    c.offset("struct xen_sndif_sring", "req_prod", ring::REQ_PROD);
    c.offset("struct xen_sndif_sring", "req_event", ring::REQ_EVENT);
    c.offset("struct xen_sndif_sring", "rsp_prod", ring::RSP_PROD);
    c.offset("struct xen_sndif_sring", "rsp_event", ring::RSP_EVENT);
    c.offset("struct xen_sndif_sring", "pvt", ring::PVT);
    c.offset("struct xen_sndif_sring", "ring", ring::ENTRIES);
    c.size("union xen_sndif_sring_entry", wire::SLOT_SIZE);
    c.expect("__CONST_RING_SIZE(xen_sndif, 4096)", sndif::SNDIF_RING_SIZE);
    c.expect(
        "__CONST_RING_SIZE(xen_sndif, 8192)",
        ring::round_down_pow2((8192 - 64) / 64),
    );
    c
}

/// `S16Le` → `S16_LE`, `Iec958SubframeBe` → `IEC958_SUBFRAME_BE`.
fn c_format_suffix(format: PcmFormat) -> String {
    format
        .name()
        .to_uppercase()
        .replace("FLOAT64", "F64")
        .replace("FLOAT", "F32")
}

#[test]
fn sndif_ring_and_layouts_match_the_xen_headers() {
    let checks = sndif_checks();
    assert!(checks.len() > 140, "only {} checks", checks.len());
    checks.assert_all();
}

#[test]
fn every_xen_errno_matches() {
    let mut c = Conformance::new(HEADERS);
    for (name, value) in errno::ALL {
        c.expect(&format!("XEN_{name}"), value.0);
    }
    c.assert_all();
    // And the table is complete: every XEN_ERRNO(...) line of the header is in it.
    let header = std::fs::read_to_string(support::xen_include().join("xen/errno.h")).unwrap();
    let mut internal = false; // inside `#ifdef __XEN__`: never exposed to guests
    let listed: Vec<&str> = header
        .lines()
        .filter(|l| {
            if l.starts_with("#ifdef __XEN__") {
                internal = true;
            } else if l.starts_with("#endif") {
                internal = false;
            }
            !internal
        })
        .filter_map(|l| l.strip_prefix("XEN_ERRNO("))
        .filter_map(|l| l.split(',').next())
        .collect();
    assert!(listed.len() > 40);
    for name in listed {
        assert!(
            errno::ALL.iter().any(|(n, _)| *n == name),
            "errno {name} missing from our table"
        );
    }
}

#[test]
fn a_changed_constant_in_the_headers_is_caught() {
    let dir = mutated_headers("xen/io/sndif.h", |h| {
        h.replace(
            "#define XENSND_OP_TRIGGER               8",
            "#define XENSND_OP_TRIGGER               12",
        )
    });
    let mismatches = sndif_checks().mismatches(&dir);
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!(mismatches[0].c_expr, "XENSND_OP_TRIGGER");
}

#[test]
fn a_changed_struct_field_in_the_headers_is_caught() {
    let dir = mutated_headers("xen/io/sndif.h", |h| {
        h.replacen(
            "    uint8_t pcm_channels;\n    uint16_t reserved;",
            "    uint16_t pcm_channels;\n    uint8_t reserved;",
            1,
        )
    });
    let mismatches = sndif_checks().mismatches(&dir);
    let names: Vec<&str> = mismatches.iter().map(|m| m.c_expr.as_str()).collect();
    assert!(
        names.contains(&"offsetof(struct xensnd_open_req, reserved)"),
        "{names:?}"
    );
}

#[test]
fn a_changed_format_string_is_caught() {
    let dir = mutated_headers("xen/io/sndif.h", |h| {
        h.replace("\"float_le\"", "\"f32_le\"")
    });
    let mismatches = sndif_checks().mismatches(&dir);
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
}
