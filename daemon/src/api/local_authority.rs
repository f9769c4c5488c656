//! A connection accepted on dkd's Unix socket, whose incoming requests reach h2 with a
//! valid `:authority` (see [`super::authority_rewriter`]); writes pass through untouched,
//! one buffer at a time (see `is_write_vectored`). The network listener never uses it, so
//! HTTP/2 stays strict there.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use super::authority_rewriter::AuthorityRewriter;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// `S` with its incoming bytes passed through an [`AuthorityRewriter`].
pub struct LocalAuthority<S> {
    inner: S,
    rewriter: AuthorityRewriter,
    read_chunk: Box<[u8]>,
    rewritten: Vec<u8>,
    served: usize,
}

impl<S> LocalAuthority<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rewriter: AuthorityRewriter::default(),
            read_chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            rewritten: Vec::new(),
            served: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LocalAuthority<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.served == this.rewritten.len() && this.rewriter.passes_through() {
                // Nothing left to rewrite on this connection: read straight into `buf`.
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let unserved = &this.rewritten[this.served..];
            if !unserved.is_empty() {
                let served = unserved.len().min(buf.remaining());
                buf.put_slice(&unserved[..served]);
                this.served += served;
                if this.served == this.rewritten.len() {
                    this.rewritten.clear();
                    this.served = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = ReadBuf::new(&mut this.read_chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
            let received = chunk.filled();
            if received.is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.rewriter
                .rewrite(received, &mut this.rewritten)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LocalAuthority<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    /// Not vectored, on purpose: h2 then copies a DATA frame of up to 1 KiB into its write
    /// buffer instead of chaining any over 256 bytes, and a chained frame ends the buffer,
    /// so every such answer cost a write of its own. A `Status` answer (about 600 bytes)
    /// now shares its write with the answers ready beside it, as small ones already did.
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The peer credentials of the socket connection stay visible to the owner check.
impl<S: Connected> Connected for LocalAuthority<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
