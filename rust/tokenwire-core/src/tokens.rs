//! Token counting with OpenAI's byte-pair encodings (`o200k_base`).
//!
//! The BPE itself is `tiktoken-rs`'s [`CoreBPE`] (a vendored copy of OpenAI's
//! tiktoken core). We build it from a ranks file handed to us, never from the crate's
//! built-in constructors, so the crate's embedded copies of the rank tables are not
//! linked in: the ranks ship once, as package data shared with the pure-Python twin.
//!
//! Decisions:
//!
//! - **Lazy, process-wide.** Each encoding lives in a [`OnceLock`] and is built on
//!   first use by [`install_encoding`] from the bytes of its `.tiktoken` file (the
//!   binding reads the file; the core never touches the filesystem). Building
//!   `o200k_base` takes ~0.1–0.2 s and tens of MB, so nothing happens at import.
//!   Two threads racing to install build twice and one result is kept; harmless.
//! - **Special tokens are ordinary text.** Counting uses tiktoken's
//!   `encode_ordinary`: `"<|endoftext|>"` in user text is counted as the characters it
//!   is made of and never raises (Roo-Code's local count does the same).
//! - **Validated ranks.** A `.tiktoken` file is `base64(token) SP rank LF` per line.
//!   We check what `CoreBPE` would otherwise panic on (duplicate ranks, a missing
//!   single-byte token) and the expected token count, so a truncated or foreign file
//!   is an [`Error::Value`], never a panic.

use std::sync::OnceLock;

use base64::Engine as _;
use rustc_hash::FxHashMap;
use tiktoken_rs::{CoreBPE, Rank};

use crate::error::{Error, Result};

/// Name of the encoding used by GPT-4o, GPT-4.1, GPT-5 and the `o` series.
pub const O200K_BASE: &str = "o200k_base";

/// The encodings this module knows.
pub const ENCODINGS: &[&str] = &[O200K_BASE];

/// `o200k_base`'s pre-tokenizer: the text is split into pieces with this pattern and
/// each piece is byte-pair encoded on its own. (OpenAI's published pattern; the
/// pure twin reproduces it with explicit Unicode class tables.)
pub const O200K_BASE_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+",
);

/// [`O200K_BASE_PATTERN`] as the native pre-tokenizer runs it: the same matches, with
/// `\s+(?!\S)` spelled `\s+\z|\s(?:\s{256})*\s*?(?=\s\S)`.
///
/// Why: fancy-regex runs `\s+(?!\S)` in its backtracking VM with one stack entry per
/// whitespace character and fails at a million (tiktoken panics on such text). The
/// rewrite pushes one entry per 256 characters (the fixed-size `\s{256}` runs in the
/// regex crate) and backtracks at most ~256 steps per match.
///
/// Why it matches the same: the branch is only tried inside a maximal whitespace run
/// `[p, e)` (with no `\r`/`\n` in it, or `\s*[\r\n]+` would have matched first).
/// `\s+(?!\S)` matches `[p, e)` when `e` is the end of the text, and otherwise
/// `[p, e - 1)` if that is not empty (the greedy run backs off one character so that
/// whitespace follows). `\s+\z` is the first case. In the second, the only position
/// in the run followed by one whitespace and then a non-whitespace character is
/// `e - 1`, so `\s…(?=\s\S)` ends there whatever the split between the greedy
/// 256-blocks and the lazy tail, and cannot match when `e - p == 1`.
const O200K_BASE_RUNTIME_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+\z|\s(?:\s{256})*\s*?(?=\s\S)",
    "|",
    r"\s+",
);

/// What defines one encoding besides its ranks.
struct Spec {
    name: &'static str,
    /// File name of the ranks in tiktoken's format.
    ranks_file: &'static str,
    /// Number of lines (mergeable tokens) the ranks file must have.
    ranks_len: usize,
    pattern: &'static str,
    special_tokens: &'static [(&'static str, Rank)],
}

static SPECS: [Spec; 1] = [Spec {
    name: O200K_BASE,
    ranks_file: "o200k_base.tiktoken",
    ranks_len: 199_998,
    pattern: O200K_BASE_RUNTIME_PATTERN,
    special_tokens: &[("<|endoftext|>", 199_999), ("<|endofprompt|>", 200_018)],
}];

/// One slot per entry of [`SPECS`], same order.
static LOADED: [OnceLock<Encoding>; 1] = [OnceLock::new()];

fn lookup(name: &str) -> Result<usize> {
    SPECS.iter().position(|s| s.name == name).ok_or_else(|| {
        Error::Value(format!(
            "unknown encoding {name:?}; expected one of: {}",
            ENCODINGS.join(", ")
        ))
    })
}

/// A ready-to-use byte-pair encoding.
pub struct Encoding {
    name: &'static str,
    bpe: CoreBPE,
}

impl std::fmt::Debug for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoding")
            .field("name", &self.name)
            .finish()
    }
}

impl Encoding {
    /// Builds encoding `name` from the contents of its `.tiktoken` ranks file.
    pub fn from_tiktoken_ranks(name: &str, ranks_file: &[u8]) -> Result<Self> {
        let spec = &SPECS[lookup(name)?];
        let ranks = parse_ranks(spec, ranks_file)?;
        let specials = spec
            .special_tokens
            .iter()
            .map(|&(text, rank)| (text.to_owned(), rank))
            .collect();
        let bpe = CoreBPE::new(ranks, specials, spec.pattern)
            .map_err(|e| Error::Value(format!("cannot build encoding {name:?}: {e}")))?;
        Ok(Self {
            name: spec.name,
            bpe,
        })
    }

    /// The encoding's name (`"o200k_base"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The number of tokens in `text`, special-token strings counted as plain text.
    pub fn count(&self, text: &str) -> Result<usize> {
        // CoreBPE has no count-only path; the token vector is one allocation of
        // 4 bytes per token, small next to the merge work.
        Ok(self.encode(text)?.len())
    }

    /// The token ids of `text`, special-token strings encoded as plain text
    /// (tiktoken's `encode_ordinary`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        check_whitespace_runs(text, MAX_WHITESPACE_RUN)?;
        Ok(self.bpe.encode_ordinary(text))
    }
}

/// The longest whitespace run the pre-tokenizer can take: the backtracking stack
/// (one entry per 256 whitespace characters, 1,000,000 entries at most) would
/// overflow, and `CoreBPE` panics on regex errors, past ~256 million.
const MAX_WHITESPACE_RUN: usize = 200_000_000;

/// Rejects text with a whitespace run over `max` characters. Runs are at most as
/// long as the text's byte length, so ordinary texts skip the scan.
fn check_whitespace_runs(text: &str, max: usize) -> Result<()> {
    if text.len() <= max {
        return Ok(());
    }
    let mut run = 0usize;
    for c in text.chars() {
        // `char::is_whitespace` is Unicode White_Space, the pattern's `\s`.
        run = if c.is_whitespace() { run + 1 } else { 0 };
        if run > max {
            return Err(Error::Value(format!(
                "text has a run of more than {max} whitespace characters, which the \
                 tokenizer cannot take"
            )));
        }
    }
    Ok(())
}

/// Parses and validates a `.tiktoken` file: `base64(token) rank` per line.
fn parse_ranks(spec: &Spec, data: &[u8]) -> Result<FxHashMap<Vec<u8>, Rank>> {
    let bad = |line: usize, what: &str| {
        Error::Value(format!(
            "invalid ranks file {} (line {line}): {what}",
            spec.ranks_file
        ))
    };
    let mut ranks: FxHashMap<Vec<u8>, Rank> = FxHashMap::default();
    ranks.reserve(spec.ranks_len);
    let mut seen = vec![false; spec.ranks_len];
    let mut lines = 0usize;
    for (index, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let lineno = index + 1;
        let sep = memchr::memchr(b' ', line).ok_or_else(|| bad(lineno, "no space"))?;
        let token = base64::engine::general_purpose::STANDARD
            .decode(&line[..sep])
            .map_err(|_| bad(lineno, "token is not base64"))?;
        let rank: Rank = std::str::from_utf8(&line[sep + 1..])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(lineno, "rank is not an integer"))?;
        // CoreBPE asserts ranks are unique; ranks must also leave room for the
        // special tokens, which follow the mergeable ones.
        let slot = seen
            .get_mut(rank as usize)
            .ok_or_else(|| bad(lineno, "rank out of range"))?;
        if std::mem::replace(slot, true) {
            return Err(bad(lineno, "duplicate rank"));
        }
        if token.is_empty() || ranks.insert(token, rank).is_some() {
            return Err(bad(lineno, "empty or duplicate token"));
        }
        lines += 1;
    }
    if lines != spec.ranks_len {
        return Err(Error::Value(format!(
            "invalid ranks file {}: {lines} tokens, expected {}",
            spec.ranks_file, spec.ranks_len
        )));
    }
    // Every piece must be encodable: the merge starts from single bytes.
    if (0..=255u8).any(|b| !ranks.contains_key(&[b][..])) {
        return Err(Error::Value(format!(
            "invalid ranks file {}: a single-byte token is missing",
            spec.ranks_file
        )));
    }
    Ok(ranks)
}

/// The file name of `encoding`'s ranks (`"o200k_base.tiktoken"`); unknown encodings
/// are an [`Error::Value`].
pub fn ranks_file_name(encoding: &str) -> Result<&'static str> {
    Ok(SPECS[lookup(encoding)?].ranks_file)
}

/// The encoding if it has been installed, `None` if not yet; unknown names are an
/// [`Error::Value`].
pub fn loaded_encoding(encoding: &str) -> Result<Option<&'static Encoding>> {
    Ok(LOADED[lookup(encoding)?].get())
}

/// Builds `encoding` from its ranks file contents and installs it for the process.
/// Installing an already installed encoding returns the installed one unchanged
/// (without parsing `ranks_file`).
pub fn install_encoding(encoding: &str, ranks_file: &[u8]) -> Result<&'static Encoding> {
    let slot = &LOADED[lookup(encoding)?];
    if let Some(installed) = slot.get() {
        return Ok(installed);
    }
    let built = Encoding::from_tiktoken_ranks(encoding, ranks_file)?;
    Ok(slot.get_or_init(|| built))
}

fn installed(encoding: &str) -> Result<&'static Encoding> {
    loaded_encoding(encoding)?.ok_or_else(|| {
        Error::Value(format!(
            "encoding {encoding:?} is not loaded; install its ranks with install_encoding first"
        ))
    })
}

/// The number of tokens in `text` under `encoding` (special-token strings count as
/// plain text). The encoding must have been installed ([`install_encoding`]).
pub fn count_tokens(text: &str, encoding: &str) -> Result<usize> {
    installed(encoding)?.count(text)
}

/// The token ids of `text` under `encoding` (tiktoken's `encode_ordinary`). The
/// encoding must have been installed ([`install_encoding`]).
pub fn encode(text: &str, encoding: &str) -> Result<Vec<u32>> {
    installed(encoding)?.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/tokenwire/data")
    }

    fn o200k() -> &'static Encoding {
        let path = data_dir().join(ranks_file_name(O200K_BASE).unwrap());
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        install_encoding(O200K_BASE, &bytes).unwrap()
    }

    #[test]
    fn known_counts_and_ids() {
        let enc = o200k();
        // Ids from OpenAI's tiktoken (o200k_base).
        assert_eq!(enc.encode("hello world").unwrap(), vec![24912, 2375]);
        assert_eq!(enc.count("").unwrap(), 0);
        assert_eq!(count_tokens("hello world", O200K_BASE).unwrap(), 2);
        assert_eq!(encode("", O200K_BASE).unwrap(), Vec::<u32>::new());
        assert_eq!(enc.name(), O200K_BASE);
    }

    #[test]
    fn special_tokens_are_plain_text() {
        let enc = o200k();
        let ids = enc.encode("<|endoftext|>").unwrap();
        assert!(ids.len() > 1, "{ids:?}");
        assert!(!ids.contains(&199_999));
        assert!(!enc.encode("a<|endofprompt|>b").unwrap().contains(&200_018));
    }

    #[test]
    fn round_trip_through_ranks() {
        // Decoding ids with the ranks file gives back the text's bytes.
        let enc = o200k();
        let bytes = std::fs::read(data_dir().join("o200k_base.tiktoken")).unwrap();
        let mut by_rank: FxHashMap<u32, Vec<u8>> = FxHashMap::default();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let sep = line.iter().position(|&b| b == b' ').unwrap();
            let token = base64::engine::general_purpose::STANDARD
                .decode(&line[..sep])
                .unwrap();
            let rank = std::str::from_utf8(&line[sep + 1..])
                .unwrap()
                .parse()
                .unwrap();
            by_rank.insert(rank, token);
        }
        for text in [
            "The quick brown fox — 速い茶色の狐 🦊 jumps, isn't it?\r\n\n  \tx = 1234567;",
            "    indented\n\n\n\tcode()  \n",
            "",
        ] {
            let decoded: Vec<u8> = enc
                .encode(text)
                .unwrap()
                .iter()
                .flat_map(|id| by_rank[id].iter().copied())
                .collect();
            assert_eq!(decoded, text.as_bytes());
        }
    }

    #[test]
    fn long_runs_do_not_overflow_the_regex() {
        // tiktoken's pattern overflows fancy-regex's backtracking stack on a run of a
        // million whitespace characters followed by non-whitespace (the `\s+(?!\S)`
        // branch); the runtime spelling does not.
        let enc = o200k();
        let n = 1_050_000;
        let spaces = " ".repeat(n);
        // The run backs off one space for the word (` a` is one token), and the rest
        // encodes as the run of `n - 1` spaces at the end of a text does.
        assert_eq!(
            enc.count(&(spaces.clone() + "a")).unwrap(),
            enc.count(&spaces[1..]).unwrap() + 1
        );
        let tabs_nbsp: String = "\t\u{a0}".repeat(n / 2) + ".";
        assert!(enc.count(&tabs_nbsp).unwrap() > 0);
    }

    #[test]
    fn whitespace_run_limit() {
        assert!(check_whitespace_runs("a   b", 3).is_ok());
        assert!(check_whitespace_runs("\u{3000}\u{3000}\u{3000}", 3).is_ok());
        assert!(matches!(
            check_whitespace_runs("a \t\n\u{a0}b", 3),
            Err(Error::Value(m)) if m.contains("more than 3 whitespace")
        ));
        assert!(check_whitespace_runs("  x  x  ", 2).is_ok());
    }

    /// Every match of `pattern` in `text`, as byte ranges.
    fn matches(re: &fancy_regex::Regex, text: &str) -> Vec<(usize, usize)> {
        re.find_iter(text)
            .map(|m| {
                let m = m.unwrap();
                (m.start(), m.end())
            })
            .collect()
    }

    #[test]
    fn runtime_pattern_splits_like_the_published_one() {
        let published = fancy_regex::Regex::new(O200K_BASE_PATTERN).unwrap();
        let runtime = fancy_regex::Regex::new(O200K_BASE_RUNTIME_PATTERN).unwrap();
        // Every string of up to 6 characters over an alphabet with each class the
        // pattern tells apart (Lu, Ll, Lo, M, N, newline, other whitespace, space,
        // punctuation, apostrophe)...
        let alphabet = [
            ' ', '\t', '\n', '\u{a0}', 'a', 'B', '\u{4e00}', '\u{301}', '1', '.', '\'',
        ];
        let mut text = String::new();
        let mut checked = 0usize;
        let mut idx = vec![0usize; 0];
        loop {
            text.clear();
            text.extend(idx.iter().map(|&i| alphabet[i]));
            assert_eq!(
                matches(&published, &text),
                matches(&runtime, &text),
                "{text:?}"
            );
            checked += 1;
            // Next string in length-then-lexicographic order.
            let mut pos = idx.len();
            loop {
                if pos == 0 {
                    idx.insert(0, 0);
                    idx.iter_mut().for_each(|i| *i = 0);
                    break;
                }
                pos -= 1;
                idx[pos] += 1;
                if idx[pos] < alphabet.len() {
                    break;
                }
                idx[pos] = 0;
            }
            if idx.len() > 5 {
                break;
            }
        }
        assert_eq!(
            checked,
            (0..=5).map(|n| alphabet.len().pow(n)).sum::<usize>()
        );
        // ...and runs around the 256-character blocks, before each kind of character.
        for len in [255, 256, 257, 258, 511, 512, 513, 514, 1000, 4097] {
            for ws in [" ", "\t", "\u{3000}", " \t"] {
                for next in ["", "a", "A", "1", ".", "\n", "\u{301}", "'s"] {
                    let run: String = ws.chars().cycle().take(len).collect();
                    let text = format!("x{run}{next}");
                    assert_eq!(
                        matches(&published, &text),
                        matches(&runtime, &text),
                        "{len} {ws:?} {next:?}"
                    );
                }
            }
        }
    }

    /// The ranges of a regex character class, as the regex engine sees them.
    fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
        use regex_syntax::hir::{Class, HirKind};
        let hir = regex_syntax::parse(pattern).unwrap();
        match hir.kind() {
            HirKind::Class(Class::Unicode(class)) => class
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
            HirKind::Literal(lit) => {
                let c = std::str::from_utf8(&lit.0).unwrap().chars().next().unwrap();
                vec![(u32::from(c), u32::from(c))]
            }
            other => panic!("{pattern}: not a class: {other:?}"),
        }
    }

    fn regex_syntax_version() -> String {
        let lock = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"),
        )
        .unwrap();
        let at = lock.find("name = \"regex-syntax\"\nversion = \"").unwrap();
        let rest = &lock[at..];
        let version = rest.split('"').nth(3).unwrap();
        version.to_owned()
    }

    /// The pure twin's pre-tokenizer table: every code point the o200k pattern's
    /// classes distinguish, as the regex engine linked here classifies it.
    fn pretokenizer_table() -> String {
        // One letter per partition cell of the pattern's classes:
        // u = Lu|Lt, l = Ll, o = Lm|Lo, m = M, n = N, s = \s (White_Space).
        let cells = [
            ('u', r"[\p{Lu}\p{Lt}]"),
            ('l', r"\p{Ll}"),
            ('o', r"[\p{Lm}\p{Lo}]"),
            ('m', r"\p{M}"),
            ('n', r"\p{N}"),
            ('s', r"\s"),
        ];
        let mut cell = vec![b'-'; 0x11_0000];
        for (letter, pattern) in cells {
            for (start, end) in class_ranges(pattern) {
                for cp in start..=end {
                    assert_eq!(cell[cp as usize], b'-', "U+{cp:04X} is in two cells");
                    cell[cp as usize] = letter as u8;
                }
            }
        }
        let mut out = format!(
            "# o200k_base pre-tokenizer character classes for the pure-Python twin.\n\
             # Generated by `TOKENWIRE_UPDATE_DATA=1 cargo test -p tokenwire-core tokens::` from\n\
             # the Unicode tables of regex-syntax {} (the engine of the native pre-tokenizer).\n\
             # `START END CELL` (hex, inclusive): u = Lu|Lt, l = Ll, o = Lm|Lo, m = M, n = N,\n\
             # s = White_Space; code points not listed are in none of them.\n\
             # `fold C X...`: the characters `(?i:C)` matches, for the contraction suffixes.\n",
            regex_syntax_version()
        );
        for c in "stremvld".chars() {
            let mut line = format!("fold {c}");
            for (start, end) in class_ranges(&format!("(?i:{c})")) {
                for cp in start..=end {
                    line.push_str(&format!(" {cp:04X}"));
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        let mut cp = 0usize;
        while cp < cell.len() {
            let letter = cell[cp];
            let mut end = cp;
            while end + 1 < cell.len() && cell[end + 1] == letter {
                end += 1;
            }
            if letter != b'-' {
                out.push_str(&format!("{cp:04X} {end:04X} {}\n", letter as char));
            }
            cp = end + 1;
        }
        out
    }

    #[test]
    fn pure_twin_pretokenizer_table_matches_the_regex_engine() {
        let path = data_dir().join("pretokenizer_classes.txt");
        let expected = pretokenizer_table();
        if std::env::var_os("TOKENWIRE_UPDATE_DATA").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            shipped == expected,
            "{} is stale: regenerate it with `TOKENWIRE_UPDATE_DATA=1 cargo test -p tokenwire-core tokens::`",
            path.display()
        );
    }

    #[test]
    fn unknown_encoding_is_a_value_error() {
        assert!(matches!(
            count_tokens("x", "cl100k_base"),
            Err(Error::Value(m)) if m.contains("unknown encoding")
        ));
        assert!(matches!(ranks_file_name("nope"), Err(Error::Value(_))));
        assert!(matches!(
            install_encoding("nope", b""),
            Err(Error::Value(_))
        ));
    }

    #[test]
    fn bad_ranks_files_are_value_errors() {
        let err = |data: &[u8]| match Encoding::from_tiktoken_ranks(O200K_BASE, data) {
            Err(Error::Value(m)) => m,
            other => panic!("expected a value error, got {other:?}"),
        };
        assert!(err(b"").contains("0 tokens"));
        assert!(err(b"IQ==\n").contains("no space"));
        assert!(err(b"!!!! 0\n").contains("not base64"));
        assert!(err(b"IQ== x\n").contains("not an integer"));
        assert!(err(b"IQ== 0\nIg== 0\n").contains("duplicate rank"));
        assert!(err(b"IQ== 0\nIQ== 1\n").contains("duplicate token"));
        assert!(err(b"IQ== 999999\n").contains("out of range"));
        // Right length, but a single byte missing.
        let mut file = Vec::new();
        for rank in 0..199_998u32 {
            let token = if rank < 255 {
                vec![rank as u8]
            } else {
                format!("t{rank}").into_bytes()
            };
            file.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(token)
                    .as_bytes(),
            );
            file.extend_from_slice(format!(" {rank}\n").as_bytes());
        }
        assert!(err(&file).contains("single-byte token is missing"));
    }
}
