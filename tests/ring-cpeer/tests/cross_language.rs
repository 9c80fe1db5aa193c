//! Our Rust ring ends against the C ends built from the real Xen macros, through one page
//! of shared memory: payloads, wraparound, notify decisions and the event page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use xen_ring::ring;
use xen_ring::shmem::SharedMem;
use xen_ring::sndif::{EventPage, SndifBackRing, SndifFrontRing};
use xen_ring_cpeer::{CBack, CFront, CTake, RawPage, c_take_event};

const MESSAGES: u32 = 100_000;
/// Start just below the u32 wrap so every run crosses it; 100k messages wrap the 32 slots
/// more than 3,000 times.
const START: u32 = u32::MAX - 5_000;
const DEADLINE: Duration = Duration::from_secs(60);

/// A request or response carrying `seq` in every position, so torn copies are caught.
fn message(seq: u32, salt: u8) -> [u8; 64] {
    let mut m = [0u8; 64];
    for (i, chunk) in m.chunks_mut(4).enumerate() {
        chunk.copy_from_slice(&(seq ^ (i as u32) << 24 ^ u32::from(salt)).to_le_bytes());
    }
    m
}

fn prepare(page: &RawPage) {
    ring::init_shared(page);
    for offset in [ring::REQ_PROD, ring::RSP_PROD] {
        page.store_u32(offset, START);
    }
    for offset in [ring::REQ_EVENT, ring::RSP_EVENT] {
        page.store_u32(offset, START.wrapping_add(1));
    }
}

fn check_deadline(start: Instant, what: &str) {
    assert!(
        start.elapsed() < DEADLINE,
        "{what}: no progress within {DEADLINE:?}"
    );
}

#[test]
fn c_frontend_and_rust_backend_exchange_100k_messages() {
    let page = RawPage::new();
    prepare(&page);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            // Our backend: answer each request with its sequence number, salted.
            let mut back = SndifBackRing::attach(&page);
            let start = Instant::now();
            let mut answered = 0;
            while answered < MESSAGES {
                check_deadline(start, "Rust backend");
                match back.next_request().expect("the C frontend is well behaved") {
                    Some(req) => {
                        let seq = u32::from_le_bytes(req[..4].try_into().unwrap());
                        assert_eq!(req, message(seq, 0), "request {answered} arrived torn");
                        back.push_response(&message(seq, 0x5a)).unwrap();
                        back.push_responses_and_check_notify();
                        answered += 1;
                    }
                    None => {
                        back.final_check_for_requests().unwrap();
                        thread::yield_now();
                    }
                }
            }
            done.store(true, Ordering::Release);
        });
        // The C frontend, driven from this thread.
        let mut front = CFront::new(&page, false, START);
        let start = Instant::now();
        let (mut sent, mut received) = (0u32, 0u32);
        while received < MESSAGES {
            check_deadline(start, "C frontend");
            while sent < MESSAGES && front.push(&message(sent, 0)) {
                sent += 1;
            }
            front.publish();
            while let Some(rsp) = front.take() {
                assert_eq!(
                    rsp,
                    message(received, 0x5a),
                    "response {received} wrong or out of order"
                );
                received += 1;
            }
            if !front.final_check() {
                thread::yield_now();
            }
        }
    });
    assert!(done.load(Ordering::Acquire));
    assert_eq!(page.load_u32(ring::RSP_PROD), START.wrapping_add(MESSAGES));
}

#[test]
fn rust_frontend_and_c_backend_exchange_100k_messages() {
    let page = RawPage::new();
    prepare(&page);
    thread::scope(|s| {
        s.spawn(|| {
            let mut back = CBack::new(&page, START);
            let start = Instant::now();
            let mut answered = 0;
            while answered < MESSAGES {
                check_deadline(start, "C backend");
                match back.take() {
                    CTake::Request(req) => {
                        let seq = u32::from_le_bytes(req[..4].try_into().unwrap());
                        assert_eq!(req, message(seq, 0));
                        back.respond(&message(seq, 0xa5));
                        back.publish();
                        answered += 1;
                    }
                    CTake::Nothing => {
                        back.final_check();
                        thread::yield_now();
                    }
                    CTake::Broken => panic!("the C backend judged our frontend broken"),
                }
            }
        });
        let mut front = SndifFrontRing::attach(&page, START);
        let start = Instant::now();
        let (mut sent, mut received) = (0u32, 0u32);
        while received < MESSAGES {
            check_deadline(start, "Rust frontend");
            while sent < MESSAGES && front.push_request(&message(sent, 0)).is_ok() {
                sent += 1;
            }
            front.push_requests_and_check_notify();
            while let Some(rsp) = front.next_response().unwrap() {
                assert_eq!(rsp, message(received, 0xa5));
                received += 1;
            }
            if !front.final_check_for_responses().unwrap() {
                thread::yield_now();
            }
        }
    });
}

/// One step of a deterministic script, applied to a C pair and a Rust pair in lockstep.
#[derive(Debug, Clone, Copy)]
enum Step {
    Push(u32),
    PublishRequests,
    TakeRequests(u32),
    BackFinalCheck,
    Respond(u32),
    PublishResponses,
    TakeResponses,
    FrontFinalCheck,
}

/// A small deterministic generator (no dependency needed for a fixed script).
fn script(seed: u64, len: usize) -> Vec<Step> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..len)
        .map(|_| match next() % 8 {
            0 => Step::Push(1 + (next() % 5) as u32),
            1 => Step::PublishRequests,
            2 => Step::TakeRequests(1 + (next() % 6) as u32),
            3 => Step::BackFinalCheck,
            4 => Step::Respond(1 + (next() % 6) as u32),
            5 => Step::PublishResponses,
            6 => Step::TakeResponses,
            _ => Step::FrontFinalCheck,
        })
        .collect()
}

#[test]
fn notify_decisions_agree_with_the_c_macros() {
    for (seed, start) in [
        (1u64, 0u32),
        (7, START),
        (99, u32::MAX - 3),
        (12345, 1 << 31),
    ] {
        let (c_page, rust_page) = (RawPage::new(), RawPage::new());
        prepare(&c_page);
        prepare(&rust_page);
        for page in [&c_page, &rust_page] {
            for offset in [ring::REQ_PROD, ring::RSP_PROD] {
                page.store_u32(offset, start);
            }
            for offset in [ring::REQ_EVENT, ring::RSP_EVENT] {
                page.store_u32(offset, start.wrapping_add(1));
            }
        }
        let mut c_front = CFront::new(&c_page, false, start);
        let mut c_back = CBack::new(&c_page, start);
        let mut r_front = SndifFrontRing::attach(&rust_page, start);
        let mut r_back = SndifBackRing::attach(&rust_page);
        let (mut c_pending, mut r_pending) = (0u32, 0u32); // taken, not yet answered
        let mut decisions = 0;
        for (i, step) in script(seed, 5_000).into_iter().enumerate() {
            let ctx = format!("seed {seed}, step {i}: {step:?}");
            match step {
                Step::Push(n) => {
                    for k in 0..n {
                        let m = message(i as u32 * 8 + k, 1);
                        assert_eq!(c_front.push(&m), r_front.push_request(&m).is_ok(), "{ctx}");
                    }
                }
                Step::PublishRequests => {
                    assert_eq!(
                        c_front.publish(),
                        r_front.push_requests_and_check_notify(),
                        "{ctx}"
                    );
                    decisions += 1;
                }
                Step::TakeRequests(n) => {
                    for _ in 0..n {
                        let c = match c_back.take() {
                            CTake::Request(r) => Some(r),
                            CTake::Nothing => None,
                            CTake::Broken => panic!("{ctx}: C backend saw overflow"),
                        };
                        let r = r_back.next_request().unwrap();
                        assert_eq!(c, r, "{ctx}");
                        c_pending += u32::from(c.is_some());
                        r_pending += u32::from(r.is_some());
                    }
                }
                Step::BackFinalCheck => {
                    assert_eq!(
                        c_back.final_check(),
                        r_back.final_check_for_requests().unwrap(),
                        "{ctx}"
                    );
                    decisions += 1;
                }
                Step::Respond(n) => {
                    for k in 0..n.min(c_pending) {
                        let m = message(i as u32 * 8 + k, 2);
                        c_back.respond(&m);
                        r_back.push_response(&m).unwrap();
                    }
                    c_pending -= n.min(c_pending);
                    r_pending -= n.min(r_pending);
                }
                Step::PublishResponses => {
                    assert_eq!(
                        c_back.publish(),
                        r_back.push_responses_and_check_notify(),
                        "{ctx}"
                    );
                    decisions += 1;
                }
                Step::TakeResponses => loop {
                    let (c, r) = (c_front.take(), r_front.next_response().unwrap());
                    assert_eq!(c, r, "{ctx}");
                    if c.is_none() {
                        break;
                    }
                },
                Step::FrontFinalCheck => {
                    assert_eq!(
                        c_front.final_check(),
                        r_front.final_check_for_responses().unwrap(),
                        "{ctx}"
                    );
                    decisions += 1;
                }
            }
            let mut c_bytes = [0u8; 4096];
            let mut r_bytes = [0u8; 4096];
            c_page.read(0, &mut c_bytes);
            rust_page.read(0, &mut r_bytes);
            assert!(c_bytes == r_bytes, "{ctx}: the shared pages differ");
        }
        assert!(
            decisions > 2_000,
            "the script exercised only {decisions} decisions"
        );
    }
}

#[test]
fn c_frontend_consumes_100k_events_from_our_producer() {
    let page = RawPage::new();
    let producer_done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut events = EventPage::attach(&page);
            let start = Instant::now();
            let mut id: u16 = 0;
            let mut sent = 0u32;
            while sent < MESSAGES {
                check_deadline(start, "Rust event producer");
                match events.push_cur_pos(id, u64::from(sent) * 4096 + 7) {
                    Ok(()) => {
                        id = id.wrapping_add(1); // ids are spent only on enqueued events
                        sent += 1;
                    }
                    Err(xen_ring::sndif::EventPageError::Full) => thread::yield_now(),
                    Err(e) => panic!("producer: {e:?}"),
                }
            }
            producer_done.store(true, Ordering::Release);
        });
        let start = Instant::now();
        let mut received = 0u32;
        while received < MESSAGES {
            check_deadline(start, "C event consumer");
            match c_take_event(&page) {
                Some((id, kind, position)) => {
                    assert_eq!(kind, xen_ring::sndif::XENSND_EVT_CUR_POS);
                    assert_eq!(id, received as u16, "event ids must be continuous");
                    assert_eq!(position, u64::from(received) * 4096 + 7);
                    received += 1;
                }
                None => thread::yield_now(),
            }
        }
    });
    assert!(producer_done.load(Ordering::Acquire));
    assert_eq!(page.load_u32(4), MESSAGES, "in_prod counts every event");
}
