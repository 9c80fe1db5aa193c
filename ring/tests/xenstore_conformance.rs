//! Our xenstore, console and xenbus definitions against the real Xen headers.

mod support;

use support::{Conformance, mutated_headers};
use xen_ring::xenbus::XenbusState;
use xen_ring::xenstore::{self, MsgType, interface};
use xen_ring::{console, errno};

const HEADERS: &[&str] = &[
    "errno.h",
    "xen/xen.h",
    "xen/io/xs_wire.h",
    "xen/io/console.h",
    "xen/io/xenbus.h",
];

fn checks() -> Conformance {
    let mut c = Conformance::new(HEADERS);
    for kind in MsgType::ALL {
        c.expect(&format!("XS_{}", c_msg_name(kind)), kind as u32);
    }
    c.expect("XS_DEBUG", MsgType::Control as u32);
    c.expect("XS_TYPE_COUNT", xenstore::XS_TYPE_COUNT);
    c.expect("XS_INVALID", xenstore::XS_INVALID);
    c.expect_str("XS_WRITE_NONE", xenstore::XS_WRITE_NONE);
    c.expect_str("XS_WRITE_CREATE", xenstore::XS_WRITE_CREATE);
    c.expect_str("XS_WRITE_CREATE_EXCL", xenstore::XS_WRITE_CREATE_EXCL);
    c.expect("XS_WATCH_PATH", xenstore::XS_WATCH_PATH);
    c.expect("XS_WATCH_TOKEN", xenstore::XS_WATCH_TOKEN);
    // The error table: same length, same order, same names, and each name's errno equals
    // the Xen errno we map it to.
    c.expect(
        "sizeof(xsd_errors) / sizeof(xsd_errors[0])",
        xenstore::XSD_ERRORS.len(),
    );
    for (i, (name, value)) in xenstore::XSD_ERRORS.iter().enumerate() {
        c.expect_str(&format!("xsd_errors[{i}].errstring"), name);
        c.expect(&format!("xsd_errors[{i}].errnum"), value.0);
    }
    c.size("struct xsd_sockmsg", xenstore::HEADER_SIZE);
    for (i, field) in ["type", "req_id", "tx_id", "len"].iter().enumerate() {
        c.offset("struct xsd_sockmsg", field, 4 * i);
    }
    c.expect("XENSTORE_RING_SIZE", xenstore::XENSTORE_RING_SIZE);
    c.expect(
        "MASK_XENSTORE_IDX(0xffffffffu)",
        xenstore::XENSTORE_RING_SIZE - 1,
    );
    c.expect("XENSTORE_PAYLOAD_MAX", xenstore::XENSTORE_PAYLOAD_MAX);
    c.expect("XENSTORE_ABS_PATH_MAX", xenstore::XENSTORE_ABS_PATH_MAX);
    c.expect("XENSTORE_REL_PATH_MAX", xenstore::XENSTORE_REL_PATH_MAX);
    c.expect(
        "XENSTORE_SERVER_FEATURE_RECONNECTION",
        xenstore::XENSTORE_SERVER_FEATURE_RECONNECTION,
    );
    c.expect(
        "XENSTORE_SERVER_FEATURE_ERROR",
        xenstore::XENSTORE_SERVER_FEATURE_ERROR,
    );
    c.expect("XENSTORE_CONNECTED", xenstore::XENSTORE_CONNECTED);
    c.expect("XENSTORE_RECONNECT", xenstore::XENSTORE_RECONNECT);
    c.expect("XENSTORE_ERROR_NONE", xenstore::XENSTORE_ERROR_NONE);
    c.expect("XENSTORE_ERROR_COMM", xenstore::XENSTORE_ERROR_COMM);
    c.expect("XENSTORE_ERROR_RINGIDX", xenstore::XENSTORE_ERROR_RINGIDX);
    c.expect("XENSTORE_ERROR_PROTO", xenstore::XENSTORE_ERROR_PROTO);
    let xs = "struct xenstore_domain_interface";
    c.size(xs, interface::INTERFACE_SIZE);
    for (field, offset) in [
        ("req", interface::REQ),
        ("rsp", interface::RSP),
        ("req_cons", interface::REQ_CONS),
        ("req_prod", interface::REQ_PROD),
        ("rsp_cons", interface::RSP_CONS),
        ("rsp_prod", interface::RSP_PROD),
        ("server_features", interface::SERVER_FEATURES),
        ("connection", interface::CONNECTION),
        ("error", interface::ERROR),
    ] {
        c.offset(xs, field, offset);
    }
    let cons = "struct xencons_interface";
    c.size(cons, console::INTERFACE_SIZE);
    for (field, offset) in [
        ("in", console::IN),
        ("out", console::OUT),
        ("in_cons", console::IN_CONS),
        ("in_prod", console::IN_PROD),
        ("out_cons", console::OUT_CONS),
        ("out_prod", console::OUT_PROD),
    ] {
        c.offset(cons, field, offset);
    }
    c.expect(
        "sizeof(((struct xencons_interface *)0)->in)",
        console::IN_SIZE,
    );
    c.expect(
        "sizeof(((struct xencons_interface *)0)->out)",
        console::OUT_SIZE,
    );
    c.expect(
        "MASK_XENCONS_IDX(0xffffffffu, ((struct xencons_interface *)0)->out)",
        console::OUT_SIZE - 1,
    );
    for state in XenbusState::ALL {
        c.expect(&format!("XenbusState{state:?}"), state as u8);
    }
    c
}

/// `TransactionStart` → `TRANSACTION_START`.
fn c_msg_name(kind: MsgType) -> String {
    let mut out = String::new();
    for (i, ch) in format!("{kind:?}").chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[test]
fn xenstore_console_and_xenbus_match_the_xen_headers() {
    let checks = checks();
    assert!(checks.len() > 90, "only {} checks", checks.len());
    checks.assert_all();
}

#[test]
fn xenstore_error_names_map_to_xen_errnos() {
    assert_eq!(xenstore::error_from_name("EAGAIN"), errno::EAGAIN);
    assert_eq!(xenstore::error_from_name("ENOTATHING"), errno::EINVAL);
    assert_eq!(xenstore::error_name(errno::EACCES), Some("EACCES"));
}

#[test]
fn a_changed_message_type_is_caught() {
    let dir = mutated_headers("xen/io/xs_wire.h", |h| {
        h.replace("    XS_WATCH,\n", "    XS_WATCH,\n    XS_NEW_THING,\n")
    });
    let mismatches = checks().mismatches(&dir);
    assert!(
        mismatches.iter().any(|m| m.c_expr == "XS_UNWATCH"),
        "{mismatches:?}"
    );
}

#[test]
fn a_changed_interface_field_is_caught() {
    let dir = mutated_headers("xen/io/xs_wire.h", |h| {
        h.replace(
            "char rsp[XENSTORE_RING_SIZE];",
            "char rsp[XENSTORE_RING_SIZE + 4];",
        )
    });
    let mismatches = checks().mismatches(&dir);
    let names: Vec<&str> = mismatches.iter().map(|m| m.c_expr.as_str()).collect();
    assert!(
        names.contains(&"offsetof(struct xenstore_domain_interface, req_cons)"),
        "{names:?}"
    );
}

#[test]
fn a_changed_console_ring_is_caught() {
    let dir = mutated_headers("xen/io/console.h", |h| {
        h.replace("char out[2048];", "char out[4096];")
    });
    assert!(!checks().mismatches(&dir).is_empty());
}

#[test]
fn grant_table_constants_match_the_xen_headers() {
    use xen_ring::grant::*;
    let mut c = Conformance::new(&["xen/xen.h", "xen/grant_table.h"]);
    for (name, value) in [
        ("GNTST_okay", GNTST_OKAY),
        ("GNTST_general_error", GNTST_GENERAL_ERROR),
        ("GNTST_bad_domain", GNTST_BAD_DOMAIN),
        ("GNTST_bad_gntref", GNTST_BAD_GNTREF),
        ("GNTST_bad_handle", GNTST_BAD_HANDLE),
        ("GNTST_bad_virt_addr", GNTST_BAD_VIRT_ADDR),
        ("GNTST_bad_dev_addr", GNTST_BAD_DEV_ADDR),
        ("GNTST_no_device_space", GNTST_NO_DEVICE_SPACE),
        ("GNTST_permission_denied", GNTST_PERMISSION_DENIED),
        ("GNTST_bad_page", GNTST_BAD_PAGE),
        ("GNTST_bad_copy_arg", GNTST_BAD_COPY_ARG),
        ("GNTST_address_too_big", GNTST_ADDRESS_TOO_BIG),
        ("GNTST_eagain", GNTST_EAGAIN),
        ("GNTST_no_space", GNTST_NO_SPACE),
    ] {
        c.expect(name, value);
    }
    c.expect("GNTMAP_host_map", GNTMAP_HOST_MAP);
    c.expect("GNTMAP_readonly", GNTMAP_READONLY);
    c.expect("GNTCOPY_source_gref", GNTCOPY_SOURCE_GREF);
    c.expect("GNTCOPY_dest_gref", GNTCOPY_DEST_GREF);
    c.expect("DOMID_SELF", DOMID_SELF);
    c.size("domid_t", std::mem::size_of::<DomId>());
    c.size("grant_ref_t", std::mem::size_of::<GrantRef>());
    c.assert_all();
}
