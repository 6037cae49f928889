//! The protobuf codec of every fieldops service. Encoding is prost's.
//! Decoding a request first checks its fields against the API's limits
//! (`limits`), then decodes; anything a client can send wrong (a body that
//! is not the message, text that is not UTF-8, a field beyond its limit) is
//! INVALID_ARGUMENT with a stable reason, never INTERNAL, and never echoes
//! the parser's text or the input.
use super::limits;
use crate::error::{AppError, reason};
use bytes::Buf;
use prost::Message;
use std::marker::PhantomData;
use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder, EncodeBuf, Encoder};

#[derive(Debug, Clone)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Codec(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder {
            message: limits::proto_name::<U>(),
            _pd: PhantomData,
        }
    }
}

#[derive(Debug)]
pub struct ProstEncoder<T>(PhantomData<T>);

impl<T: Message> Encoder for ProstEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|_| Status::internal("reply larger than its buffer"))
    }

    /// A reply's buffer starts small and grows with the reply: a Watch
    /// stream keeps its buffer while it is open, and 10,000 idle handhelds
    /// each holding tonic's default 8 KiB cost 80 MiB (issue 19). Large
    /// replies (a Pull page) grow it by doubling, a few copies per page.
    fn buffer_settings(&self) -> BufferSettings {
        const REPLY_BUFFER: usize = 512;
        // 32 KiB: tonic's default threshold for handing encoded bytes on.
        BufferSettings::new(REPLY_BUFFER, 32 * 1024)
    }
}

#[derive(Debug)]
pub struct CheckedDecoder<U> {
    /// The request's full protobuf name, when it is one whose limits apply.
    message: Option<&'static str>,
    _pd: PhantomData<U>,
}

impl<U: Message + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let body = buf.copy_to_bytes(buf.remaining());
        if let Some(message) = self.message {
            limits::check(message, &body)?;
        }
        U::decode(body).map(Some).map_err(|_| {
            AppError::invalid(
                "",
                reason::MALFORMED_REQUEST,
                "the request body is not a valid message of this method",
            )
            .into()
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}
