//! Property tests: whatever a hostile peer writes into shared memory, our ends classify it
//! and never panic, loop or overrun.

use proptest::prelude::*;
use xen_ring::ring::{self, RingError};
use xen_ring::shmem::{AtomicPage, PAGE_SIZE, SharedMem};
use xen_ring::sndif::{
    self, EventPage, EventPageError, GrefDirectoryError, Request, SndifBackRing, data_pages,
    directory_pages, read_gref_directory,
};
use xen_ring::xenstore::{self, DecodeError, Decoder, DomainInterface, MsgType};

/// What a hostile frontend does between our backend's steps.
#[derive(Debug, Clone)]
enum Hostile {
    SetReqProd(u32),
    JumpReqProd(u32),
    Scribble { slot: u8, byte: u8 },
    SetReqEvent(u32),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        any::<u32>().prop_map(Hostile::SetReqProd),
        (0u32..80).prop_map(Hostile::JumpReqProd),
        (any::<u8>(), any::<u8>()).prop_map(|(slot, byte)| Hostile::Scribble { slot, byte }),
        any::<u32>().prop_map(Hostile::SetReqEvent),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn request_index_games_are_classified(start in any::<u32>(), moves in prop::collection::vec((hostile(), 0u8..4), 1..60)) {
        let page = AtomicPage::new();
        ring::init_shared(&page);
        page.store_u32(ring::REQ_PROD, start);
        page.store_u32(ring::RSP_PROD, start);
        let mut back = SndifBackRing::attach(&page);
        for (attack, answers) in moves {
            match attack {
                Hostile::SetReqProd(v) => page.store_u32(ring::REQ_PROD, v),
                Hostile::JumpReqProd(d) => {
                    let v = page.load_u32(ring::REQ_PROD).wrapping_add(d);
                    page.store_u32(ring::REQ_PROD, v);
                }
                Hostile::Scribble { slot, byte } => page.write(64 + usize::from(slot) * 8, &[byte; 8]),
                Hostile::SetReqEvent(v) => page.store_u32(ring::REQ_EVENT, v),
            }
            let req_prod = page.load_u32(ring::REQ_PROD);
            let claimed = req_prod.wrapping_sub(back.rsp_prod_pvt());
            match back.next_request() {
                Err(RingError::RequestOverflow { .. }) => prop_assert!(claimed > sndif::SNDIF_RING_SIZE),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
                Ok(taken) => {
                    prop_assert!(claimed <= sndif::SNDIF_RING_SIZE);
                    if let Some(slot) = taken {
                        // Whatever the slot holds, parsing classifies it.
                        let _ = Request::parse(&slot);
                    }
                }
            }
            // Never more requests in hand than the ring has slots.
            prop_assert!(back.req_cons().wrapping_sub(back.rsp_prod_pvt()) <= sndif::SNDIF_RING_SIZE);
            for _ in 0..answers {
                if back.push_response(&[0; 64]).is_err() {
                    break;
                }
            }
            back.push_responses_and_check_notify();
            let _ = back.final_check_for_requests();
        }
    }

    #[test]
    fn garbage_requests_parse_or_are_refused_with_their_id(slot in prop::array::uniform32(any::<u8>()), tail in prop::array::uniform32(any::<u8>())) {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&slot);
        bytes[32..].copy_from_slice(&tail);
        let id = u16::from_le_bytes([bytes[0], bytes[1]]);
        match Request::parse(&bytes) {
            Ok(request) => {
                prop_assert_eq!(request.id, id);
                prop_assert_eq!(request.op.code(), bytes[2]);
                prop_assert_eq!(Request::parse(&request.to_bytes()), Ok(request));
            }
            Err(refused) => {
                prop_assert_eq!(refused.id, id);
                prop_assert_eq!(refused.operation, bytes[2]);
                prop_assert!(refused.reason.errno().negated() < 0);
            }
        }
    }

    #[test]
    fn random_directory_chains_are_bounded(
        buffer_sz in any::<u32>(),
        cap in any::<u32>(),
        first in any::<u32>(),
        pages in prop::collection::btree_map(any::<u32>(), prop::collection::vec(any::<u32>(), 0..8), 0..8),
    ) {
        let mut out = vec![0u32; 3 * 1023];
        let mut reads = 0usize;
        let result = read_gref_directory(first, buffer_sz, cap, &mut out, |gref, page: &mut [u8; PAGE_SIZE]| -> Result<(), &str> {
            reads += 1;
            let words = pages.get(&gref).ok_or("not granted")?;
            page.fill(0);
            // Sparse pages: each word lands at a spot derived from its value.
            for (i, w) in words.iter().enumerate() {
                let at = if i == 0 { 0 } else { 4 * (1 + (*w as usize % 1023)) };
                page[at..at + 4].copy_from_slice(&w.to_le_bytes());
            }
            Ok(())
        });
        prop_assert!(reads <= directory_pages(data_pages(buffer_sz)));
        match result {
            Ok(n) => prop_assert_eq!(n, data_pages(buffer_sz)),
            Err(GrefDirectoryError::BufferTooLarge { .. }) => prop_assert!(buffer_sz > cap),
            Err(GrefDirectoryError::OutputTooSmall { needed }) => prop_assert!(needed > out.len()),
            Err(GrefDirectoryError::ChainEndsEarly { index }) => prop_assert!(index + 1 < directory_pages(data_pages(buffer_sz))),
            Err(GrefDirectoryError::Page { .. }) => {}
        }
    }

    #[test]
    fn corrupted_event_consumer_index_is_classified(in_cons in any::<u32>(), pushes in 0u32..100) {
        let page = AtomicPage::new();
        let mut events = EventPage::attach(&page);
        page.store_u32(0, in_cons);
        for i in 0..pushes {
            let pending = 0u32.wrapping_add(i).wrapping_sub(in_cons);
            match events.push_cur_pos(i as u16, u64::from(i)) {
                Ok(()) => prop_assert!(pending < 63),
                Err(EventPageError::Full) => { prop_assert_eq!(pending, 63); break; }
                Err(EventPageError::Broken { .. }) => { prop_assert!(pending > 63); break; }
            }
        }
    }

    #[test]
    fn random_xenstore_streams_in_random_chunks_never_panic(stream in prop::collection::vec(any::<u8>(), 0..6000), chunk in 1usize..700) {
        let mut decoder = Decoder::new();
        let mut consumed = 0;
        let mut outcomes = 0;
        for piece in stream.chunks(chunk) {
            consumed += decoder.feed(piece, |m| {
                outcomes += 1;
                match m {
                    Ok(message) => { let _ = message.reply(); }
                    Err(DecodeError::TooLong { len }) => assert!(len as usize > xenstore::XENSTORE_PAYLOAD_MAX),
                    Err(_) => {}
                }
            });
        }
        prop_assert!(consumed == stream.len() || decoder.is_broken());
        prop_assert!(outcomes <= stream.len() / xenstore::HEADER_SIZE + 1);
    }

    #[test]
    fn xenstore_messages_cross_the_shared_ring_intact(
        start in any::<u32>(),
        messages in prop::collection::vec((0usize..22, any::<u32>(), "[a-z/]{1,40}", prop::collection::vec(any::<u8>(), 0..1500)), 1..12),
    ) {
        let page = AtomicPage::new();
        for offset in [xenstore::interface::REQ_CONS, xenstore::interface::REQ_PROD] {
            page.store_u32(offset, start);
        }
        let ring = DomainInterface::new(&page);
        let mut decoder = Decoder::new();
        let mut received = Vec::new();
        for (kind, req_id, path, value) in &messages {
            let kind = MsgType::ALL[*kind];
            let mut bytes = vec![0u8; 16 + 4096];
            let n = xenstore::encode(kind, *req_id, 0, &[path.as_bytes()], value, &mut bytes).unwrap();
            let mut sent = 0;
            while sent < n {
                sent += ring.write_request(&bytes[sent..n]).unwrap();
                let mut buf = [0u8; 300];
                let got = ring.daemon_read_request(&mut buf).unwrap();
                decoder.feed(&buf[..got], |m| received.push(m.map(|m| (m.kind, m.req_id, m.payload.to_vec()))));
            }
            let mut buf = [0u8; 1024];
            loop {
                let got = ring.daemon_read_request(&mut buf).unwrap();
                if got == 0 { break; }
                decoder.feed(&buf[..got], |m| received.push(m.map(|m| (m.kind, m.req_id, m.payload.to_vec()))));
            }
        }
        prop_assert_eq!(received.len(), messages.len());
        for (got, (kind, req_id, path, value)) in received.into_iter().zip(&messages) {
            let mut payload = path.as_bytes().to_vec();
            payload.push(0);
            payload.extend_from_slice(value);
            prop_assert_eq!(got, Ok((MsgType::ALL[*kind], *req_id, payload)));
        }
    }

    #[test]
    fn corrupted_xenstore_indices_are_classified(cons in any::<u32>(), prod in any::<u32>()) {
        let page = AtomicPage::new();
        page.store_u32(xenstore::interface::RSP_CONS, cons);
        page.store_u32(xenstore::interface::RSP_PROD, prod);
        let ring = DomainInterface::new(&page);
        let mut buf = [0u8; PAGE_SIZE];
        let result = ring.read_response(&mut buf);
        prop_assert_eq!(result.is_err(), prod.wrapping_sub(cons) > 1024);
    }
}
