//! Any byte stream from the xenstore daemon, in any chunking, decodes without panicking;
//! every message is classified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_ring::xenstore::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = Decoder::new();
    for piece in stream.chunks(chunk) {
        decoder.feed(piece, |message| {
            if let Ok(message) = message {
                let _ = message.reply();
            }
        });
    }
});
