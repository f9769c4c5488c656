//! Blobs streamed instead of held in memory: `io` adapters that hash and count the bytes
//! going through them, and the progress callback told how many went by.

use std::{
    io::{self, Read, Write},
    sync::Arc,
};

use sha2::{Digest as _, Sha256};

use super::digest::format_sha256;

/// Told how many more bytes of a blob went by, e.g. to move a progress bar.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// A [`Progress`] that shows nothing.
pub fn no_progress() -> Progress {
    Arc::new(|_| {})
}

/// The digest and size of the bytes that went through an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub digest: String,
    pub size: u64,
}

#[derive(Default)]
struct Tally {
    hasher: Sha256,
    size: u64,
}

impl Tally {
    fn add(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    fn finish(self) -> Hashed {
        Hashed {
            digest: format_sha256(&self.hasher.finalize()),
            size: self.size,
        }
    }
}

/// A writer that hashes and counts every byte it passes on to `inner`.
pub struct HashingWriter<W> {
    inner: W,
    tally: Tally,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            tally: Tally::default(),
        }
    }

    /// The inner writer, and the digest and size of what was written to it.
    pub fn finish(self) -> (W, Hashed) {
        (self.inner, self.tally.finish())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.tally.add(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read from `inner`, telling `progress`.
pub struct HashingReader<R> {
    inner: R,
    tally: Tally,
    progress: Progress,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, progress: Progress) -> Self {
        Self {
            inner,
            tally: Tally::default(),
            progress,
        }
    }

    /// Reads what is left of `inner`, then gives the digest and size of everything read.
    pub fn finish(mut self) -> io::Result<Hashed> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.tally.finish())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.tally.add(&buf[..read]);
        (self.progress)(read as u64);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::oci::sha256_digest;

    #[test]
    fn what_goes_through_either_adapter_hashes_like_the_whole_bytes() {
        let bytes: Vec<u8> = (0..100_000u32).map(|n| (n * 7 % 251) as u8).collect();
        let mut writer = HashingWriter::new(Vec::new());
        for chunk in bytes.chunks(999) {
            writer.write_all(chunk).expect("write");
        }
        let (written, hashed) = writer.finish();
        assert_eq!(written, bytes);
        assert_eq!(hashed.digest, sha256_digest(&bytes));
        assert_eq!(hashed.size, bytes.len() as u64);

        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        let progress: Progress = Arc::new(move |n| {
            counter.fetch_add(n, Ordering::Relaxed);
        });
        let mut reader = HashingReader::new(bytes.as_slice(), progress);
        let mut start = [0; 10];
        reader.read_exact(&mut start).expect("read");
        let hashed_again = reader.finish().expect("finish");
        assert_eq!(hashed_again, hashed, "finish reads the rest");
        assert_eq!(seen.load(Ordering::Relaxed), bytes.len() as u64);
    }
}
