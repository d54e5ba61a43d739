//! A sanity check of a GGUF file before llama.cpp sees it: the magic, a
//! known version, then a bounds-checked walk of every metadata entry and
//! tensor description. llama.cpp's own reader trusts lengths it reads (a
//! corrupt string length can end in an allocation failure and an abort), so
//! nothing reaches it whose declared lengths overrun the file. llama.cpp
//! still checks that tensor data lies within the file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::error::{ErrorKind, RuntimeError};

const MAGIC: &[u8; 4] = b"GGUF";
/// magic (4) + version (4) + tensor count (8) + metadata count (8).
const HEADER_LEN: usize = 24;
/// Generous upper bounds: real models have hundreds of tensors and tens of
/// keys; a count beyond these means a corrupt header, not a big model.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KEYS: u64 = 1 << 20;

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgufHeader {
    /// Format version (2 or 3).
    pub version: u32,
    /// Number of tensors declared.
    pub tensors: u64,
    /// Number of metadata keys declared.
    pub metadata_keys: u64,
    /// Size of the file in bytes.
    pub file_size: u64,
}

/// Check `path` looks like a complete GGUF header; returns what it declares.
pub fn check_file(path: &Path) -> Result<GgufHeader, RuntimeError> {
    let shown = path.display();
    let mut f = File::open(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            " (fetch it with `cargo xtask model fetch NAME`, or check the path)"
        } else {
            ""
        };
        RuntimeError::new(
            ErrorKind::NotFound,
            format!("cannot open model {shown}: {e}{hint}"),
        )
    })?;
    let meta = f.metadata().map_err(|e| {
        RuntimeError::new(
            ErrorKind::NotFound,
            format!("cannot stat model {shown}: {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(RuntimeError::new(
            ErrorKind::NotFound,
            format!("model {shown} is not a regular file"),
        ));
    }
    let mut head = [0u8; HEADER_LEN];
    read_header(&mut f, &mut head).map_err(|e| {
        RuntimeError::new(
            ErrorKind::InvalidModel,
            format!(
                "model {shown} is too short to be a GGUF file ({} bytes; {e}): \
                 it is truncated, fetch it again",
                meta.len()
            ),
        )
    })?;
    let invalid = |why: String| {
        RuntimeError::new(
            ErrorKind::InvalidModel,
            format!("model {shown} is not a usable GGUF file: {why}; fetch it again"),
        )
    };
    let header = parse_header(&head, meta.len()).map_err(invalid)?;
    let mut walker = Walker {
        r: BufReader::new(f),
        pos: HEADER_LEN as u64,
        size: meta.len(),
    };
    walker.walk(&header).map_err(invalid)?;
    Ok(header)
}

/// GGUF metadata value types (`gguf_type`).
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;
/// Tensors have at most this many dimensions (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;

/// Reads the metadata and tensor table, every length checked against what
/// is left of the file before it is used.
struct Walker {
    r: BufReader<File>,
    pos: u64,
    size: u64,
}

impl Walker {
    fn walk(&mut self, h: &GgufHeader) -> Result<(), String> {
        for i in 0..h.metadata_keys {
            let key = self
                .string()
                .map_err(|e| format!("metadata entry {i}: {e}"))?;
            let ty = self.u32().map_err(|e| format!("metadata {key:?}: {e}"))?;
            self.value(ty)
                .map_err(|e| format!("metadata {key:?}: {e}"))?;
        }
        for i in 0..h.tensors {
            let name = self.string().map_err(|e| format!("tensor {i}: {e}"))?;
            let dims = self.u32().map_err(|e| format!("tensor {name:?}: {e}"))?;
            if dims == 0 || dims > MAX_DIMS {
                return Err(format!("tensor {name:?} declares {dims} dimensions"));
            }
            // dimensions, ggml type, data offset
            self.skip(u64::from(dims) * 8 + 4 + 8)
                .map_err(|e| format!("tensor {name:?}: {e}"))?;
        }
        Ok(())
    }

    fn value(&mut self, ty: u32) -> Result<(), String> {
        match ty {
            T_U8 | T_I8 | T_BOOL => self.skip(1),
            T_U16 | T_I16 => self.skip(2),
            T_U32 | T_I32 | T_F32 => self.skip(4),
            T_U64 | T_I64 | T_F64 => self.skip(8),
            T_STRING => self.string().map(drop),
            T_ARRAY => {
                let item = self.u32()?;
                let n = self.u64()?;
                match item {
                    T_STRING => (0..n).try_for_each(|_| self.string().map(drop)),
                    T_ARRAY => Err("nested arrays are not valid GGUF".into()),
                    _ => {
                        let width = match item {
                            T_U8 | T_I8 | T_BOOL => 1,
                            T_U16 | T_I16 => 2,
                            T_U32 | T_I32 | T_F32 => 4,
                            T_U64 | T_I64 | T_F64 => 8,
                            other => return Err(format!("unknown array item type {other}")),
                        };
                        let bytes = n.checked_mul(width).ok_or("array length overflows")?;
                        self.skip(bytes)
                    }
                }
            }
            other => Err(format!("unknown value type {other}")),
        }
    }

    fn left(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.left() {
            return Err(format!(
                "needs {n} bytes at offset {} but the file ends at {} (truncated or corrupt)",
                self.pos, self.size
            ));
        }
        let skipped = io::copy(&mut (&mut self.r).take(n), &mut io::sink())
            .map_err(|e| format!("read error at offset {}: {e}", self.pos))?;
        if skipped != n {
            return Err(format!(
                "the file ends early, at offset {}",
                self.pos + skipped
            ));
        }
        self.pos += n;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if (N as u64) > self.left() {
            return Err(format!(
                "the file ends at {} inside a length field",
                self.size
            ));
        }
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("read error at offset {}: {e}", self.pos))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u64()?;
        if n > self.left() {
            return Err(format!(
                "a string of {n} bytes at offset {} overruns the file ({} bytes)",
                self.pos, self.size
            ));
        }
        // Keys and names are short; values (chat templates, vocabularies)
        // are only skipped, never held.
        if n > 256 {
            self.skip(n)?;
            return Ok(String::from("…"));
        }
        let mut b = vec![0u8; n as usize];
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("read error at offset {}: {e}", self.pos))?;
        self.pos += n;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
}

fn read_header(f: &mut File, head: &mut [u8; HEADER_LEN]) -> io::Result<()> {
    f.read_exact(head)
}

/// Parse the fixed header; `Err` says what is wrong, for a person.
pub fn parse_header(head: &[u8; HEADER_LEN], file_size: u64) -> Result<GgufHeader, String> {
    if &head[0..4] != MAGIC {
        return Err(format!(
            "it starts with {:02x?}, not the GGUF magic \"GGUF\"",
            &head[0..4]
        ));
    }
    let word = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b[..r.len()].copy_from_slice(&head[r]);
        u64::from_le_bytes(b)
    };
    let version = word(4..8) as u32;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version} is not supported (expected 2 or 3)"
        ));
    }
    let tensors = word(8..16);
    let metadata_keys = word(16..24);
    if tensors == 0 || tensors > MAX_TENSORS || metadata_keys > MAX_KEYS {
        return Err(format!(
            "its header declares {tensors} tensors and {metadata_keys} metadata keys, \
             which is corrupt"
        ));
    }
    Ok(GgufHeader {
        version,
        tensors,
        metadata_keys,
        file_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: &[u8; 4], version: u32, tensors: u64, keys: u64) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(magic);
        h[4..8].copy_from_slice(&version.to_le_bytes());
        h[8..16].copy_from_slice(&tensors.to_le_bytes());
        h[16..24].copy_from_slice(&keys.to_le_bytes());
        h
    }

    #[test]
    fn accepts_a_plausible_header() {
        let h = parse_header(&header(MAGIC, 3, 272, 30), 1000).unwrap();
        assert_eq!((h.version, h.tensors, h.metadata_keys), (3, 272, 30));
    }

    #[test]
    fn rejects_bad_magic_version_and_counts() {
        assert!(
            parse_header(&header(b"GGML", 3, 1, 1), 10)
                .unwrap_err()
                .contains("magic")
        );
        assert!(
            parse_header(&header(MAGIC, 9, 1, 1), 10)
                .unwrap_err()
                .contains("version 9")
        );
        assert!(
            parse_header(&header(MAGIC, 3, 0, 1), 10)
                .unwrap_err()
                .contains("corrupt")
        );
        assert!(
            parse_header(&header(MAGIC, 3, u64::MAX, 1), 10)
                .unwrap_err()
                .contains("corrupt")
        );
    }

    #[test]
    fn short_and_missing_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short.gguf");
        std::fs::write(&p, b"GGUF\x03\0").unwrap();
        let e = check_file(&p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidModel);
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = check_file(&dir.path().join("absent.gguf")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("absent.gguf"), "{e}");
        let e = check_file(dir.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    fn gguf_string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A small well-formed GGUF: one string key, one u32 array, one tensor.
    fn tiny_gguf() -> Vec<u8> {
        let mut f = header(MAGIC, 3, 1, 2).to_vec();
        gguf_string(&mut f, "general.name");
        f.extend(T_STRING.to_le_bytes());
        gguf_string(&mut f, "tiny");
        gguf_string(&mut f, "ids");
        f.extend(T_ARRAY.to_le_bytes());
        f.extend(T_U32.to_le_bytes());
        f.extend(3u64.to_le_bytes());
        f.extend([0u8; 12]);
        gguf_string(&mut f, "w");
        f.extend(1u32.to_le_bytes());
        f.extend(4u64.to_le_bytes());
        f.extend(0u32.to_le_bytes());
        f.extend(0u64.to_le_bytes());
        f
    }

    #[test]
    fn walks_a_well_formed_table_and_rejects_overruns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.gguf");
        let good = tiny_gguf();
        std::fs::write(&p, &good).unwrap();
        check_file(&p).unwrap();
        // Every cut inside the tables is caught, never read past.
        for cut in HEADER_LEN..good.len() {
            std::fs::write(&p, &good[..cut]).unwrap();
            let e = check_file(&p).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidModel, "cut at {cut}: {e}");
        }
        // A huge string length is an error, not an allocation.
        let mut bad = good.clone();
        bad[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&p, &bad).unwrap();
        let e = check_file(&p).unwrap_err();
        assert!(e.to_string().contains("overruns"), "{e}");
    }
}
