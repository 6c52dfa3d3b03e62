//! Secrets are never printed: every line the binary writes to the console and every report it
//! writes goes through one [`Redactor`], which replaces each known secret with `***`.
//!
//! What is secret, collected once before anything is printed:
//! - `vars` marked `secret: true`, and values read from environment variables named like
//!   `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*WEBHOOK*`, `*KEY*` (the plan hands them over:
//!   `Plan::register_secrets`);
//! - the values of credential headers the plan sets (`Authorization`, `Cookie`, `X-Api-Key`, any
//!   header named like a token, key, secret, session or password), whole and without their
//!   scheme word (`Bearer`, `Basic`);
//! - the user and password of every URL the plan or the command line names;
//! - the process's own environment variables named like secrets (`GITHUB_TOKEN`,
//!   `SLACK_WEBHOOK_URL`, ...), when long enough to be told apart from ordinary text.
//!
//! Besides, any `scheme://user:password@` in printed text loses its user info, whoever put it
//! there. Values a VU captures at run time (tokens, cookies) stay inside that VU: nothing the
//! tool prints or writes is made from a response, so they have no way out to begin with.
//!
//! The redactor is process-wide ([`global`], [`extend`]) so `main` can redact even the error
//! that ends the run. What goes to the console through it ([`redact`], the printing macros) also
//! has its control characters escaped. Each secret is also matched in the forms reports may give it: JSON-escaped,
//! HTML-escaped and percent-encoded.

use std::borrow::Cow;
use std::sync::RwLock;

/// Put in place of a secret.
pub const MASK: &str = "***";

/// Secrets shorter than this are not masked: they cannot be told apart from ordinary words and
/// numbers, and masking them would garble every report.
pub const MIN_SECRET_LEN: usize = 4;

/// Environment variables of the process are masked from this length on (the plan's own secrets
/// from [`MIN_SECRET_LEN`]): a variable like `KEYBOARD=us` is not a secret.
const MIN_ENV_SECRET_LEN: usize = 8;

/// Replaces known secrets with [`MASK`].
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a secret and the forms reports may give it.
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.chars().count() < MIN_SECRET_LEN || secret == MASK {
            return;
        }
        let forms = [
            secret.to_string(),
            json_escaped(secret),
            html_escaped(secret),
            percent_encoded(secret),
        ];
        for f in forms {
            if !self.secrets.contains(&f) {
                self.secrets.push(f);
            }
        }
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// Adds the user and password of a URL, if it has them.
    pub fn add_url(&mut self, url: &str) {
        let Ok(u) = reqwest::Url::parse(url.trim()) else {
            return;
        };
        if let Some(p) = u.password() {
            self.add(p);
            self.add(&percent_decoded(p));
            if !u.username().is_empty() {
                self.add(&format!("{}:{p}", u.username()));
            }
        }
    }

    /// Adds a credential header's value: whole, and without a leading scheme word.
    pub fn add_credential(&mut self, value: &str) {
        // `Bearer ` before a templated token: the scheme word alone is no secret, and masking
        // it would garble every message that names the header's template.
        let word = value.trim();
        if value.ends_with(char::is_whitespace) && word.chars().all(|c| c.is_ascii_alphabetic()) {
            return;
        }
        self.add(value);
        if let Some((scheme, rest)) = value.trim().split_once(' ') {
            if scheme.chars().all(|c| c.is_ascii_alphabetic()) {
                self.add(rest);
            }
        }
        // A cookie header: each value.
        for pair in value.split(';') {
            if let Some((_, v)) = pair.split_once('=') {
                self.add(v);
            }
        }
    }

    /// The process's environment variables named like secrets.
    pub fn add_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in vars {
            if is_secret_name(&k) && v.trim().chars().count() >= MIN_ENV_SECRET_LEN {
                self.add(&v);
                self.add_url(&v);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The text with every secret, and every URL's user info, masked.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        match mask_userinfo(&out) {
            Some(masked) => Cow::Owned(masked),
            None => out,
        }
    }

    /// [`redact`](Self::redact) for bytes that may not be UTF-8 (they are left as they are
    /// where they are not).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match self.redact(&String::from_utf8_lossy(bytes)) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(o) => Cow::Owned(o.into_bytes()),
        }
    }

    /// Every string in a JSON value, masked in place (keys too), except the values of the
    /// object keys in `keep` (serialized histograms: base64 a secret could match by chance).
    pub fn redact_json(&self, v: &mut serde_json::Value, keep: &[&str]) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                if let Cow::Owned(o) = self.redact(s) {
                    *s = o;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_json(i, keep)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut val) in entries {
                    if !keep.contains(&k.as_str()) {
                        self.redact_json(&mut val, keep);
                    }
                    map.insert(self.redact(&k).into_owned(), val);
                }
            }
            _ => {}
        }
    }
}

/// Header names whose values are credentials.
pub fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "auth",
        "cookie",
        "token",
        "key",
        "secret",
        "session",
        "password",
        "signature",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Environment variable names whose values are secrets (`*TOKEN*`, `*SECRET*`, `*PASSWORD*`,
/// `*WEBHOOK*`, `*KEY*`).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "WEBHOOK",
        "KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// `scheme://user:pass@host` → `scheme://***@host`, for every URL in the text; `None` when there
/// is none.
fn mask_userinfo(text: &str) -> Option<String> {
    if !text.contains("://") || !text.contains('@') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first of these; user info is what stands before an `@` in it.
        let end = tail
            .find(|c: char| {
                matches!(
                    c,
                    '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | ')' | ']'
                ) || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) if at > 0 => {
                changed |= &authority[..at] != MASK;
                out.push_str(MASK);
                rest = &tail[at..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn json_escaped(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q[1..q.len() - 1].to_string()
}

fn html_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn percent_encoded(s: &str) -> String {
    crate::url::urlencode(s)
}

fn percent_decoded(s: &str) -> String {
    crate::url::urldecode(s)
}

static GLOBAL: RwLock<Option<Redactor>> = RwLock::new(None);

/// Adds to the process-wide redactor.
pub fn extend(f: impl FnOnce(&mut Redactor)) {
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Redactor::new));
}

/// A copy of the process-wide redactor.
pub fn global() -> Redactor {
    GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Text for the console: masked with the process-wide redactor, and every control character but
/// line feed and tab escaped (`crate::text::escape_controls`), so that nothing printed can move
/// the cursor, start a line a CI runner reads as a command, or colour the terminal.
pub fn redact(text: &str) -> String {
    let g = GLOBAL.read().unwrap_or_else(|e| e.into_inner());
    let masked = match g.as_ref() {
        Some(r) => r.redact(text),
        None => mask_userinfo(text).map_or(Cow::Borrowed(text), Cow::Owned),
    };
    crate::text::escape_controls(&masked).into_owned()
}

/// `print!` through the process-wide redactor.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let s = $crate::redact::redact(&format!($($t)*));
        let _ = std::io::stdout().write_all(s.as_bytes());
    }};
}

/// `println!` through the process-wide redactor.
macro_rules! outln {
    () => { $crate::redact::out!("\n") };
    ($($t:tt)*) => {{ $crate::redact::out!("{}\n", format_args!($($t)*)) }};
}

/// `eprint!` through the process-wide redactor.
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let s = $crate::redact::redact(&format!($($t)*));
        let _ = std::io::stderr().write_all(s.as_bytes());
    }};
}

/// `eprintln!` through the process-wide redactor.
macro_rules! errln {
    () => { $crate::redact::err!("\n") };
    ($($t:tt)*) => {{ $crate::redact::err!("{}\n", format_args!($($t)*)) }};
}

pub(crate) use {err, errln, out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_every_form() {
        let mut r = Redactor::new();
        r.add("s3cr3t&<\"x\"");
        r.add("abc");
        let text = "a s3cr3t&<\"x\" b s3cr3t&amp;&lt;&quot;x&quot; c s3cr3t&<\\\"x\\\" d s3cr3t%26%3C%22x%22 abc";
        assert_eq!(r.redact(text), "a *** b *** c *** d *** abc");
    }

    #[test]
    fn the_longest_secret_is_masked_whole() {
        let mut r = Redactor::new();
        r.add("token");
        r.add("token-and-more");
        assert_eq!(r.redact("x token-and-more y token"), "x *** y ***");
    }

    #[test]
    fn url_userinfo_is_masked_wherever_it_appears() {
        let r = Redactor::new();
        assert_eq!(
            r.redact("GET https://bob:hunter2@api.example.com/v1 failed"),
            "GET https://***@api.example.com/v1 failed"
        );
        assert_eq!(
            r.redact("\"http://u@h:1\" and http://h/x@y"),
            "\"http://***@h:1\" and http://h/x@y"
        );
        assert_eq!(r.redact("mail bob@example.com"), "mail bob@example.com");
        assert_eq!(r.redact("https://***@h"), "https://***@h");
    }

    #[test]
    fn credentials_lose_their_scheme_word_and_cookies_split() {
        let mut r = Redactor::new();
        r.add_credential("Bearer eyJhbGciOi.xyz");
        r.add_credential("session=abcdef123; theme=dark-mode");
        assert_eq!(r.redact("token eyJhbGciOi.xyz"), "token ***");
        assert_eq!(r.redact("abcdef123 dark-mode"), "*** ***");
        // The literal text of `Bearer {{token}}` is the scheme word: no secret.
        r.add_credential("Bearer ");
        assert_eq!(r.redact("Bearer x"), "Bearer x");
    }

    #[test]
    fn url_passwords_are_secrets_even_without_the_url() {
        let mut r = Redactor::new();
        r.add_url("https://deploy:p%40ss-word@staging.example.com");
        assert_eq!(r.redact("p@ss-word / p%40ss-word"), "*** / ***");
    }

    #[test]
    fn environment_secrets_need_a_secret_name_and_some_length() {
        let mut r = Redactor::new();
        r.add_env([
            ("GITHUB_TOKEN".to_string(), "ghp_abcdefghijkl".to_string()),
            ("KEYBOARD".to_string(), "us".to_string()),
            ("HOME".to_string(), "/root/home-dir".to_string()),
        ]);
        assert_eq!(
            r.redact("ghp_abcdefghijkl us /root/home-dir"),
            "*** us /root/home-dir"
        );
    }

    #[test]
    fn json_strings_and_keys_are_masked() {
        let mut r = Redactor::new();
        r.add("hunter22");
        let mut v = serde_json::json!({"a": ["x hunter22"], "hunter22": 1, "hist": "hunter22"});
        r.redact_json(&mut v, &["hist"]);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x ***"], "***": 1, "hist": "hunter22"})
        );
    }
}
