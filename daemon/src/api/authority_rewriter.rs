//! Rewrites the client-to-server bytes of one HTTP/2 connection so that every request whose
//! `:authority` is not a valid host says `localhost` instead; everything else is unchanged.
//!
//! grpc-core clients (Python, C++, Ruby, Java, grpcurl 1.8's grpc-go…) put the socket path,
//! percent-encoded or not, in `:authority` on a `unix:` target, and h2 refuses such a request
//! with `RST_STREAM(PROTOCOL_ERROR)` as RFC 9113 §8.3.1 requires. On dkd's own socket the
//! authority means nothing, so [`AuthorityRewriter`] makes it a host before h2 reads it.
//!
//! Frames other than HEADERS and CONTINUATION pass through untouched. The connection's first
//! header block decides: if its `:authority` is a host (tonic, grpc-js, Go clients…), it and
//! everything after it pass through byte for byte, so such clients pay nothing after their
//! first request. Otherwise every header block of the connection is decoded with the client's
//! HPACK context and re-encoded as literals that h2 does not index, so h2's HPACK table stays
//! empty and never disagrees with the client's.

use loona_hpack::{Decoder, decoder::DecoderError};

/// The client connection preface (RFC 9113 §3.4), passed through as it is.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const PRIORITY_LEN: usize = 5;
/// The largest frame payload a server accepts unless its SETTINGS say more (RFC 9113
/// §6.5.2); dkd's socket server keeps that default, so re-encoded blocks are cut to it.
const MAX_FRAME_PAYLOAD: usize = 16_384;
/// The HPACK table size h2 allows by default (RFC 9113 §6.5.2), so the most a client's
/// encoder may use.
const HEADER_TABLE_SIZE: usize = 4_096;
/// A header block larger than this ends the connection instead of being buffered.
const MAX_HEADER_BLOCK: usize = 1 << 20;
const AUTHORITY: &[u8] = b":authority";
const LOCALHOST: &[u8] = b"localhost";

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("a header block is larger than {MAX_HEADER_BLOCK} bytes")]
    BlockTooLarge,
    #[error("a HEADERS frame is shorter than its padding and priority")]
    ShortHeaders,
    #[error("a header block is interrupted, or a CONTINUATION frame has no HEADERS before it")]
    OutOfOrder,
    #[error("undecodable header block: {0}")]
    Hpack(DecoderError),
}

/// A header block whose CONTINUATION frames are still to come.
struct OpenBlock {
    stream_id: [u8; 4],
    end_stream: bool,
    priority: Option<[u8; PRIORITY_LEN]>,
    fragments: Vec<u8>,
    /// The block's frames as received, for passing the first block through unchanged.
    frames: Vec<u8>,
}

/// The rewriting state of one connection, fed its bytes in order as they arrive.
pub struct AuthorityRewriter {
    decoder: Decoder<'static>,
    preface_left: usize,
    /// Bytes received but not rewritten yet (an incomplete frame header or header frame).
    pending: Vec<u8>,
    /// Payload bytes of a passed-through frame still to come.
    passing: usize,
    block: Option<OpenBlock>,
    /// Whether the connection's first header block was seen (it decides the mode).
    decided: bool,
    /// Everything passes through unchanged: the first block needed no rewrite.
    pass_through: bool,
}

impl Default for AuthorityRewriter {
    fn default() -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(HEADER_TABLE_SIZE);
        Self {
            decoder,
            preface_left: PREFACE_LEN,
            pending: Vec::new(),
            passing: 0,
            block: None,
            decided: false,
            pass_through: false,
        }
    }
}

impl AuthorityRewriter {
    /// Whether everything from now on passes through unchanged (the caller may then read
    /// the connection directly).
    pub fn passes_through(&self) -> bool {
        self.pass_through && self.pending.is_empty()
    }

    /// Appends to `out` what the server should read for `bytes`, the next bytes from the
    /// client; what cannot be rewritten yet is kept for the next call.
    pub fn rewrite(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), RewriteError> {
        if self.pass_through {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let preface = self.preface_left.min(bytes.len());
        out.extend_from_slice(&bytes[..preface]);
        self.preface_left -= preface;
        self.pending.extend_from_slice(&bytes[preface..]);

        let mut at = 0;
        loop {
            let available = &self.pending[at..];
            if self.pass_through {
                out.extend_from_slice(available);
                at = self.pending.len();
                break;
            }
            if self.passing > 0 {
                let passed = self.passing.min(available.len());
                if passed == 0 {
                    break;
                }
                out.extend_from_slice(&available[..passed]);
                self.passing -= passed;
                at += passed;
                continue;
            }
            let Some(header) = available.get(..FRAME_HEADER_LEN) else {
                break;
            };
            let length =
                usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let (kind, flags) = (header[3], header[4]);
            let stream_id = [header[5], header[6], header[7], header[8]];
            if kind != HEADERS && kind != CONTINUATION {
                if self.block.is_some() {
                    return Err(RewriteError::OutOfOrder);
                }
                out.extend_from_slice(header);
                self.passing = length;
                at += FRAME_HEADER_LEN;
                continue;
            }
            if length > MAX_HEADER_BLOCK {
                return Err(RewriteError::BlockTooLarge);
            }
            let Some(payload) = available.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + length) else {
                break;
            };
            let payload = payload.to_vec();
            let received = available[..FRAME_HEADER_LEN + length].to_vec();
            at += FRAME_HEADER_LEN + length;
            if kind == HEADERS {
                self.open_block(flags, stream_id, &payload)?;
            } else {
                self.continue_block(stream_id, &payload)?;
            }
            if let Some(block) = self.block.as_mut() {
                block.frames.extend_from_slice(&received);
            }
            if flags & END_HEADERS != 0 {
                self.close_block(out)?;
            }
        }
        self.pending.drain(..at);
        Ok(())
    }

    fn open_block(
        &mut self,
        flags: u8,
        stream_id: [u8; 4],
        payload: &[u8],
    ) -> Result<(), RewriteError> {
        if self.block.is_some() {
            return Err(RewriteError::OutOfOrder);
        }
        let mut rest = payload;
        let mut padding = 0;
        if flags & PADDED != 0 {
            let (&length, after) = rest.split_first().ok_or(RewriteError::ShortHeaders)?;
            padding = usize::from(length);
            rest = after;
        }
        let mut priority = None;
        if flags & PRIORITY != 0 {
            let (fields, after) = rest
                .split_first_chunk::<PRIORITY_LEN>()
                .ok_or(RewriteError::ShortHeaders)?;
            priority = Some(*fields);
            rest = after;
        }
        let fragment_len = rest
            .len()
            .checked_sub(padding)
            .ok_or(RewriteError::ShortHeaders)?;
        self.block = Some(OpenBlock {
            stream_id,
            end_stream: flags & END_STREAM != 0,
            priority,
            fragments: rest[..fragment_len].to_vec(),
            frames: Vec::new(),
        });
        Ok(())
    }

    fn continue_block(&mut self, stream_id: [u8; 4], payload: &[u8]) -> Result<(), RewriteError> {
        let block = self
            .block
            .as_mut()
            .filter(|block| block.stream_id == stream_id)
            .ok_or(RewriteError::OutOfOrder)?;
        if block.fragments.len() + payload.len() > MAX_HEADER_BLOCK {
            return Err(RewriteError::BlockTooLarge);
        }
        block.fragments.extend_from_slice(payload);
        Ok(())
    }

    /// Decodes the complete block, re-encodes it with a host as `:authority`, and appends
    /// it to `out` as one HEADERS frame and as many CONTINUATION frames as it needs.
    fn close_block(&mut self, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        let block = self.block.take().ok_or(RewriteError::OutOfOrder)?;
        let mut encoded = Vec::with_capacity(block.fragments.len() + LOCALHOST.len());
        let mut rewritten = false;
        self.decoder
            .decode_with_cb(&block.fragments, |name, value| {
                let value = if *name == *AUTHORITY && http::uri::Authority::try_from(&*value).is_err()
                {
                    tracing::debug!(authority = %String::from_utf8_lossy(&value), "served as localhost");
                    rewritten = true;
                    LOCALHOST
                } else {
                    &value
                };
                encode_literal(&name, value, &mut encoded);
            })
            .map_err(RewriteError::Hpack)?;
        if !std::mem::replace(&mut self.decided, true) && !rewritten {
            // A client that names a host: h2 reads it, and all that follows, as it is.
            out.extend_from_slice(&block.frames);
            self.pass_through = true;
            return Ok(());
        }

        let priority = block
            .priority
            .as_ref()
            .map_or(&[][..], |fields| &fields[..]);
        let (first, mut rest) =
            encoded.split_at(encoded.len().min(MAX_FRAME_PAYLOAD - priority.len()));
        let mut flags = if block.end_stream { END_STREAM } else { 0 };
        if !priority.is_empty() {
            flags |= PRIORITY;
        }
        if rest.is_empty() {
            flags |= END_HEADERS;
        }
        frame_header(
            out,
            priority.len() + first.len(),
            HEADERS,
            flags,
            block.stream_id,
        );
        out.extend_from_slice(priority);
        out.extend_from_slice(first);
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(rest.len().min(MAX_FRAME_PAYLOAD));
            let flags = if after.is_empty() { END_HEADERS } else { 0 };
            frame_header(out, chunk.len(), CONTINUATION, flags, block.stream_id);
            out.extend_from_slice(chunk);
            rest = after;
        }
        Ok(())
    }
}

fn frame_header(out: &mut Vec<u8>, length: usize, kind: u8, flags: u8, stream_id: [u8; 4]) {
    // Lengths are at most MAX_FRAME_PAYLOAD, so they fit the 24 bits.
    out.extend_from_slice(&[
        (length >> 16) as u8,
        (length >> 8) as u8,
        length as u8,
        kind,
        flags,
    ]);
    out.extend_from_slice(&stream_id);
}

/// A literal header field without indexing, new name, no Huffman coding (RFC 7541 §6.2.2).
fn encode_literal(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(0x00);
    for string in [name, value] {
        encode_length(string.len(), out);
        out.extend_from_slice(string);
    }
}

/// A string length as an HPACK integer with a 7-bit prefix and the Huffman bit clear
/// (RFC 7541 §5.1).
fn encode_length(mut length: usize, out: &mut Vec<u8>) {
    const PREFIX_MAX: usize = 0x7f;
    if length < PREFIX_MAX {
        out.push(length as u8);
        return;
    }
    out.push(PREFIX_MAX as u8);
    length -= PREFIX_MAX;
    while length >= 0x80 {
        out.push((length & 0x7f) as u8 | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame_header(&mut out, payload.len(), kind, flags, [0, 0, 0, stream]);
        out.extend_from_slice(payload);
        out
    }

    fn request(authority: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/datakit.v1.DataKitService/Status"),
            (":authority", authority),
            ("te", "trailers"),
            ("content-type", "application/grpc"),
        ]
        .into_iter()
        .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
    }

    fn encode(encoder: &mut loona_hpack::Encoder, headers: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        encoder.encode(headers.iter().map(|(n, v)| (&n[..], &v[..])))
    }

    /// Splits `frames` into the header blocks a server decodes, checking the framing.
    fn header_blocks(mut frames: &[u8]) -> Vec<Vec<u8>> {
        let mut blocks = Vec::new();
        let mut open: Option<Vec<u8>> = None;
        while !frames.is_empty() {
            let length =
                usize::from(frames[0]) << 16 | usize::from(frames[1]) << 8 | usize::from(frames[2]);
            assert!(length <= MAX_FRAME_PAYLOAD, "a frame of {length} bytes");
            let (kind, flags) = (frames[3], frames[4]);
            let mut payload = &frames[FRAME_HEADER_LEN..FRAME_HEADER_LEN + length];
            if kind == HEADERS {
                assert!(open.is_none());
                if flags & PRIORITY != 0 {
                    payload = &payload[PRIORITY_LEN..];
                }
                open = Some(payload.to_vec());
            } else if kind == CONTINUATION {
                open.as_mut()
                    .expect("HEADERS first")
                    .extend_from_slice(payload);
            }
            if kind != 0 && flags & END_HEADERS != 0 {
                blocks.push(open.take().expect("a block"));
            }
            frames = &frames[FRAME_HEADER_LEN + length..];
        }
        blocks
    }

    fn rewrite_in_pieces(input: &[u8], piece: usize) -> Vec<u8> {
        let mut rewriter = AuthorityRewriter::default();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            rewriter.rewrite(chunk, &mut out).expect("rewrite");
        }
        out
    }

    #[test]
    fn a_socket_path_authority_becomes_localhost_and_a_host_is_kept_across_indexed_blocks() {
        let mut encoder = loona_hpack::Encoder::new();
        let mut input = PREFACE.to_vec();
        for (stream, authority) in [
            (1, "%2Ftmp%2Fdkd.sock"),
            (3, "%2Ftmp%2Fdkd.sock"),
            (5, "example.com:80"),
        ] {
            // The client's encoder indexes the path, so the second block only refers to it.
            let block = encode(&mut encoder, &request(authority));
            input.extend(frame(HEADERS, END_HEADERS, stream, &block));
            input.extend(frame(0x0, END_STREAM, stream, b"\0\0\0\0\0"));
        }
        for piece in [1, 7, input.len()] {
            let out = rewrite_in_pieces(&input, piece);
            assert_eq!(&out[..PREFACE.len()], PREFACE);
            let mut server = Decoder::new();
            let authorities: Vec<String> = header_blocks(&out[PREFACE.len()..])
                .iter()
                .map(|block| {
                    let headers = server.decode(block).expect("the server decodes the block");
                    let (_, authority) = headers
                        .into_iter()
                        .find(|(name, _)| name == AUTHORITY)
                        .expect(":authority");
                    String::from_utf8(authority).expect("UTF-8")
                })
                .collect();
            assert_eq!(
                authorities,
                ["localhost", "localhost", "example.com:80"],
                "pieces of {piece}"
            );
            assert!(out.ends_with(&frame(0x0, END_STREAM, 5, b"\0\0\0\0\0")));
        }
    }

    #[test]
    fn a_connection_whose_first_request_names_a_host_passes_through_byte_for_byte() {
        let mut encoder = loona_hpack::Encoder::new();
        let mut input = PREFACE.to_vec();
        for (stream, authority) in [(1, "localhost"), (3, "localhost"), (5, "%2Ftmp")] {
            let block = encode(&mut encoder, &request(authority));
            input.extend(frame(HEADERS, END_HEADERS, stream, &block));
            input.extend(frame(0x0, END_STREAM, stream, b"\0\0\0\0\0"));
        }
        for piece in [1, 7, input.len()] {
            assert_eq!(rewrite_in_pieces(&input, piece), input, "pieces of {piece}");
        }
        let mut rewriter = AuthorityRewriter::default();
        rewriter.rewrite(&input, &mut Vec::new()).expect("rewrite");
        assert!(rewriter.passes_through());
    }

    #[test]
    fn a_padded_prioritised_block_with_continuations_keeps_its_flags_and_headers() {
        let mut headers = request("/tmp/dkd.sock");
        headers.push((b"x-large".to_vec(), vec![b'a'; 40_000]));
        let block =
            loona_hpack::Encoder::new().encode(headers.iter().map(|(n, v)| (&n[..], &v[..])));
        let (first, rest) = block.split_at(100);
        let mut payload = vec![3];
        payload.extend_from_slice(&[0, 0, 0, 1, 15]);
        payload.extend_from_slice(first);
        payload.extend_from_slice(&[0, 0, 0]);
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, PADDED | PRIORITY | END_STREAM, 1, &payload));
        input.extend(frame(CONTINUATION, END_HEADERS, 1, rest));

        let out = rewrite_in_pieces(&input, 1000);
        let frames = &out[PREFACE.len()..];
        assert_eq!(frames[3], HEADERS);
        assert_eq!(
            frames[4],
            PRIORITY | END_STREAM,
            "END_HEADERS waits for the last CONTINUATION"
        );
        assert_eq!(
            &frames[FRAME_HEADER_LEN..FRAME_HEADER_LEN + PRIORITY_LEN],
            &[0, 0, 0, 1, 15]
        );
        let blocks = header_blocks(frames);
        let decoded = Decoder::new().decode(&blocks[0]).expect("decode");
        let mut expected = headers;
        expected[3].1 = LOCALHOST.to_vec();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_block_interrupted_by_another_frame_is_an_error() {
        let block = loona_hpack::Encoder::new()
            .encode(request("localhost").iter().map(|(n, v)| (&n[..], &v[..])));
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, 0, 1, &block));
        input.extend(frame(0x0, 0, 1, b"x"));
        let error = AuthorityRewriter::default()
            .rewrite(&input, &mut Vec::new())
            .expect_err("an interrupted block");
        assert!(matches!(error, RewriteError::OutOfOrder), "{error}");
    }

    #[test]
    fn lengths_use_the_hpack_integer_continuation_bytes() {
        let mut out = Vec::new();
        encode_length(1337 + 0x7f - 31, &mut out);
        let mut expected = Vec::new();
        loona_hpack::encoder::encode_integer_into(1337 + 0x7f - 31, 7, 0, &mut expected)
            .expect("encode into a Vec");
        assert_eq!(out, expected);
    }
}
