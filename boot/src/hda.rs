//! Hands the HDA driver its platform: the controller's registers, DMA memory and a clock.

use hda::mmio::Mmio;
use hda::pci::{self, BarError, ConfigSpace};

use crate::pci::Bdf;

/// The driver's view of the function's configuration space.
struct Config(Bdf);

impl ConfigSpace for Config {
    fn read32(&mut self, offset: u8) -> u32 {
        self.0.read32(offset)
    }
    fn write32(&mut self, offset: u8, value: u32) {
        self.0.write32(offset, value)
    }
}

/// Maps the controller at `bdf`: validates BAR0 (the driver's checks), then enables
/// decoding and bus mastering.
pub fn registers(bdf: Bdf) -> Result<Mmio, BarError> {
    let mut config = Config(bdf);
    // The runtime identity-maps the low 4 GiB only.
    let bar = pci::probe_bar0(&mut config, 1 << 32)?;
    pci::enable_memory_and_dma(&mut config);
    // SAFETY: `bar` is this controller's BAR0 (validated above: memory, at least
    // `Mmio::MIN_LEN`), inside the identity map's uncached 3-4 GiB window or below, and the
    // image creates one `Mmio` per controller.
    Ok(unsafe { Mmio::new(bar.base as usize, bar.len.min(u64::from(u32::MAX)) as u32) })
}
