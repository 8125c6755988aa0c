//! A person's archive as a streamed tar file: each file of
//! [`Tracker::my_archive`] becomes a tar entry as soon as it is written,
//! so the response never holds the archive whole.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tracker_core::{ArchiveSink, Error, Principal, Result, Tracker};

use crate::error::ApiError;

/// Files waiting to be sent: a few, so a slow download slows the export.
const IN_FLIGHT: usize = 4;

type Chunk = std::result::Result<Bytes, Error>;

/// Writes each file as one tar entry (a ustar header, the bytes, padding)
/// into the response's channel.
struct TarSink {
    tx: mpsc::Sender<Chunk>,
    mtime: u64,
}

#[async_trait]
impl ArchiveSink for TarSink {
    async fn file(&mut self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(name)
            .map_err(|e| Error::storage("archive", e.to_string()))?;
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let pad = (512 - bytes.len() % 512) % 512;
        let mut entry = Vec::with_capacity(512 + bytes.len() + pad);
        entry.extend_from_slice(header.as_bytes());
        entry.extend_from_slice(&bytes);
        entry.resize(entry.len() + pad, 0);
        self.tx
            .send(Ok(Bytes::from(entry)))
            .await
            .map_err(|_| Error::invalid_state("the download was closed"))
    }
}

/// The caller's archive as a tar download named `filename`. Refusals
/// (an OWNER, a suspended company) answer as errors before any byte is
/// sent; a store failure midway ends the stream early, so the tar file is
/// cut short and no manifest closes it.
pub async fn archive_response(
    tracker: Arc<Tracker>,
    principal: Principal,
    filename: &'static str,
) -> std::result::Result<Response, ApiError> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(IN_FLIGHT);
    let mtime = u64::try_from(tracker.now().timestamp()).unwrap_or(0);
    tokio::spawn(async move {
        let mut sink = TarSink {
            tx: tx.clone(),
            mtime,
        };
        let outcome = tracker.my_archive(&principal, &mut sink).await;
        let last = match outcome {
            // Two zero blocks end a tar file.
            Ok(_) => Ok(Bytes::from(vec![0u8; 1024])),
            Err(e) => Err(e),
        };
        let _ = tx.send(last).await;
    });
    // The first file (the profile) follows every check: a refusal comes
    // first, as an error.
    let first = match rx.recv().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(e)) => return Err(e.into()),
        None => return Err(Error::invalid_state("the archive ended before it began").into()),
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await? {
            Ok(chunk) => Some((Ok(chunk), rx)),
            Err(e) => {
                tracing::error!(error = %e, "an archive stopped midway");
                Some((Err(std::io::Error::other(e.to_string())), rx))
            }
        }
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    let mut response = crate::routes::attachment(
        Body::from_stream(body).into_response(),
        "application/x-tar",
        filename,
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
