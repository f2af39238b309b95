//! AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's
//! `ConverseStream` and `InvokeModelWithResponseStream` send it.
//!
//! A message is, big-endian: a 12-byte prelude (total length `u32`, headers length
//! `u32`, CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of
//! everything before it. A header is a name (`u8` length + UTF-8 bytes), a type byte
//! and a value: 0 true, 1 false, 2 `i8`, 3 `i16`, 4 `i32`, 5 `i64`, 6 bytes (`u16`
//! length), 7 UTF-8 string (`u16` length), 8 timestamp (`i64` milliseconds), 9 UUID
//! (16 bytes).
//!
//! [`EventStreamDecoder`] validates both checksums and every header, and hands each
//! complete message to a callback as a [`Message`] borrowing either the caller's
//! chunk (a message that lies wholly inside one chunk is never copied) or the
//! decoder's one reusable buffer (a message split across chunks).
//!
//! Errors are [`Error::StreamDecode`] with an absolute byte offset that does not
//! depend on how the stream was chunked: the prelude CRC field (`start + 8`) for a
//! prelude checksum mismatch, the message CRC field (`start + total - 4`) for a
//! message checksum mismatch, the message start for an impossible or oversized
//! length, the offending header's first byte for a malformed header.

use crate::error::{Error, Result};

/// Bytes of the prelude: total length, headers length, prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// The smallest valid message: a prelude and a message CRC, no headers, no payload.
pub const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;

/// CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320), slice-by-8 tables.
const CRC_TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

/// CRC32 (IEEE) of `data`, as `zlib.crc32` computes it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = CRC_TABLES[7][(lo & 0xff) as usize]
            ^ CRC_TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ CRC_TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ CRC_TABLES[4][(lo >> 24) as usize]
            ^ CRC_TABLES[3][c[4] as usize]
            ^ CRC_TABLES[2][c[5] as usize]
            ^ CRC_TABLES[1][c[6] as usize]
            ^ CRC_TABLES[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ CRC_TABLES[0][((crc ^ b as u32) & 0xff) as usize];
    }
    !crc
}

/// A typed header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Integer(i32),
    Long(i64),
    Bytes(&'a [u8]),
    String(&'a str),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl<'a> HeaderValue<'a> {
    /// The value if it is a string header.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One header: a name and a typed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a str,
    pub value: HeaderValue<'a>,
}

/// One validated message: its raw header block and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    headers: &'a [u8],
    /// The message payload (for Bedrock, JSON).
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The headers in wire order (the block was validated when the message was decoded).
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter {
            block: self.headers,
            pos: 0,
        }
    }

    /// The value of the last header called `name` (later headers win, as in a dict).
    pub fn header(&self, name: &str) -> Option<HeaderValue<'a>> {
        self.headers()
            .filter_map(|h| h.ok())
            .filter(|h| h.name == name)
            .last()
            .map(|h| h.value)
    }

    /// The value of header `name` if it is a string header.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.header(name).and_then(|v| v.as_str())
    }
}

/// Iterator over a header block; yields the block-relative offset of the first bad
/// header as the error.
pub struct HeaderIter<'a> {
    block: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = std::result::Result<Header<'a>, usize>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.block.len() {
            return None;
        }
        let start = self.pos;
        let result = parse_header(self.block, &mut self.pos);
        if result.is_err() {
            // Stop after an error: the rest of the block cannot be framed.
            self.pos = self.block.len();
        }
        Some(result.map_err(|()| start))
    }
}

fn take<'a>(block: &'a [u8], pos: &mut usize, n: usize) -> std::result::Result<&'a [u8], ()> {
    let end = pos.checked_add(n).ok_or(())?;
    let bytes = block.get(*pos..end).ok_or(())?;
    *pos = end;
    Ok(bytes)
}

fn take_array<const N: usize>(block: &[u8], pos: &mut usize) -> std::result::Result<[u8; N], ()> {
    let bytes = take(block, pos, N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

fn parse_header<'a>(block: &'a [u8], pos: &mut usize) -> std::result::Result<Header<'a>, ()> {
    let [name_len] = take_array::<1>(block, pos)?;
    let name = std::str::from_utf8(take(block, pos, name_len as usize)?).map_err(|_| ())?;
    let [kind] = take_array::<1>(block, pos)?;
    let value = match kind {
        0 => HeaderValue::Bool(true),
        1 => HeaderValue::Bool(false),
        2 => HeaderValue::Byte(i8::from_be_bytes(take_array(block, pos)?)),
        3 => HeaderValue::Short(i16::from_be_bytes(take_array(block, pos)?)),
        4 => HeaderValue::Integer(i32::from_be_bytes(take_array(block, pos)?)),
        5 => HeaderValue::Long(i64::from_be_bytes(take_array(block, pos)?)),
        6 | 7 => {
            let len = u16::from_be_bytes(take_array(block, pos)?) as usize;
            let bytes = take(block, pos, len)?;
            if kind == 6 {
                HeaderValue::Bytes(bytes)
            } else {
                HeaderValue::String(std::str::from_utf8(bytes).map_err(|_| ())?)
            }
        }
        8 => HeaderValue::Timestamp(i64::from_be_bytes(take_array(block, pos)?)),
        9 => HeaderValue::Uuid(take_array(block, pos)?),
        _ => return Err(()),
    };
    Ok(Header { name, value })
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn decode_error(message: impl Into<String>, offset: u64) -> Error {
    Error::StreamDecode {
        message: message.into(),
        offset,
    }
}

/// Validate a prelude (`bytes.len() >= PRELUDE_LEN`) of the message at absolute
/// offset `start`; returns the message's total length.
fn check_prelude(bytes: &[u8], start: u64, max_message_bytes: usize) -> Result<usize> {
    let total = be_u32(&bytes[0..4]) as usize;
    let headers_len = be_u32(&bytes[4..8]) as usize;
    if crc32(&bytes[0..8]) != be_u32(&bytes[8..12]) {
        return Err(decode_error("event-stream prelude CRC mismatch", start + 8));
    }
    if total < MIN_MESSAGE_LEN {
        return Err(decode_error(
            format!("invalid event-stream message length {total}"),
            start,
        ));
    }
    if total > max_message_bytes {
        return Err(decode_error(
            format!("event-stream message of {total} bytes exceeds max_event_bytes ({max_message_bytes})"),
            start,
        ));
    }
    if headers_len > total - MIN_MESSAGE_LEN {
        return Err(decode_error(
            format!("invalid event-stream headers length {headers_len}"),
            start + 4,
        ));
    }
    Ok(total)
}

/// Validate a whole message (prelude already checked) at absolute offset `start`.
fn parse_message(bytes: &[u8], start: u64) -> Result<Message<'_>> {
    let total = bytes.len();
    let crc_at = total - 4;
    if crc32(&bytes[..crc_at]) != be_u32(&bytes[crc_at..]) {
        return Err(decode_error(
            "event-stream message CRC mismatch",
            start + crc_at as u64,
        ));
    }
    let headers_len = be_u32(&bytes[4..8]) as usize;
    let headers = &bytes[PRELUDE_LEN..PRELUDE_LEN + headers_len];
    let message = Message {
        headers,
        payload: &bytes[PRELUDE_LEN + headers_len..crc_at],
    };
    for header in message.headers() {
        if let Err(at) = header {
            return Err(decode_error(
                "malformed event-stream header",
                start + (PRELUDE_LEN + at) as u64,
            ));
        }
    }
    Ok(message)
}

/// Incremental event-stream decoder. See the module docs.
#[derive(Debug, Clone)]
pub struct EventStreamDecoder {
    max_message_bytes: usize,
    /// A partial message carried over from earlier chunks (reused across messages).
    buf: Vec<u8>,
    /// Total message length of the buffered message, once its prelude is known.
    pending_total: Option<usize>,
    /// Total bytes fed.
    fed: u64,
}

impl EventStreamDecoder {
    /// A decoder refusing messages longer than `max_message_bytes` (whole frame).
    pub fn new(max_message_bytes: usize) -> Self {
        EventStreamDecoder {
            max_message_bytes,
            buf: Vec::new(),
            pending_total: None,
            fed: 0,
        }
    }

    /// True while a partial message is buffered (the stream would end inside a message).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Total bytes fed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.fed
    }

    /// Decode `chunk`, calling `on_message` for every complete message in order. The
    /// first error (from decoding or from the callback) stops decoding and is returned;
    /// the decoder must not be fed again after an error.
    pub fn feed<F>(&mut self, chunk: &[u8], mut on_message: F) -> Result<()>
    where
        F: FnMut(&Message<'_>) -> Result<()>,
    {
        let base = self.fed;
        self.fed += chunk.len() as u64;
        let mut pos = 0usize;
        if !self.buf.is_empty() {
            let start = base - self.buf.len() as u64;
            if self.buf.len() < PRELUDE_LEN {
                let n = (PRELUDE_LEN - self.buf.len()).min(chunk.len());
                self.buf.extend_from_slice(&chunk[..n]);
                pos = n;
                if self.buf.len() < PRELUDE_LEN {
                    return Ok(());
                }
            }
            let total = match self.pending_total {
                Some(total) => total,
                None => {
                    let total = check_prelude(&self.buf, start, self.max_message_bytes)?;
                    self.pending_total = Some(total);
                    total
                }
            };
            let n = (total - self.buf.len()).min(chunk.len() - pos);
            self.buf.extend_from_slice(&chunk[pos..pos + n]);
            pos += n;
            if self.buf.len() < total {
                return Ok(());
            }
            let result = parse_message(&self.buf, start).and_then(|m| on_message(&m));
            self.buf.clear();
            self.pending_total = None;
            result?;
        }
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let start = base + pos as u64;
            if rest.len() < PRELUDE_LEN {
                self.buf.extend_from_slice(rest);
                return Ok(());
            }
            let total = check_prelude(rest, start, self.max_message_bytes)?;
            if rest.len() < total {
                self.buf.extend_from_slice(rest);
                self.pending_total = Some(total);
                return Ok(());
            }
            // The whole message is in this chunk: decoded in place, never copied.
            on_message(&parse_message(&rest[..total], start)?)?;
            pos += total;
        }
        Ok(())
    }

    /// End of input: `StreamDecode` ("stream ended inside an event") if a partial
    /// message is buffered.
    pub fn finish(&self) -> Result<()> {
        if self.has_pending() {
            return Err(decode_error("stream ended inside an event", self.fed));
        }
        Ok(())
    }
}

/// Encode one message (for tests and tools; the testing server has its own encoder).
pub fn encode_message(headers: &[Header<'_>], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for h in headers {
        block.push(h.name.len() as u8);
        block.extend_from_slice(h.name.as_bytes());
        match h.value {
            HeaderValue::Bool(true) => block.push(0),
            HeaderValue::Bool(false) => block.push(1),
            HeaderValue::Byte(v) => {
                block.push(2);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                block.push(3);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Integer(v) => {
                block.push(4);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                block.push(5);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                block.push(6);
                block.extend_from_slice(&(v.len() as u16).to_be_bytes());
                block.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                block.push(7);
                block.extend_from_slice(&(v.len() as u16).to_be_bytes());
                block.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                block.push(8);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                block.push(9);
                block.extend_from_slice(&v);
            }
        }
    }
    let total = MIN_MESSAGE_LEN + block.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned = (Vec<(String, String)>, Vec<u8>);

    fn owned(m: &Message<'_>) -> Owned {
        let headers = m
            .headers()
            .map(|h| {
                let h = h.unwrap();
                (h.name.to_owned(), format!("{:?}", h.value))
            })
            .collect();
        (headers, m.payload.to_vec())
    }

    fn decode_all(parts: &[&[u8]]) -> Result<Vec<Owned>> {
        let mut d = EventStreamDecoder::new(1 << 20);
        let mut out = Vec::new();
        for part in parts {
            d.feed(part, |m| {
                out.push(owned(m));
                Ok(())
            })?;
        }
        d.finish()?;
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        let mut s = encode_message(
            &[
                Header {
                    name: ":message-type",
                    value: HeaderValue::String("event"),
                },
                Header {
                    name: "t",
                    value: HeaderValue::Bool(true),
                },
                Header {
                    name: "f",
                    value: HeaderValue::Bool(false),
                },
                Header {
                    name: "b",
                    value: HeaderValue::Byte(-3),
                },
                Header {
                    name: "s",
                    value: HeaderValue::Short(-300),
                },
                Header {
                    name: "i",
                    value: HeaderValue::Integer(70000),
                },
                Header {
                    name: "l",
                    value: HeaderValue::Long(-1 << 40),
                },
                Header {
                    name: "y",
                    value: HeaderValue::Bytes(b"\x00\xff"),
                },
                Header {
                    name: "ts",
                    value: HeaderValue::Timestamp(1_700_000_000_000),
                },
                Header {
                    name: "u",
                    value: HeaderValue::Uuid([7; 16]),
                },
            ],
            b"{\"a\":1}",
        );
        s.extend(encode_message(&[], b""));
        s.extend(encode_message(
            &[Header {
                name: ":event-type",
                value: HeaderValue::String("chunk"),
            }],
            "héllo".as_bytes(),
        ));
        s
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut bitwise = !0u32;
        for &b in &long {
            bitwise ^= b as u32;
            for _ in 0..8 {
                bitwise = if bitwise & 1 != 0 {
                    0xEDB8_8320 ^ (bitwise >> 1)
                } else {
                    bitwise >> 1
                };
            }
        }
        assert_eq!(crc32(&long), !bitwise);
    }

    #[test]
    fn aws_minimal_vector() {
        // The empty message of AWS's event-stream test vectors.
        let bytes = hex("000000100000000005c248eb7d98c8ff");
        assert_eq!(encode_message(&[], b""), bytes);
        assert_eq!(decode_all(&[&bytes]).unwrap(), [(vec![], vec![])]);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn every_split_point_and_byte_by_byte() {
        let stream = sample();
        let whole = decode_all(&[&stream]).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(
            whole[0].0[0],
            (":message-type".into(), "String(\"event\")".into())
        );
        assert_eq!(whole[0].0.len(), 10);
        assert_eq!(whole[2].1, "héllo".as_bytes());
        for split in 0..=stream.len() {
            assert_eq!(
                decode_all(&[&stream[..split], &stream[split..]]).unwrap(),
                whole,
                "split {split}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_all(&bytes).unwrap(), whole);
    }

    #[test]
    fn header_lookup_last_wins() {
        let bytes = encode_message(
            &[
                Header {
                    name: "x",
                    value: HeaderValue::String("a"),
                },
                Header {
                    name: "x",
                    value: HeaderValue::Integer(1),
                },
            ],
            b"",
        );
        let mut d = EventStreamDecoder::new(1024);
        d.feed(&bytes, |m| {
            assert_eq!(m.header("x"), Some(HeaderValue::Integer(1)));
            assert_eq!(m.header_str("x"), None);
            assert_eq!(m.header("y"), None);
            Ok(())
        })
        .unwrap();
    }

    fn first_error(stream: &[u8], split: usize, max: usize) -> Error {
        let mut d = EventStreamDecoder::new(max);
        let mut sink = |_: &Message<'_>| Ok(());
        if let Err(e) = d.feed(&stream[..split], &mut sink) {
            return e;
        }
        if let Err(e) = d.feed(&stream[split..], &mut sink) {
            return e;
        }
        d.finish().unwrap_err()
    }

    #[test]
    fn corruption_offsets_do_not_depend_on_chunking() {
        let first = encode_message(&[], b"ok");
        let second = encode_message(
            &[Header {
                name: "n",
                value: HeaderValue::String("v"),
            }],
            b"payload",
        );
        let at = first.len();
        let mut stream = first.clone();
        stream.extend(&second);
        let cases: Vec<(usize, &str, u64)> = vec![
            (at + 9, "event-stream prelude CRC mismatch", at as u64 + 8),
            (at + 1, "event-stream prelude CRC mismatch", at as u64 + 8),
            (
                at + 20,
                "event-stream message CRC mismatch",
                (stream.len() - 4) as u64,
            ),
            (
                stream.len() - 1,
                "event-stream message CRC mismatch",
                (stream.len() - 4) as u64,
            ),
        ];
        for (flip, message, offset) in cases {
            let mut bad = stream.clone();
            bad[flip] ^= 0x40;
            for split in 0..=bad.len() {
                match first_error(&bad, split, 1024) {
                    Error::StreamDecode {
                        message: m,
                        offset: o,
                    } => {
                        assert_eq!(
                            (m.as_str(), o),
                            (message, offset),
                            "flip {flip} split {split}"
                        )
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        // Truncation: reported by finish() at the total bytes fed.
        for cut in (at + 1)..stream.len() {
            let err = decode_all(&[&stream[..cut]]).unwrap_err();
            assert_eq!(
                err,
                Error::StreamDecode {
                    message: "stream ended inside an event".into(),
                    offset: cut as u64
                }
            );
        }
        // Oversized messages fail at their prelude, before the body arrives.
        assert_eq!(
            first_error(&stream[..at + 12], at + 12, 20),
            Error::StreamDecode {
                message: format!(
                    "event-stream message of {} bytes exceeds max_event_bytes (20)",
                    second.len()
                ),
                offset: at as u64
            }
        );
    }

    #[test]
    fn impossible_lengths_and_bad_headers() {
        let prelude = |total: u32, headers: u32| {
            let mut p = total.to_be_bytes().to_vec();
            p.extend(headers.to_be_bytes());
            let crc = crc32(&p);
            p.extend(crc.to_be_bytes());
            p
        };
        let mut short = prelude(15, 0);
        short.extend([0; 4]);
        assert!(matches!(
            decode_all(&[&short]).unwrap_err(),
            Error::StreamDecode { offset: 0, .. }
        ));
        let mut headers_too_long = prelude(20, 5);
        headers_too_long.extend([0; 8]);
        assert!(matches!(
            decode_all(&[&headers_too_long]).unwrap_err(),
            Error::StreamDecode { offset: 4, .. }
        ));
        // A header of unknown type 10, and a truncated string header, with valid CRCs.
        for block in [
            &b"\x01a\x0a"[..],
            b"\x01a\x07\x00\x05ab",
            b"\x01a\x07\x00\x01\xff",
        ] {
            let total = (MIN_MESSAGE_LEN + block.len()) as u32;
            let mut m = prelude(total, block.len() as u32);
            m.extend(block);
            let crc = crc32(&m);
            m.extend(crc.to_be_bytes());
            assert_eq!(
                decode_all(&[&m]).unwrap_err(),
                Error::StreamDecode {
                    message: "malformed event-stream header".into(),
                    offset: 12
                }
            );
        }
    }
}
