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
