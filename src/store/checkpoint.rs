//! The store checkpoint (`storeCheckpoint`): how far the CommitLog is known to be on disk, and
//! where its logical start is after a purge.
//!
//! Layout: 40 bytes, big-endian — magic, version, flushed offset, first index + 1 (0 = none),
//! start offset, CRC32C of the first 32 bytes, 4 bytes zero. It fits in one disk sector, so a write is either
//! old or new; a checkpoint that fails its CRC is treated as absent, which only makes recovery
//! verify more records, never fewer.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Result, StoreError};

const MAGIC: u32 = 0x4C4D_5143;
const VERSION: u32 = 1;
const LEN: usize = 40;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every CommitLog byte below this offset was fsynced and CRC-verified.
    pub flushed_offset: u64,
    /// The first index still in the log after retention purged a prefix.
    pub first_index: Option<u64>,
    /// Offset of the first retained record; recovery starts scanning here. After a snapshot
    /// reset the log restarts in the middle of a segment whose earlier bytes are zero.
    pub start_offset: u64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&VERSION.to_be_bytes());
        b[8..16].copy_from_slice(&self.flushed_offset.to_be_bytes());
        let first = self.first_index.map(|i| i + 1).unwrap_or(0);
        b[16..24].copy_from_slice(&first.to_be_bytes());
        b[24..32].copy_from_slice(&self.start_offset.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() < LEN {
            return None;
        }
        let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            u64::from_be_bytes(a)
        };
        if u32_at(0) != MAGIC || u32_at(4) != VERSION || u32_at(32) != crc32c::crc32c(&b[0..32]) {
            return None;
        }
        let first = u64_at(16);
        Some(Checkpoint {
            flushed_offset: u64_at(8),
            first_index: first.checked_sub(1),
            start_offset: u64_at(24),
        })
    }

    /// Loads the checkpoint; a missing or damaged file yields the default (verify everything).
    pub fn load(path: &Path) -> Checkpoint {
        match std::fs::read(path) {
            Ok(b) => Checkpoint::decode(&b).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "checkpoint unreadable; recovery will verify the whole commit log");
                Checkpoint::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Checkpoint::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read checkpoint; recovery will verify the whole commit log");
                Checkpoint::default()
            }
        }
    }

    /// Writes the checkpoint in place; with `sync` it is fsynced before returning.
    pub fn store(&self, path: &Path, sync: bool) -> Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io("open checkpoint", path, e))?;
        file.write_all_at(&self.encode(), 0)
            .map_err(|e| StoreError::io("write checkpoint", path, e))?;
        if sync {
            file.sync_data()
                .map_err(|e| StoreError::io("fsync checkpoint", path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("checkpoint");
        assert_eq!(Checkpoint::load(&p), Checkpoint::default());
        let c = Checkpoint {
            flushed_offset: 12345,
            first_index: Some(0),
            start_offset: 4096,
        };
        c.store(&p, true).unwrap();
        assert_eq!(Checkpoint::load(&p), c);
        let mut b = std::fs::read(&p).unwrap();
        b[9] ^= 1;
        std::fs::write(&p, b).unwrap();
        assert_eq!(Checkpoint::load(&p), Checkpoint::default());
    }
}
