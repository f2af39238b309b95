//! Incremental JSON parser for tool-call arguments that arrive in fragments.
//!
//! [`JsonStreamParser::feed`] costs O(len(fragment)): the parser is a byte-level state
//! machine with an explicit container stack (no recursion), so nothing is ever re-parsed and
//! fragments may split the input anywhere, including inside strings, escapes, `\uXXXX`
//! surrogate pairs and numbers. Accepted values go into a compact append-only arena of
//! nodes (one [`Vec`] of fixed-size nodes plus one byte buffer holding all string, key and
//! number text), which the Python binding walks to build Python objects.
//!
//! # Partial values
//!
//! The arena is the best partial value of the input so far, and every partial value is
//! *prefix-consistent* with the final document: it never contradicts what `json.loads`
//! returns once the document is complete.
//!
//! - A container appears as soon as its opening bracket is read, and stays open until
//!   its closing bracket.
//! - A string appears as soon as its opening quote is read (an object value or array item
//!   may be a partial string; `""` counts). A pending escape, including a complete high
//!   surrogate `\uD83D` that may still pair with a low one, is held back until decoded.
//! - An object member appears only once its key is complete and its value has started
//!   (by the rules here), so `{"a` and `{"a": ` both read as `{}`.
//! - Numbers and the literals `true`, `false`, `null` are held back until complete. A
//!   literal is complete at its last letter; a number when a character that cannot extend
//!   it follows (delimiter or whitespace), or at [`JsonStreamParser::finish`].
//! - Duplicate keys are all kept in the arena in order; a consumer that builds a map
//!   (the Python binding builds a `dict`) gets the last value at the first position, like
//!   `json.loads`. With duplicate keys a partial value can show an earlier value of a key,
//!   which is the one case where a partial value may differ from the final one.
//!
//! # Grammar (strict JSON, matching Python's `json.loads` where it is strict)
//!
//! - Exactly one top-level value with optional surrounding whitespace (space, tab, LF,
//!   CR). Anything else after it is an error.
//! - Control characters below U+0020 inside strings are errors (`json.loads` default,
//!   `strict=True`). Valid escapes: `\" \\ \/ \b \f \n \r \t \uXXXX` (exactly four hex
//!   digits of either case).
//! - `\uXXXX` surrogates: a high surrogate followed by `\u` and a low surrogate is one code
//!   point. Any other surrogate escape is kept as a lone surrogate, as `json.loads` does.
//! - Numbers follow RFC 8259: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; leading
//!   zeros, a lone `-`, `1.`, `.5`, `1e` are errors. `NaN`, `Infinity` and `-Infinity`
//!   (which `json.loads` accepts by default) are rejected: tool arguments are strict JSON.
//! - Nesting deeper than `max_depth` (default 512) is an error at the opening bracket
//!   that exceeds it.
//!
//! # Errors and offsets
//!
//! Errors are [`Error::JsonStream`] whose `offset` counts characters (Unicode code points,
//! like Python `str` indices) in the whole input before the offending one. The offending
//! character is the first at which the input stops being a prefix of any valid document,
//! so the error is raised as early as possible and never depends on how the input was
//! split. After an error the parser is failed: later `feed`/`finish` calls return the same
//! error, and the arena still holds the partial value read before it.
//!
//! # Text encoding
//!
//! Python strings may hold lone surrogates (from `\uD800` escapes, or raw in the input),
//! which Rust `str` cannot. All text is therefore kept as *generalized UTF-8*: UTF-8 in
//! which a surrogate code point is encoded as its own three-byte sequence (`ED A0 80` for
//! U+D800), exactly what Python's `"surrogatepass"` error handler produces and accepts.
//! [`JsonStreamParser::feed_bytes`] takes input in that form; [`Item::Str`] hands out
//! string content in that form; a valid surrogate pair escape is stored as the 4-byte
//! UTF-8 of its code point, while two raw surrogate characters in the input stay two
//! 3-byte sequences (so the binding reproduces the Python `str` `json.loads` returns).
//!
//! Number text is kept raw ([`Item::Int`], [`Item::Float`]) so the consumer converts it
//! with full fidelity (arbitrary-size integers in Python).
//!
//! Limit: the arena uses 32-bit indices, so one document may be at most `u32::MAX` bytes
//! (4 GiB) of UTF-8; feeding more is an error.

use memchr::memchr2;

use crate::error::{Error, Result};

/// Default bound on container nesting.
pub const DEFAULT_MAX_DEPTH: usize = 512;

/// Index of a node in the parser's arena. Stable for the parser's lifetime: nodes are
/// only ever appended, so a consumer may cache per-node conversions by id.
pub type NodeId = u32;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Null,
    True,
    False,
    Int,
    Float,
    Str,
    Array,
    Object,
}

/// One arena node (24 bytes).
#[derive(Clone, Copy, Debug)]
struct Node {
    tag: Tag,
    /// Strings: the closing quote was read. Containers: the closing bracket was read.
    /// Numbers and literals are created complete.
    closed: bool,
    /// Str/Int/Float: start of the text in `text`. Array/Object: first child or NONE.
    a: u32,
    /// Str/Int/Float: text length (for an open string: updated when it closes).
    /// Array/Object: number of children.
    b: u32,
    /// Key text (start, length) when this node is an object member's value.
    key_start: u32,
    key_len: u32,
    /// Next sibling in the parent container, or NONE.
    next: u32,
}

impl Node {
    fn new(tag: Tag, a: u32, b: u32, closed: bool) -> Self {
        Node {
            tag,
            closed,
            a,
            b,
            key_start: 0,
            key_len: 0,
            next: NONE,
        }
    }
}

/// An open container on the parser's stack.
#[derive(Clone, Copy, Debug)]
struct Frame {
    node: u32,
    /// Last child attached so far, or NONE.
    last: u32,
    object: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    /// `-` read; a digit must follow.
    Minus,
    /// A leading `0` (possibly after `-`): no more integer digits may follow.
    Zero,
    /// Integer digits after a leading 1-9.
    Int,
    /// `.` read; a digit must follow.
    Dot,
    /// Fraction digits.
    Frac,
    /// `e`/`E` read; a sign or digit must follow.
    Exp,
    /// Exponent sign read; a digit must follow.
    ExpSign,
    /// Exponent digits.
    ExpDigits,
}

impl Num {
    /// Whether the number read so far is a complete JSON number.
    fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lit {
    True,
    False,
    Null,
}

impl Lit {
    fn text(self) -> &'static [u8] {
        match self {
            Lit::True => b"true",
            Lit::False => b"false",
            Lit::Null => b"null",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the top-level value.
    Top,
    /// After `[`: a value or `]`.
    ArrayFirst,
    /// After `,` in an array: a value.
    ArrayNext,
    /// After `{`: a key or `}`.
    ObjectFirst,
    /// After `,` in an object: a key.
    ObjectNext,
    /// After a key: `:`.
    Colon,
    /// After `:`: a value.
    MemberValue,
    /// After a value inside a container: `,` or the closing bracket.
    AfterValue,
    /// After the top-level value: only whitespace.
    Done,
    /// Inside a string (a key when `in_key`).
    Str,
    /// After a backslash in a string.
    Escape,
    /// Reading the hex digits of `\uXXXX`; `low` when this escape follows a high
    /// surrogate escape and may complete a pair.
    Unicode {
        digits: u8,
        acc: u16,
        low: bool,
    },
    /// A high surrogate escape was decoded (`pending_high`); a `\u` low surrogate may follow.
    High,
    /// A high surrogate escape and a backslash were read.
    HighBackslash,
    Number(Num),
    /// Reading a literal; `pos` letters matched.
    Literal {
        lit: Lit,
        pos: u8,
    },
}

/// A node of the partial value, as handed to consumers by [`JsonStreamParser::item`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Null,
    Bool(bool),
    /// An integer: its JSON text `-?(0|[1-9][0-9]*)`, of any size.
    Int(&'a str),
    /// A number with a fraction and/or exponent: its JSON text.
    Float(&'a str),
    /// String content in generalized UTF-8 (see the module docs). `complete` is false for
    /// the string still being read, whose content so far is a prefix of its final content.
    Str {
        text: &'a [u8],
        complete: bool,
    },
    /// An array: its first item (follow [`JsonStreamParser::next_sibling`]) and item count.
    Array {
        first: Option<NodeId>,
        len: usize,
        complete: bool,
    },
    /// An object: its first member (follow [`JsonStreamParser::next_sibling`]; the key is
    /// [`JsonStreamParser::key`]) and member count, duplicate keys included.
    Object {
        first: Option<NodeId>,
        len: usize,
        complete: bool,
    },
}

/// An owned JSON value (see [`JsonStreamParser::value`]).
#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// The number's JSON text, unconverted (integers may exceed any fixed-size type).
    Number(String),
    String(String),
    Array(Vec<JsonValue>),
    /// Members in document order, duplicate keys included.
    Object(Vec<(String, JsonValue)>),
}

/// Incremental JSON parser. See the module docs for the exact rules.
#[derive(Clone, Debug)]
pub struct JsonStreamParser {
    max_depth: usize,
    state: State,
    nodes: Vec<Node>,
    /// All string, key and number text, in generalized UTF-8.
    text: Vec<u8>,
    stack: Vec<Frame>,
    root: u32,
    /// The open string's node while a string value is being read.
    open_str: u32,
    /// Whether the string being read is an object key.
    in_key: bool,
    key_start: u32,
    /// A complete key whose value has not started yet: (start, len) in `text`.
    pending_key: Option<(u32, u32)>,
    num_start: u32,
    num_float: bool,
    pending_high: u16,
    /// Characters (code points) accepted so far.
    chars: u64,
    /// Bytes accepted so far (for the 32-bit arena limit).
    bytes: u64,
    failed: Option<Error>,
}

impl Default for JsonStreamParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_DEPTH)
    }
}

/// The error path returns the byte position of the offending character in the current
/// fragment and a message; `feed_bytes` turns it into an [`Error`] with a character offset.
type Fail = (usize, String);

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The code point whose (generalized) UTF-8 encoding starts at `input[i]`.
fn code_point_at(input: &[u8], i: usize) -> u32 {
    let b0 = u32::from(input[i]);
    let (len, mut cp) = match b0 {
        0x00..=0x7F => return b0,
        0xC0..=0xDF => (2, b0 & 0x1F),
        0xE0..=0xEF => (3, b0 & 0x0F),
        0xF0..=0xF7 => (4, b0 & 0x07),
        _ => return 0xFFFD,
    };
    for k in 1..len {
        match input.get(i + k) {
            Some(&c) if c & 0xC0 == 0x80 => cp = (cp << 6) | u32::from(c & 0x3F),
            _ => return 0xFFFD,
        }
    }
    cp
}

/// How error messages name a character: `'x'` for visible ASCII, else `U+XXXX`.
fn describe(cp: u32) -> String {
    match char::from_u32(cp) {
        Some(c) if c.is_ascii_graphic() => format!("'{c}'"),
        _ => format!("U+{cp:04X}"),
    }
}

fn describe_at(input: &[u8], i: usize) -> String {
    describe(code_point_at(input, i))
}

/// Number of code points in generalized UTF-8: every byte that is not a continuation byte.
fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count() as u64
}

/// Appends `cp` (any code point, surrogates included) in generalized UTF-8.
fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    // Truncating casts are intended: each byte takes the masked low bits.
    if cp < 0x80 {
        out.push(cp as u8);
    } else if cp < 0x800 {
        out.extend_from_slice(&[0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]);
    } else if cp < 0x1_0000 {
        out.extend_from_slice(&[
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0xF0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3F) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    }
}

/// Generalized UTF-8 as a `String`: each surrogate code point (a three-byte `ED A0..BF
/// 80..BF` sequence) becomes one U+FFFD, as [`crate::jscan`] decodes a lone surrogate
/// escape. (`String::from_utf8_lossy` would make three, one per byte.)
fn lossy_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, invalid) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                let skip = match invalid {
                    [0xED, 0xA0..=0xBF, 0x80..=0xBF, ..] => 3,
                    // Not reached for the parser's own text; stay lossy like from_utf8_lossy.
                    _ => e.error_len().unwrap_or(invalid.len()),
                };
                rest = &invalid[skip..];
            }
        }
    }
}

fn hex_value(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

fn is_high_surrogate(u: u16) -> bool {
    (0xD800..=0xDBFF).contains(&u)
}

fn is_low_surrogate(u: u16) -> bool {
    (0xDC00..=0xDFFF).contains(&u)
}

impl JsonStreamParser {
    /// A parser accepting at most `max_depth` nested containers.
    pub fn new(max_depth: usize) -> Self {
        JsonStreamParser {
            max_depth,
            state: State::Top,
            nodes: Vec::new(),
            text: Vec::new(),
            stack: Vec::new(),
            root: NONE,
            open_str: NONE,
            in_key: false,
            key_start: 0,
            pending_key: None,
            num_start: 0,
            num_float: false,
            pending_high: 0,
            chars: 0,
            bytes: 0,
            failed: None,
        }
    }

    /// The nesting limit this parser was created with.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Characters (code points) accepted so far. After an error: the offset of the
    /// offending character.
    pub fn offset(&self) -> u64 {
        self.chars
    }

    /// True once one whole top-level value has been read (a top-level number only once a
    /// character that cannot extend it follows, or after [`finish`](Self::finish)), and
    /// no error occurred.
    pub fn is_complete(&self) -> bool {
        self.failed.is_none() && self.state == State::Done
    }

    /// The error that failed the parser, if any.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// Feeds the next fragment of the document.
    pub fn feed(&mut self, fragment: &str) -> Result<()> {
        self.feed_bytes(fragment.as_bytes())
    }

    /// Feeds the next fragment as generalized UTF-8 (see the module docs), which is what
    /// Python's `str.encode("utf-8", "surrogatepass")` produces. Each fragment must hold
    /// whole code points. Bytes that are not generalized UTF-8 are rejected where they
    /// appear outside strings and copied verbatim inside strings.
    pub fn feed_bytes(&mut self, fragment: &[u8]) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.bytes + fragment.len() as u64 > u64::from(u32::MAX) {
            return Err(self.fail(Error::JsonStream {
                message: "JSON document larger than 4 GiB is not supported".to_owned(),
                offset: self.chars,
            }));
        }
        match self.run(fragment) {
            Ok(()) => {
                self.chars += count_chars(fragment);
                self.bytes += fragment.len() as u64;
                Ok(())
            }
            Err((pos, message)) => {
                let offset = self.chars + count_chars(&fragment[..pos]);
                self.chars = offset;
                Err(self.fail(Error::JsonStream { message, offset }))
            }
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e.clone());
        e
    }

    /// End of input: completes a trailing top-level number. Errors if the document is
    /// incomplete (the parser is left unchanged, so more input may still be fed) or the
    /// parser has failed.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let State::Number(num) = self.state {
            if num.complete() && self.stack.is_empty() {
                self.end_number();
            }
        }
        if self.state == State::Done {
            return Ok(());
        }
        Err(Error::JsonStream {
            message: format!("incomplete JSON document: {}", self.incomplete_reason()),
            offset: self.chars,
        })
    }

    fn incomplete_reason(&self) -> &'static str {
        match self.state {
            State::Top => "no value",
            State::Str
            | State::Escape
            | State::Unicode { .. }
            | State::High
            | State::HighBackslash => {
                if self.in_key {
                    "unterminated object key"
                } else {
                    "unterminated string"
                }
            }
            State::Number(num) if !num.complete() => "incomplete number",
            State::Literal { .. } => "incomplete literal",
            _ => match self.stack.last() {
                Some(frame) if frame.object => "unterminated object",
                Some(_) => "unterminated array",
                None => "no value",
            },
        }
    }

    // ----- the state machine -------------------------------------------------------------

    fn run(&mut self, input: &[u8]) -> std::result::Result<(), Fail> {
        let n = input.len();
        let mut i = 0;
        while i < n {
            match self.state {
                State::Str => {
                    let rest = &input[i..];
                    let stop = memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    let run = &rest[..stop];
                    // A branch-free reduction vectorizes; the position is only needed on error.
                    if run.iter().fold(false, |acc, &c| acc | (c < 0x20)) {
                        let bad = run.iter().position(|&c| c < 0x20).unwrap_or(0);
                        // Keep what precedes it: the partial value survives the error.
                        self.text.extend_from_slice(&run[..bad]);
                        return Err((
                            i + bad,
                            format!(
                                "invalid control character {} in string",
                                describe_at(input, i + bad)
                            ),
                        ));
                    }
                    self.text.extend_from_slice(run);
                    i += stop;
                    if i < n {
                        if input[i] == b'"' {
                            self.close_string();
                        } else {
                            self.state = State::Escape;
                        }
                        i += 1;
                    }
                }
                State::Top | State::ArrayFirst | State::ArrayNext | State::MemberValue => {
                    let b = input[i];
                    if is_ws(b) {
                        i += 1;
                    } else if b == b']' && self.state == State::ArrayFirst {
                        self.close_container();
                        i += 1;
                    } else {
                        self.start_value(input, i)?;
                        i += 1;
                    }
                }
                State::AfterValue => {
                    let b = input[i];
                    let object = self.stack.last().is_some_and(|f| f.object);
                    match b {
                        b' ' | b'\t' | b'\n' | b'\r' => {}
                        b',' => {
                            self.state = if object {
                                State::ObjectNext
                            } else {
                                State::ArrayNext
                            }
                        }
                        b'}' if object => self.close_container(),
                        b']' if !object => self.close_container(),
                        _ => {
                            let expected = if object {
                                "',' or '}' after object member"
                            } else {
                                "',' or ']' after array item"
                            };
                            return Err((
                                i,
                                format!("expected {expected}, found {}", describe_at(input, i)),
                            ));
                        }
                    }
                    i += 1;
                }
                State::ObjectFirst | State::ObjectNext => {
                    let b = input[i];
                    if is_ws(b) {
                    } else if b == b'"' {
                        self.in_key = true;
                        self.key_start = self.text.len() as u32;
                        self.state = State::Str;
                    } else if b == b'}' && self.state == State::ObjectFirst {
                        self.close_container();
                    } else {
                        let expected = if self.state == State::ObjectFirst {
                            "an object key or '}'"
                        } else {
                            "an object key"
                        };
                        return Err((
                            i,
                            format!("expected {expected}, found {}", describe_at(input, i)),
                        ));
                    }
                    i += 1;
                }
                State::Colon => {
                    let b = input[i];
                    if b == b':' {
                        self.state = State::MemberValue;
                    } else if !is_ws(b) {
                        return Err((
                            i,
                            format!(
                                "expected ':' after object key, found {}",
                                describe_at(input, i)
                            ),
                        ));
                    }
                    i += 1;
                }
                State::Done => {
                    if !is_ws(input[i]) {
                        return Err((
                            i,
                            format!(
                                "unexpected {} after the end of the JSON value",
                                describe_at(input, i)
                            ),
                        ));
                    }
                    i += 1;
                }
                State::Escape => {
                    self.escape(input, i)?;
                    i += 1;
                }
                State::Unicode { digits, acc, low } => {
                    let Some(v) = hex_value(input[i]) else {
                        return Err((
                            i,
                            format!(
                                "invalid \\uXXXX escape: expected a hex digit, found {}",
                                describe_at(input, i)
                            ),
                        ));
                    };
                    let acc = (acc << 4) | v;
                    if digits == 3 {
                        self.end_unicode(acc, low);
                    } else {
                        self.state = State::Unicode {
                            digits: digits + 1,
                            acc,
                            low,
                        };
                    }
                    i += 1;
                }
                State::High => {
                    if input[i] == b'\\' {
                        self.state = State::HighBackslash;
                        i += 1;
                    } else {
                        // No pair: the high surrogate stands alone; reread this byte as content.
                        push_code_point(&mut self.text, u32::from(self.pending_high));
                        self.state = State::Str;
                    }
                }
                State::HighBackslash => {
                    if input[i] == b'u' {
                        self.state = State::Unicode {
                            digits: 0,
                            acc: 0,
                            low: true,
                        };
                        i += 1;
                    } else {
                        // Another escape follows a lone high surrogate; reread this byte as it.
                        push_code_point(&mut self.text, u32::from(self.pending_high));
                        self.state = State::Escape;
                    }
                }
                State::Number(num) => {
                    // Digits are the common case: take a whole run at once.
                    if matches!(num, Num::Int | Num::Frac | Num::ExpDigits) {
                        let run = input[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                        if run > 0 {
                            self.text.extend_from_slice(&input[i..i + run]);
                            i += run;
                            continue;
                        }
                    }
                    if self.number(input, i, num)? {
                        i += 1;
                    }
                }
                State::Literal { lit, pos } => {
                    let expected = lit.text();
                    if input[i] != expected[usize::from(pos)] {
                        let word = std::str::from_utf8(expected).unwrap_or_default();
                        return Err((
                            i,
                            format!(
                                "invalid literal: expected '{word}', found {}",
                                describe_at(input, i)
                            ),
                        ));
                    }
                    if usize::from(pos) + 1 == expected.len() {
                        let tag = match lit {
                            Lit::True => Tag::True,
                            Lit::False => Tag::False,
                            Lit::Null => Tag::Null,
                        };
                        self.attach(Node::new(tag, 0, 0, true));
                        self.state = self.after_value();
                    } else {
                        self.state = State::Literal { lit, pos: pos + 1 };
                    }
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// The state after a complete value.
    fn after_value(&self) -> State {
        if self.stack.is_empty() {
            State::Done
        } else {
            State::AfterValue
        }
    }

    /// Starts the value whose first character is `input[i]` (not whitespace).
    fn start_value(&mut self, input: &[u8], i: usize) -> std::result::Result<(), Fail> {
        let b = input[i];
        match b {
            b'"' => {
                let start = self.text.len() as u32;
                self.open_str = self.attach(Node::new(Tag::Str, start, 0, false));
                self.in_key = false;
                self.state = State::Str;
            }
            b'[' | b'{' => {
                if self.stack.len() >= self.max_depth {
                    return Err((
                        i,
                        format!("maximum nesting depth {} exceeded", self.max_depth),
                    ));
                }
                let object = b == b'{';
                let tag = if object { Tag::Object } else { Tag::Array };
                let node = self.attach(Node::new(tag, NONE, 0, false));
                self.stack.push(Frame {
                    node,
                    last: NONE,
                    object,
                });
                self.state = if object {
                    State::ObjectFirst
                } else {
                    State::ArrayFirst
                };
            }
            b'-' | b'0'..=b'9' => {
                self.num_start = self.text.len() as u32;
                self.num_float = false;
                self.text.push(b);
                self.state = State::Number(match b {
                    b'-' => Num::Minus,
                    b'0' => Num::Zero,
                    _ => Num::Int,
                });
            }
            b't' => {
                self.state = State::Literal {
                    lit: Lit::True,
                    pos: 1,
                }
            }
            b'f' => {
                self.state = State::Literal {
                    lit: Lit::False,
                    pos: 1,
                }
            }
            b'n' => {
                self.state = State::Literal {
                    lit: Lit::Null,
                    pos: 1,
                }
            }
            _ => {
                let expected = if self.state == State::ArrayFirst {
                    "a JSON value or ']'"
                } else {
                    "a JSON value"
                };
                let note = if matches!(b, b'N' | b'I') {
                    " (NaN and Infinity are not JSON)"
                } else {
                    ""
                };
                return Err((
                    i,
                    format!("expected {expected}, found {}{note}", describe_at(input, i)),
                ));
            }
        }
        Ok(())
    }

    /// One non-digit-run step of a number. Returns whether `input[i]` was consumed: a
    /// character that ends a complete number is left for the next state to read.
    fn number(&mut self, input: &[u8], i: usize, num: Num) -> std::result::Result<bool, Fail> {
        let b = input[i];
        let next = match (num, b) {
            (Num::Minus, b'0') => Num::Zero,
            (Num::Minus, b'1'..=b'9') => Num::Int,
            (Num::Zero, b'0'..=b'9') => {
                return Err((
                    i,
                    "invalid number: leading zeros are not allowed".to_owned(),
                ));
            }
            (Num::Zero | Num::Int, b'.') => Num::Dot,
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::Exp,
            (Num::Dot | Num::Frac, b'0'..=b'9') => Num::Frac,
            (Num::Exp, b'+' | b'-') => Num::ExpSign,
            (Num::Exp | Num::ExpSign | Num::ExpDigits, b'0'..=b'9') => Num::ExpDigits,
            _ if num.complete() => {
                self.end_number();
                return Ok(false);
            }
            _ => {
                let after = match num {
                    Num::Minus => "'-'",
                    Num::Dot => "the decimal point",
                    _ => "the exponent marker",
                };
                return Err((
                    i,
                    format!(
                        "invalid number: expected a digit after {after}, found {}",
                        describe_at(input, i)
                    ),
                ));
            }
        };
        if matches!(next, Num::Dot | Num::Exp) {
            self.num_float = true;
        }
        self.text.push(b);
        self.state = State::Number(next);
        Ok(true)
    }

    fn end_number(&mut self) {
        let start = self.num_start;
        let len = self.text.len() as u32 - start;
        let tag = if self.num_float { Tag::Float } else { Tag::Int };
        self.attach(Node::new(tag, start, len, true));
        self.state = self.after_value();
    }

    fn escape(&mut self, input: &[u8], i: usize) -> std::result::Result<(), Fail> {
        let decoded = match input[i] {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                self.state = State::Unicode {
                    digits: 0,
                    acc: 0,
                    low: false,
                };
                return Ok(());
            }
            _ => {
                return Err((
                    i,
                    format!("invalid escape {} in string", describe_at(input, i)),
                ));
            }
        };
        self.text.push(decoded);
        self.state = State::Str;
        Ok(())
    }

    /// A `\uXXXX` escape decoded to `unit`; `low` when it follows a high surrogate escape.
    fn end_unicode(&mut self, unit: u16, low: bool) {
        if low {
            let high = self.pending_high;
            if is_low_surrogate(unit) {
                let cp = 0x1_0000 + ((u32::from(high - 0xD800) << 10) | u32::from(unit - 0xDC00));
                push_code_point(&mut self.text, cp);
                self.state = State::Str;
                return;
            }
            // Not a pair: the high surrogate stands alone and `unit` is a fresh escape.
            push_code_point(&mut self.text, u32::from(high));
        }
        if is_high_surrogate(unit) {
            self.pending_high = unit;
            self.state = State::High;
        } else {
            push_code_point(&mut self.text, u32::from(unit));
            self.state = State::Str;
        }
    }

    fn close_string(&mut self) {
        let end = self.text.len() as u32;
        if self.in_key {
            self.pending_key = Some((self.key_start, end - self.key_start));
            self.state = State::Colon;
        } else {
            let node = &mut self.nodes[self.open_str as usize];
            node.b = end - node.a;
            node.closed = true;
            self.open_str = NONE;
            self.state = self.after_value();
        }
    }

    fn close_container(&mut self) {
        if let Some(frame) = self.stack.pop() {
            self.nodes[frame.node as usize].closed = true;
        }
        self.state = self.after_value();
    }

    /// Appends `node` to the arena as the next child of the innermost open container (with
    /// the pending key in an object), or as the root.
    fn attach(&mut self, mut node: Node) -> u32 {
        let id = self.nodes.len() as u32;
        if let Some(frame) = self.stack.last_mut() {
            if frame.object {
                if let Some((start, len)) = self.pending_key.take() {
                    node.key_start = start;
                    node.key_len = len;
                }
            }
            if frame.last == NONE {
                self.nodes[frame.node as usize].a = id;
            } else {
                self.nodes[frame.last as usize].next = id;
            }
            frame.last = id;
            self.nodes[frame.node as usize].b += 1;
        } else {
            self.root = id;
        }
        self.nodes.push(node);
        id
    }

    // ----- reading the partial value -----------------------------------------------------

    /// The root node, or `None` before any value has started.
    pub fn root(&self) -> Option<NodeId> {
        (self.root != NONE).then_some(self.root)
    }

    /// Number of nodes in the arena (ids are `0..node_count()`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node `id` (which must come from this parser).
    pub fn item(&self, id: NodeId) -> Item<'_> {
        let node = &self.nodes[id as usize];
        let first = (node.a != NONE).then_some(node.a);
        match node.tag {
            Tag::Null => Item::Null,
            Tag::True => Item::Bool(true),
            Tag::False => Item::Bool(false),
            Tag::Int | Tag::Float => {
                let bytes = &self.text[node.a as usize..(node.a + node.b) as usize];
                // Number text only ever holds the ASCII the number grammar accepted.
                let text = std::str::from_utf8(bytes).unwrap_or_default();
                if node.tag == Tag::Int {
                    Item::Int(text)
                } else {
                    Item::Float(text)
                }
            }
            Tag::Str => {
                let start = node.a as usize;
                let end = if node.closed {
                    start + node.b as usize
                } else {
                    self.text.len()
                };
                Item::Str {
                    text: &self.text[start..end],
                    complete: node.closed,
                }
            }
            Tag::Array => Item::Array {
                first,
                len: node.b as usize,
                complete: node.closed,
            },
            Tag::Object => Item::Object {
                first,
                len: node.b as usize,
                complete: node.closed,
            },
        }
    }

    /// Whether node `id` is an array or an object (cheaper than [`item`](Self::item)).
    pub fn is_container(&self, id: NodeId) -> bool {
        matches!(self.nodes[id as usize].tag, Tag::Array | Tag::Object)
    }

    /// The first item/member of container `id` (`None` for an empty container or a leaf).
    pub fn first_child(&self, id: NodeId) -> Option<NodeId> {
        let node = &self.nodes[id as usize];
        (matches!(node.tag, Tag::Array | Tag::Object) && node.a != NONE).then_some(node.a)
    }

    /// The next item/member after `id` in its container.
    pub fn next_sibling(&self, id: NodeId) -> Option<NodeId> {
        let next = self.nodes[id as usize].next;
        (next != NONE).then_some(next)
    }

    /// The key (generalized UTF-8) of object member `id`; empty for other nodes.
    pub fn key(&self, id: NodeId) -> &[u8] {
        let node = &self.nodes[id as usize];
        &self.text[node.key_start as usize..(node.key_start + node.key_len) as usize]
    }

    /// The partial value as an owned tree, or `None` before any value has started.
    /// Each lone surrogate in a string or key becomes one U+FFFD here (a Rust `String`
    /// cannot hold it; [`crate::jscan`] decodes it the same way); use
    /// [`item`](Self::item) and [`key`](Self::key) for exact content, as the Python
    /// binding does to return the lone surrogates `json.loads` returns. Built without
    /// recursion.
    pub fn value(&self) -> Option<JsonValue> {
        let mut stack: Vec<OpenValue> = Vec::new();
        let mut visit = self.visit(self.root()?);
        loop {
            match visit {
                Visit::Container(open) => stack.push(open),
                Visit::Leaf(id, value) => match stack.last_mut() {
                    None => return Some(value),
                    Some(parent) => parent.push(self, id, value),
                },
            }
            // Close every container whose children are all visited; then visit the next child.
            loop {
                let top = stack.last_mut()?;
                if let Some(child) = top.next {
                    top.next = self.next_sibling(child);
                    visit = self.visit(child);
                    break;
                }
                let done = stack.pop()?;
                let (id, value) = done.into_value();
                match stack.last_mut() {
                    None => return Some(value),
                    Some(parent) => parent.push(self, id, value),
                }
            }
        }
    }

    fn visit(&self, id: NodeId) -> Visit {
        let leaf = match self.item(id) {
            Item::Null => JsonValue::Null,
            Item::Bool(v) => JsonValue::Bool(v),
            Item::Int(t) | Item::Float(t) => JsonValue::Number(t.to_owned()),
            Item::Str { text, .. } => JsonValue::String(lossy_string(text)),
            Item::Array { first, len, .. } => {
                return Visit::Container(OpenValue {
                    id,
                    items: Items::Array(Vec::with_capacity(len)),
                    next: first,
                });
            }
            Item::Object { first, len, .. } => {
                return Visit::Container(OpenValue {
                    id,
                    items: Items::Object(Vec::with_capacity(len)),
                    next: first,
                });
            }
        };
        Visit::Leaf(id, leaf)
    }
}

/// Building [`JsonStreamParser::value`]: a container whose children are being visited.
struct OpenValue {
    id: NodeId,
    items: Items,
    next: Option<NodeId>,
}

enum Items {
    Array(Vec<JsonValue>),
    Object(Vec<(String, JsonValue)>),
}

enum Visit {
    Leaf(NodeId, JsonValue),
    Container(OpenValue),
}

impl OpenValue {
    fn push(&mut self, parser: &JsonStreamParser, child: NodeId, value: JsonValue) {
        match &mut self.items {
            Items::Array(items) => items.push(value),
            Items::Object(members) => {
                members.push((lossy_string(parser.key(child)), value));
            }
        }
    }

    fn into_value(self) -> (NodeId, JsonValue) {
        let value = match self.items {
            Items::Array(items) => JsonValue::Array(items),
            Items::Object(members) => JsonValue::Object(members),
        };
        (self.id, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> JsonValue {
        JsonValue::String(v.to_owned())
    }

    fn num(v: &str) -> JsonValue {
        JsonValue::Number(v.to_owned())
    }

    fn obj(members: &[(&str, JsonValue)]) -> JsonValue {
        JsonValue::Object(
            members
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn arr(items: &[JsonValue]) -> JsonValue {
        JsonValue::Array(items.to_vec())
    }

    /// The partial value after feeding `prefix` in one piece.
    fn partial(prefix: &str) -> Option<JsonValue> {
        let mut p = JsonStreamParser::default();
        p.feed(prefix).unwrap();
        p.value()
    }

    /// The error (message, offset) for `doc` fed in one piece and then finished.
    fn error_of(doc: &str) -> (String, u64) {
        let mut p = JsonStreamParser::default();
        let e = p.feed(doc).and_then(|()| p.finish()).unwrap_err();
        match e {
            Error::JsonStream { message, offset } => (message, offset),
            other => panic!("unexpected error {other:?}"),
        }
    }

    /// Whether `partial` is a prefix-consistent view of `complete`.
    fn consistent(partial: &JsonValue, complete: &JsonValue) -> bool {
        match (partial, complete) {
            (JsonValue::String(p), JsonValue::String(c)) => c.starts_with(p.as_str()),
            (JsonValue::Array(p), JsonValue::Array(c)) => {
                p.len() <= c.len()
                    && p.iter().zip(c).enumerate().all(|(i, (a, b))| {
                        if i + 1 == p.len() {
                            consistent(a, b)
                        } else {
                            a == b
                        }
                    })
            }
            (JsonValue::Object(p), JsonValue::Object(c)) => {
                p.len() <= c.len()
                    && p.iter().zip(c).enumerate().all(|(i, ((ka, a), (kb, b)))| {
                        ka == kb
                            && if i + 1 == p.len() {
                                consistent(a, b)
                            } else {
                                a == b
                            }
                    })
            }
            (p, c) => p == c,
        }
    }

    /// Feeds `doc` split at every char boundary pair (one split point) and char by char,
    /// checking every partial value against the final one; returns the final value.
    fn check_all_prefixes(doc: &str) -> JsonValue {
        let mut whole = JsonStreamParser::default();
        whole.feed(doc).unwrap();
        whole.finish().unwrap();
        let complete = whole.value().unwrap();
        let mut p = JsonStreamParser::default();
        let mut buf = [0u8; 4];
        for c in doc.chars() {
            p.feed(c.encode_utf8(&mut buf)).unwrap();
            if let Some(v) = p.value() {
                assert!(
                    consistent(&v, &complete),
                    "{v:?} vs {complete:?} after {} chars",
                    p.offset()
                );
            }
        }
        p.finish().unwrap();
        assert_eq!(p.value().unwrap(), complete);
        assert_eq!(p.offset(), doc.chars().count() as u64);
        for (split, _) in doc.char_indices() {
            let mut p = JsonStreamParser::default();
            p.feed(&doc[..split]).unwrap();
            p.feed(&doc[split..]).unwrap();
            p.finish().unwrap();
            assert_eq!(p.value().unwrap(), complete, "split at byte {split}");
        }
        complete
    }

    #[test]
    fn parses_a_nested_document_at_every_split() {
        let doc = r#" {"path": "src/main.rs", "edits": [{"line": 12, "text": "fn main() {}\n", "ok": true},
            {"line": -0.5e+3, "text": "\u00e9\ud83d\ude00 caf\u00E9 \"q\" \\ \/ \b\f\n\r\t", "ok": false}],
            "empty": {}, "none": [], "n": null, "big": 123456789012345678901234567890, "z": 0, "f": 1E2 } "#;
        let v = check_all_prefixes(doc);
        let JsonValue::Object(members) = &v else {
            panic!("{v:?}")
        };
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["path", "edits", "empty", "none", "n", "big", "z", "f"]
        );
        assert_eq!(members[5].1, num("123456789012345678901234567890"));
        let JsonValue::Array(edits) = &members[1].1 else {
            panic!()
        };
        assert_eq!(
            edits[1],
            obj(&[
                ("line", num("-0.5e+3")),
                ("text", s("é😀 café \"q\" \\ / \u{8}\u{c}\n\r\t")),
                ("ok", JsonValue::Bool(false)),
            ])
        );
    }

    #[test]
    fn scalars_at_top_level() {
        for (doc, want) in [
            ("\"x\"", s("x")),
            ("true", JsonValue::Bool(true)),
            ("null", JsonValue::Null),
            ("-12", num("-12")),
            ("0", num("0")),
            ("1.5e-7 ", num("1.5e-7")),
            ("[]", arr(&[])),
            ("{}", obj(&[])),
        ] {
            assert_eq!(check_all_prefixes(doc), want, "{doc}");
        }
    }

    #[test]
    fn hold_back_rules() {
        let cases: &[(&str, Option<JsonValue>)] = &[
            ("", None),
            ("  ", None),
            ("{", Some(obj(&[]))),
            ("{\"a", Some(obj(&[]))),
            ("{\"a\"", Some(obj(&[]))),
            ("{\"a\": ", Some(obj(&[]))),
            ("{\"a\": tru", Some(obj(&[]))),
            ("{\"a\": true", Some(obj(&[("a", JsonValue::Bool(true))]))),
            ("{\"a\": 12", Some(obj(&[]))),
            ("{\"a\": 12 ", Some(obj(&[("a", num("12"))]))),
            ("{\"a\": 12,", Some(obj(&[("a", num("12"))]))),
            ("{\"a\": \"", Some(obj(&[("a", s(""))]))),
            ("{\"a\": \"hel", Some(obj(&[("a", s("hel"))]))),
            ("{\"a\": \"h\\", Some(obj(&[("a", s("h"))]))),
            ("{\"a\": \"h\\u00e", Some(obj(&[("a", s("h"))]))),
            ("{\"a\": \"h\\ud83d", Some(obj(&[("a", s("h"))]))),
            ("{\"a\": \"h\\ud83d\\", Some(obj(&[("a", s("h"))]))),
            ("{\"a\": \"h\\ud83d\\ude0", Some(obj(&[("a", s("h"))]))),
            ("{\"a\": \"h\\ud83d\\ude00", Some(obj(&[("a", s("h😀"))]))),
            ("{\"a\": [", Some(obj(&[("a", arr(&[]))]))),
            (
                "{\"a\": {\"b\": [1, {",
                Some(obj(&[("a", obj(&[("b", arr(&[num("1"), obj(&[])]))]))])),
            ),
            ("[\"x\", 1", Some(arr(&[s("x")]))),
            ("[\"x\", 1]", Some(arr(&[s("x"), num("1")]))),
            ("[\"x\", -", Some(arr(&[s("x")]))),
            ("[1.", Some(arr(&[]))),
            ("[1e", Some(arr(&[]))),
            ("[1e5", Some(arr(&[]))),
            ("[nul", Some(arr(&[]))),
            ("\"ab", Some(s("ab"))),
            ("12", None),
            ("-", None),
            ("tr", None),
        ];
        for (prefix, want) in cases {
            assert_eq!(&partial(prefix), want, "{prefix}");
        }
    }

    #[test]
    fn completeness() {
        let mut p = JsonStreamParser::default();
        p.feed("12").unwrap();
        assert!(!p.is_complete());
        p.feed(" ").unwrap();
        assert!(p.is_complete());
        assert_eq!(p.value(), Some(num("12")));

        let mut p = JsonStreamParser::default();
        p.feed("-3.5").unwrap();
        assert!(!p.is_complete());
        assert_eq!(p.value(), None);
        p.finish().unwrap();
        assert!(p.is_complete());
        assert_eq!(p.value(), Some(num("-3.5")));
        p.finish().unwrap(); // idempotent

        let mut p = JsonStreamParser::default();
        p.feed("{\"a\": [true]").unwrap();
        assert!(!p.is_complete());
        p.feed("}").unwrap();
        assert!(p.is_complete());
        p.feed(" \n\t\r").unwrap();
        assert!(p.is_complete());
    }

    #[test]
    fn incomplete_documents_fail_finish_without_changing_state() {
        for (doc, reason) in [
            ("", "no value"),
            ("  ", "no value"),
            ("\"ab", "unterminated string"),
            ("\"ab\\", "unterminated string"),
            ("{\"ab", "unterminated object key"),
            ("-", "incomplete number"),
            ("1.", "incomplete number"),
            ("1e+", "incomplete number"),
            ("[1.", "incomplete number"),
            ("tru", "incomplete literal"),
            ("[1", "unterminated array"),
            ("[1,", "unterminated array"),
            ("{\"a\": 1", "unterminated object"),
            ("{\"a\"", "unterminated object"),
        ] {
            let mut p = JsonStreamParser::default();
            p.feed(doc).unwrap();
            let err = p.finish().unwrap_err();
            assert_eq!(
                err,
                Error::JsonStream {
                    message: format!("incomplete JSON document: {reason}"),
                    offset: doc.chars().count() as u64
                },
                "{doc}"
            );
            // Not failed: the document can still be completed.
            assert!(p.error().is_none());
        }
        let mut p = JsonStreamParser::default();
        p.feed("[1").unwrap();
        assert!(p.finish().is_err());
        p.feed("]").unwrap();
        p.finish().unwrap();
        assert_eq!(p.value(), Some(arr(&[num("1")])));
    }

    #[test]
    fn errors_name_the_offending_character_and_its_offset() {
        let cases: &[(&str, &str, u64)] = &[
            ("x", "expected a JSON value, found 'x'", 0),
            ("  é", "expected a JSON value, found U+00E9", 2),
            ("[1,]", "expected a JSON value, found ']'", 3),
            ("[,", "expected a JSON value or ']', found ','", 1),
            ("{\"a\":1,}", "expected an object key, found '}'", 7),
            ("{1", "expected an object key or '}', found '1'", 1),
            ("{\"a\" 1", "expected ':' after object key, found '1'", 5),
            ("[1 2", "expected ',' or ']' after array item, found '2'", 3),
            (
                "{\"a\":1]",
                "expected ',' or '}' after object member, found ']'",
                6,
            ),
            ("{} x", "unexpected 'x' after the end of the JSON value", 3),
            ("1 2", "unexpected '2' after the end of the JSON value", 2),
            (
                "\"é\u{1}\"",
                "invalid control character U+0001 in string",
                2,
            ),
            ("\"a\nb\"", "invalid control character U+000A in string", 2),
            ("\"\\x\"", "invalid escape 'x' in string", 2),
            (
                "\"\\u12g4\"",
                "invalid \\uXXXX escape: expected a hex digit, found 'g'",
                5,
            ),
            (
                "\"\\ud800\\u12x\"",
                "invalid \\uXXXX escape: expected a hex digit, found 'x'",
                11,
            ),
            ("\"\\ud800\\q\"", "invalid escape 'q' in string", 8),
            ("01", "invalid number: leading zeros are not allowed", 1),
            ("-01", "invalid number: leading zeros are not allowed", 2),
            (
                "-a",
                "invalid number: expected a digit after '-', found 'a'",
                1,
            ),
            (
                "[1.]",
                "invalid number: expected a digit after the decimal point, found ']'",
                3,
            ),
            (
                "1.e5",
                "invalid number: expected a digit after the decimal point, found 'e'",
                2,
            ),
            (
                "1e]",
                "invalid number: expected a digit after the exponent marker, found ']'",
                2,
            ),
            (
                "1e+x",
                "invalid number: expected a digit after the exponent marker, found 'x'",
                3,
            ),
            (".5", "expected a JSON value, found '.'", 0),
            ("+1", "expected a JSON value, found '+'", 0),
            (
                "NaN",
                "expected a JSON value, found 'N' (NaN and Infinity are not JSON)",
                0,
            ),
            (
                "[Infinity]",
                "expected a JSON value or ']', found 'I' (NaN and Infinity are not JSON)",
                1,
            ),
            (
                "-Infinity",
                "invalid number: expected a digit after '-', found 'I'",
                1,
            ),
            ("trUe", "invalid literal: expected 'true', found 'U'", 2),
            ("nul1", "invalid literal: expected 'null', found '1'", 3),
            ("\u{feff}{}", "expected a JSON value, found U+FEFF", 0),
            ("truex", "unexpected 'x' after the end of the JSON value", 4),
        ];
        for (doc, message, offset) in cases {
            assert_eq!(error_of(doc), ((*message).to_owned(), *offset), "{doc}");
            // The same error whatever the fragmentation.
            let mut p = JsonStreamParser::default();
            let mut buf = [0u8; 4];
            let err = doc
                .chars()
                .find_map(|c| p.feed(c.encode_utf8(&mut buf)).err());
            let err = err.or_else(|| p.finish().err()).unwrap();
            assert_eq!(
                err,
                Error::JsonStream {
                    message: (*message).to_owned(),
                    offset: *offset
                }
            );
        }
    }

    #[test]
    fn failure_is_sticky_and_keeps_the_partial_value() {
        let mut p = JsonStreamParser::default();
        p.feed("[\"ok\", 1, ").unwrap();
        let err = p.feed("x]").unwrap_err();
        assert_eq!(
            err,
            Error::JsonStream {
                message: "expected a JSON value, found 'x'".into(),
                offset: 10
            }
        );
        assert_eq!(p.offset(), 10);
        assert_eq!(p.feed("2]").unwrap_err(), err);
        assert_eq!(p.finish().unwrap_err(), err);
        assert!(!p.is_complete());
        assert_eq!(p.value(), Some(arr(&[s("ok"), num("1")])));
    }

    #[test]
    fn an_error_inside_a_string_keeps_the_text_before_it() {
        let mut p = JsonStreamParser::default();
        p.feed("[\"ab").unwrap();
        assert!(p.feed("cd\u{1}ef\"]").is_err());
        assert_eq!(p.value(), Some(arr(&[s("abcd")])));
    }

    #[test]
    fn depth_limit() {
        let mut p = JsonStreamParser::new(3);
        p.feed("[{\"a\": [").unwrap();
        let err = p.feed("[").unwrap_err();
        assert_eq!(
            err,
            Error::JsonStream {
                message: "maximum nesting depth 3 exceeded".into(),
                offset: 8
            }
        );

        let mut p = JsonStreamParser::new(0);
        assert!(p.feed("[").is_err());
        let mut p = JsonStreamParser::new(0);
        p.feed("\"scalars need no depth\"").unwrap();
        assert!(p.is_complete());

        let deep = "[".repeat(DEFAULT_MAX_DEPTH) + &"]".repeat(DEFAULT_MAX_DEPTH);
        let mut p = JsonStreamParser::default();
        p.feed(&deep).unwrap();
        assert!(p.is_complete());
        // value() does not recurse.
        let mut v = p.value().unwrap();
        let mut depth = 0;
        while let JsonValue::Array(mut items) = v {
            depth += 1;
            v = items.pop().unwrap_or(JsonValue::Null);
        }
        assert_eq!(depth, DEFAULT_MAX_DEPTH);

        let mut p = JsonStreamParser::default();
        let err = p.feed(&"[".repeat(2 * DEFAULT_MAX_DEPTH)).unwrap_err();
        assert_eq!(
            err,
            Error::JsonStream {
                message: "maximum nesting depth 512 exceeded".into(),
                offset: 512
            }
        );
    }

    /// The raw bytes of the single string value `doc` parses to.
    fn string_bytes(doc: &str) -> Vec<u8> {
        let mut p = JsonStreamParser::default();
        p.feed(doc).unwrap();
        p.finish().unwrap();
        match p.item(p.root().unwrap()) {
            Item::Str {
                text,
                complete: true,
            } => text.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn surrogate_escapes_follow_json_loads() {
        // A pair is one code point.
        assert_eq!(string_bytes(r#""\ud83d\ude00""#), "😀".as_bytes());
        assert_eq!(string_bytes(r#""\uD83D\uDE00""#), "😀".as_bytes());
        // Lone surrogates stay lone (3-byte generalized UTF-8), like json.loads.
        assert_eq!(string_bytes(r#""\ud800""#), [0xED, 0xA0, 0x80]);
        assert_eq!(string_bytes(r#""\udc00x""#), [0xED, 0xB0, 0x80, b'x']);
        assert_eq!(string_bytes(r#""\ud800x""#), [0xED, 0xA0, 0x80, b'x']);
        assert_eq!(string_bytes(r#""\ud800\n""#), [0xED, 0xA0, 0x80, b'\n']);
        assert_eq!(string_bytes(r#""\ud800\u0041""#), [0xED, 0xA0, 0x80, b'A']);
        // A high followed by a high: the second may still pair.
        let mut want = vec![0xED, 0xA0, 0x80];
        want.extend_from_slice("😀".as_bytes());
        assert_eq!(string_bytes(r#""\ud800\ud83d\ude00""#), want);
        // Low then high: two lone surrogates.
        assert_eq!(
            string_bytes(r#""\udc00\ud800""#),
            [0xED, 0xB0, 0x80, 0xED, 0xA0, 0x80]
        );
        // Split anywhere.
        let doc = r#"["\ud83d\ude00\ud800\ud800\udc00"]"#;
        check_all_prefixes(doc);
    }

    #[test]
    fn value_replaces_each_lone_surrogate_with_one_replacement_character() {
        let value = |doc: &str| {
            let mut p = JsonStreamParser::default();
            p.feed(doc).unwrap();
            p.finish().unwrap();
            p.value().unwrap()
        };
        // The fuzz reproducer's shape: a lone low surrogate inside ASCII text.
        assert_eq!(value(r#""XX\udc00XX""#), s("XX\u{FFFD}XX"));
        assert_eq!(value(r#""\ud800""#), s("\u{FFFD}"));
        assert_eq!(
            value(r#""\udc00\ud800\ud83d\ude00é""#),
            s("\u{FFFD}\u{FFFD}😀é")
        );
        assert_eq!(
            value(r#"{"\udfff": ["\ud800x"]}"#),
            obj(&[("\u{FFFD}", arr(&[s("\u{FFFD}x")]))])
        );
        // Raw surrogates fed by Python (surrogatepass) read the same.
        let mut p = JsonStreamParser::default();
        p.feed_bytes(b"\"a\xED\xA0\x80\xED\xBF\xBFb\"").unwrap();
        assert_eq!(p.value(), Some(s("a\u{FFFD}\u{FFFD}b")));
        // As the scanner decodes the same documents.
        for doc in [
            r#""\udc00""#,
            r#"["\ud800\ud800\udc00"]"#,
            r#"{"\ud800":1}"#,
        ] {
            let scanned = crate::jscan::parse(doc).unwrap();
            let text = match scanned.kind() {
                crate::jscan::Kind::String => scanned.as_str().unwrap().into_owned(),
                crate::jscan::Kind::Array => scanned
                    .items()
                    .next()
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .into_owned(),
                _ => scanned.members().next().unwrap().0.decoded().into_owned(),
            };
            let ours = match value(doc) {
                JsonValue::String(t) => t,
                JsonValue::Array(items) => match &items[0] {
                    JsonValue::String(t) => t.clone(),
                    other => panic!("{other:?}"),
                },
                JsonValue::Object(members) => members[0].0.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(ours, text, "{doc}");
        }
        assert_eq!(
            lossy_string(b"a\xFFb\xED\xA0"),
            "a\u{FFFD}b\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn raw_surrogates_from_python_pass_through() {
        // '"\ud800"' as Python encodes it with surrogatepass; offsets count code points.
        let mut p = JsonStreamParser::default();
        p.feed_bytes(b"[\"\xED\xA0\x80\xED\xB0\x80\"").unwrap();
        assert_eq!(p.offset(), 5);
        let err = p.feed_bytes(b"\xED\xA0\x80").unwrap_err();
        assert_eq!(
            err,
            Error::JsonStream {
                message: "expected ',' or ']' after array item, found U+D800".into(),
                offset: 5
            }
        );
    }

    #[test]
    fn items_expose_the_arena() {
        let mut p = JsonStreamParser::default();
        p.feed(r#"{"k": [1, 2.5, "s"], "k": null, "t": "pa"#)
            .unwrap();
        let root = p.root().unwrap();
        let Item::Object {
            first: Some(first),
            len: 3,
            complete: false,
        } = p.item(root)
        else {
            panic!()
        };
        assert_eq!(p.key(first), b"k");
        let Item::Array {
            first: Some(one),
            len: 3,
            complete: true,
        } = p.item(first)
        else {
            panic!()
        };
        assert_eq!(p.item(one), Item::Int("1"));
        let two = p.next_sibling(one).unwrap();
        assert_eq!(p.item(two), Item::Float("2.5"));
        let three = p.next_sibling(two).unwrap();
        assert_eq!(
            p.item(three),
            Item::Str {
                text: b"s",
                complete: true
            }
        );
        assert_eq!(p.next_sibling(three), None);
        let dup = p.next_sibling(first).unwrap();
        assert_eq!((p.key(dup), p.item(dup)), (&b"k"[..], Item::Null));
        let t = p.next_sibling(dup).unwrap();
        assert_eq!(
            (p.key(t), p.item(t)),
            (
                &b"t"[..],
                Item::Str {
                    text: b"pa",
                    complete: false
                }
            )
        );
        assert_eq!(p.node_count(), 7);
        assert!(p.is_container(root) && p.is_container(first) && !p.is_container(one));
        assert_eq!(p.first_child(root), Some(first));
        assert_eq!(p.first_child(one), None);
    }

    #[test]
    fn offsets_count_code_points() {
        let mut p = JsonStreamParser::default();
        p.feed("[\"é😀\", ").unwrap();
        assert_eq!(p.offset(), 7);
        let err = p.feed("😀").unwrap_err();
        assert_eq!(
            err,
            Error::JsonStream {
                message: "expected a JSON value, found U+1F600".into(),
                offset: 7
            }
        );
    }
}
