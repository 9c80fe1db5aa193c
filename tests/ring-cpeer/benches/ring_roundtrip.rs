//! Request/response round trips through one sndif ring: our Rust ends against the C ends
//! built from the real Xen macros, in the same run. One iteration is a batch of 32
//! requests pushed and published, taken and answered by the backend, and the 32 responses
//! taken by the frontend, with the final checks both sides do before sleeping.
//!
//! After criterion's own report the bench prints the Rust/C time ratio (below 1: ours is
//! faster), measured as the median of interleaved timing rounds.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use xen_ring::ring;
use xen_ring::sndif::{SndifBackRing, SndifFrontRing};
use xen_ring_cpeer::{CBack, CFront, CTake, RawPage};

const BATCH: u32 = 32;

fn rust_batch(
    front: &mut SndifFrontRing<&RawPage>,
    back: &mut SndifBackRing<&RawPage>,
    seq: &mut u32,
) {
    let mut req = [0u8; 64];
    for _ in 0..BATCH {
        req[..4].copy_from_slice(&seq.to_le_bytes());
        *seq = seq.wrapping_add(1);
        front.push_request(&req).unwrap();
    }
    black_box(front.push_requests_and_check_notify());
    while let Some(r) = back.next_request().unwrap() {
        back.push_response(&r).unwrap();
    }
    black_box(back.push_responses_and_check_notify());
    black_box(back.final_check_for_requests().unwrap());
    while let Some(r) = front.next_response().unwrap() {
        black_box(r);
    }
    black_box(front.final_check_for_responses().unwrap());
}

fn c_batch(front: &mut CFront, back: &mut CBack, seq: &mut u32) {
    let mut req = [0u8; 64];
    for _ in 0..BATCH {
        req[..4].copy_from_slice(&seq.to_le_bytes());
        *seq = seq.wrapping_add(1);
        assert!(front.push(&req));
    }
    black_box(front.publish());
    while let CTake::Request(r) = back.take() {
        back.respond(&r);
    }
    black_box(back.publish());
    black_box(back.final_check());
    while let Some(r) = front.take() {
        black_box(r);
    }
    black_box(front.final_check());
}

fn round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("sndif ring, 32 round trips");
    let rust_page = RawPage::new();
    let mut front = SndifFrontRing::init(&rust_page);
    let mut back = SndifBackRing::attach(&rust_page);
    let mut seq = 0;
    group.bench_function("rust", |b| {
        b.iter(|| rust_batch(&mut front, &mut back, &mut seq))
    });
    let c_page = RawPage::new();
    let mut c_front = CFront::new(&c_page, true, 0);
    let mut c_back = CBack::new(&c_page, 0);
    group.bench_function("c macros", |b| {
        b.iter(|| c_batch(&mut c_front, &mut c_back, &mut seq))
    });
    group.finish();
}

/// Median Rust/C time ratio over interleaved rounds, so both see the same machine state.
fn ratio() -> f64 {
    let rust_page = RawPage::new();
    let mut front = SndifFrontRing::init(&rust_page);
    let mut back = SndifBackRing::attach(&rust_page);
    let c_page = RawPage::new();
    ring::init_shared(&c_page);
    let mut c_front = CFront::new(&c_page, true, 0);
    let mut c_back = CBack::new(&c_page, 0);
    let mut seq = 0;
    let mut ratios = Vec::new();
    for _ in 0..41 {
        let t = Instant::now();
        for _ in 0..2_000 {
            rust_batch(&mut front, &mut back, &mut seq);
        }
        let rust = t.elapsed();
        let t = Instant::now();
        for _ in 0..2_000 {
            c_batch(&mut c_front, &mut c_back, &mut seq);
        }
        let c = t.elapsed();
        ratios.push(rust.as_secs_f64() / c.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

criterion_group!(benches, round_trips);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let r = ratio();
    println!(
        "sndif ring round trips: Rust/C time ratio {r:.3} ({})",
        if r <= 1.0 {
            "ours as fast or faster"
        } else {
            "ours slower"
        }
    );
}
