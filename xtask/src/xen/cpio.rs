//! Initramfs images: a tree of files gathered from several places, written as a `newc` cpio
//! archive (the only format Linux unpacks) and gzipped. Written here because Debian hosts
//! often lack `cpio`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

enum Entry {
    Dir,
    /// A host file's contents, with this mode's permission bits.
    File(PathBuf, u32),
    Bytes(Vec<u8>, u32),
    Symlink(String),
}

/// An initramfs being assembled. Paths are absolute inside the image (`/usr/bin/aplay`).
#[derive(Default)]
pub struct Tree {
    // Sorted, so every directory is written before what it contains.
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Adds `path` and its parents as directories.
    pub fn dir(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Entry::Dir);
        }
    }

    fn parent(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
    }

    /// Copies a host file (following symlinks) to `path`, keeping its permissions.
    pub fn file(&mut self, path: &str, source: &Path) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(source).map_err(|e| format!("{}: {e}", source.display()))?;
        self.parent(path);
        self.entries.insert(
            path.into(),
            Entry::File(source.into(), meta.permissions().mode() & 0o7777),
        );
        Ok(())
    }

    pub fn bytes(&mut self, path: &str, bytes: Vec<u8>, mode: u32) {
        self.parent(path);
        self.entries.insert(path.into(), Entry::Bytes(bytes, mode));
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.parent(path);
        self.entries
            .insert(path.into(), Entry::Symlink(target.into()));
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// Copies a host directory tree to `path`, symlinks kept as symlinks.
    pub fn tree(&mut self, path: &str, source: &Path) -> Result<(), String> {
        self.dir(path);
        let entries =
            std::fs::read_dir(source).map_err(|e| format!("{}: {e}", source.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let (inside, host) = (format!("{path}/{name}"), entry.path());
            let kind = entry.file_type().map_err(|e| e.to_string())?;
            if kind.is_symlink() {
                let target = std::fs::read_link(&host).map_err(|e| e.to_string())?;
                self.symlink(&inside, &target.to_string_lossy());
            } else if kind.is_dir() {
                self.tree(&inside, &host)?;
            } else {
                self.file(&inside, &host)?;
            }
        }
        Ok(())
    }

    /// Writes the archive to `out` and gzips it (`out` gets the `.gz` contents).
    pub fn write_gz(&self, out: &Path) -> Result<(), String> {
        let raw = out.with_extension("cpio-raw");
        let file = std::fs::File::create(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        self.write(&mut writer)
            .and_then(|()| writer.flush())
            .map_err(|e| format!("write {}: {e}", raw.display()))?;
        drop(writer);
        let status = Command::new("gzip")
            .args(["-1", "-n", "-f"])
            .arg(&raw)
            .status()
            .map_err(|e| format!("gzip: {e}"))?;
        if !status.success() {
            return Err(format!("gzip {} failed", raw.display()));
        }
        let gz = PathBuf::from(format!("{}.gz", raw.display()));
        std::fs::rename(&gz, out).map_err(|e| format!("rename to {}: {e}", out.display()))
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let name = path.trim_start_matches('/');
            let ino = ino as u32 + 1;
            match entry {
                Entry::Dir => record(out, ino, 0o040755, name, &[])?,
                Entry::File(source, mode) => {
                    record(out, ino, 0o100000 | mode, name, &std::fs::read(source)?)?
                }
                Entry::Bytes(bytes, mode) => record(out, ino, 0o100000 | mode, name, bytes)?,
                Entry::Symlink(target) => record(out, ino, 0o120777, name, target.as_bytes())?,
            }
        }
        record(out, 0, 0, "TRAILER!!!", &[])
    }
}

/// One `newc` record: a 110-byte ASCII header, the name, the data, each padded to 4 bytes.
fn record(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let size = u32::try_from(data.len()).map_err(|_| std::io::Error::other("file over 4 GiB"))?;
    let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    let mut header = String::from("070701");
    for field in fields {
        header.push_str(&format!("{field:08x}"));
    }
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    pad(out, 110 + name.len() + 1)?;
    out.write_all(data)?;
    pad(out, data.len())
}

fn pad(out: &mut impl Write, len: usize) -> std::io::Result<()> {
    out.write_all(&[0; 3][..(4 - len % 4) % 4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_newc_and_aligned() {
        let mut tree = Tree::default();
        tree.bytes("/etc/x", b"hello".to_vec(), 0o644);
        tree.symlink("/bin/sh", "busybox");
        let mut out = Vec::new();
        tree.write(&mut out).unwrap();
        // /bin, /bin/sh, /etc, /etc/x, trailer: each header starts at a multiple of 4.
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("070701").count(), 5);
        assert!(text.contains("bin/sh\0"));
        assert!(out.len() % 4 == 0);
        let x = text.find("etc/x\0").unwrap();
        assert_eq!((x - 110) % 4, 0);
        assert_eq!(&out[x + 6..x + 11], b"hello"); // 110 + "etc/x\0" needs no padding
    }
}
