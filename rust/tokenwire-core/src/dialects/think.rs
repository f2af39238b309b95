//! The `think_tags` stream option: `<think>…</think>` blocks inside the text content
//! become reasoning.
//!
//! Some OpenAI-compatible servers (DeepSeek-R1 and Qwen3 distills on vLLM, LM Studio,
//! Ollama, Cerebras, …) put a model's reasoning inside the answer text between
//! `<think>` and `</think>`. With the option on, the dialect's text content (not its
//! separate reasoning fields) goes through [`ThinkTags`]:
//!
//! - Outside a block, text is text until the exact five-letter tag `<think>`; inside,
//!   everything is reasoning until the exact `</think>`. Tags are case-sensitive and
//!   take no spaces or attributes; the tags themselves are dropped. Blocks may appear
//!   anywhere and any number of times; text before, between and after them is kept
//!   byte for byte (whitespace after `</think>` included). Blocks do not nest: a
//!   `<think>` inside a block is reasoning text, and a `</think>` outside one is text.
//! - Tags may be split anywhere across deltas and chunks (down to one character per
//!   delta): text ending in a proper prefix of the tag being looked for (`<`, `<th`,
//!   `</thin`, …) is held back until the next text decides it. Held-back text is
//!   released by the next text, before the choice's `Finish`, at the dialect's
//!   terminal marker and in `finish()`; it is emitted as what it is at that point
//!   (text outside a block, reasoning inside one). A block still open at the end is
//!   all reasoning.
//!
//! Roo-Code's `XmlMatcher` (`src/utils/xml-matcher.ts`), which its OpenAI, Ollama, LM
//! Studio and Cerebras handlers use, differs on purpose: it opens a block only at the
//! very first character of the stream (so `"\n<think>"` or a second block stays text),
//! accepts spaces inside the tags (`< think >`) and nests blocks by depth (an inner
//! `<think>…</think>` is kept in the reasoning). Here a block is recognized wherever
//! it starts, only in its exact spelling, and without nesting.

use std::borrow::Cow;

use memchr::{memmem, memrchr};

use super::Sink;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Splitter state of one stream (inert unless enabled).
#[derive(Debug, Default, Clone)]
pub struct ThinkTags {
    enabled: bool,
    /// Inside a `<think>` block.
    inside: bool,
    /// A possible partial tag held back from the end of the last text: a proper,
    /// non-empty prefix of the tag being looked for (always starts with `<`).
    held: String,
}

impl ThinkTags {
    /// A splitter that is on (`enabled`) or passes text through unchanged.
    pub fn new(enabled: bool) -> Self {
        ThinkTags {
            enabled,
            ..Default::default()
        }
    }

    /// Whether the option is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// One piece of text content: emitted as text and reasoning segments.
    pub fn text(&mut self, text: Cow<'_, str>, sink: &mut Sink<'_>) {
        if !self.enabled {
            sink.text(text);
            return;
        }
        if self.held.is_empty() {
            self.split(&text, sink);
        } else {
            let mut joined = std::mem::take(&mut self.held);
            joined.push_str(&text);
            self.split(&joined, sink);
        }
    }

    /// Release the held-back text (end of the content: a finish reason, the terminal
    /// marker, end of input).
    pub fn flush(&mut self, sink: &mut Sink<'_>) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.emit(&held, sink);
        }
    }

    fn split(&mut self, mut s: &str, sink: &mut Sink<'_>) {
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            match memmem::find(s.as_bytes(), tag.as_bytes()) {
                Some(at) => {
                    self.emit(&s[..at], sink);
                    self.inside = !self.inside;
                    s = &s[at + tag.len()..];
                }
                None => {
                    let keep = partial_tag_len(s, tag);
                    let (emit, hold) = s.split_at(s.len() - keep);
                    self.emit(emit, sink);
                    self.held.push_str(hold);
                    return;
                }
            }
        }
    }

    fn emit(&self, s: &str, sink: &mut Sink<'_>) {
        if self.inside {
            sink.reasoning(Cow::Borrowed(s));
        } else {
            sink.text(Cow::Borrowed(s));
        }
    }
}

/// Length of the longest suffix of `s` that is a proper prefix of `tag`. Only `tag`'s
/// first byte is `<`, so the one candidate starts at the last `<` of the tail.
fn partial_tag_len(s: &str, tag: &str) -> usize {
    let b = s.as_bytes();
    let window = b.len().min(tag.len() - 1);
    let tail = &b[b.len() - window..];
    match memrchr(b'<', tail) {
        Some(i) if tag.as_bytes().starts_with(&tail[i..]) => window - i,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reasoning, text};
    use super::*;
    use crate::stream_token::StreamToken;

    /// Feed `pieces` through one splitter (coalescing off), then flush.
    fn split(pieces: &[&str]) -> Vec<StreamToken> {
        let mut think = ThinkTags::new(true);
        let mut out = Vec::new();
        for piece in pieces {
            let mut sink = Sink::new(&mut out, false, 0);
            think.text(Cow::Borrowed(piece), &mut sink);
        }
        let mut sink = Sink::new(&mut out, false, 0);
        think.flush(&mut sink);
        out
    }

    /// Runs of the same kind merged: invariant under any split of the input.
    fn merged(tokens: Vec<StreamToken>) -> Vec<StreamToken> {
        let mut out: Vec<StreamToken> = Vec::new();
        for token in tokens {
            match (out.last_mut(), token) {
                (Some(StreamToken::Text(a)), StreamToken::Text(b))
                | (Some(StreamToken::Reasoning(a)), StreamToken::Reasoning(b)) => a.push_str(&b),
                (_, token) => out.push(token),
            }
        }
        out
    }

    #[test]
    fn blocks_anywhere_text_kept_exactly() {
        assert_eq!(split(&["<think>a</think>b"]), [reasoning("a"), text("b")]);
        assert_eq!(
            split(&["x <think>a</think>\n\nb<think>c\n</think> d"]),
            [
                text("x "),
                reasoning("a"),
                text("\n\nb"),
                reasoning("c\n"),
                text(" d")
            ]
        );
        // Empty segments and an empty block produce nothing.
        assert_eq!(split(&["<think></think>"]), []);
        assert_eq!(split(&["<think>", "</think>", "z"]), [text("z")]);
    }

    #[test]
    fn only_the_exact_tags_and_no_nesting() {
        for literal in [
            "< think>",
            "<Think>",
            "<think >",
            "<thinking>",
            "</think>",
            "<>",
            "<<",
        ] {
            let want = format!("{literal}x");
            assert_eq!(merged(split(&[literal, "x"])), [text(&want)], "{literal}");
        }
        assert_eq!(
            split(&["<think>X<think>Y</think>Z</think>"]),
            [reasoning("X<think>Y"), text("Z</think>")]
        );
        // Unterminated: all reasoning, including a trailing partial close tag.
        assert_eq!(
            split(&["<think>abc</thi"]),
            [reasoning("abc"), reasoning("</thi")]
        );
        assert_eq!(split(&["a<thin"]), [text("a"), text("<thin")]);
    }

    #[test]
    fn partial_tags_are_held_back_until_decided() {
        let one_by_one: Vec<String> = "a<think>b</think>c".chars().map(String::from).collect();
        let pieces: Vec<&str> = one_by_one.iter().map(String::as_str).collect();
        assert_eq!(split(&pieces), [text("a"), reasoning("b"), text("c")]);
        // A held "<" that turns out not to be a tag is released with what follows.
        assert_eq!(split(&["a<", "b"]), [text("a"), text("<b")]);
        // Outside a block only `<think>` is awaited: "</" is not held.
        assert_eq!(split(&["a</", "think>"]), [text("a</"), text("think>")]);
        assert_eq!(
            split(&["<think>r<", "/think>t"]),
            [reasoning("r"), text("t")]
        );
        assert_eq!(
            split(&["<think>r</", "x"]),
            [reasoning("r"), reasoning("</x")]
        );
        // Only the tail can be held, and only a prefix of the awaited tag.
        assert_eq!(split(&["<a<th", "x"]), [text("<a"), text("<thx")]);
        assert_eq!(split(&["é<", "think>ü"]), [text("é"), reasoning("ü")]);
    }

    #[test]
    fn every_split_gives_the_same_runs() {
        let doc = "pre <think>one <b>two</b></thin</think>mid<<think><think>x</think></think>post<";
        let whole = merged(split(&[doc]));
        assert_eq!(
            whole,
            [
                text("pre "),
                reasoning("one <b>two</b></thin"),
                text("mid<"),
                reasoning("<think>x"),
                text("</think>post<"),
            ]
        );
        for i in 0..=doc.len() {
            for j in i..=doc.len() {
                let (Some(a), Some(b), Some(c)) = (doc.get(..i), doc.get(i..j), doc.get(j..))
                else {
                    continue;
                };
                assert_eq!(merged(split(&[a, b, c])), whole, "{i} {j}");
            }
        }
    }

    #[test]
    fn disabled_passes_text_through() {
        let mut think = ThinkTags::new(false);
        assert!(!think.enabled());
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, false, 0);
        think.text(Cow::Borrowed("<think>a</think>"), &mut sink);
        think.flush(&mut sink);
        assert_eq!(out, [text("<think>a</think>")]);
    }

    #[test]
    fn partial_tag_len_cases() {
        assert_eq!(partial_tag_len("", OPEN), 0);
        assert_eq!(partial_tag_len("<", OPEN), 1);
        assert_eq!(partial_tag_len("ab<thin", OPEN), 5);
        assert_eq!(partial_tag_len("<think", OPEN), 6);
        assert_eq!(partial_tag_len("<think>", OPEN), 0);
        assert_eq!(partial_tag_len("</think", CLOSE), 7);
        assert_eq!(partial_tag_len("</think", OPEN), 0);
        assert_eq!(partial_tag_len("<t<", OPEN), 1);
    }
}
