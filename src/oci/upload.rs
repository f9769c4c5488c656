//! The content layer as a stream of chunks for a registry upload: read from its file on the
//! blocking pool, hashed as it is read, so neither the async workers nor memory ever hold
//! more than a couple of chunks.
//!
//! oci-client's `push_blob` takes a whole blob in memory; its `push_blob_stream` takes a
//! stream and sends it as the OCI distribution spec's chunked upload (POST a session, one
//! PATCH per chunk, PUT with the digest) through the same HTTP client and authentication.
//! Each item of this stream is one PATCH, so its size matters: small enough to bound memory
//! and to finish well within the client's read timeout on a slow link, large enough to
//! keep the number of requests down.

use std::{
    fs::File,
    io::{self, Read},
};

use bytes::Bytes;
use oci_client::errors::OciDistributionError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    artifact::LayerFile,
    blob_io::{HashingReader, Progress},
};

/// Bytes per chunk (and so per PATCH request): oci-client's own chunk size.
pub const UPLOAD_CHUNK: usize = 4 * 1024 * 1024;

/// The chunks of `layer`'s file, telling `progress` as they are read. A file that cannot
/// be read, or that no longer hashes to the layer's digest, ends the stream with an error,
/// so the upload is never completed with other bytes.
pub fn layer_chunks(
    layer: LayerFile,
    progress: Progress,
) -> ReceiverStream<Result<Bytes, OciDistributionError>> {
    // One chunk waiting while the next is read: memory stays at a few chunks.
    let (sender, receiver) = mpsc::channel(1);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = send_chunks(&layer, progress, &sender) {
            let reason = format!("cannot upload {}: {error}", layer.path.display());
            // The receiver is gone only when the upload already failed.
            let _ = sender.blocking_send(Err(OciDistributionError::GenericError(Some(reason))));
        }
    });
    ReceiverStream::new(receiver)
}

fn send_chunks(
    layer: &LayerFile,
    progress: Progress,
    sender: &mpsc::Sender<Result<Bytes, OciDistributionError>>,
) -> io::Result<()> {
    let mut reader = HashingReader::new(File::open(&layer.path)?, progress);
    loop {
        let mut chunk = Vec::with_capacity(UPLOAD_CHUNK);
        (&mut reader)
            .take(UPLOAD_CHUNK as u64)
            .read_to_end(&mut chunk)?;
        if chunk.is_empty() {
            break;
        }
        if sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            return Ok(());
        }
    }
    let read = reader.finish()?;
    if read.digest != layer.digest || read.size != layer.size {
        return Err(io::Error::other(format!(
            "it changed since it was checked (expected {}, read {}); the upload was abandoned",
            layer.digest, read.digest
        )));
    }
    Ok(())
}
