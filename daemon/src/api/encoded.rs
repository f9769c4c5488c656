//! Messages encoded once and sent as they are: a Watch event goes to every subscriber as
//! the same bytes, where tonic's own codec would encode it again for each stream.
//! `EncodedCodec` sends such bytes and decodes requests as prost messages.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_prost::ProstDecoder;

/// One protobuf message, already encoded; cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded(Bytes);

impl Encoded {
    /// `message`, encoded.
    pub fn of(message: &impl Message) -> Self {
        Self(Bytes::from(message.encode_to_vec()))
    }

    /// Bytes that already are one encoded message.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The encoding, decoded again as `M`.
    pub fn decode<M: Message + Default>(&self) -> Result<M, prost::DecodeError> {
        M::decode(self.0.clone())
    }

    /// Whether both share one encoding (not merely equal bytes).
    pub fn shares_bytes_with(&self, other: &Self) -> bool {
        self.0.as_ptr() == other.0.as_ptr() && self.0.len() == other.0.len()
    }
}

/// Sends [`Encoded`] messages as they are; decodes requests of type `R`.
#[derive(Debug)]
pub struct EncodedCodec<R>(PhantomData<R>);

impl<R> Default for EncodedCodec<R> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<R: Message + Default + Send + 'static> Codec for EncodedCodec<R> {
    type Encode = Encoded;
    type Decode = R;
    type Encoder = EncodedEncoder;
    type Decoder = RequestDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(ProstDecoder::default())
    }
}

/// Copies an [`Encoded`] message into the frame.
#[derive(Debug)]
pub struct EncodedEncoder;

impl Encoder for EncodedEncoder {
    type Item = Encoded;
    type Error = Status;

    fn encode(&mut self, item: Encoded, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.0);
        Ok(())
    }
}

/// Decodes a request exactly as tonic's prost codec does.
#[derive(Debug)]
pub struct RequestDecoder<R>(ProstDecoder<R>);

impl<R: Message + Default> Decoder for RequestDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        self.0.decode(src)
    }
}

#[cfg(test)]
mod tests {
    use datakit::proto;

    use super::*;

    #[test]
    fn an_encoded_message_decodes_to_itself_and_its_clones_share_the_bytes() {
        let event = proto::WatchEvent {
            sequence: 42,
            snapshot_sequence: 7,
            ..Default::default()
        };
        let encoded = Encoded::of(&event);
        assert_eq!(encoded.decode::<proto::WatchEvent>(), Ok(event.clone()));
        assert!(encoded.shares_bytes_with(&encoded.clone()));
        assert!(!encoded.shares_bytes_with(&Encoded::of(&event)));
    }
}
