//! The [`BlobStore`] port: where screenshot images live.

use async_trait::async_trait;

use crate::error::Result;

/// Stores opaque byte blobs under string keys. Keys are made by the
/// [`Tracker`](crate::Tracker) as `company/user/screenshot-id`, so a
/// key never crosses tenants.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()>;
    /// The bytes under `key`, `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Deletes `key`; deleting an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
}

const _: Option<&dyn BlobStore> = None;

/// The blob store of a [`Tracker`](crate::Tracker) built without one:
/// keeps nothing, so screenshot uploads are refused with `invalid_state`
/// (and nothing of them is stored) instead of filling the process memory.
/// Give the builder a real one ([`FsBlobStore`], or your object storage)
/// to accept screenshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlobStore;

#[async_trait]
impl BlobStore for NoBlobStore {
    async fn put(&self, _key: &str, _bytes: Vec<u8>) -> Result<()> {
        Err(crate::error::Error::invalid_state(
            "this deployment keeps no screenshot images: the service was built without a blob store",
        ))
    }

    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    async fn delete(&self, _key: &str) -> Result<()> {
        Ok(())
    }
}

/// Blobs in a process-local map: tests, demos, single-process use.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
}

impl MemoryBlobStore {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<u8>>> {
        // The map stays consistent even if a holder panicked.
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of blobs stored.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.map().insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.map().get(key).cloned())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.map().remove(key);
        Ok(())
    }
}

/// Blobs as files under a directory: one file per key, written to a
/// temporary name and renamed, so a crash never leaves half an image under
/// a key. File I/O is synchronous: right for screenshots of a few MB on a
/// local disk; a network file system wants a store of its own.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: std::path::PathBuf,
}

impl FsBlobStore {
    /// A store under `root`, created if absent.
    pub fn new(root: impl Into<std::path::PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| crate::error::Error::storage("blobs", e))?;
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The file of a key. Keys are `/`-separated names; anything that could
    /// leave the root (empty parts, `.`, `..`, backslashes) is refused.
    fn path(&self, key: &str) -> Result<std::path::PathBuf> {
        let mut path = self.root.clone();
        for part in key.split('/') {
            let safe = !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !safe {
                return Err(crate::error::Error::invalid("key", "is not a blob key"));
            }
            path.push(part);
        }
        Ok(path)
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(key)?;
        let io = |e| crate::error::Error::storage("blobs", e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // A temporary name of this write's own: writers of one key at once
        // never share one, and the last rename wins whole.
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
        let tmp = path.with_file_name(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::error::Error::storage("blobs", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match std::fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(crate::error::Error::storage("blobs", e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn files_round_trip_and_keys_cannot_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().join("blobs")).unwrap();
        let key = "0190-company/0190-user/0190-shot";
        block_on(store.put(key, b"image".to_vec())).unwrap();
        assert_eq!(
            block_on(store.get(key)).unwrap().as_deref(),
            Some(&b"image"[..])
        );
        block_on(store.put(key, b"again".to_vec())).unwrap();
        assert_eq!(
            block_on(store.get(key)).unwrap().as_deref(),
            Some(&b"again"[..])
        );
        block_on(store.delete(key)).unwrap();
        block_on(store.delete(key)).unwrap();
        assert_eq!(block_on(store.get(key)).unwrap(), None);
        for bad in ["../escape", "a//b", "/abs", "a/./b", "a\\b", ""] {
            assert_eq!(
                block_on(store.put(bad, vec![1])).unwrap_err().code(),
                "validation",
                "{bad}"
            );
        }
        assert!(!dir.path().join("escape").exists());
    }
}
