//! Reading a bulk request body: within the size limit, and decompressed.
//!
//! The limit applies twice: to the bytes on the wire (refused before reading when
//! `Content-Length` already says too much) and to the decompressed body, so a small gzip bomb
//! cannot make the listener allocate gigabytes.

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::BulkError;

/// How the body was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Deflate,
}

/// The body's `Content-Encoding`.
pub(crate) fn encoding(headers: &HeaderMap) -> Result<Encoding, BulkError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match text.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "deflate" => Ok(Encoding::Deflate),
        _ => Err(BulkError::UnsupportedEncoding(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )),
    }
}

/// Read the whole body as sent, refusing it once it is over `limit` bytes. Every KiB read is
/// taken from `budget` (the memory all bodies being read may hold) and held by the returned
/// permit until the request is done; when the budget is spent, reading waits.
pub(crate) async fn collect(
    mut body: Body,
    headers: &HeaderMap,
    limit: usize,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BulkError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BulkError::TooLarge { limit });
    }
    let mut buf = BytesMut::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|e| BulkError::BadRequest(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BulkError::TooLarge { limit });
            }
            let want = (buf.len() + data.len()).div_ceil(1024) as u32;
            let have = held.as_ref().map_or(0, |p| p.num_permits() as u32);
            if want > have {
                let more = budget
                    .clone()
                    .acquire_many_owned(want - have)
                    .await
                    .map_err(|_| BulkError::Closed)?;
                match &mut held {
                    Some(p) => p.merge(more),
                    None => held = Some(more),
                }
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((buf.freeze(), held))
}

/// Undo the body's compression, refusing output over `limit` bytes. CPU-bound.
pub(crate) fn decompress(
    wire: Bytes,
    encoding: Encoding,
    limit: usize,
) -> Result<Bytes, BulkError> {
    let read_all = |reader: &mut dyn Read, what: &str| -> Result<Bytes, BulkError> {
        let mut out = Vec::new();
        reader
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                BulkError::BadRequest(format!("the {what} request body is corrupt: {e}"))
            })?;
        if out.len() > limit {
            return Err(BulkError::TooLarge { limit });
        }
        Ok(Bytes::from(out))
    };
    match encoding {
        Encoding::Identity => Ok(wire),
        Encoding::Gzip => read_all(&mut MultiGzDecoder::new(&wire[..]), "gzip"),
        // HTTP's `deflate` is zlib-wrapped (RFC 9110 §8.4.1.2), but some clients send raw
        // deflate: the zlib header tells them apart.
        Encoding::Deflate if looks_like_zlib(&wire) => {
            read_all(&mut ZlibDecoder::new(&wire[..]), "deflate")
        }
        Encoding::Deflate => read_all(&mut DeflateDecoder::new(&wire[..]), "deflate"),
    }
}

/// A zlib stream starts with a CMF/FLG pair whose 16-bit value is a multiple of 31.
fn looks_like_zlib(data: &[u8]) -> bool {
    matches!(data, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}
