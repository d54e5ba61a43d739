//! A writer of the cpio "newc" format the kernel unpacks as an initramfs.
//!
//! Written here rather than by calling `cpio` so that owners, modes and
//! device nodes (`/dev/console`) are exactly what the image declares,
//! without running as root or touching the host's files, and so that the
//! archive is reproducible (fixed mtime, sequential inode numbers).

use std::io::{self, Write};

/// File type bits of `st_mode`.
pub const S_IFDIR: u32 = 0o040000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;

/// One member's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Path inside the archive, without a leading `/`.
    pub name: String,
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device numbers of a character device.
    pub rdev: (u32, u32),
}

/// Streams members into `W`, then the trailer on [`Writer::finish`].
pub struct Writer<W: Write> {
    out: W,
    ino: u32,
    written: u64,
    mtime: u32,
}

impl<W: Write> Writer<W> {
    /// A writer stamping every member with `mtime`.
    pub fn new(out: W, mtime: u32) -> Self {
        Writer {
            out,
            ino: 0,
            written: 0,
            mtime,
        }
    }

    fn pad(&mut self) -> io::Result<()> {
        let rem = (self.written % 4) as usize;
        if rem != 0 {
            self.put(&[0u8; 4][..4 - rem])?;
        }
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn header(&mut self, h: &Header, ino: u32, size: u32, nlink: u32) -> io::Result<()> {
        let name_len = u32::try_from(h.name.len() + 1)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "member name too long"))?;
        let fields = [
            ino, h.mode, h.uid, h.gid, nlink, self.mtime, size, 0, 0, h.rdev.0, h.rdev.1, name_len,
            0,
        ];
        let mut text = String::with_capacity(110);
        text.push_str("070701");
        for f in fields {
            text.push_str(&format!("{f:08x}"));
        }
        self.put(text.as_bytes())?;
        self.put(h.name.as_bytes())?;
        self.put(&[0])?;
        self.pad()
    }

    /// A member with `data` as its contents (a file's bytes, a symlink's
    /// target, or empty for directories and devices).
    pub fn member(&mut self, h: &Header, data: &[u8]) -> io::Result<()> {
        if h.name.is_empty() || h.name.starts_with('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cpio member name {:?} must be relative and non-empty",
                    h.name
                ),
            ));
        }
        let size = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is larger than 4 GiB, which newc cannot hold", h.name),
            )
        })?;
        let nlink = if h.mode & 0o170000 == S_IFDIR { 2 } else { 1 };
        self.ino += 1;
        self.header(h, self.ino, size, nlink)?;
        self.put(data)?;
        self.pad()
    }

    /// Write the trailer and return the sink.
    pub fn finish(mut self) -> io::Result<W> {
        let trailer = Header {
            name: "TRAILER!!!".into(),
            mode: 0,
            uid: 0,
            gid: 0,
            rdev: (0, 0),
        };
        // The trailer has inode 0 by convention.
        self.header(&trailer, 0, 0, 1)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A minimal newc reader, for tests:
/// `(name, mode, uid, gid, rdev, data)` per member, trailer excluded.
#[cfg(test)]
pub type Member = (String, u32, u32, u32, (u32, u32), Vec<u8>);

/// Parse a whole newc archive.
#[cfg(test)]
pub fn read_all(mut b: &[u8]) -> Result<Vec<Member>, String> {
    let mut out = Vec::new();
    let total = b.len();
    loop {
        let offset = total - b.len();
        if b.len() < 110 {
            return Err(format!("truncated header at offset {offset}"));
        }
        if &b[..6] != b"070701" {
            return Err(format!("bad magic at offset {offset}"));
        }
        let field = |i: usize| -> Result<u32, String> {
            let s = std::str::from_utf8(&b[6 + i * 8..14 + i * 8]).map_err(|e| e.to_string())?;
            u32::from_str_radix(s, 16).map_err(|e| format!("bad field {i} at offset {offset}: {e}"))
        };
        let (mode, uid, gid, size) = (field(1)?, field(2)?, field(3)?, field(6)? as usize);
        let rdev = (field(9)?, field(10)?);
        let name_len = field(11)? as usize;
        let name_end = 110 + name_len;
        if b.len() < name_end || name_len == 0 {
            return Err(format!("truncated name at offset {offset}"));
        }
        let name = String::from_utf8_lossy(&b[110..name_end - 1]).into_owned();
        let data_start = (offset + name_end).next_multiple_of(4) - offset;
        let data_end = data_start + size;
        if b.len() < data_end {
            return Err(format!("truncated data of {name}"));
        }
        let data = b[data_start..data_end].to_vec();
        let next = (offset + data_end).next_multiple_of(4) - offset;
        b = &b[next.min(b.len())..];
        if name == "TRAILER!!!" {
            return Ok(out);
        }
        out.push((name, mode, uid, gid, rdev, data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, mode: u32) -> Header {
        Header {
            name: name.into(),
            mode,
            uid: 0,
            gid: 0,
            rdev: (0, 0),
        }
    }

    #[test]
    fn members_round_trip_with_alignment() {
        let mut w = Writer::new(Vec::new(), 0);
        w.member(&h("etc", S_IFDIR | 0o755), b"").unwrap();
        w.member(
            &Header {
                uid: 900,
                gid: 901,
                ..h("etc/a", S_IFREG | 0o640)
            },
            b"hello",
        )
        .unwrap();
        w.member(&h("init", S_IFLNK | 0o777), b"usr/sbin/initd")
            .unwrap();
        w.member(
            &Header {
                rdev: (5, 1),
                ..h("dev/console", S_IFCHR | 0o600)
            },
            b"",
        )
        .unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let m = read_all(&bytes).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[1],
            (
                "etc/a".into(),
                S_IFREG | 0o640,
                900,
                901,
                (0, 0),
                b"hello".to_vec()
            )
        );
        assert_eq!(m[2].5, b"usr/sbin/initd");
        assert_eq!(m[3].4, (5, 1));
        assert!(bytes.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn the_system_cpio_tool_reads_our_archives() {
        // Cross-check against GNU cpio when the host has it (Debian's
        // kernel build dependencies include it).
        if !crate::os::on_path("cpio") {
            return;
        }
        let mut w = Writer::new(Vec::new(), 0);
        w.member(&h("d", S_IFDIR | 0o755), b"").unwrap();
        w.member(&h("d/f", S_IFREG | 0o644), b"abc").unwrap();
        w.member(&h("l", S_IFLNK | 0o777), b"d/f").unwrap();
        let bytes = w.finish().unwrap();
        let mut child = std::process::Command::new("cpio")
            .args(["-it", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "d\nd/f\nl\n");
    }

    #[test]
    fn absolute_or_empty_names_are_refused() {
        let mut w = Writer::new(Vec::new(), 0);
        assert!(w.member(&h("/etc", S_IFDIR | 0o755), b"").is_err());
        assert!(w.member(&h("", S_IFDIR | 0o755), b"").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read_all(b"").is_err());
        assert!(read_all(&[b'0'; 200]).is_err());
        let mut w = Writer::new(Vec::new(), 0);
        w.member(&h("f", S_IFREG | 0o644), b"data").unwrap();
        let bytes = w.finish().unwrap();
        assert!(read_all(&bytes[..bytes.len() - 20]).is_err());
    }
}
