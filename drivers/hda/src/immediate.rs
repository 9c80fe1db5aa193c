//! The immediate command interface (ICOI/IRII/ICIS, hda.md §1.5): one verb at a time
//! through registers, with no DMA. Intel meant it for firmware; the driver uses it when the
//! CORB/RIRB fail. A verb to an absent codec leaves ICB set for good on QEMU, so every wait
//! is bounded and a stuck ICB is reported, not waited out.

use crate::regs::*;
use crate::verb::CommandError;

/// How long a previous verb may keep the interface busy (Linux allows 50 µs).
const BUSY_TIMEOUT_US: u64 = 1000;

/// Sends `word` to codec `cad` and returns its response.
pub(crate) fn command<R: Registers, C: Clock>(
    regs: &mut R,
    clock: &mut C,
    word: u32,
    timeout_us: u64,
) -> Result<u32, CommandError> {
    let cad = (word >> 28) as u8;
    let timeout = CommandError::Timeout {
        cad,
        nid: ((word >> 20) & 0x7f) as u8,
        verb: word,
    };
    let gone_or = |regs: &mut R, e| {
        if regs.read16(ICIS) == u16::MAX {
            CommandError::DeviceGone
        } else {
            e
        }
    };
    if !wait(regs, clock, BUSY_TIMEOUT_US, |r| {
        r.read16(ICIS) & ICIS_ICB == 0
    }) {
        return Err(gone_or(regs, timeout));
    }
    // A valid bit left from an earlier verb would pass for this one's answer.
    regs.write16(ICIS, ICIS_IRV);
    regs.write32(ICOI, word);
    regs.write16(ICIS, ICIS_ICB);
    if !wait(regs, clock, timeout_us, |r| r.read16(ICIS) & ICIS_IRV != 0) {
        return Err(gone_or(regs, timeout));
    }
    let status = regs.read16(ICIS);
    let response = regs.read32(IRII);
    regs.write16(ICIS, ICIS_IRV);
    if status == u16::MAX {
        return Err(CommandError::DeviceGone);
    }
    let from = ((status >> 4) & 0xf) as u8;
    if from != cad {
        return Err(CommandError::WrongCodec {
            expected: cad,
            got: from,
        });
    }
    Ok(response)
}
