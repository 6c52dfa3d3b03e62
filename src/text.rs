//! Text that leaves the process: the characters HTTP refuses in a request, and control characters
//! escaped before anything is printed.
//!
//! A plan comes from a pull request, so its text is hostile until checked. A line break in a
//! header or a URL would change the request (a header of its own, another host); printed, it
//! would start a line of its own, where a CI runner reads `::error ...` as a command and a
//! terminal obeys an escape sequence. Plan validation refuses the first kind with
//! [`forbidden_in_header`] and [`forbidden_in_url`]; every printing path escapes the rest with
//! [`escape_controls`] or [`escape_line`].

use std::borrow::Cow;

/// The first character HTTP forbids in a header value (RFC 9110: a control character other
/// than tab, i.e. NUL, CR, LF, the other C0 controls, and DEL).
pub fn forbidden_in_header(s: &str) -> Option<char> {
    s.chars().find(|&c| (c < ' ' && c != '\t') || c == '\u{7f}')
}

/// The first character that may not stand in a URL as written: any control character (tab
/// included: URL parsers drop tab, CR and LF silently, so the URL sent would not be the URL
/// written, and a NUL in the user part moves the host) and any white space.
pub fn forbidden_in_url(s: &str) -> Option<char> {
    s.chars().find(|&c| c.is_control() || c.is_whitespace())
}

/// A character for a message: `U+000A (line feed)`.
pub fn describe(c: char) -> String {
    let name = match c {
        '\0' => " (NUL)",
        '\t' => " (tab)",
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\u{7}' => " (bell)",
        '\u{1b}' => " (escape)",
        '\u{7f}' => " (DEL)",
        ' ' => " (space)",
        _ => "",
    };
    format!("U+{:04X}{name}", c as u32)
}

/// Whether `c` must not reach a terminal or a CI log as it is: control characters (C0 but
/// line feed and tab, DEL, C1), the Unicode line and paragraph separators, and the bidirectional
/// overrides that make text read other than it is.
fn unprintable(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

fn escape_where(s: &str, bad: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text for a terminal or a CI log: every control character but line feed and tab written as an
/// escape (`\r`, `\u{1b}`), so no carriage return can start a line the runner reads and no
/// escape sequence reaches the terminal. Line feeds stay: this is for whole messages, whose
/// lines are ours; a value from a plan goes through [`escape_line`] first.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_where(s, unprintable)
}

/// A value for one line of output: [`escape_controls`], and line feeds and tabs escaped too.
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| unprintable(c) || c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_forbids_controls_but_tab_in_header_values() {
        assert_eq!(forbidden_in_header("Bearer a\tb"), None);
        assert_eq!(forbidden_in_header("é ünïcode"), None);
        for bad in ["a\rb", "a\nb", "a\0b", "a\u{7}b", "a\u{1b}b", "a\u{7f}b"] {
            assert!(forbidden_in_header(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn urls_refuse_every_control_and_white_space() {
        assert_eq!(forbidden_in_url("http://h:1/a?b=c"), None);
        assert_eq!(
            forbidden_in_url("http://127.0.0.1:9\0@other.host/"),
            Some('\0')
        );
        assert_eq!(forbidden_in_url("http://h/\t"), Some('\t'));
        assert_eq!(forbidden_in_url("http://h/a b"), Some(' '));
        assert_eq!(forbidden_in_url("http://h/\u{85}"), Some('\u{85}'));
        assert_eq!(describe('\n'), "U+000A (line feed)");
        assert_eq!(describe('\u{9b}'), "U+009B");
    }

    #[test]
    fn printed_text_has_no_control_left() {
        let s = "ok\r\n::error title=x::y\u{1b}[31m\u{9b}2J\u{7f}\u{202e}";
        let e = escape_controls(s);
        assert_eq!(
            e,
            "ok\\r\n::error title=x::y\\u{1b}[31m\\u{9b}2J\\u{7f}\\u{202e}"
        );
        assert_eq!(
            escape_line(s),
            "ok\\r\\n::error title=x::y\\u{1b}[31m\\u{9b}2J\\u{7f}\\u{202e}"
        );
        assert!(matches!(escape_controls("plain\ttext\n"), Cow::Borrowed(_)));
    }
}
