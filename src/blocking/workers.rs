//! The bound on blocking work: a semaphore of worker permits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Worker permits shared by a pool's clones.
#[derive(Clone)]
pub(crate) struct Workers {
    permits: Arc<Semaphore>,
    size: usize,
    max_wait: Option<Duration>,
}

impl Workers {
    /// `size` workers (at least 1).
    pub(crate) fn new(size: usize) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Workers {
            permits: Arc::new(Semaphore::new(size)),
            size,
            max_wait: None,
        }
    }

    pub(crate) fn set_max_wait(&mut self, wait: Duration) {
        self.max_wait = Some(wait);
    }

    pub(crate) fn max_wait(&self) -> Option<Duration> {
        self.max_wait
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// A worker, waiting as long as it takes; `None` only if the pool is closed.
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// A worker for a new connection, waiting at most `max_wait`.
    pub(crate) async fn acquire_for_view(&self) -> Option<OwnedSemaphorePermit> {
        match self.max_wait {
            Some(wait) => tokio::time::timeout(wait, self.acquire()).await.ok()?,
            None => self.acquire().await,
        }
    }
}
