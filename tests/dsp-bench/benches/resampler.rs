//! One second of stereo 44.1 kHz to 48 kHz: ours against speexdsp at quality 5 and 10, same
//! input, same run; then a quality and speed report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dsp_bench::{Speex, Subject, s16_to_s24, stereo_program, to_s16, tone_snr, worst_snr};
use vsnd_backend::dsp::resample::Resampler;

const IN_RATE: u32 = 44_100;
const OUT_RATE: u32 = 48_000;
const CHANNELS: usize = 2;
const SPEEX_QUALITIES: [i32; 2] = [5, 10];

/// A converter timed on the shared input, streaming (no reset between runs).
enum Converter {
    Ours(Resampler, Vec<i32>, Vec<i32>),
    Speex(Speex, Vec<i16>, Vec<i16>),
    SpeexFloat(Speex, Vec<f32>, Vec<f32>),
}

impl Converter {
    fn all(input: &[i16]) -> Vec<(String, Converter)> {
        let out_len = (OUT_RATE as usize + 16) * CHANNELS;
        let mut v = vec![(
            "ours".to_string(),
            Converter::Ours(
                Resampler::new(IN_RATE, OUT_RATE, CHANNELS).expect("rates"),
                s16_to_s24(input),
                vec![0; out_len],
            ),
        )];
        for q in SPEEX_QUALITIES {
            v.push((
                format!("speex q{q}"),
                Converter::Speex(
                    Speex::new(IN_RATE, OUT_RATE, CHANNELS, q).expect("speexdsp init"),
                    input.to_vec(),
                    vec![0; out_len],
                ),
            ));
        }
        v
    }

    /// speexdsp through its `f32` API (report only: its native path, no int16 conversion).
    fn speex_float(input: &[i16], quality: i32) -> Converter {
        Converter::SpeexFloat(
            Speex::new(IN_RATE, OUT_RATE, CHANNELS, quality).expect("speexdsp init"),
            input.iter().map(|&v| f32::from(v) / 32768.0).collect(),
            vec![0.0; (OUT_RATE as usize + 16) * CHANNELS],
        )
    }

    /// Converts the whole second; returns output frames.
    fn run(&mut self) -> usize {
        match self {
            Converter::Ours(r, input, out) => {
                let (used, written) = r.process(black_box(input), out);
                debug_assert_eq!(used * CHANNELS, input.len());
                black_box(&out[..]);
                written
            }
            Converter::Speex(s, input, out) => {
                let (mut used, mut written) = (0, 0);
                while used * CHANNELS < input.len() {
                    let (u, w) = s.process(
                        black_box(&input[used * CHANNELS..]),
                        &mut out[written * CHANNELS..],
                    );
                    if u == 0 && w == 0 {
                        break;
                    }
                    used += u;
                    written += w;
                }
                black_box(&out[..]);
                written
            }
            Converter::SpeexFloat(s, input, out) => {
                let (mut used, mut written) = (0, 0);
                while used * CHANNELS < input.len() {
                    let (u, w) = s.process_float(
                        black_box(&input[used * CHANNELS..]),
                        &mut out[written * CHANNELS..],
                    );
                    if u == 0 && w == 0 {
                        break;
                    }
                    used += u;
                    written += w;
                }
                black_box(&out[..]);
                written
            }
        }
    }

    /// Median ns per output frame over `runs` conversions.
    fn ns_per_frame(&mut self, runs: usize) -> f64 {
        let mut t: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let frames = self.run();
                start.elapsed().as_nanos() as f64 / frames.max(1) as f64
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }
}

fn input() -> Vec<i16> {
    to_s16(&stereo_program(IN_RATE))
}

fn bench(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("resample_1s_stereo_44k1_to_48k");
    group.throughput(Throughput::Elements(OUT_RATE as u64));
    for (name, mut conv) in Converter::all(&input) {
        group.bench_function(&name, |b| b.iter(|| conv.run()));
    }
    group.finish();
}

fn report() {
    let input = input();
    let mut times = Vec::new();
    for (name, mut conv) in Converter::all(&input) {
        conv.run(); // warm caches
        times.push((name, conv.ns_per_frame(30)));
    }
    let float_times: Vec<f64> = SPEEX_QUALITIES
        .iter()
        .map(|&q| {
            let mut conv = Converter::speex_float(&input, q);
            conv.run();
            conv.ns_per_frame(30)
        })
        .collect();
    let rows: [(Subject, usize); 3] = [
        (Subject::Ours16, 0),
        (Subject::Speex(SPEEX_QUALITIES[0]), 1),
        (Subject::Speex(SPEEX_QUALITIES[1]), 2),
    ];

    println!();
    println!("=== resampler report: 44.1 kHz -> 48 kHz, -1 dBFS sine, 16-bit input for all ===");
    println!(
        "{:<14} {:>12} {:>22} {:>16}",
        "", "1 kHz (dB)", "worst 20 Hz-20 kHz", "ns/frame (2ch)"
    );
    for (who, t) in rows {
        let at_1k = tone_snr(who, IN_RATE, OUT_RATE, 1_000.0);
        let (worst, at) = worst_snr(who, IN_RATE, OUT_RATE, 12);
        println!(
            "{:<14} {:>12.1} {:>13.1} @ {:>5.0} Hz {:>16.1}",
            who.label(),
            at_1k,
            worst,
            at,
            times[t].1
        );
    }
    println!("--- full resolution (ours 24-bit in/out; speexdsp through its f32 API) ---");
    for (who, t) in [
        (Subject::Ours24, times[0].1),
        (Subject::SpeexFloat(SPEEX_QUALITIES[0]), float_times[0]),
        (Subject::SpeexFloat(SPEEX_QUALITIES[1]), float_times[1]),
    ] {
        let at_1k = tone_snr(who, IN_RATE, OUT_RATE, 1_000.0);
        let (worst, at) = worst_snr(who, IN_RATE, OUT_RATE, 12);
        println!(
            "{:<14} {:>12.1} {:>13.1} @ {:>5.0} Hz {:>16.1}",
            who.label(),
            at_1k,
            worst,
            at,
            t
        );
    }
    let speex = times[1..].iter().map(|(n, t)| (n.clone(), *t));
    let speex_f32 = SPEEX_QUALITIES
        .iter()
        .zip(&float_times)
        .map(|(q, t)| (format!("speex q{q} f32"), *t));
    for (name, t) in speex.chain(speex_f32) {
        println!(
            "time ours / {name}: {:.2} ({:.2}x faster)",
            times[0].1 / t,
            t / times[0].1
        );
    }
    println!("(16-bit rows: ours rounded to 16 bits at the output like speexdsp; ours is timed on");
    println!(" 24-bit samples, speexdsp on its int16 and f32 paths.)");
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    report();
}
