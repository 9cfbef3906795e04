//! The start-up check that every store path can be written, done before Raft starts so that a
//! full disk, a typo or a read-only mount is reported as "this key, this path", not as an I/O
//! error from deep inside the first append (or, worse, after the node has voted).

use std::fs;
use std::io;
use std::path::Path;

use super::keys as k;
use super::{BrokerConfig, ConfigError};

impl BrokerConfig {
    /// Creates the store directories (root, CommitLog, ConsumeQueue, index, and the directories
    /// holding the checkpoint and abort files) and proves each writable by creating and removing
    /// a probe file. Permission bits alone prove nothing when running as root, so we write.
    ///
    /// The error names the key and the path, e.g.
    /// `broker.conf: storePathCommitLog: cannot write to "/data/x/commitlog": Not a directory`.
    pub fn prepare_store_dirs(&self) -> Result<(), ConfigError> {
        let dirs = [
            (k::STORE_PATH_ROOT_DIR, &self.store_path_root_dir),
            (k::STORE_PATH_COMMIT_LOG, &self.store_path_commit_log),
            (k::STORE_PATH_CONSUME_QUEUE, &self.store_path_consume_queue),
            (k::STORE_PATH_INDEX, &self.store_path_index),
        ];
        let files = [
            (k::STORE_CHECKPOINT, &self.store_checkpoint),
            (k::ABORT_FILE, &self.abort_file),
        ];
        let file_dirs = files.map(|(key, file)| {
            let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
            (key, parent.unwrap_or(Path::new(".")), file)
        });
        let all = dirs
            .iter()
            .map(|&(key, dir)| (key, dir.as_path(), dir))
            .chain(file_dirs);
        for (key, dir, named) in all {
            ensure_writable_dir(dir).map_err(|source| ConfigError::StorePath {
                file: self.origin.clone(),
                key: key.to_string(),
                path: named.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

fn ensure_writable_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".ledgermq-write-probe-{}", std::process::id()));
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn under(root: &Path) -> BrokerConfig {
        let text = format!("storePathRootDir={}\n", root.display());
        BrokerConfig::parse(&text, Path::new("broker.conf"), false).unwrap()
    }

    #[test]
    fn creates_every_store_dir_and_leaves_no_probe() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a/b/store");
        let cfg = under(&root);
        cfg.prepare_store_dirs().unwrap();
        for dir in ["commitlog", "consumequeue", "index"] {
            assert!(root.join(dir).is_dir(), "{dir}");
        }
        let names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        // Running twice is fine: the directories already exist.
        cfg.prepare_store_dirs().unwrap();
    }

    #[test]
    fn a_root_under_a_regular_file_fails_naming_the_root_key() {
        // Root ignores permission bits, so make the path impossible instead: a directory
        // below a regular file.
        let file = tempfile::NamedTempFile::new().unwrap();
        let root = file.path().join("sub");
        let err = under(&root).prepare_store_dirs().unwrap_err();
        assert!(matches!(err, ConfigError::StorePath { .. }));
        assert_eq!(err.key(), Some("storePathRootDir"));
        let text = err.to_string();
        assert!(
            text.starts_with("broker.conf: storePathRootDir: cannot write to "),
            "{text}"
        );
        assert!(text.contains(&root.display().to_string()), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn each_path_key_is_named_when_it_alone_is_unusable() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("blocker");
        fs::write(&blocker, b"not a directory").unwrap();
        let bad: PathBuf = blocker.join("sub");
        let keys = [
            "storePathCommitLog",
            "storePathConsumeQueue",
            "storePathIndex",
            "storeCheckpoint",
            "abortFile",
        ];
        for key in keys {
            let text = format!(
                "storePathRootDir={}\n{key}={}\n",
                tmp.path().join("store").display(),
                bad.join("x").display()
            );
            let cfg = BrokerConfig::parse(&text, Path::new("b.conf"), false).unwrap();
            let err = cfg.prepare_store_dirs().unwrap_err();
            assert_eq!(err.key(), Some(key), "{err}");
            assert!(
                err.to_string()
                    .contains(&bad.join("x").display().to_string()),
                "{err}"
            );
        }
    }
}
