//! Arbitrary directory pages and buffer sizes never panic, loop or read more pages than
//! the buffer size needs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_ring::sndif::{data_pages, directory_pages, read_gref_directory};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let buffer_sz = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let first = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    let pages = &data[8..];
    let mut out = vec![0u32; 4096];
    let mut reads = 0usize;
    let result = read_gref_directory(first, buffer_sz, 16 << 20, &mut out, |gref, page| {
        reads += 1;
        // Page contents come from the input, chosen by the reference.
        let start = (gref as usize).wrapping_mul(61) % pages.len().max(1);
        for (i, b) in page.iter_mut().enumerate() {
            *b = pages.get((start + i) % pages.len().max(1)).copied().unwrap_or(0);
        }
        if gref % 17 == 3 { Err(()) } else { Ok(()) }
    });
    assert!(reads <= directory_pages(data_pages(buffer_sz)));
    if let Ok(n) = result {
        assert_eq!(n, data_pages(buffer_sz));
    }
});
