//! The model's fault knobs: each one makes the simulated controller misbehave the way some
//! real (or emulated) hardware does. The default is a healthy controller with real-hardware
//! semantics (registers cleared by resets, IOCE honoured, no QEMU RINTCNT trap).

pub struct Faults {
    /// Every register reads all ones and writes are lost (D3hot, surprise removal).
    pub gone: bool,
    /// GCTL.CRST never reads 0 after writing 0.
    pub crst_never_enters: bool,
    /// GCTL.CRST never reads 1 after writing 1.
    pub crst_never_leaves: bool,
    /// How long CRST takes to read 1 after writing 1.
    pub crst_leave_delay_us: u64,
    /// How long codecs take after leaving reset to set their STATESTS bit.
    pub codec_wake_delay_us: u64,
    /// CORBRP bit 15 never reads back 1 (VirtualBox).
    pub corbrp_never_reads_one: bool,
    /// CORBRP bit 15 reads 1 once and then clears itself (NVIDIA).
    pub corbrp_self_clears: bool,
    /// CORBCTL.CORBRUN never reads back 1.
    pub corbrun_never_reads_one: bool,
    /// The CORB engine stops fetching verbs (CORBRP stays where it is).
    pub corb_stalls: bool,
    /// The next CORB fetch fails with a memory error (CORBSTS.CMEI) and the CORB stops.
    pub corb_memory_error: bool,
    /// The next solicited response is lost in an overrun (RIRBSTS.RIRBOIS).
    pub rirb_overrun_next: bool,
    /// INTSTS also shows these bits (SIS of descriptors that do not exist, say).
    pub intsts_extra: u32,
    /// RIRBWP reads this value whatever the RIRB holds (a broken or hostile controller).
    pub rirbwp_reads: Option<u16>,
    /// QEMU sets a codec's STATESTS bit as CRST goes to 0, not after it returns to 1, so
    /// a STATESTS clear while in reset loses the codecs (hda.md §1.3).
    pub statests_on_reset_entry: bool,
    /// Every response carries the wrong codec address (the real one with bit 0 flipped).
    pub wrong_codec_address: bool,
    /// QEMU's RINTCNT behaviour: the CORB stops while the response count equals RINTCNT,
    /// until RINTFL is acknowledged, and RINTCNT=0 stops it for good; RINTFL is also raised
    /// whenever the CORB runs empty; the count survives a controller reset (hda.md §3.4).
    pub qemu_rintcnt_trap: bool,
    /// ICIS.ICB never clears (immediate commands never complete).
    pub icb_stuck: bool,
    /// SDnCTL.SRST never reads back 1 (QEMU before 7.0).
    pub srst_never_reads_one: bool,
    /// SDnCTL.SRST keeps reading 1 after writing 0.
    pub srst_stuck: bool,
    /// SRST leaves LPIB, CBL, LVI, FMT and BDPL alone (QEMU).
    pub sd_registers_survive_reset: bool,
    /// How long SDnCTL.RUN takes to read back a new value.
    pub run_readback_delay_us: u64,
    /// Clearing RUN does not stop the DMA, and RUN keeps reading 1.
    pub run_never_clears: bool,
    /// BCIS is never set, even with IOC entries.
    pub no_bcis: bool,
    /// BCIS is set on every DMA step, whatever the BDL says.
    pub bcis_storm: bool,
    /// The next DMA step sets FIFOE (an underrun or overrun); the DMA carries on.
    pub fifo_error: bool,
    /// The next DMA step sets DESE and the stream's DMA stops moving.
    pub descriptor_error: bool,
    /// The DMA position buffer slot always holds this value instead of the position.
    pub posbuf_stuck: Option<u32>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            gone: false,
            crst_never_enters: false,
            crst_never_leaves: false,
            crst_leave_delay_us: 10,
            codec_wake_delay_us: 300,
            corbrp_never_reads_one: false,
            corbrp_self_clears: false,
            corbrun_never_reads_one: false,
            corb_stalls: false,
            corb_memory_error: false,
            rirb_overrun_next: false,
            intsts_extra: 0,
            rirbwp_reads: None,
            statests_on_reset_entry: false,
            wrong_codec_address: false,
            qemu_rintcnt_trap: false,
            icb_stuck: false,
            srst_never_reads_one: false,
            srst_stuck: false,
            sd_registers_survive_reset: false,
            run_readback_delay_us: 0,
            run_never_clears: false,
            no_bcis: false,
            bcis_storm: false,
            fifo_error: false,
            descriptor_error: false,
            posbuf_stuck: None,
        }
    }
}
