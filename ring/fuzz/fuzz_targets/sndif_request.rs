//! Any 64 bytes a guest can put in a request slot parse to a request or a typed refusal,
//! and an accepted request encodes back to an equivalent one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_ring::sndif::Request;

fuzz_target!(|data: &[u8]| {
    let mut slot = [0u8; 64];
    let n = data.len().min(64);
    slot[..n].copy_from_slice(&data[..n]);
    if let Ok(request) = Request::parse(&slot) {
        assert_eq!(Request::parse(&request.to_bytes()), Ok(request));
    }
});
