//! Hands the HDA driver its platform: the controller's registers, DMA memory and a clock.

use hda::mmio::Mmio;

use crate::pci::{self, BarError, Bdf};

/// Maps the controller at `bdf`: validates BAR0, enables decoding and bus mastering.
pub fn registers(bdf: Bdf) -> Result<Mmio, BarError> {
    let (base, len) = pci::bar0(bdf)?;
    if len < u64::from(Mmio::MIN_LEN) {
        return Err(BarError::TooSmall { len });
    }
    pci::enable_memory_and_dma(bdf);
    // SAFETY: `base..base + len` is this controller's BAR0 (validated above), inside the
    // identity map's uncached 3-4 GiB window or below, and the image creates one `Mmio` per
    // controller.
    Ok(unsafe { Mmio::new(base as usize, len.min(u64::from(u32::MAX)) as u32) })
}
