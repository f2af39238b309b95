//! A zero-copy, validating JSON scanner for the stream dialects.
//!
//! Each event's JSON goes through two passes and never becomes a tree:
//!
//! 1. Validation accepts exactly what Python's `json.loads` accepts (strict:
//!    number grammar, escapes, no raw control characters in strings, whitespace =
//!    space/tab/LF/CR, no trailing data, integers over CPython's 4300-digit
//!    conversion limit rejected) except that `NaN`, `Infinity` and `-Infinity` are
//!    rejected and nesting deeper than [`MAX_DEPTH`] is invalid. It is iterative (no
//!    recursion) and allocation-free once warm. [`Tape::parse`] also records a
//!    structural index (one small node per value: extent, key span, subtree size)
//!    in a reused buffer; [`parse`] records nothing. Strings are scanned 16 bytes
//!    at a time (SSE2 on x86_64, 8-byte SWAR elsewhere). A tape resumes validation
//!    where the new document stops repeating the previous one (stream events share
//!    long prefixes), with exactly the result of a full pass.
//! 2. The dialect then walks only the parts it needs through [`Value`]s: borrowed
//!    slices of the validated text. With a tape, moving to the next member is a
//!    jump; without one (or past the tape's size cap) walking scans the text, which
//!    it can do fast because validation already vouched for it.
//!
//! Strings are unescaped only when they contain a backslash ([`Value::as_str`]
//! returns a borrowed `Cow` otherwise); a lone surrogate escape (`\uD800` not
//! followed by a low-surrogate escape, or a lone `\uDC00`) decodes to U+FFFD.
//! Duplicate keys: [`Value::get`] and [`Value::fields`] return the last occurrence,
//! as `json.loads` does; [`write_compact`] collapses them like a Python dict.
//! Nothing here panics on any input.

use std::borrow::Cow;
use std::collections::HashMap;

use memchr::memchr;

/// Maximum nesting depth of containers; deeper documents are invalid.
pub const MAX_DEPTH: usize = 512;

/// CPython refuses to convert integer literals with more digits than this
/// (`sys.int_info.str_digits_check_threshold`), so `json.loads` rejects them.
const MAX_INT_DIGITS: usize = 4300;

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Validate `doc` as exactly one JSON value surrounded by optional whitespace and
/// return that value, or `None` if `json.loads` (with the rules above) rejects it.
///
/// The value is walked by scanning its text; [`Tape::parse`] also records a
/// structural index so that walking is a jump per member.
pub fn parse(doc: &str) -> Option<Value<'_>> {
    let b = doc.as_bytes();
    let start = skip_ws(b, 0);
    let end = validate_value(b, start, &mut NoTape)?;
    if skip_ws(b, end) != b.len() {
        return None;
    }
    doc.get(start..end).map(|s| Value { s, nodes: &[] })
}

/// True if `doc` is one valid JSON document (see [`parse`]).
pub fn is_valid(doc: &str) -> bool {
    parse(doc).is_some()
}

/// Documents up to this size are kept to resume the next parse from (see [`Tape`]).
const MAX_RESUME_BYTES: usize = 64 * 1024;

/// Nodes kept at most per document; a bigger document is walked by scanning its
/// text instead, which bounds the tape's memory (about 400 KB).
const MAX_TAPE_NODES: usize = 1 << 14;

/// Reusable structural index of one validated document: one node per value with
/// its extent, its member key and the index of its next sibling, so walking an
/// object is a jump per member instead of a scan over its text. Recorded during
/// validation; the buffers are reused, so steady-state parsing allocates nothing.
///
/// Consecutive events of a stream mostly repeat the same opening bytes (an OpenAI
/// chunk's id, model and fingerprint come before the one delta that changes), so the
/// tape keeps the last document it indexed completely and resumes validation at the
/// last value that starts inside the bytes the two documents share. Validation up to a
/// value's first byte depends only on the bytes before it (and that byte), so the
/// result, and the recorded index, are exactly those of a full pass.
#[derive(Debug, Default, Clone)]
pub struct Tape {
    nodes: Vec<Node>,
    /// Indices of the open containers' nodes during validation.
    open: Vec<u32>,
    recording: bool,
    /// The last document, when `nodes` is its complete index (valid, all recorded).
    prev: Vec<u8>,
    resumable: bool,
    /// Parses that resumed (tests check the fast path is taken).
    #[cfg(test)]
    resumed: usize,
}

#[cfg_attr(test, derive(PartialEq, Eq))]
#[derive(Debug, Clone, Copy)]
struct Node {
    start: u32,
    end: u32,
    /// Nodes in this value's subtree, itself included (the next sibling is this
    /// many nodes further on).
    size: u32,
    /// The member key's text between its quotes (members only).
    key_start: u32,
    key_end: u32,
    flags: u8,
}

/// The node's string value contains a backslash.
const VALUE_ESCAPED: u8 = 1;
/// The node's key contains a backslash.
const KEY_ESCAPED: u8 = 2;

/// A member key found during validation: (start, end) of its inner text, escaped.
type KeySpan = (usize, usize, bool);

/// What validation records: nothing ([`NoTape`]) or a [`Tape`].
trait Recorder {
    fn scalar(&mut self, start: usize, end: usize, key: Option<KeySpan>, escaped: bool);
    fn open(&mut self, start: usize, key: Option<KeySpan>);
    fn close(&mut self, end: usize);
}

struct NoTape;

impl Recorder for NoTape {
    #[inline(always)]
    fn scalar(&mut self, _: usize, _: usize, _: Option<KeySpan>, _: bool) {}
    #[inline(always)]
    fn open(&mut self, _: usize, _: Option<KeySpan>) {}
    #[inline(always)]
    fn close(&mut self, _: usize) {}
}

impl Tape {
    pub fn new() -> Self {
        Self::default()
    }

    /// [`parse`], recording the structural index in this tape. The returned value
    /// borrows the tape until it is dropped.
    pub fn parse<'a>(&'a mut self, doc: &'a str) -> Option<Value<'a>> {
        // Offsets are u32: a document over 4 GiB is walked by scanning.
        self.recording = u32::try_from(doc.len()).is_ok();
        let b = doc.as_bytes();
        let start = skip_ws(b, 0);
        let resume = match self.resumable && self.recording {
            true => self.resume_point(b),
            false => None,
        };
        self.resumable = false;
        #[cfg(test)]
        if resume.is_some() {
            self.resumed += 1;
        }
        let end = match resume {
            Some(state) => validate_from(b, state, self)?,
            None => {
                self.nodes.clear();
                self.open.clear();
                validate_value(b, start, self)?
            }
        };
        if skip_ws(b, end) != b.len() {
            return None;
        }
        // Bounded: a copy of a huge document would double its memory for little gain.
        if self.recording && b.len() <= MAX_RESUME_BYTES {
            self.prev.clear();
            self.prev.extend_from_slice(b);
            self.resumable = true;
        }
        let s = doc.get(start..end)?;
        let nodes = if self.recording {
            self.nodes.as_slice()
        } else {
            &[]
        };
        Some(Value { s, nodes })
    }

    /// Where validating `b` can resume from the last document's index: the last value
    /// starting inside the bytes both documents share (its first byte included), with
    /// the nodes before it kept and the state of its enclosing containers rebuilt.
    /// `None` when nothing is gained (no shared value but the root).
    fn resume_point(&mut self, b: &[u8]) -> Option<Resume> {
        let shared = common_prefix_len(&self.prev, b);
        // Pre-order: node starts strictly increase.
        let k = self
            .nodes
            .partition_point(|n| (n.start as usize) < shared)
            .checked_sub(1)?;
        if k == 0 {
            return None;
        }
        // The containers enclosing node k: walk down from the root, skipping the
        // subtrees that end before it.
        self.open.clear();
        let mut kinds = [0u64; MAX_DEPTH / 64];
        let mut depth = 0usize;
        let mut j = 0usize;
        while j < k {
            let node = self.nodes.get(j)?;
            let size = (node.size as usize).max(1);
            if j + size > k {
                if depth == MAX_DEPTH {
                    return None;
                }
                if b.get(node.start as usize) == Some(&b'{') {
                    kinds[depth / 64] |= 1u64 << (depth % 64);
                }
                self.open.push(j as u32);
                depth += 1;
                j += 1;
            } else {
                j += size;
            }
        }
        let node = *self.nodes.get(k)?;
        // A key never starts at offset 0 (the root value does).
        let key = (node.key_start != 0).then_some((
            node.key_start as usize,
            node.key_end as usize,
            node.flags & KEY_ESCAPED != 0,
        ));
        self.nodes.truncate(k);
        Some(Resume {
            at: node.start as usize,
            depth,
            kinds,
            key,
        })
    }

    #[inline]
    fn push(&mut self, start: usize, end: usize, key: Option<KeySpan>, flags: u8) {
        if self.nodes.len() >= MAX_TAPE_NODES {
            self.recording = false;
            return;
        }
        let (key_start, key_end, key_escaped) = key.unwrap_or((0, 0, false));
        self.nodes.push(Node {
            start: start as u32,
            end: end as u32,
            size: 1,
            key_start: key_start as u32,
            key_end: key_end as u32,
            flags: flags | if key_escaped { KEY_ESCAPED } else { 0 },
        });
    }
}

impl Recorder for Tape {
    #[inline]
    fn scalar(&mut self, start: usize, end: usize, key: Option<KeySpan>, escaped: bool) {
        if self.recording {
            self.push(start, end, key, if escaped { VALUE_ESCAPED } else { 0 });
        }
    }

    #[inline]
    fn open(&mut self, start: usize, key: Option<KeySpan>) {
        if self.recording {
            let index = self.nodes.len() as u32;
            self.push(start, start, key, 0);
            self.open.push(index);
        }
    }

    #[inline]
    fn close(&mut self, end: usize) {
        if self.recording {
            let len = self.nodes.len();
            if let Some(i) = self.open.pop() {
                if let Some(node) = self.nodes.get_mut(i as usize) {
                    node.end = end as u32;
                    node.size = (len - i as usize) as u32;
                }
            }
        }
    }
}

/// The validator's state at the start of a value (see [`Tape::resume_point`]).
#[derive(Debug, Clone, Copy)]
struct Resume {
    /// Index of the value's first byte.
    at: usize,
    /// Open containers around it.
    depth: usize,
    /// One bit per open container: set = object, clear = array.
    kinds: [u64; MAX_DEPTH / 64],
    /// The key of the member the value belongs to.
    key: Option<KeySpan>,
}

/// Length of the longest common prefix of `a` and `b`.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Sixteen bytes at a time: the lowest set bit of the XOR of two little-endian
    // words is in the first byte that differs.
    while let (Some(x), Some(y)) = (a.get(i..i + 16), b.get(i..i + 16)) {
        let (mut wx, mut wy) = ([0u8; 16], [0u8; 16]);
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        let diff = u128::from_le_bytes(wx) ^ u128::from_le_bytes(wy);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 16;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Validate the value starting at `i` (no leading whitespace) and return its end.
fn validate_value<R: Recorder>(b: &[u8], i: usize, rec: &mut R) -> Option<usize> {
    let state = Resume {
        at: i,
        depth: 0,
        kinds: [0u64; MAX_DEPTH / 64],
        key: None,
    };
    validate_from(b, state, rec)
}

/// Validate from `state` (the start of a value) to the end of the root value.
fn validate_from<R: Recorder>(b: &[u8], state: Resume, rec: &mut R) -> Option<usize> {
    let Resume {
        at: mut i,
        mut depth,
        mut kinds,
        mut key,
    } = state;
    'value: loop {
        let start = i;
        match *b.get(i)? {
            open @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                let is_obj = open == b'{';
                let (word, bit) = (depth / 64, 1u64 << (depth % 64));
                if is_obj {
                    kinds[word] |= bit;
                } else {
                    kinds[word] &= !bit;
                }
                depth += 1;
                rec.open(start, key.take());
                i = skip_ws(b, i + 1);
                let close = if is_obj { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    depth -= 1;
                    i += 1;
                    rec.close(i);
                } else {
                    if is_obj {
                        let (value_at, span) = validate_member_key(b, i)?;
                        i = value_at;
                        key = Some(span);
                    }
                    continue 'value;
                }
            }
            b'"' => {
                let (end, escaped) = validate_string(b, i)?;
                i = end;
                rec.scalar(start, i, key.take(), escaped);
            }
            c => {
                i = match c {
                    b'-' | b'0'..=b'9' => validate_number(b, i)?,
                    b't' => validate_literal(b, i, b"true")?,
                    b'f' => validate_literal(b, i, b"false")?,
                    b'n' => validate_literal(b, i, b"null")?,
                    _ => return None,
                };
                rec.scalar(start, i, key.take(), false);
            }
        }
        // A value ended at `i`: continue or close the enclosing containers.
        loop {
            if depth == 0 {
                return Some(i);
            }
            let top = depth - 1;
            let is_obj = kinds[top / 64] & (1u64 << (top % 64)) != 0;
            i = skip_ws(b, i);
            match *b.get(i)? {
                b',' => {
                    i = skip_ws(b, i + 1);
                    if is_obj {
                        let (value_at, span) = validate_member_key(b, i)?;
                        i = value_at;
                        key = Some(span);
                    }
                    continue 'value;
                }
                b'}' if is_obj => {
                    depth -= 1;
                    i += 1;
                    rec.close(i);
                }
                b']' if !is_obj => {
                    depth -= 1;
                    i += 1;
                    rec.close(i);
                }
                _ => return None,
            }
        }
    }
}

/// Validate `"key" ws : ws` at `i`; returns the index of the member's value and
/// the key's inner text span. Inlined: it runs for every member.
#[inline(always)]
fn validate_member_key(b: &[u8], i: usize) -> Option<(usize, KeySpan)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let (key_end, escaped) = validate_string(b, i)?;
    // Compact JSON (`"key":value`) skips both whitespace scans.
    let j = match b.get(key_end) {
        Some(b':') => key_end,
        _ => skip_ws(b, key_end),
    };
    if b.get(j) != Some(&b':') {
        return None;
    }
    let value_at = match b.get(j + 1) {
        Some(c) if !is_ws(*c) => j + 1,
        _ => skip_ws(b, j + 1),
    };
    Some((value_at, (i + 1, key_end - 1, escaped)))
}

fn validate_literal(b: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    let end = i.checked_add(lit.len())?;
    (b.get(i..end)? == lit).then_some(end)
}

#[inline]
fn is_digit_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while is_digit_at(b, i) {
        i += 1;
    }
    i
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` — a trailing `.` or `e`
/// without digits ends the number early, which then fails as trailing garbage,
/// exactly as in CPython's scanner.
fn validate_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = skip_digits(b, i + 1),
        _ => return None,
    }
    let int_digits = i - int_start;
    let mut is_int = true;
    if b.get(i) == Some(&b'.') && is_digit_at(b, i + 1) {
        i = skip_digits(b, i + 1);
        is_int = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if is_digit_at(b, j) {
            i = skip_digits(b, j);
            is_int = false;
        }
    }
    if is_int && int_digits > MAX_INT_DIGITS {
        return None;
    }
    Some(i)
}

/// Validate the string starting at `b[i] == '"'`; returns the index after it and
/// whether it contains escapes. Inlined into its two callers: most strings (keys
/// above all) are a dozen bytes, so a call would cost as much as the scan.
#[inline(always)]
fn validate_string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        let (k, quote) = find_special_or_quote(b.get(j..)?)?;
        j += k;
        if quote {
            return Some((j + 1, escaped));
        }
        match b[j] {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {
                escaped = true;
                match *b.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        if !b.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        j += 6;
                    }
                    _ => return None,
                }
            }
            // A raw control character (json.loads is strict by default).
            _ => return None,
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte lane of `v` holding `"`, `\` or a byte < 0x20. Only
/// the lowest flagged lane is exact (borrows can flag lanes above a true hit),
/// which is all [`find_special`] uses.
#[inline]
fn special_lanes(v: u64) -> u64 {
    let q = v ^ (LO * u64::from(b'"'));
    let s = v ^ (LO * u64::from(b'\\'));
    let quote = q.wrapping_sub(LO) & !q;
    let backslash = s.wrapping_sub(LO) & !s;
    let control = v.wrapping_sub(LO * 0x20) & !v;
    (quote | backslash | control) & HI
}

/// [`find_special`], also telling whether the byte found is known to be `"` (the
/// common case, decided from the SIMD mask: no dependent load of the byte).
#[inline(always)]
fn find_special_or_quote(s: &[u8]) -> Option<(usize, bool)> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(block) = s.get(..16) {
        let (special, quote) = sse2::special_and_quote_masks(block);
        if special != 0 {
            let k = special.trailing_zeros();
            return Some((k as usize, quote >> k & 1 != 0));
        }
        return find_special(&s[16..]).map(|k| (k + 16, false));
    }
    find_special(s).map(|k| (k, false))
}

/// Index of the first `"`, `\` or control byte in `s` (16 bytes at a time with SSE2,
/// else 8 at a time).
#[inline(always)]
fn find_special(s: &[u8]) -> Option<usize> {
    let mut i = 0usize;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while i + 16 <= s.len() {
        let m = sse2::special_mask(&s[i..i + 16]);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    while let Some(word) = s.get(i..i + 8) {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(word);
        let m = special_lanes(u64::from_le_bytes(lanes));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s.get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|k| i + k)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// [`special_mask`], and the bits of the bytes that are `"`.
    #[inline(always)]
    pub(super) fn special_and_quote_masks(block: &[u8]) -> (u32, u32) {
        assert!(block.len() >= 16);
        // SAFETY: as in `special_mask`.
        let (special, quote) = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
            (
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)),
                _mm_movemask_epi8(quote),
            )
        };
        (special as u32, quote as u32)
    }

    /// Bit `k` set when byte `k` of the 16-byte `block` is `"`, `\` or below 0x20.
    #[inline(always)]
    pub(super) fn special_mask(block: &[u8]) -> u32 {
        assert!(block.len() >= 16);
        // SAFETY: the load reads 16 bytes from the start of `block`, which holds at least
        // 16 (asserted above; `loadu` has no alignment requirement), and SSE2 is enabled
        // for this build (the module's cfg), so every intrinsic used is available.
        let mask = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned v <= 0x1F exactly when min(v, 0x1F) == v.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
        };
        // movemask sets only the low 16 bits.
        mask as u32
    }
}

// ---------------------------------------------------------------------------
// Walking validated text
// ---------------------------------------------------------------------------

/// End of the (validated) string at `b[i] == '"'` and whether it has escapes.
#[inline]
fn skip_string(b: &[u8], i: usize) -> (usize, bool) {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        match find_special(b.get(j..).unwrap_or_default()) {
            Some(k) => {
                j += k;
                if b[j] == b'"' {
                    return (j + 1, escaped);
                }
                escaped = true;
                // The escaped byte (and a \u's hex digits) are never `"`/`\`.
                j += 2;
            }
            None => return (b.len(), escaped),
        }
    }
}

/// End of the (validated) value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i).0,
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
        None => b.len(),
    }
}

/// The JSON type of a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// One validated JSON value: a borrowed slice of the document's text, plus its
/// subtree of the [`Tape`] when the document was parsed with one.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    s: &'a str,
    /// This value's node followed by its descendants' (empty: walk by scanning).
    nodes: &'a [Node],
}

impl PartialEq for Value<'_> {
    /// Values are equal when their source texts are.
    fn eq(&self, other: &Self) -> bool {
        self.s == other.s
    }
}

impl Eq for Value<'_> {}

impl<'a> Value<'a> {
    /// The value's source text.
    pub fn raw(&self) -> &'a str {
        self.s
    }

    pub fn kind(&self) -> Kind {
        match self.s.as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    pub fn is_object(&self) -> bool {
        self.kind() == Kind::Object
    }

    pub fn is_array(&self) -> bool {
        self.kind() == Kind::Array
    }

    pub fn is_string(&self) -> bool {
        self.kind() == Kind::String
    }

    pub fn is_number(&self) -> bool {
        self.kind() == Kind::Number
    }

    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// `Some(b)` for `true`/`false`, else `None`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.s {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// True only for JSON `true`.
    pub fn is_true(&self) -> bool {
        self.s == "true"
    }

    /// True for a number without fraction or exponent (what `json.loads` makes an `int`).
    pub fn is_integer(&self) -> bool {
        self.kind() == Kind::Number && !self.s.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'))
    }

    /// The integer's decimal text as Python's `str(int)` prints it (`-0` is `0`).
    pub fn integer_text(&self) -> Option<&'a str> {
        if !self.is_integer() {
            return None;
        }
        Some(if self.s == "-0" { "0" } else { self.s })
    }

    /// The value as an integer in `0..=u64::MAX`, else `None` (fractions, exponents,
    /// negatives other than `-0`, overflow, non-numbers).
    pub fn as_u64(&self) -> Option<u64> {
        let text = self.integer_text()?;
        let mut n = 0u64;
        for c in text.bytes() {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        }
        Some(n)
    }

    /// The value as an integer in `0..=u32::MAX` (rule for `index` fields).
    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|n| u32::try_from(n).ok())
    }

    /// The string's content, unescaped (borrowed when it has no escapes).
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let inner = self.string_inner()?;
        if !self.has_escapes(inner) {
            Some(Cow::Borrowed(inner))
        } else {
            let mut out = String::with_capacity(inner.len());
            unescape_into(inner, &mut out);
            Some(Cow::Owned(out))
        }
    }

    /// [`as_str`](Self::as_str) if the value is a non-empty string.
    pub fn as_nonempty_str(&self) -> Option<Cow<'a, str>> {
        // An escape always yields at least one character, so emptiness is visible raw.
        if self.s.len() <= 2 {
            return None;
        }
        self.as_str()
    }

    /// Whether this string's raw `inner` text contains escapes (known from the
    /// tape, else searched).
    #[inline]
    fn has_escapes(&self, inner: &str) -> bool {
        match self.nodes.first() {
            Some(node) => node.flags & VALUE_ESCAPED != 0,
            None => memchr(b'\\', inner.as_bytes()).is_some(),
        }
    }

    /// The raw text between the quotes of a string value.
    fn string_inner(&self) -> Option<&'a str> {
        if self.kind() != Kind::String || self.s.len() < 2 {
            return None;
        }
        self.s.get(1..self.s.len() - 1)
    }

    /// The members of an object in document order (empty for non-objects).
    pub fn members(&self) -> Members<'a> {
        if !self.is_object() {
            return Members(Walk::Done);
        }
        Members(self.walk())
    }

    /// The items of an array in order (empty for non-arrays).
    pub fn items(&self) -> Items<'a> {
        if !self.is_array() {
            return Items(Walk::Done);
        }
        Items(self.walk())
    }

    /// A walk over this container's children.
    fn walk(&self) -> Walk<'a> {
        match self.nodes.first() {
            Some(node) => {
                let size = (node.size as usize).min(self.nodes.len());
                Walk::Tape {
                    s: self.s,
                    base: node.start,
                    nodes: &self.nodes[..size],
                    j: 1,
                }
            }
            None => Walk::Scan { s: self.s, i: 1 },
        }
    }

    /// The last member named `name` (duplicate keys: last wins, like `json.loads`).
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        let [found] = self.fields([name]);
        found
    }

    /// Look up several members in one pass; `out[k]` is the last member named `names[k]`.
    #[inline(always)]
    pub fn fields<const N: usize>(&self, names: [&str; N]) -> [Option<Value<'a>>; N] {
        let mut out = [None; N];
        if !self.is_object() {
            return out;
        }
        if let Walk::Tape {
            s,
            base,
            nodes,
            mut j,
        } = self.walk()
        {
            // The hot path of every dialect: compare key bytes straight from the
            // tape and build a `Value` only for the members asked for.
            let b = s.as_bytes();
            let rel = |offset: u32| offset.wrapping_sub(base) as usize;
            // Each name as its length and first eight bytes: most keys are then told
            // apart by one bit test (no name has their length) or one integer compare.
            let mut lengths = 0u64;
            let mut heads = [0u64; N];
            for (head, name) in heads.iter_mut().zip(names) {
                lengths |= 1u64 << name.len().min(63);
                *head = head8(name.as_bytes());
            }
            while let Some(node) = nodes.get(j) {
                let size = (node.size as usize).max(1);
                let len = node.key_end.wrapping_sub(node.key_start) as usize;
                let k = if node.flags & KEY_ESCAPED == 0 {
                    if lengths & (1u64 << len.min(63)) == 0 {
                        None
                    } else {
                        let key_start = rel(node.key_start);
                        // The document goes on after a key (`":` and more), so eight
                        // bytes are nearly always there to load at once.
                        let head = match b.get(key_start..key_start + 8) {
                            Some(word) => {
                                let mut w = [0u8; 8];
                                w.copy_from_slice(word);
                                u64::from_le_bytes(w) & low_bytes(len)
                            }
                            None => head8(b.get(key_start..key_start + len).unwrap_or_default()),
                        };
                        names.iter().zip(&heads).position(|(name, &h)| {
                            h == head
                                && name.len() == len
                                && (len <= 8
                                    || b.get(key_start + 8..key_start + len)
                                        .is_some_and(|rest| bytes_eq(rest, &name.as_bytes()[8..])))
                        })
                    }
                } else {
                    let (key_start, key_end) = (rel(node.key_start), rel(node.key_end));
                    // An escaped key may decode to any length: compare decoded.
                    let key = Key {
                        raw: s.get(key_start..key_end).unwrap_or_default(),
                        escaped: true,
                    };
                    names.iter().position(|n| key.is(n))
                };
                if let Some(k) = k {
                    out[k] = s.get(rel(node.start)..rel(node.end)).map(|text| Value {
                        s: text,
                        nodes: nodes.get(j..j + size).unwrap_or_default(),
                    });
                }
                j += size;
            }
            return out;
        }
        for (key, value) in self.members() {
            if let Some(k) = names.iter().position(|n| key.is(n)) {
                out[k] = Some(value);
            }
        }
        out
    }
}

/// An object key as it appears in the source (escapes not yet decoded).
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Key<'a> {
    /// True if the decoded key equals `name`.
    #[inline]
    pub fn is(&self, name: &str) -> bool {
        if self.escaped {
            *self.decoded() == *name
        } else {
            bytes_eq(self.raw.as_bytes(), name.as_bytes())
        }
    }

    /// The decoded key.
    pub fn decoded(&self) -> Cow<'a, str> {
        if self.escaped {
            let mut out = String::with_capacity(self.raw.len());
            unescape_into(self.raw, &mut out);
            Cow::Owned(out)
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// The first (up to) eight bytes of `b`, little-endian, zero-padded.
#[inline]
fn head8(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

/// A mask of the low `len` bytes of a `u64` (all of them from eight on).
#[inline]
fn low_bytes(len: usize) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * len)) - 1
    }
}

/// Slice equality without a `memcmp` call: keys are short, and most differ in
/// length or in their first bytes.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The children of a container: by tape jumps, or by scanning its text.
#[derive(Debug, Clone)]
enum Walk<'a> {
    /// `nodes[0]` is the container's own node; `base` its offset in the document.
    Tape {
        s: &'a str,
        base: u32,
        nodes: &'a [Node],
        j: usize,
    },
    Scan {
        s: &'a str,
        i: usize,
    },
    Done,
}

impl<'a> Walk<'a> {
    /// The next child: its key span (members) and value.
    #[inline(always)]
    fn next_child(&mut self, keyed: bool) -> Option<(Key<'a>, Value<'a>)> {
        match self {
            Walk::Tape { s, base, nodes, j } => {
                let node = nodes.get(*j)?;
                let size = (node.size as usize).max(1);
                let subtree = nodes.get(*j..*j + size).unwrap_or_default();
                *j += size;
                let rel = |offset: u32| offset.wrapping_sub(*base) as usize;
                let key = Key {
                    raw: if keyed {
                        s.get(rel(node.key_start)..rel(node.key_end))?
                    } else {
                        ""
                    },
                    escaped: node.flags & KEY_ESCAPED != 0,
                };
                let value = Value {
                    s: s.get(rel(node.start)..rel(node.end))?,
                    nodes: subtree,
                };
                Some((key, value))
            }
            Walk::Scan { s, i } => {
                let b = s.as_bytes();
                let mut j = skip_ws(b, *i);
                if b.get(j) == Some(&b',') {
                    j = skip_ws(b, j + 1);
                }
                let mut key = Key {
                    raw: "",
                    escaped: false,
                };
                if keyed {
                    if b.get(j) != Some(&b'"') {
                        *self = Walk::Done;
                        return None;
                    }
                    let (key_end, escaped) = skip_string(b, j);
                    key = Key {
                        raw: s.get(j + 1..key_end.saturating_sub(1).max(j + 1))?,
                        escaped,
                    };
                    // Past the ':'.
                    j = skip_ws(b, skip_ws(b, key_end) + 1);
                } else if matches!(b.get(j), None | Some(b']')) {
                    *self = Walk::Done;
                    return None;
                }
                let end = skip_value(b, j);
                let value = Value {
                    s: s.get(j..end)?,
                    nodes: &[],
                };
                *i = end;
                Some((key, value))
            }
            Walk::Done => None,
        }
    }
}

/// Iterator over an object's members. See [`Value::members`].
#[derive(Debug, Clone)]
pub struct Members<'a>(Walk<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = (Key<'a>, Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_child(true)
    }
}

/// Iterator over an array's items. See [`Value::items`].
#[derive(Debug, Clone)]
pub struct Items<'a>(Walk<'a>);

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_child(false).map(|(_, v)| v)
    }
}

// ---------------------------------------------------------------------------
// Unescaping and escaping
// ---------------------------------------------------------------------------

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let digits = b.get(i..i.checked_add(4)?)?;
    let mut n = 0u32;
    for &c in digits {
        n = n * 16 + char::from(c).to_digit(16)?;
    }
    Some(n)
}

/// Decode the escapes of a validated string's inner text into `out`. Surrogate
/// pairs combine; a lone surrogate becomes U+FFFD.
pub fn unescape_into(raw: &str, out: &mut String) {
    let b = raw.as_bytes();
    let mut i = 0usize;
    while let Some(k) = memchr(b'\\', b.get(i..).unwrap_or_default()) {
        let j = i + k;
        out.push_str(raw.get(i..j).unwrap_or_default());
        let mut next = j + 2;
        match b.get(j + 1) {
            Some(b'n') => out.push('\n'),
            Some(b't') => out.push('\t'),
            Some(b'r') => out.push('\r'),
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'u') => {
                let hi = hex4(b, j + 2).unwrap_or(0xFFFD);
                next = j + 6;
                let c = match hi {
                    0xD800..=0xDBFF => {
                        let lo = if b.get(next) == Some(&b'\\') && b.get(next + 1) == Some(&b'u') {
                            hex4(b, next + 2)
                        } else {
                            None
                        };
                        match lo {
                            Some(lo @ 0xDC00..=0xDFFF) => {
                                next += 6;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            }
                            _ => None,
                        }
                    }
                    _ => char::from_u32(hi),
                };
                out.push(c.unwrap_or('\u{FFFD}'));
            }
            Some(&c) => out.push(char::from(c)),
            None => {}
        }
        i = next;
    }
    out.push_str(raw.get(i..).unwrap_or_default());
}

/// Append `s` escaped as `json.dumps(s, ensure_ascii=False)` writes a string's
/// content (without the quotes): `"` `\` and control characters are escaped
/// (`\b \f \n \r \t`, others as lowercase `\u00XX`); everything else is literal.
pub fn escape_into(s: &str, out: &mut String) {
    let b = s.as_bytes();
    let mut i = 0usize;
    while let Some(k) = find_special(b.get(i..).unwrap_or_default()) {
        let j = i + k;
        out.push_str(s.get(i..j).unwrap_or_default());
        match b[j] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(c >> 4)]));
                out.push(char::from(HEX[usize::from(c & 0xf)]));
            }
        }
        i = j + 1;
    }
    out.push_str(s.get(i..).unwrap_or_default());
}

// ---------------------------------------------------------------------------
// Compact JSON text
// ---------------------------------------------------------------------------

/// Append the compact JSON text of a validated value: exactly
/// `json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)`,
/// except that numbers keep their source text. Duplicate keys collapse as a
/// Python dict does (first position, last value).
pub fn write_compact(v: Value<'_>, out: &mut String) {
    match v.kind() {
        Kind::String => write_string(v, out),
        Kind::Array => {
            out.push('[');
            for (n, item) in v.items().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_compact(item, out);
            }
            out.push(']');
        }
        Kind::Object => write_object(v, out),
        Kind::Number | Kind::Bool | Kind::Null => out.push_str(v.s),
    }
}

/// Compact JSON text of a validated value as a new `String`.
pub fn compact(v: Value<'_>) -> String {
    let mut out = String::with_capacity(v.s.len());
    write_compact(v, &mut out);
    out
}

fn write_string(v: Value<'_>, out: &mut String) {
    let inner = v.string_inner().unwrap_or_default();
    out.push('"');
    if !v.has_escapes(inner) {
        // Validated text without escapes has no quote, backslash or control
        // character: it is already in json.dumps form.
        out.push_str(inner);
    } else {
        let mut decoded = String::with_capacity(inner.len());
        unescape_into(inner, &mut decoded);
        escape_into(&decoded, out);
    }
    out.push('"');
}

fn write_key(key: &str, out: &mut String) {
    out.push('"');
    escape_into(key, out);
    out.push('"');
}

fn write_object(v: Value<'_>, out: &mut String) {
    let members: Vec<(Cow<'_, str>, Value<'_>)> =
        v.members().map(|(k, v)| (k.decoded(), v)).collect();
    out.push('{');
    // `last[k]`: index of the member whose value wins for member k's key, or
    // None if k is a later duplicate (its value already written at the first position).
    let winners = dedup_winners(&members);
    let mut first = true;
    for (k, winner) in winners.into_iter().enumerate() {
        let Some(w) = winner else { continue };
        if !first {
            out.push(',');
        }
        first = false;
        write_key(&members[k].0, out);
        out.push(':');
        write_compact(members[w].1, out);
    }
    out.push('}');
}

/// For each member: `Some(index of the last member with the same key)` at the
/// key's first occurrence, `None` at later occurrences.
fn dedup_winners(members: &[(Cow<'_, str>, Value<'_>)]) -> Vec<Option<usize>> {
    let n = members.len();
    let mut winners: Vec<Option<usize>> = (0..n).map(Some).collect();
    if n < 2 {
        return winners;
    }
    if n <= 16 {
        for k in 0..n {
            if winners[k].is_none() {
                continue;
            }
            for j in k + 1..n {
                if members[j].0 == members[k].0 {
                    winners[k] = Some(j);
                    winners[j] = None;
                }
            }
        }
    } else {
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(n);
        for (j, (key, _)) in members.iter().enumerate() {
            match first.get(key.as_ref()) {
                Some(&k) => {
                    winners[k] = Some(j);
                    winners[j] = None;
                }
                None => {
                    first.insert(key.as_ref(), j);
                }
            }
        }
    }
    winners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(doc: &str) -> &'static str {
        Box::leak(doc.to_owned().into_boxed_str())
    }

    /// Parse and walk by scanning the text.
    fn scan_parse(doc: &str) -> Option<Value<'static>> {
        parse(leak(doc))
    }

    /// Parse into a tape and walk by jumps.
    fn tape_parse(doc: &str) -> Option<Value<'static>> {
        Box::leak(Box::new(Tape::new())).parse(leak(doc))
    }

    type Parser = fn(&str) -> Option<Value<'static>>;

    /// Both ways of walking a document; every walking test runs on each.
    const PARSERS: [Parser; 2] = [scan_parse, tape_parse];

    fn valid(doc: &str) -> bool {
        is_valid(doc)
    }

    #[test]
    fn accepts_what_json_loads_accepts() {
        for doc in [
            "0",
            "-0",
            "1",
            "-1",
            "12.5",
            "1e5",
            "1E+5",
            "1e-5",
            "-0.0e0",
            "1e400",
            "true",
            "false",
            "null",
            "\"\"",
            "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"",
            "\"\\ud800\"",
            "\"\u{7f}\u{e9}\u{1F600}\"",
            "{}",
            "[]",
            " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n",
            "[[[]]]",
            "{\"a\":1,\"a\":2}",
            "[\"\\u0041\", 1, true, null, {\"x\": [\"]\"]}]",
        ] {
            assert!(valid(doc), "should be valid: {doc:?}");
        }
    }

    #[test]
    fn rejects_what_json_loads_rejects() {
        for doc in [
            "",
            " ",
            "NaN",
            "Infinity",
            "-Infinity",
            "[NaN]",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x1",
            "1 2",
            "{} {}",
            "tru",
            "nul",
            "True",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\ud800\\uzzzz\"",
            "\"a\u{1}b\"",
            "\"a\nb\"",
            "\"tab\there\"",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\"}",
            "{\"a\" 1}",
            "{a:1}",
            "{1:1}",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            "]",
            "[}",
            "{]",
            "[",
            "{",
            "\u{feff}1",
            "\u{c}1",
            "1\u{b}",
            "'a'",
        ] {
            assert!(!valid(doc), "should be invalid: {doc:?}");
        }
    }

    #[test]
    fn integer_digit_limit_matches_cpython() {
        let ok = "1".repeat(MAX_INT_DIGITS);
        let too_long = "1".repeat(MAX_INT_DIGITS + 1);
        assert!(valid(&ok));
        assert!(valid(&format!("-{ok}")));
        assert!(!valid(&too_long));
        assert!(!valid(&format!("-{too_long}")));
        assert!(!valid(&format!("[{too_long}]")));
        // Floats have no such limit.
        assert!(valid(&format!("{too_long}.0")));
        assert!(valid(&format!("{too_long}e1")));
    }

    #[test]
    fn depth_limit() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(valid(&ok));
        assert!(!valid(&too_deep));
        let objs = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(valid(&objs));
        // Unbalanced garbage of any depth never panics.
        assert!(!valid(&"[".repeat(100_000)));
        assert!(!valid(&"{\"a\":".repeat(100_000)));
    }

    #[test]
    fn special_byte_search_is_exact() {
        for len in 0..40 {
            for pos in 0..len {
                for special in [b'"', b'\\', 0u8, 0x1f] {
                    let mut s = vec![b'a'; len];
                    s[pos] = special;
                    // Bytes after the first hit do not matter; put more hits there.
                    for x in s.iter_mut().skip(pos + 1).step_by(3) {
                        *x = 0x01;
                    }
                    assert_eq!(find_special(&s), Some(pos), "len {len} pos {pos}");
                }
                // The bytes around the special ones, all ordinary.
                for fill in [0x20u8, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xC3, 0xff] {
                    let mut s = vec![fill; len];
                    s[pos] = 0x7f;
                    assert_eq!(find_special(&s), None, "fill {fill:#x}");
                }
            }
        }
    }

    #[test]
    fn strings_unescape_with_surrogate_rules() {
        for parse in PARSERS {
            let cases = [
                (r#""plain""#, "plain"),
                (r#""a\"b""#, "a\"b"),
                (r#""\\\/\b\f\n\r\t""#, "\\/\u{8}\u{c}\n\r\t"),
                (r#""\u00e9\u00C9""#, "éÉ"),
                (r#""\uD83D\uDE00""#, "😀"),
                (r#""\ud800""#, "\u{FFFD}"),
                (r#""\udc00""#, "\u{FFFD}"),
                (r#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"),
                (r#""\ud800\u0041""#, "\u{FFFD}A"),
                (r#""\ud800\ud800\udc00""#, "\u{FFFD}\u{10000}"),
                (r#""\ud800x""#, "\u{FFFD}x"),
                (r#""\u0000""#, "\0"),
            ];
            for (doc, want) in cases {
                let v = parse(doc).unwrap();
                assert_eq!(v.as_str().unwrap(), want, "{doc}");
            }
            assert!(matches!(
                parse("\"abc\"").unwrap().as_str(),
                Some(Cow::Borrowed("abc"))
            ));
            assert_eq!(parse("1").unwrap().as_str(), None);
            assert_eq!(parse("\"\"").unwrap().as_nonempty_str(), None);
            assert_eq!(
                parse("\"\\n\"").unwrap().as_nonempty_str().as_deref(),
                Some("\n")
            );
        }
    }

    #[test]
    fn integers_follow_the_typing_rules() {
        for parse in PARSERS {
            let u = |d: &str| parse(d).unwrap().as_u64();
            assert_eq!(u("0"), Some(0));
            assert_eq!(u("-0"), Some(0));
            assert_eq!(u("42"), Some(42));
            assert_eq!(u("18446744073709551615"), Some(u64::MAX));
            assert_eq!(u("18446744073709551616"), None);
            assert_eq!(u("-1"), None);
            assert_eq!(u("1.0"), None);
            assert_eq!(u("1e2"), None);
            assert_eq!(u("true"), None);
            assert_eq!(u("\"1\""), None);
            assert_eq!(parse("4294967295").unwrap().as_u32(), Some(u32::MAX));
            assert_eq!(parse("4294967296").unwrap().as_u32(), None);
            assert_eq!(parse("-0").unwrap().integer_text(), Some("0"));
            assert_eq!(parse("-12").unwrap().integer_text(), Some("-12"));
            assert_eq!(parse("1.5").unwrap().integer_text(), None);
        }
    }

    #[test]
    fn fields_compare_whole_keys() {
        let names = [
            "reasoning_content",
            "reasoning",
            "content",
            "a",
            "",
            "abcdefgh",
            "abcdefghi",
        ];
        for parse in PARSERS {
            // Keys sharing a name's first eight bytes or its length, a key at the very
            // end of the document (fewer than eight bytes follow it), an empty key,
            // escaped keys spelling a name, and a key longer than any name.
            let doc = r#"{"reasoning_contenX":1,"reasoning_content_":2,"reasoninG":3,"contenu":4,"abcdefghj":5,"abcdefgh":6,"\u0061":7,"":8,"b":9,"content\u0000":10,"cont\u0065nt":11,"x":{"a":12}}"#;
            let v = parse(doc).unwrap();
            let got = v.fields(names).map(|f| f.map(|v| v.raw()));
            assert_eq!(
                got,
                [
                    None,
                    None,
                    Some("11"),
                    Some("7"),
                    Some("8"),
                    Some("6"),
                    None
                ]
            );
            let short = parse(r#"{"a":1}"#).unwrap();
            assert_eq!(
                short.fields(["a", "ab"]).map(|f| f.map(|v| v.raw())),
                [Some("1"), None]
            );
            let long_key = format!(r#"{{"{}":1}}"#, "k".repeat(100));
            let v = parse(&long_key).unwrap();
            assert_eq!(v.fields(["k", "kkkkkkkk"]), [None, None]);
            assert!(v.get(&"k".repeat(100)).is_some());
        }
    }

    #[test]
    fn members_items_and_duplicate_keys() {
        for parse in PARSERS {
            let v = parse(
                r#" { "a" : 1 , "b" : [ 1 , { "c" : "]}" } , "x" ] , "a" : "last" , "\u0062" : 3 } "#,
            )
            .unwrap();
            let keys: Vec<String> = v.members().map(|(k, _)| k.decoded().into_owned()).collect();
            assert_eq!(keys, ["a", "b", "a", "b"]);
            assert_eq!(v.get("a").unwrap().as_str().unwrap(), "last");
            // The escaped key "\u0062" is "b" and comes last.
            assert_eq!(v.get("b").unwrap().raw(), "3");
            let [a, b, z] = v.fields(["a", "b", "z"]);
            assert_eq!(a.unwrap().raw(), "\"last\"");
            assert_eq!(b.unwrap().raw(), "3");
            assert!(z.is_none());
            let first_b = v.members().nth(1).unwrap().1;
            let items: Vec<&str> = first_b.items().map(|i| i.raw()).collect();
            assert_eq!(items, ["1", r#"{ "c" : "]}" }"#, "\"x\""]);
            assert_eq!(parse("[]").unwrap().items().count(), 0);
            assert_eq!(parse("[ ]").unwrap().items().count(), 0);
            assert_eq!(parse("{ }").unwrap().members().count(), 0);
            assert_eq!(parse("1").unwrap().members().count(), 0);
            assert_eq!(parse("{}").unwrap().items().count(), 0);
            let nested = parse(r#"{"a":{"b":{"c":[1,2,{"d":null}]}},"e":true}"#).unwrap();
            assert_eq!(nested.get("e").unwrap().as_bool(), Some(true));
            assert!(nested
                .get("a")
                .unwrap()
                .get("b")
                .unwrap()
                .get("c")
                .unwrap()
                .is_array());
        }
    }

    #[test]
    fn escaping_matches_json_dumps() {
        let mut out = String::new();
        escape_into("\0\u{1f}\u{7f}\u{8}\u{c}\n\r\t\"\\/é\u{2028}😀", &mut out);
        assert_eq!(
            out,
            "\\u0000\\u001f\u{7f}\\b\\f\\n\\r\\t\\\"\\\\/é\u{2028}😀"
        );
        let mut long = String::new();
        escape_into(&"ab\"cdefghijkl\nmnop".repeat(3), &mut long);
        assert_eq!(long, "ab\\\"cdefghijkl\\nmnop".repeat(3));
    }

    #[test]
    fn compact_text_matches_json_dumps() {
        for parse in PARSERS {
            let cases = [
                (
                    r#" { "a" : [ 1 , 2.50 , -0 , 1E5 ] , "b" : { } , "c" : [ ] } "#,
                    r#"{"a":[1,2.50,-0,1E5],"b":{},"c":[]}"#,
                ),
                (r#""\u00e9\/\u001F\ud800""#, "\"é/\\u001f\u{FFFD}\""),
                (r#"{"k\u0022ey":"v\nx"}"#, r#"{"k\"ey":"v\nx"}"#),
                (r#"{"a":1,"b":2,"a":3}"#, r#"{"a":3,"b":2}"#),
                (
                    r#"{"a":{"x":1,"x":2},"a":{"y":1,"y":[true,false,null]}}"#,
                    r#"{"a":{"y":[true,false,null]}}"#,
                ),
                (r#"{"\u0061":1,"a":2}"#, r#"{"a":2}"#),
                ("null", "null"),
                ("\"\"", "\"\""),
            ];
            for (doc, want) in cases {
                assert_eq!(compact(parse(doc).unwrap()), want, "{doc}");
            }
            // Many duplicates take the hashed path.
            let mut doc = String::from("{");
            for k in 0..40 {
                doc.push_str(&format!("\"k{}\":{k},", k % 20));
            }
            doc.push_str("\"end\":0}");
            let mut want = String::from("{");
            for k in 0..20 {
                want.push_str(&format!("\"k{k}\":{},", k + 20));
            }
            want.push_str("\"end\":0}");
            assert_eq!(compact(parse(&doc).unwrap()), want);
        }
    }

    /// Structure as seen by walking: keys, item counts, scalar texts.
    fn shape(v: Value<'_>) -> String {
        match v.kind() {
            Kind::Object => {
                let members: Vec<String> = v
                    .members()
                    .map(|(k, m)| format!("{}={}", k.decoded(), shape(m)))
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Kind::Array => format!("[{}]", v.items().map(shape).collect::<Vec<_>>().join(",")),
            Kind::String => format!("s:{}", v.as_str().unwrap()),
            _ => v.raw().to_owned(),
        }
    }

    #[test]
    fn tape_walk_equals_scan_walk() {
        let docs = [
            r#" { "a" : [ 1 , { "b\u0063" : "x\"y" , "d" : [ [ ] , { } ] } ] , "e" : -0.5e3 , "a" : null } "#,
            r#"[[[["deep"]]], {"k": {"k": {"k": "v"}}}, "", true, false]"#,
            r#""top""#,
            "12",
        ];
        let mut tape = Tape::new();
        for doc in docs {
            let scanned = parse(doc).unwrap();
            // The same tape is reused across documents.
            let taped = tape.parse(doc).unwrap();
            assert!(!taped.nodes.is_empty());
            assert_eq!(shape(scanned), shape(taped), "{doc}");
            assert_eq!(compact(scanned), compact(taped), "{doc}");
        }
        assert!(tape.parse("[1,").is_none());
    }

    #[test]
    fn oversized_documents_fall_back_to_scanning() {
        let doc = format!(
            "{{\"a\":[{}],\"b\":\"end\"}}",
            vec!["1"; MAX_TAPE_NODES + 10].join(",")
        );
        let mut tape = Tape::new();
        let v = tape.parse(&doc).unwrap();
        assert!(v.nodes.is_empty());
        assert_eq!(v.get("b").unwrap().as_str().unwrap(), "end");
        assert_eq!(v.get("a").unwrap().items().count(), MAX_TAPE_NODES + 10);
        // Just under the cap the tape is used.
        let doc = format!("[{}]", vec!["1"; MAX_TAPE_NODES - 1].join(","));
        let v = tape.parse(&doc).unwrap();
        assert_eq!(v.nodes.len(), MAX_TAPE_NODES);
        assert_eq!(v.items().count(), MAX_TAPE_NODES - 1);
    }

    /// Parse `docs` in order with one reused tape (resuming from shared prefixes) and
    /// check each result against a fresh tape: same validity, same index, same value.
    fn check_resumed(docs: &[String]) {
        let mut reused = Tape::new();
        let mut valid = 0;
        for doc in docs {
            let mut fresh = Tape::new();
            let want = fresh.parse(doc).map(|v| v.raw().to_owned());
            let got = reused.parse(doc).map(|v| v.raw().to_owned());
            assert_eq!(got, want, "{doc:?}");
            if want.is_some() {
                valid += 1;
                assert_eq!(reused.nodes, fresh.nodes, "{doc:?}");
                assert_eq!(reused.recording, fresh.recording, "{doc:?}");
            }
        }
        // Most documents follow a valid one sharing a prefix: the fast path ran.
        assert!(reused.resumed * 2 > valid, "{} of {valid}", reused.resumed);
    }

    #[test]
    fn common_prefix_lengths() {
        let a: Vec<u8> = (0..100u8).collect();
        for len in 0..=a.len() {
            for at in 0..len {
                let mut b = a[..len].to_vec();
                b[at] ^= 0x80;
                assert_eq!(common_prefix_len(&a, &b), at, "len {len} at {at}");
                assert_eq!(common_prefix_len(&b, &a), at);
            }
            assert_eq!(common_prefix_len(&a, &a[..len]), len);
            assert_eq!(common_prefix_len(&a[..len], &a), len);
        }
    }

    #[test]
    fn resuming_from_a_shared_prefix_equals_a_full_pass() {
        let chunk = |word: &str, pad: &str| {
            format!(
                r#"{{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{{"index":0,"delta":{{"content":{word}}},"logprobs":null,"finish_reason":null}}],"usage":null,"obfuscation":"{pad}"}}"#
            )
        };
        // The stream case: only the delta and the padding change.
        let mut docs: Vec<String> = [
            "\"a\"",
            "\"ab\"",
            "\"\\u00e9\"",
            "null",
            "5",
            "[1,{}]",
            "\"x\"",
        ]
        .iter()
        .enumerate()
        .map(|(i, w)| chunk(w, &"Q".repeat(i)))
        .collect();
        // Changes inside containers, at every depth, in keys, in types; invalid docs
        // in between; whitespace where a value starts; a shorter and a longer doc.
        docs.extend(
            [
                r#"{"a":[1,[2,[3,{"b":"c"}]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[3,{"b":"x"}]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[4,{"b":"x"}]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[4,{"b":"x"}]]],"d":{"e":true}"#,
                r#"{"a":[1,[2,[4,{"b":"x"}]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"} ]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[4,{"b\n": "x"}]]],"d":{"e":true}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":fals}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[]}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[] }} "#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[]}} x"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[0.5e1]}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[0.5e]}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[05]}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[5]}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[55]}}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]]}"#,
                r#"{"a":[1,[2]]}"#,
                r#"{"a":[1,[2,[4,{"b\n":"x"}]]],"d":{"e":false,"f":[55],"g":{"h":[[[]]]}}}"#,
                r#"[1,2,3]"#,
                r#"[1,2,4]"#,
                r#"[1,2,"4"]"#,
                r#" [1,2,"4"]"#,
                r#"{"a":"é😀","b":1}"#,
                r#"{"a":"é😀","b":2}"#,
                r#"{"a":"é😁","b":2}"#,
            ]
            .iter()
            .map(|d| d.to_string()),
        );
        check_resumed(&docs);
        // Random edits of a nested document, each parsed after the previous one.
        let bases = [
            chunk("\"hello\"", "abc").into_bytes(),
            br#"[{"a":[1,2.5,{"b":"c","e":[true,null]}]},{"d":null,"f":{"g":[[]]}}, -3e2 ]"#
                .to_vec(),
        ];
        let alphabet = b"{}[]\",:0123456789.eE-+ tfnrulsa\\/x";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut docs = Vec::new();
        for round in 0..4000 {
            // Letters keep a document valid where they land inside a string; the
            // rest of the alphabet mostly breaks it somewhere.
            let mut current = bases[round / 2000].clone();
            let edits = 1 + next() % 2;
            for _ in 0..edits {
                let at = (next() % (current.len() as u64 + 1)) as usize;
                let c = match next() % 2 {
                    0 => b'q',
                    _ => alphabet[(next() % alphabet.len() as u64) as usize],
                };
                match next() % 3 {
                    0 if at < current.len() => current[at] = c,
                    1 => current.insert(at, c),
                    _ if at < current.len() => {
                        current.remove(at);
                    }
                    _ => current.push(c),
                }
            }
            docs.push(String::from_utf8(current.clone()).unwrap());
        }
        assert!(docs.iter().filter(|d| is_valid(d)).count() > 100);
        check_resumed(&docs);
    }

    #[test]
    fn never_panics_on_arbitrary_slices() {
        let docs = [
            r#"{"a":"\u00e9\ud800","b":[1,{"c":null}],"d":-0.5e3}"#,
            "[\"é😀\",true]",
        ];
        for doc in docs {
            for i in 0..=doc.len() {
                for j in i..=doc.len() {
                    if let Some(s) = doc.get(i..j) {
                        if let Some(v) = parse(s) {
                            let mut tape = Tape::new();
                            let taped = tape.parse(s).unwrap();
                            assert_eq!(compact(v), compact(taped));
                            assert_eq!(shape(v), shape(taped));
                        }
                    }
                }
            }
        }
    }
}
