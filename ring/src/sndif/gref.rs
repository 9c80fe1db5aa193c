//! The grant directory of an OPEN request: a chain of pages listing the grant references of
//! the stream's PCM buffer.
//!
//! Page layout: `gref_dir_next_page` (0 on the last page), then up to 1023 grant refs. The
//! number of data pages is not transmitted: it follows from `buffer_sz`. So the reader reads
//! exactly the pages that many refs need, whatever the chain claims, which makes cycles and
//! endless chains harmless; it requires a next page where more refs are due.

use super::wire::{DIR_GREFS, DIR_NEXT_PAGE, GREFS_PER_DIR_PAGE};
use crate::shmem::PAGE_SIZE;

/// Data pages a buffer of `buffer_sz` octets spans.
pub const fn data_pages(buffer_sz: u32) -> usize {
    (buffer_sz as usize).div_ceil(PAGE_SIZE)
}

/// Directory pages needed to list `data_pages` refs.
pub const fn directory_pages(data_pages: usize) -> usize {
    data_pages.div_ceil(GREFS_PER_DIR_PAGE)
}

/// Why a directory could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrefDirectoryError<E> {
    /// `buffer_sz` is above the backend's cap.
    BufferTooLarge { buffer_sz: u32, max: u32 },
    /// The caller's output has room for fewer refs than the buffer needs.
    OutputTooSmall { needed: usize },
    /// Directory page `index` says it is the last, but more refs are due.
    ChainEndsEarly { index: usize },
    /// Directory page `index` (grant `gref`) could not be read.
    Page { index: usize, gref: u32, error: E },
}

/// Reads the data grant refs of a buffer of `buffer_sz` octets into `out`, starting from
/// directory page `first`, and returns how many there are.
///
/// `read_page(gref, page)` copies one directory page out of guest memory (through a grant
/// copy or a short-lived mapping). Each page is read once; the refs are copies, so the guest
/// rewriting its directory later changes nothing.
pub fn read_gref_directory<E>(
    first: u32,
    buffer_sz: u32,
    max_buffer: u32,
    out: &mut [u32],
    mut read_page: impl FnMut(u32, &mut [u8; PAGE_SIZE]) -> Result<(), E>,
) -> Result<usize, GrefDirectoryError<E>> {
    if buffer_sz > max_buffer {
        return Err(GrefDirectoryError::BufferTooLarge {
            buffer_sz,
            max: max_buffer,
        });
    }
    let needed = data_pages(buffer_sz);
    if out.len() < needed {
        return Err(GrefDirectoryError::OutputTooSmall { needed });
    }
    let mut page = [0u8; PAGE_SIZE];
    let mut gref = first;
    let mut filled = 0;
    for index in 0..directory_pages(needed) {
        read_page(gref, &mut page).map_err(|error| GrefDirectoryError::Page {
            index,
            gref,
            error,
        })?;
        let here = (needed - filled).min(GREFS_PER_DIR_PAGE);
        for (i, slot) in out[filled..filled + here].iter_mut().enumerate() {
            *slot = word(&page, DIR_GREFS + 4 * i);
        }
        filled += here;
        gref = word(&page, DIR_NEXT_PAGE);
        if filled < needed && gref == 0 {
            return Err(GrefDirectoryError::ChainEndsEarly { index });
        }
    }
    Ok(filled)
}

fn word(page: &[u8; PAGE_SIZE], offset: usize) -> u32 {
    u32::from_le_bytes([
        page[offset],
        page[offset + 1],
        page[offset + 2],
        page[offset + 3],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec;
    use std::vec::Vec;

    /// Builds a guest's directory chain for `refs`, with pages at grants 1000, 1001, ...
    fn guest_directory(refs: &[u32]) -> BTreeMap<u32, [u8; PAGE_SIZE]> {
        let mut pages = BTreeMap::new();
        let chunks: Vec<&[u32]> = refs.chunks(GREFS_PER_DIR_PAGE).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut page = [0u8; PAGE_SIZE];
            let next = if i + 1 < chunks.len() {
                1001 + i as u32
            } else {
                0
            };
            page[..4].copy_from_slice(&next.to_le_bytes());
            for (j, r) in chunk.iter().enumerate() {
                page[4 + 4 * j..8 + 4 * j].copy_from_slice(&r.to_le_bytes());
            }
            pages.insert(1000 + i as u32, page);
        }
        pages
    }

    fn reader(
        pages: &BTreeMap<u32, [u8; PAGE_SIZE]>,
    ) -> impl FnMut(u32, &mut [u8; PAGE_SIZE]) -> Result<(), &'static str> + '_ {
        |gref, page| {
            *page = *pages.get(&gref).ok_or("not granted")?;
            Ok(())
        }
    }

    #[test]
    fn linux_default_buffer_needs_one_directory_page() {
        let refs: Vec<u32> = (1..=16).collect();
        let pages = guest_directory(&refs);
        let mut out = [0u32; 16];
        assert_eq!(
            read_gref_directory(1000, 65536, 1 << 20, &mut out, reader(&pages)),
            Ok(16)
        );
        assert_eq!(out.to_vec(), refs);
    }

    #[test]
    fn multi_page_chains_are_followed() {
        let refs: Vec<u32> = (0..2500).map(|i| 5000 + i).collect();
        let pages = guest_directory(&refs);
        let mut out = vec![0u32; 2500];
        let n = read_gref_directory(1000, 2500 * 4096, u32::MAX, &mut out, reader(&pages)).unwrap();
        assert_eq!(n, 2500);
        assert_eq!(out, refs);
    }

    #[test]
    fn partial_last_page_counts_as_a_whole_page() {
        assert_eq!(data_pages(1), 1);
        assert_eq!(data_pages(4097), 2);
        assert_eq!(directory_pages(1023), 1);
        assert_eq!(directory_pages(1024), 2);
    }

    #[test]
    fn short_chains_and_caps_are_errors() {
        let refs: Vec<u32> = (0..1023).collect();
        let pages = guest_directory(&refs); // one page, next = 0
        let mut out = vec![0u32; 2000];
        assert_eq!(
            read_gref_directory(1000, 1500 * 4096, u32::MAX, &mut out, reader(&pages)),
            Err(GrefDirectoryError::ChainEndsEarly { index: 0 })
        );
        assert_eq!(
            read_gref_directory(1000, 1 << 21, 1 << 20, &mut out, reader(&pages)),
            Err(GrefDirectoryError::BufferTooLarge {
                buffer_sz: 1 << 21,
                max: 1 << 20
            })
        );
        assert_eq!(
            read_gref_directory(1000, 8192, u32::MAX, &mut out[..1], reader(&pages)),
            Err(GrefDirectoryError::OutputTooSmall { needed: 2 })
        );
        assert_eq!(
            read_gref_directory(7, 4096, u32::MAX, &mut out, reader(&pages)),
            Err(GrefDirectoryError::Page {
                index: 0,
                gref: 7,
                error: "not granted"
            })
        );
    }

    #[test]
    fn a_self_referencing_chain_is_read_a_bounded_number_of_times() {
        let mut page = [0u8; PAGE_SIZE];
        page[..4].copy_from_slice(&1000u32.to_le_bytes()); // points at itself
        let mut reads = 0;
        let mut out = vec![0u32; 3000];
        let result = read_gref_directory(1000, 3000 * 4096, u32::MAX, &mut out, |_, p| {
            reads += 1;
            *p = page;
            Ok::<(), ()>(())
        });
        assert_eq!(result, Ok(3000));
        assert_eq!(reads, 3);
    }
}
