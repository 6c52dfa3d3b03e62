//! A cheap lexical pass over the plan text before yaml-rust2 sees it.
//!
//! Two things make this necessary:
//!
//! - yaml-rust2 0.10's scanner cannot tell whether a flow collection that starts where a mapping
//!   key could start (`[` at the beginning of a line, the root, after `- `) is a key until the
//!   collection closes, so it tokenizes the whole collection before the parser sees its first
//!   event. A 2 MB `[1,1,1,...]` costs about 400 MB and a second inside the scanner, long before
//!   the tree builder's node budget can object. Each buffered token also costs work proportional
//!   to the flow depth.
//! - Flow depth beyond 255 makes the scanner fail with "recursion limit exceeded" at the 256th
//!   bracket; we want our own message at the bracket that crosses [`Limits::max_depth`].
//!
//! So this pass counts flow nesting and the tokens inside each top-level flow collection, and
//! refuses control characters YAML does not allow (yaml-rust2 treats NUL as the end of input).
//!
//! It is an approximation of YAML's lexical rules, built to err in one direction only: it may
//! take a bracket inside a string or block scalar for a flow indicator (over-counting), but it
//! only skips text (comments, quoted scalars) where the scanner would not produce tokens either.
//! Quoted scalars are skipped only up to the end of their line, so a misjudged quote can never
//! hide more than the rest of one line. A valid plan is only refused if it holds more than
//! `max_depth` unclosed brackets, or a flow collection with more than three tokens per node of
//! the node budget; both are far beyond anything a plan contains.

use super::node::{Limits, YamlError};

/// Why the pre-scan refused a plan.
pub(super) struct Refusal {
    pub error: YamlError,
    /// For a nesting error, the byte offset of the bracket that went one level too deep.
    pub too_deep_at: Option<usize>,
}

impl From<YamlError> for Refusal {
    fn from(error: YamlError) -> Self {
        Refusal {
            error,
            too_deep_at: None,
        }
    }
}

/// Tokens one top-level flow collection may hold, per node of the budget. A flow node costs at
/// most an anchor, a tag, the node and a separator; three per node on average is already absurd.
const FLOW_TOKENS_PER_NODE: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between tokens, where a new node may start.
    Start,
    /// Inside a plain scalar.
    Plain,
}

pub(super) fn check(text: &str, limits: &Limits) -> Result<(), Refusal> {
    let b = text.as_bytes();
    let max_tokens = limits.max_nodes.saturating_mul(FLOW_TOKENS_PER_NODE);
    let mut depth = 0usize;
    let mut tokens = 0usize;
    let mut mode = Mode::Start;
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;

    let err = |at: usize, line: usize, line_start: usize, message: String| {
        YamlError::new(line, col_of(b, line_start, at), message)
    };

    while i < b.len() {
        let c = b[i];
        if let Some(bad) = disallowed_char(b, i) {
            return Err(Refusal::from(err(
                i,
                line,
                line_start,
                format!("control character U+{bad:04X} is not allowed in a plan"),
            )));
        }
        if c == b'\n' || c == b'\r' {
            // `\r\n` is one line break; a lone `\r` is one too.
            if !(c == b'\r' && b.get(i + 1) == Some(&b'\n')) {
                line += 1;
                line_start = i + 1;
            }
            if depth == 0 {
                mode = Mode::Start;
            }
            i += 1;
            continue;
        }
        let prev_blank = i == line_start || matches!(b[i - 1], b' ' | b'\t');
        if c == b'#' && prev_blank {
            i = end_of_line(b, i);
            continue;
        }
        if c == b' ' || c == b'\t' {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied();
        let in_flow = depth > 0;

        if mode == Mode::Plain {
            if in_flow && is_flow_indicator(c) {
                // Ends the plain scalar; handled as structure below.
            } else if c == b':'
                && next.is_none_or(|n| is_blank(n) || (in_flow && is_flow_indicator(n)))
            {
                mode = Mode::Start;
                tokens += usize::from(in_flow);
                i += 1;
                continue;
            } else {
                i += 1;
                continue;
            }
        }

        // Mode::Start, or a flow indicator ending a plain scalar.
        mode = Mode::Start;
        match c {
            b'[' | b'{' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Refusal {
                        error: err(
                            i,
                            line,
                            line_start,
                            format!("the plan nests deeper than {} levels", limits.max_depth),
                        ),
                        too_deep_at: Some(i),
                    });
                }
                tokens += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                tokens += 1;
                if depth == 0 {
                    tokens = 0;
                }
                i += 1;
            }
            b',' if in_flow => {
                tokens += 1;
                i += 1;
            }
            b'"' | b'\'' => {
                tokens += usize::from(in_flow);
                i = skip_quoted(b, i);
            }
            b'&' | b'!' | b'*' => {
                // Anchor, tag or alias: up to a blank or a flow indicator.
                tokens += usize::from(in_flow);
                i += 1;
                while i < b.len() && !is_blank(b[i]) && !is_flow_indicator(b[i]) {
                    i += 1;
                }
            }
            b'-' | b'?' | b':'
                if next.is_none_or(|n| is_blank(n) || (in_flow && is_flow_indicator(n))) =>
            {
                tokens += usize::from(in_flow);
                i += 1;
            }
            b'-' | b'.' if i == line_start && is_document_marker(b, i) => {
                i += 3;
            }
            _ => {
                tokens += usize::from(in_flow);
                mode = Mode::Plain;
                i += 1;
            }
        }
        if tokens > max_tokens {
            return Err(Refusal::from(err(
                i - 1,
                line,
                line_start,
                format!(
                    "the plan has more than {} nodes in one flow collection",
                    limits.max_nodes
                ),
            )));
        }
    }
    Ok(())
}

/// 1-based column, in characters, of byte `at` on the line starting at byte `line_start`.
fn col_of(b: &[u8], line_start: usize, at: usize) -> usize {
    1 + b[line_start..at]
        .iter()
        .filter(|&&x| x & 0xC0 != 0x80)
        .count()
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_flow_indicator(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

fn end_of_line(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
        i += 1;
    }
    i
}

/// `---` or `...` at the start of a line, followed by a blank or the end.
fn is_document_marker(b: &[u8], i: usize) -> bool {
    let c = b[i];
    b.len() >= i + 3 && b[i + 1] == c && b[i + 2] == c && b.get(i + 3).is_none_or(|&n| is_blank(n))
}

/// Skips a quoted scalar starting at `b[i]`, but never past the end of its line. Returns the index
/// after the closing quote, or of the line break.
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\n' | b'\r' => return j,
            b'\\' if q == b'"' => {
                if matches!(b.get(j + 1), Some(b'\n' | b'\r') | None) {
                    return j + 1;
                }
                j += 2;
            }
            b'\'' if q == b'\'' && b.get(j + 1) == Some(&b'\'') => j += 2,
            c if c == q => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// A character YAML 1.2 does not allow in a stream (outside c-printable), starting at byte `i`.
fn disallowed_char(b: &[u8], i: usize) -> Option<u32> {
    match b[i] {
        b'\t' | b'\n' | b'\r' => None,
        c @ (0..=0x1F | 0x7F) => Some(u32::from(c)),
        // C1 controls U+0080..U+009F (U+0085 NEL is allowed).
        0xC2 => match b.get(i + 1) {
            Some(&c @ 0x80..=0x9F) if c != 0x85 => Some(u32::from(c)),
            _ => None,
        },
        // U+FFFE and U+FFFF.
        0xEF if b.get(i + 1) == Some(&0xBF) => match b.get(i + 2) {
            Some(&c @ (0xBE | 0xBF)) => Some(0xFF00 | u32::from(c)),
            _ => None,
        },
        _ => None,
    }
}
