//! Makes the Linux x86 boot-protocol image from the ELF: the real-mode setup that
//! `boot/src/linux.rs` assembles into the non-allocated `.linux_setup` section, padded to
//! whole sectors, followed by the bytes of the image's one loadable segment.

use std::path::Path;

/// `setup_sects` and `syssize` in the setup header.
const SETUP_SECTS: usize = 0x1f1;
const SYSSIZE: usize = 0x1f4;
const SECTOR: usize = 512;

fn u16_at(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn u64_at(bytes: &[u8], at: usize) -> usize {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize
}

/// The file bytes of the section named `name` (ELF64 little endian).
fn section<'a>(elf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(elf, 0x28),
        u16_at(elf, 0x3a),
        u16_at(elf, 0x3c),
        u16_at(elf, 0x3e),
    );
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(elf, header(shstrndx) + 0x18);
    (0..shnum).find_map(|i| {
        let h = header(i);
        let name_at = strtab + u32_at(elf, h);
        let end = elf[name_at..].iter().position(|&b| b == 0)?;
        (&elf[name_at..name_at + end] == name.as_bytes())
            .then(|| &elf[u64_at(elf, h + 0x18)..u64_at(elf, h + 0x18) + u64_at(elf, h + 0x20)])
    })
}

/// The file bytes of the single PT_LOAD segment.
fn loadable(elf: &[u8]) -> Option<&[u8]> {
    let (phoff, phentsize, phnum) = (u64_at(elf, 0x20), u16_at(elf, 0x36), u16_at(elf, 0x38));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&h| u32_at(elf, h) == 1)
        .map(|h| {
            let (offset, filesz) = (u64_at(elf, h + 0x08), u64_at(elf, h + 0x20));
            &elf[offset..offset + filesz]
        })
}

pub fn write(elf_path: &Path, out: &Path) -> Result<(), String> {
    let elf = std::fs::read(elf_path).map_err(|e| format!("read {}: {e}", elf_path.display()))?;
    if elf.get(..4) != Some(b"\x7fELF") || elf[4] != 2 {
        return Err(format!("{}: not an ELF64 file", elf_path.display()));
    }
    let setup = section(&elf, ".linux_setup").ok_or("the image has no .linux_setup section")?;
    let payload = loadable(&elf).ok_or("the image has no loadable segment")?;
    let mut image = setup.to_vec();
    image.resize(setup.len().div_ceil(SECTOR).max(2) * SECTOR, 0);
    image[SETUP_SECTS] = u8::try_from(image.len() / SECTOR - 1).map_err(|_| "setup too large")?;
    let paragraphs = u32::try_from(payload.len().div_ceil(16)).map_err(|_| "image too large")?;
    image[SYSSIZE..SYSSIZE + 4].copy_from_slice(&paragraphs.to_le_bytes());
    image.extend_from_slice(payload);
    std::fs::write(out, image).map_err(|e| format!("write {}: {e}", out.display()))
}
