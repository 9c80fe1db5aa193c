//! How far ahead of the card the mixer must write: far enough to cover the longest time the
//! backend may go without running.
//!
//! On an idle host that is one tick (1 ms). On a busy or nested host the domain is sometimes
//! not scheduled for tens of milliseconds, and every such gap longer than the lead is a gap in
//! the sound. Like a sound server's wake-up watermark, the lead follows the longest gap seen
//! over the last half-minute, and is learned all the time, not only while guests play: a
//! guest that starts playing on a jittery host gets a lead that already covers the jitter.

/// Gaps are remembered per bucket; the lead follows the largest of the last
/// `BUCKETS × BUCKET_US` (32 s).
const BUCKETS: usize = 8;
const BUCKET_US: u64 = 4_000_000;
/// Gaps longer than this are outages (a paused, suspended or migrated domain), not
/// scheduling jitter: no lead the card's buffer can hold would bridge them.
const OUTAGE_US: u64 = 100_000;

/// The longest recent gaps between two runs of the backend.
#[derive(Debug, Clone, Default)]
pub struct Pacing {
    longest: [u64; BUCKETS],
    bucket: usize,
    bucket_start_us: u64,
    last_us: Option<u64>,
}

impl Pacing {
    /// The backend runs at `now_us` (a monotonic clock).
    pub fn observe(&mut self, now_us: u64) {
        let Some(last) = self.last_us else {
            self.last_us = Some(now_us);
            self.bucket_start_us = now_us;
            return;
        };
        let now = now_us.max(last);
        self.rotate(now);
        let gap = now - last;
        if gap <= OUTAGE_US {
            self.longest[self.bucket] = self.longest[self.bucket].max(gap);
        }
        self.last_us = Some(now);
    }

    /// Moves to the bucket `now_us` falls in, forgetting the ones that fell out of the window.
    fn rotate(&mut self, now_us: u64) {
        let elapsed = (now_us - self.bucket_start_us) / BUCKET_US;
        if elapsed == 0 {
            return;
        }
        for _ in 0..elapsed.min(BUCKETS as u64) {
            self.bucket = (self.bucket + 1) % BUCKETS;
            self.longest[self.bucket] = 0;
        }
        self.bucket_start_us += elapsed * BUCKET_US;
    }

    /// The longest gap of the last 32 s, in microseconds.
    pub fn longest_gap_us(&self) -> u64 {
        self.longest.iter().copied().max().unwrap_or(0)
    }

    /// The lead to keep, in microseconds: `floor_us` (the configured lead, at least one
    /// tick) on a punctual host; on a jittery one the longest recent gap plus a quarter of
    /// the jitter, because the next gap may be a little longer still.
    pub fn lead_us(&self, floor_us: u64) -> u64 {
        let gap = self.longest_gap_us();
        if gap <= floor_us {
            floor_us
        } else {
            gap + (gap - floor_us) / 4
        }
    }
}

/// Whether `lead` is worth a log line after `reported`: twice or half of it or beyond, so
/// that a host's jitter shows in the log in a few lines, not one per tick.
pub fn far_from(reported: u32, lead: u32) -> bool {
    lead / 2 >= reported.max(1) || lead.saturating_mul(2) <= reported
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(pacing: &mut Pacing, from_us: u64, to_us: u64, every_us: u64) {
        let mut t = from_us;
        while t <= to_us {
            pacing.observe(t);
            t += every_us;
        }
    }

    #[test]
    fn a_punctual_host_keeps_the_configured_lead() {
        let mut pacing = Pacing::default();
        ticks(&mut pacing, 0, 5_000_000, 1000);
        assert_eq!(pacing.longest_gap_us(), 1000);
        assert_eq!(pacing.lead_us(1000), 1000);
        assert_eq!(pacing.lead_us(5000), 5000);
    }

    #[test]
    fn one_stall_raises_the_lead_for_the_whole_window_then_it_falls_back() {
        let mut pacing = Pacing::default();
        ticks(&mut pacing, 0, 1_000_000, 1000);
        pacing.observe(1_030_000); // 30 ms without running
        assert_eq!(pacing.longest_gap_us(), 30_000);
        assert_eq!(pacing.lead_us(1000), 30_000 + 29_000 / 4);
        ticks(&mut pacing, 1_031_000, 28_000_000, 1000);
        assert_eq!(pacing.longest_gap_us(), 30_000, "remembered for 28 s");
        ticks(&mut pacing, 28_001_000, 40_000_000, 1000);
        assert_eq!(pacing.longest_gap_us(), 1000, "forgotten after the window");
        assert_eq!(pacing.lead_us(1000), 1000);
    }

    #[test]
    fn it_learns_from_the_first_gap_and_the_largest_wins() {
        let mut pacing = Pacing::default();
        pacing.observe(7_000_000);
        assert_eq!(pacing.longest_gap_us(), 0, "one look is no gap");
        pacing.observe(7_012_000);
        pacing.observe(7_020_000);
        assert_eq!(pacing.longest_gap_us(), 12_000);
    }

    #[test]
    fn outages_and_a_clock_going_back_do_not_count() {
        let mut pacing = Pacing::default();
        ticks(&mut pacing, 0, 10_000, 1000);
        pacing.observe(2_000_000); // paused for two seconds
        pacing.observe(1_000_000); // not monotonic: ignored
        pacing.observe(2_001_000);
        assert_eq!(pacing.longest_gap_us(), 1000);
    }

    #[test]
    fn a_long_silence_between_looks_clears_every_bucket_in_bounded_steps() {
        let mut pacing = Pacing::default();
        ticks(&mut pacing, 0, 100_000, 20_000);
        assert_eq!(pacing.longest_gap_us(), 20_000);
        pacing.observe(u64::MAX / 2);
        assert_eq!(pacing.longest_gap_us(), 0);
        pacing.observe(u64::MAX / 2 + 3000);
        assert_eq!(pacing.longest_gap_us(), 3000);
    }

    #[test]
    fn a_lead_is_logged_when_it_doubles_or_halves() {
        assert!(!far_from(48, 48));
        assert!(!far_from(48, 95));
        assert!(far_from(48, 96));
        assert!(!far_from(96, 49));
        assert!(far_from(96, 48));
        assert!(far_from(0, 2), "a zero floor still reports");
    }
}
