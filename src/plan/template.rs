//! Request templates: compiled once while the plan is validated, rendered for every request.
//!
//! Templates appear in URLs, headers, query values and bodies. [`compile`] parses the source,
//! resolves every variable through a [`Scope`] (so a misspelled name is a validation error with a
//! suggestion, never a surprise at run time), folds constant values (`vars.*`) into the
//! surrounding text and checks helper arguments. What is left is a short list of segments that
//! [`Template::render`] writes out with no lookups by name. A template whose every part is known
//! at compile time is *static*: [`Template::as_static`] hands out its text, and the engine never
//! renders it per request. [`compile_json`] does the same for JSON bodies, serializing a fully
//! static body once.
//!
//! # Syntax
//!
//! A subset of handlebars, with the same meaning wherever both accept a template:
//!
//! | form | meaning |
//! |---|---|
//! | `{{name}}`, `{{ users.email }}` | a variable (see below) |
//! | `{{{name}}}`, `{{&name}}` | the same: values are never HTML-escaped |
//! | `{{helper arg ...}}` | a helper call; arguments are numbers (`10`, `-5`), `"strings"` or variable paths |
//! | `{{! note }}`, `{{!-- may contain }} --}}` | a comment, dropped |
//! | `\{{` | a literal `{{` (the text up to the next `{{` is not parsed); `\\{{x}}` is a `\` before `x`'s value |
//! | `{{~x}}`, `{{x~}}` | strip the white space before / after the expression (also on comments) |
//!
//! Block helpers (`{{#if}}`, `{{#each}}`, `{{^x}}`, `{{/x}}`, `{{else}}`), partials (`{{> x}}`),
//! decorators, sub-expressions (`(helper x)`), hash arguments (`key=value`) and data variables
//! (`@index`) are compile errors naming their offset.
//!
//! # Names
//!
//! A name is first looked up among the helpers and built-ins below (as in handlebars, helpers win
//! over data with the same name); any other path is resolved by the [`Scope`]: captured values at
//! the top level (`token`), `vars.*`, and a feed's current row under the feed's name
//! (`users.email`).
//!
//! | name | renders |
//! |---|---|
//! | `vu`, `iteration` | the VU number and its iteration number (built-in variables and helpers) |
//! | `scenario`, `env` | the scenario's and the environment's names |
//! | `now` | Unix time in milliseconds |
//! | `uuid` | a random version 4 UUID |
//! | `random_email` | `user_` + 12 random lowercase letters and digits + `@example.com` |
//! | `random_string N` | N random ASCII letters and digits, N from 0 to 1 048 576 (a literal) |
//! | `random_int A B` | a random integer from A to B inclusive (literals, A ≤ B) |
//! | `json x` | the value of `x` as JSON text: a captured JSON value as it is, text that is JSON as that JSON, other text as a JSON string |
//! | `string x` | the value of `x` as text |
//!
//! In a JSON body, a string that is one expression keeps the JSON type of its value
//! ([`compile_json`]): what makes a captured number stay a number.
//!
//! A captured value that is missing when a request is rendered renders as the empty string (the
//! engine counts those separately).

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::distributions::Alphanumeric;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::suggest;

/// The longest `random_string` a template may ask for, so no template can blow up a request.
pub const MAX_RANDOM_STRING: u64 = 1_048_576;

/// Variables every template can use without declaring them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// The VU's number, from 1.
    Vu,
    /// The VU's iteration number, from 0.
    Iteration,
    /// The running scenario's name.
    Scenario,
    /// The environment's name (`--env`).
    Env,
}

impl Builtin {
    fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "vu" => Builtin::Vu,
            "iteration" => Builtin::Iteration,
            "scenario" => Builtin::Scenario,
            "env" => Builtin::Env,
            _ => return None,
        })
    }
}

/// What a variable path resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VarRef {
    /// A captured value: the VU's capture slot.
    Capture(usize),
    /// A column of a data feed's current row.
    Feed {
        feed: usize,
        column: usize,
    },
    Builtin(Builtin),
    /// A value known at compile time (`vars.*`); folded into the text.
    Const(Arc<str>),
}

/// Resolves variable paths while a template compiles.
///
/// Every path a template names (other than helpers and built-ins) is resolved exactly once per
/// occurrence, so an implementation may also record what was used: for example to learn which
/// `vars` a request reads (and so whether an unset `${VAR}` matters).
pub trait Scope {
    /// The variable behind a path such as `token`, `vars.password` or `users.email`. An `Err` is
    /// a lowercase message for the user, e.g. `unknown variable "tokn"; did you mean "token"?`.
    fn resolve(&self, path: &str) -> Result<VarRef, String>;
}

/// What a VU supplies when it renders a request.
pub trait RenderCtx {
    fn capture(&self, slot: usize) -> Option<&str>;
    fn feed(&self, feed: usize, column: usize) -> Option<&str>;
    /// Whether the captured value is a JSON number, boolean, null, object or array, held as its
    /// JSON text (a JSON string is held as its content, and is not).
    fn capture_is_json(&self, _slot: usize) -> bool {
        false
    }
    /// Whether a feed's cell is JSON text: the values `setup` captured keep their JSON type; a
    /// CSV cell is text.
    fn feed_is_json(&self, _feed: usize, _column: usize) -> bool {
        false
    }
    fn vu(&self) -> u64;
    fn iteration(&self) -> u64;
    fn scenario(&self) -> &str;
    fn env(&self) -> &str;
    fn rng(&mut self) -> &mut SmallRng;
    /// Unix time in milliseconds, for `now`. The default reads the system clock.
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A template that does not compile: where (a byte offset in the source) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for TemplateError {}

fn error<T>(offset: usize, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError {
        offset,
        message: message.into(),
    })
}

#[derive(Debug, Clone)]
enum Segment {
    Lit(Box<str>),
    Var(VarRef),
    RandomEmail,
    RandomString(u32),
    Uuid,
    RandomInt(i64, i64),
    Now,
    /// `{{json x}}`: the value as JSON text.
    Json(Box<Segment>),
    /// `{{string x}}`: the value as text, a JSON string in a JSON body.
    Text(Box<Segment>),
}

/// What a value is in a JSON body: text (written as a JSON string) or JSON text (written as
/// it is: a number, a boolean, null, an object or an array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Json,
}

/// Whether `text` is one JSON value on its own (`10`, `true`, `null`, `[1]`, `{"a":1}`,
/// `"quoted"`).
pub fn is_json_text(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// A compiled template: literal text, variables and helper calls, in order.
#[derive(Debug, Clone)]
pub struct Template {
    source: Box<str>,
    segments: Box<[Segment]>,
}

impl Template {
    /// A template that is exactly this text (nothing in it is parsed).
    pub fn literal(text: &str) -> Template {
        let segments: Box<[Segment]> = if text.is_empty() {
            Box::new([])
        } else {
            Box::new([Segment::Lit(text.into())])
        };
        Template {
            source: text.into(),
            segments,
        }
    }

    /// The source text the template was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template renders the same text every time (no variables, no helpers).
    pub fn is_static(&self) -> bool {
        self.as_static().is_some()
    }

    /// The text of a static template.
    pub fn as_static(&self) -> Option<&str> {
        match &*self.segments {
            [] => Some(""),
            [Segment::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Whether the template is one expression that renders a number (`random_int`, `vu`,
    /// `iteration`, `now`): in a JSON body such a leaf is written as a JSON number.
    pub fn yields_number(&self) -> bool {
        matches!(
            &*self.segments,
            [Segment::RandomInt(..)
                | Segment::Now
                | Segment::Var(VarRef::Builtin(Builtin::Vu | Builtin::Iteration))]
        )
    }

    /// Whether the template is one expression and nothing else (`"{{user_id}}"`, not
    /// `"id-{{user_id}}"`): in a JSON body such a value keeps its JSON type.
    pub fn is_one_expression(&self) -> bool {
        matches!(&*self.segments, [s] if !matches!(s, Segment::Lit(_)))
    }

    /// The literal text between the template's expressions (constants folded in).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Lit(l) => Some(&**l),
            _ => None,
        })
    }

    /// The variables the template reads when rendered (constants are folded and not listed).
    pub fn variables(&self) -> impl Iterator<Item = &VarRef> {
        self.segments.iter().filter_map(|s| {
            let mut s = s;
            while let Segment::Json(inner) | Segment::Text(inner) = s {
                s = inner;
            }
            match s {
                Segment::Var(VarRef::Const(_)) => None,
                Segment::Var(v) => Some(v),
                _ => None,
            }
        })
    }

    /// Appends the rendered text to `out`.
    pub fn render(&self, ctx: &mut dyn RenderCtx, out: &mut String) {
        if let Some(s) = self.as_static() {
            out.push_str(s);
            return;
        }
        self.render_to(ctx, out);
    }

    /// Appends the rendered text of a URL template (compiled with [`compile_url`]) to `out`:
    /// every value percent-encoded where a URL cannot hold it as it is
    /// ([`crate::url::push_url_value`]), so a line break or a brace in a captured value is sent
    /// as `%0A` or `%7B`, never dropped or sent raw.
    pub fn render_url(&self, ctx: &mut dyn RenderCtx, out: &mut String) {
        if let Some(s) = self.as_static() {
            out.push_str(s);
            return;
        }
        self.render_to(ctx, &mut UrlOut(out));
    }

    /// Renders into a string of its own (for tests and one-off uses; the engine reuses buffers).
    pub fn render_string(&self, ctx: &mut dyn RenderCtx) -> String {
        let mut out = String::new();
        self.render(ctx, &mut out);
        out
    }

    fn render_to<O: Out>(&self, ctx: &mut dyn RenderCtx, out: &mut O) {
        for seg in self.segments.iter() {
            match seg {
                Segment::Lit(s) => out.lit(s),
                Segment::Var(v) => match v {
                    VarRef::Capture(slot) => {
                        if let Some(s) = ctx.capture(*slot) {
                            out.val(s);
                        }
                    }
                    VarRef::Feed { feed, column } => {
                        if let Some(s) = ctx.feed(*feed, *column) {
                            out.val(s);
                        }
                    }
                    VarRef::Builtin(Builtin::Vu) => out.lit(Digits::u64(ctx.vu()).as_str()),
                    VarRef::Builtin(Builtin::Iteration) => {
                        out.lit(Digits::u64(ctx.iteration()).as_str())
                    }
                    VarRef::Builtin(Builtin::Scenario) => out.val(ctx.scenario()),
                    VarRef::Builtin(Builtin::Env) => out.val(ctx.env()),
                    VarRef::Const(s) => out.val(s),
                },
                Segment::Now => out.lit(Digits::u64(ctx.now_ms()).as_str()),
                Segment::RandomInt(lo, hi) => {
                    let n = ctx.rng().gen_range(*lo..=*hi);
                    out.lit(Digits::i64(n).as_str());
                }
                Segment::Uuid => {
                    let bytes: [u8; 16] = ctx.rng().gen();
                    let mut buf = [0u8; 36];
                    out.lit(format_uuid_v4(bytes, &mut buf));
                }
                Segment::RandomString(n) => {
                    let rng = ctx.rng();
                    out.reserve(*n as usize);
                    for _ in 0..*n {
                        out.ascii(rng.sample(Alphanumeric));
                    }
                }
                Segment::RandomEmail => {
                    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                    let rng = ctx.rng();
                    let mut buf = *b"user_............@example.com";
                    for b in &mut buf[5..17] {
                        *b = ALPHABET[rng.gen_range(0..ALPHABET.len())];
                    }
                    // The buffer is ASCII by construction.
                    out.lit(std::str::from_utf8(&buf).unwrap_or_default());
                }
                Segment::Json(inner) => {
                    let mut text = String::new();
                    let kind = value_of(inner, ctx, &mut text);
                    let mut json = Vec::new();
                    push_json_value(&text, kind, true, &mut json);
                    out.val(std::str::from_utf8(&json).unwrap_or_default());
                }
                Segment::Text(inner) => {
                    let mut text = String::new();
                    value_of(inner, ctx, &mut text);
                    out.val(&text);
                }
            }
        }
    }

    /// Writes a one-expression template ([`Template::is_one_expression`]) as a JSON value:
    /// a value that is JSON (a captured number, boolean, null, object or array; `vu`,
    /// `iteration`, `now`, `random_int`; what `json` gives) as it is, any other as a string.
    fn render_json_value(&self, ctx: &mut dyn RenderCtx, out: &mut Vec<u8>) {
        let [seg] = &*self.segments else {
            return;
        };
        let mut text = String::new();
        let kind = value_of(seg, ctx, &mut text);
        push_json_value(&text, kind, matches!(seg, Segment::Json(_)), out);
    }

    /// The same template with its literal text JSON-escaped, for rendering inside a JSON string.
    fn json_escaped(&self) -> Template {
        let segments = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Lit(text) => {
                    let mut escaped = Vec::with_capacity(text.len());
                    json_escape(text, &mut escaped);
                    Segment::Lit(String::from_utf8(escaped).unwrap_or_default().into())
                }
                other => other.clone(),
            })
            .collect();
        Template {
            source: self.source.clone(),
            segments,
        }
    }
}

/// The value of one expression, written to `out` as text, and what it is in a JSON body.
fn value_of(seg: &Segment, ctx: &mut dyn RenderCtx, out: &mut String) -> Kind {
    match seg {
        Segment::Var(VarRef::Capture(slot)) => match ctx.capture(*slot) {
            Some(v) => {
                out.push_str(v);
                if ctx.capture_is_json(*slot) {
                    Kind::Json
                } else {
                    Kind::Text
                }
            }
            None => Kind::Text,
        },
        Segment::Var(VarRef::Feed { feed, column }) => match ctx.feed(*feed, *column) {
            Some(v) => {
                out.push_str(v);
                if ctx.feed_is_json(*feed, *column) {
                    Kind::Json
                } else {
                    Kind::Text
                }
            }
            None => Kind::Text,
        },
        Segment::Var(VarRef::Builtin(Builtin::Vu | Builtin::Iteration))
        | Segment::Now
        | Segment::RandomInt(..) => {
            one_segment(seg, ctx, out);
            Kind::Json
        }
        Segment::Json(inner) => {
            let mut text = String::new();
            let kind = value_of(inner, ctx, &mut text);
            let mut json = Vec::new();
            push_json_value(&text, kind, true, &mut json);
            out.push_str(std::str::from_utf8(&json).unwrap_or_default());
            Kind::Json
        }
        Segment::Text(inner) => {
            value_of(inner, ctx, out);
            Kind::Text
        }
        other => {
            one_segment(other, ctx, out);
            Kind::Text
        }
    }
}

/// Renders one segment as text.
fn one_segment(seg: &Segment, ctx: &mut dyn RenderCtx, out: &mut String) {
    let t = Template {
        source: Box::from(""),
        segments: Box::new([seg.clone()]),
    };
    t.render_to(ctx, out);
}

/// Writes a value as JSON: JSON text as it is; text as a JSON string, or (`parse`: what
/// `{{json x}}` asks for) as the JSON value it spells when it is one (`10`, `true`, `[1]`).
/// Never invalid JSON: JSON text that does not parse (it cannot come from a capture) is
/// written as a string.
fn push_json_value(text: &str, kind: Kind, parse: bool, out: &mut Vec<u8>) {
    let raw = match kind {
        Kind::Json => is_json_text(text),
        Kind::Text => parse && is_json_text(text),
    };
    if raw {
        out.extend_from_slice(text.trim().as_bytes());
    } else {
        out.push(b'"');
        json_escape(text, out);
        out.push(b'"');
    }
}

/// Where rendered text goes. `lit` takes text that needs no escaping for this output (literal
/// text already prepared at compile time, digits, UUIDs); `val` takes a value that might.
trait Out {
    fn lit(&mut self, s: &str);
    fn val(&mut self, s: &str);
    /// One ASCII letter or digit.
    fn ascii(&mut self, b: u8);
    fn reserve(&mut self, additional: usize);
}

impl Out for String {
    fn lit(&mut self, s: &str) {
        self.push_str(s);
    }
    fn val(&mut self, s: &str) {
        self.push_str(s);
    }
    fn ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
    fn reserve(&mut self, additional: usize) {
        String::reserve(self, additional);
    }
}

/// A URL: values are percent-encoded where a URL cannot hold them.
struct UrlOut<'a>(&'a mut String);

impl Out for UrlOut<'_> {
    fn lit(&mut self, s: &str) {
        self.0.push_str(s);
    }
    fn val(&mut self, s: &str) {
        crate::url::push_url_value(self.0, s);
    }
    fn ascii(&mut self, b: u8) {
        self.0.push(char::from(b));
    }
    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

/// The inside of a JSON string: values are escaped as they are written.
struct JsonOut<'a>(&'a mut Vec<u8>);

impl Out for JsonOut<'_> {
    fn lit(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn val(&mut self, s: &str) {
        json_escape(s, self.0);
    }
    fn ascii(&mut self, b: u8) {
        self.0.push(b);
    }
    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

/// Writes `s` as the inside of a JSON string: quotes, backslashes and control characters
/// escaped, everything else (including non-ASCII) as is.
fn json_escape(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A number's decimal digits on the stack.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn u64(mut n: u64) -> Digits {
        let mut d = Digits {
            buf: [0; 20],
            start: 20,
        };
        loop {
            d.start -= 1;
            d.buf[d.start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return d;
            }
        }
    }

    /// With a leading `-` for negatives; `i64::MIN` has 19 digits, so the sign always fits.
    fn i64(n: i64) -> Digits {
        let mut d = Digits::u64(n.unsigned_abs());
        if n < 0 {
            d.start -= 1;
            d.buf[d.start] = b'-';
        }
        d
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or_default()
    }
}

/// Formats 16 random bytes as a version 4, variant 1 UUID (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-...`).
fn format_uuid_v4(mut bytes: [u8; 16], buf: &mut [u8; 36]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut j = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf[j] = b'-';
            j += 1;
        }
        buf[j] = HEX[usize::from(b >> 4)];
        buf[j + 1] = HEX[usize::from(b & 0xf)];
        j += 2;
    }
    std::str::from_utf8(buf).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Compilation

const HELPERS: &[&str] = &[
    "random_email",
    "random_string",
    "uuid",
    "random_int",
    "vu",
    "iteration",
    "now",
    "json",
    "string",
];
const NAMES: &[&str] = &[
    "random_email",
    "random_string",
    "uuid",
    "random_int",
    "vu",
    "iteration",
    "now",
    "scenario",
    "env",
];

/// Compiles a template, resolving its variables through `scope`.
pub fn compile(src: &str, scope: &dyn Scope) -> Result<Template, TemplateError> {
    compile_with(src, scope, Builder::default())
}

/// Compiles a URL template: the constants folded in (`vars.*`) are percent-encoded where a URL
/// cannot hold them, as [`Template::render_url`] encodes the values it renders.
pub fn compile_url(src: &str, scope: &dyn Scope) -> Result<Template, TemplateError> {
    let b = Builder {
        url: true,
        ..Builder::default()
    };
    compile_with(src, scope, b)
}

fn compile_with(src: &str, scope: &dyn Scope, mut b: Builder) -> Result<Template, TemplateError> {
    let mut pos = 0;
    while pos < src.len() {
        let Some(rel) = src[pos..].find("{{") else {
            b.text(&src[pos..]);
            break;
        };
        let open = pos + rel;
        let before = &src[pos..open];
        if before.ends_with("\\\\") {
            // `\\{{x}}`: a literal backslash, then the expression.
            b.text(&before[..before.len() - 1]);
        } else if let Some(text) = before.strip_suffix('\\') {
            // `\{{`: a literal `{{`; the text after it is plain text up to the next `{{`.
            b.text(text);
            b.text("{{");
            pos = open + 2;
            continue;
        } else {
            b.text(before);
        }
        pos = compile_mustache(src, open, &mut b, scope)?;
    }
    Ok(b.finish(src))
}

#[derive(Default)]
struct Builder {
    segments: Vec<Segment>,
    /// Literal text not yet pushed as a segment.
    lit: String,
    /// Where the template's own text starts in `lit` (after folded constants): `{{~` may only
    /// strip white space from the template's text, never from a value.
    raw_start: usize,
    /// Set by `~}}`: strip leading white space from the next text.
    strip_next: bool,
    /// A URL template: constants are percent-encoded as they are folded in.
    url: bool,
}

impl Builder {
    fn text(&mut self, mut s: &str) {
        if std::mem::take(&mut self.strip_next) {
            s = s.trim_start();
        }
        self.lit.push_str(s);
    }

    fn strip_before(&mut self) {
        let keep = self.lit[self.raw_start..].trim_end().len();
        self.lit.truncate(self.raw_start + keep);
    }

    fn constant(&mut self, s: &str) {
        if self.url {
            crate::url::push_url_value(&mut self.lit, s);
        } else {
            self.lit.push_str(s);
        }
        self.raw_start = self.lit.len();
    }

    fn segment(&mut self, seg: Segment) {
        if !self.lit.is_empty() {
            let lit = std::mem::take(&mut self.lit);
            self.segments.push(Segment::Lit(lit.into()));
        }
        self.raw_start = 0;
        self.segments.push(seg);
    }

    fn finish(mut self, src: &str) -> Template {
        if !self.lit.is_empty() {
            self.segments.push(Segment::Lit(self.lit.into()));
        }
        Template {
            source: src.into(),
            segments: self.segments.into(),
        }
    }
}

#[derive(Debug)]
enum TokenKind<'a> {
    Path(&'a str),
    Number(&'a str),
    Str,
}

#[derive(Debug)]
struct Token<'a> {
    kind: TokenKind<'a>,
    offset: usize,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self.kind {
            TokenKind::Path(p) => format!("variable \"{p}\""),
            TokenKind::Number(n) => format!("number {n}"),
            TokenKind::Str => "a string".to_string(),
        }
    }
}

fn is_id_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '$')
}

/// Compiles the expression starting at `open` (the `{{`) and returns the offset after it.
fn compile_mustache(
    src: &str,
    open: usize,
    b: &mut Builder,
    scope: &dyn Scope,
) -> Result<usize, TemplateError> {
    let mut p = open + 2;
    if src[p..].starts_with('~') {
        b.strip_before();
        p += 1;
    }
    let rest = &src[p..];
    let mut triple = false;
    match rest.chars().next() {
        Some('!') => return skip_comment(src, open, p, b),
        Some('#') => {
            return error(
                open,
                "block helpers are not supported (`{{#if}}`, `{{#each}}`, ...); a template holds values, not logic",
            )
        }
        Some('^') => {
            return error(
                open,
                "block helpers are not supported (`{{^...}}` is an inverted block)",
            )
        }
        Some('/') => {
            return error(
                open,
                "block helpers are not supported (found the closing tag of a block)",
            )
        }
        Some('>') => return error(open, "partials (`{{> name}}`) are not supported"),
        Some('*') => return error(open, "decorators (`{{* name}}`) are not supported"),
        Some('{') => {
            triple = true;
            p += 1;
        }
        Some('&') => p += 1,
        _ => {}
    }
    let close = if triple { "}}}" } else { "}}" };

    let mut tokens: Vec<Token> = Vec::new();
    let mut strip_after = false;
    let end = loop {
        p += src[p..].len() - src[p..].trim_start().len();
        let rest = &src[p..];
        let Some(c) = rest.chars().next() else {
            let msg = if triple {
                "unclosed `{{{`; expected `}}}`"
            } else {
                "unclosed `{{`; expected `}}`"
            };
            return error(open, msg);
        };
        // Handlebars writes the right strip inside a triple's closing: `{{{x}~}}`.
        let strip_close = if triple { "}~}}" } else { "~}}" };
        if rest.starts_with(strip_close) {
            strip_after = true;
            break p + strip_close.len();
        }
        if rest.starts_with(close) {
            break p + close.len();
        }
        match c {
            '}' if triple && rest.starts_with("}}") => {
                return error(p, "`{{{` must be closed with `}}}`, not `}}`")
            }
            '"' | '\'' => {
                let len = string_len(rest, c).ok_or(TemplateError {
                    offset: p,
                    message: "unclosed string; expected a closing quote before `}}`".to_string(),
                })?;
                tokens.push(Token {
                    kind: TokenKind::Str,
                    offset: p,
                });
                p += len;
            }
            '(' => return error(p, "sub-expressions (`(helper ...)`) are not supported"),
            '@' => {
                return error(
                    p,
                    "data variables (`@index`, `@root`, ...) are not supported",
                )
            }
            c if is_id_char(c) || c == '.' => {
                let len = rest
                    .find(|c: char| !(is_id_char(c) || c == '.'))
                    .unwrap_or(rest.len());
                let text = &rest[..len];
                if rest[len..].starts_with('=') {
                    return error(p, "hash arguments (`key=value`) are not supported");
                }
                let kind = if is_number(text) {
                    TokenKind::Number(text)
                } else if text.split('.').any(str::is_empty) {
                    return error(
                        p,
                        format!("invalid variable path \"{text}\"; expected names separated by single dots, e.g. users.email"),
                    );
                } else {
                    TokenKind::Path(text)
                };
                tokens.push(Token { kind, offset: p });
                p += len;
            }
            '}' => return error(p, "unexpected `}`; expected `}}` to close the expression"),
            other => {
                return error(
                    p,
                    format!("unexpected character '{other}' in an expression"),
                )
            }
        }
    };

    let Some((head, args)) = tokens.split_first() else {
        return error(
            open,
            "empty expression; expected a variable or a helper call between the braces",
        );
    };
    let TokenKind::Path(name) = head.kind else {
        return error(
            head.offset,
            format!(
                "expected a variable or a helper name, found {}",
                head.describe()
            ),
        );
    };
    if name == "else" && args.is_empty() {
        return error(
            open,
            "block helpers are not supported (`{{else}}` belongs to a block)",
        );
    }
    compile_call(name, head.offset, args, b, scope)?;
    b.strip_next = strip_after;
    Ok(end)
}

/// Compiles one expression whose first token is the name `name`.
fn compile_call(
    name: &str,
    offset: usize,
    args: &[Token],
    b: &mut Builder,
    scope: &dyn Scope,
) -> Result<(), TemplateError> {
    let no_args = |what: &str| -> Result<(), TemplateError> {
        match args.first() {
            None => Ok(()),
            Some(a) => error(a.offset, format!("{what} takes no arguments")),
        }
    };
    let arity = |n: usize, what: &str| -> Result<(), TemplateError> {
        if args.len() == n {
            return Ok(());
        }
        error(
            offset,
            format!(
                "{name} takes {n} argument{} ({what}), got {}",
                if n == 1 { "" } else { "s" },
                args.len()
            ),
        )
    };
    let segment = match name {
        "random_email" => {
            no_args(name)?;
            Segment::RandomEmail
        }
        "uuid" => {
            no_args(name)?;
            Segment::Uuid
        }
        "now" => {
            no_args(name)?;
            Segment::Now
        }
        "random_string" => {
            arity(1, "the length")?;
            let n = integer_arg(&args[0], name, "the length")?;
            if !(0..=MAX_RANDOM_STRING as i64).contains(&n) {
                return error(
                    args[0].offset,
                    format!("random_string length {n} is out of range; it must be from 0 to {MAX_RANDOM_STRING}"),
                );
            }
            Segment::RandomString(n as u32)
        }
        "random_int" => {
            arity(2, "the minimum and the maximum")?;
            let lo = integer_arg(&args[0], name, "the minimum")?;
            let hi = integer_arg(&args[1], name, "the maximum")?;
            if lo > hi {
                return error(
                    args[0].offset,
                    format!("random_int minimum {lo} is larger than the maximum {hi}"),
                );
            }
            Segment::RandomInt(lo, hi)
        }
        "json" | "string" if !args.is_empty() => {
            arity(1, "the value")?;
            let inner = Box::new(value_arg(&args[0], name, scope)?);
            if name == "json" {
                Segment::Json(inner)
            } else {
                Segment::Text(inner)
            }
        }
        _ => {
            if let Some(builtin) = Builtin::from_name(name) {
                no_args(name)?;
                Segment::Var(VarRef::Builtin(builtin))
            } else if !args.is_empty() {
                let hint = match suggest::did_you_mean(name, HELPERS.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => format!("helpers are {}", HELPERS.join(", ")),
                };
                return error(offset, format!("unknown helper \"{name}\"; {hint}"));
            } else {
                match scope.resolve(name) {
                    Ok(VarRef::Const(value)) => {
                        b.constant(&value);
                        return Ok(());
                    }
                    Ok(var) => Segment::Var(var),
                    Err(mut message) => {
                        if let Some(k6) = k6_hint(name) {
                            message = format!("unknown variable \"{name}\"; {k6}");
                        } else if !message.contains("did you mean") {
                            message.push_str(&suggest::hint(name, NAMES.iter().copied()));
                        }
                        return error(offset, message);
                    }
                }
            }
        }
    };
    b.segment(segment);
    Ok(())
}

/// What a k6 script's name is here (`__VU`, `__ITER`, `__ENV.X`), for the error.
fn k6_hint(name: &str) -> Option<String> {
    let head = name.split('.').next().unwrap_or(name);
    Some(match head {
        "__VU" => "k6's __VU is {{vu}} here (from 1, as in k6)".to_string(),
        "__ITER" => "k6's __ITER is {{iteration}} here (from 0, as in k6)".to_string(),
        "__ENV" => "k6's __ENV is read into vars here: `vars: { x: \"${X}\" }`, then {{vars.x}}"
            .to_string(),
        _ => return None,
    })
}

/// The argument of `json` and `string`: a variable (a constant is kept, not folded, so the
/// helper sees it), a built-in, or a helper that takes no argument.
fn value_arg(arg: &Token, helper: &str, scope: &dyn Scope) -> Result<Segment, TemplateError> {
    let TokenKind::Path(name) = arg.kind else {
        return error(
            arg.offset,
            format!(
                "{helper} expects a variable, e.g. {{{{{helper} user_id}}}}, got {}",
                arg.describe()
            ),
        );
    };
    Ok(match name {
        "now" => Segment::Now,
        "uuid" => Segment::Uuid,
        "random_email" => Segment::RandomEmail,
        _ => match Builtin::from_name(name) {
            Some(b) => Segment::Var(VarRef::Builtin(b)),
            None => match scope.resolve(name) {
                Ok(v) => Segment::Var(v),
                Err(mut message) => {
                    if let Some(k6) = k6_hint(name) {
                        message = format!("unknown variable \"{name}\"; {k6}");
                    }
                    return error(arg.offset, message);
                }
            },
        },
    })
}

fn integer_arg(arg: &Token, helper: &str, what: &str) -> Result<i64, TemplateError> {
    match arg.kind {
        TokenKind::Number(text) => text.parse::<i64>().or_else(|_| {
            let problem = if text.contains('.') {
                format!("{helper} expects a whole number for {what}, got {text}")
            } else {
                format!("{helper}: {text} is too large for {what}")
            };
            error(arg.offset, problem)
        }),
        _ => error(
            arg.offset,
            format!(
                "{helper} expects a whole number for {what}, got {}",
                arg.describe()
            ),
        ),
    }
}

/// `-?[0-9]+(\.[0-9]+)?`, handlebars' number literal.
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// The length of the quoted string at the start of `s` (quote included), honouring `\"`.
fn string_len(s: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some(i + 1);
        }
    }
    None
}

/// Skips `{{! ... }}` or `{{!-- ... --}}` (which may contain `}}`); `p` points at the `!`.
fn skip_comment(src: &str, open: usize, p: usize, b: &mut Builder) -> Result<usize, TemplateError> {
    let long = src[p..].starts_with("!--");
    let mut from = p + if long { 3 } else { 1 };
    loop {
        let Some(rel) = src[from..].find("}}") else {
            let msg = if long {
                "unclosed comment `{{!--`; expected `--}}`"
            } else {
                "unclosed comment `{{!`; expected `}}`"
            };
            return error(open, msg);
        };
        let close = from + rel;
        let body = &src[..close];
        let strip = body.ends_with('~');
        let body = body.strip_suffix('~').unwrap_or(body);
        if !long || (body.ends_with("--") && body.len() >= p + 5) {
            b.strip_next = strip;
            return Ok(close + 2);
        }
        from = close + 2;
    }
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

/// A compiled JSON body.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    /// No string in the body is dynamic: serialized once, sent as is.
    Static(Bytes),
    Dynamic(JsonNode),
}

/// A JSON body with per-request values: pre-serialized JSON text between dynamic leaves.
#[derive(Debug, Clone)]
pub struct JsonNode {
    parts: Box<[JsonPart]>,
}

#[derive(Debug, Clone)]
enum JsonPart {
    /// JSON text, written as is.
    Raw(Box<str>),
    /// The inside of a JSON string (its literal text already escaped; the quotes are in `Raw`).
    Str(Template),
    /// A string that is one expression: the value keeps its JSON type
    /// ([`Template::render_json_value`]).
    Typed(Template),
}

impl JsonTemplate {
    pub fn is_static(&self) -> bool {
        matches!(self, JsonTemplate::Static(_))
    }

    /// The serialized body when it is static.
    pub fn as_static(&self) -> Option<&Bytes> {
        match self {
            JsonTemplate::Static(b) => Some(b),
            JsonTemplate::Dynamic(_) => None,
        }
    }

    /// Appends the serialized body to `out`.
    pub fn render(&self, ctx: &mut dyn RenderCtx, out: &mut Vec<u8>) {
        match self {
            JsonTemplate::Static(b) => out.extend_from_slice(b),
            JsonTemplate::Dynamic(node) => {
                for part in node.parts.iter() {
                    match part {
                        JsonPart::Raw(s) => out.extend_from_slice(s.as_bytes()),
                        JsonPart::Str(t) => t.render_to(ctx, &mut JsonOut(out)),
                        JsonPart::Typed(t) => t.render_json_value(ctx, out),
                    }
                }
            }
        }
    }

    /// The variables the body reads when rendered.
    pub fn variables(&self) -> impl Iterator<Item = &VarRef> {
        let parts: &[JsonPart] = match self {
            JsonTemplate::Static(_) => &[],
            JsonTemplate::Dynamic(node) => &node.parts,
        };
        parts
            .iter()
            .flat_map(|p| match p {
                JsonPart::Raw(_) => None,
                JsonPart::Str(t) | JsonPart::Typed(t) => Some(t.variables()),
            })
            .flatten()
    }
}

/// Compiles a JSON body: every string (and object key) is a template. A string that is exactly
/// one expression (`"{{user_id}}"`, `"{{random_int 1 9}}"`) keeps the JSON type of its value:
/// a captured number, boolean, null, object or array, and `vu`, `iteration`, `now`,
/// `random_int`, are written as JSON; anything else as a string. Text around the expression
/// makes a string. Object keys must be static. The output is compact JSON with members in the order
/// `serde_json` iterates them.
///
/// On error, the first element is the JSON path of the offending string relative to the body:
/// `user.email`, `items[2]`, `["odd key"].x`, or empty for the body itself.
pub fn compile_json(
    v: &serde_json::Value,
    scope: &dyn Scope,
) -> Result<JsonTemplate, (String, TemplateError)> {
    let mut acc = JsonAcc::default();
    let mut path = String::new();
    compile_json_value(v, scope, &mut path, &mut acc)?;
    if acc.parts.is_empty() {
        return Ok(JsonTemplate::Static(Bytes::from(acc.raw)));
    }
    acc.flush();
    Ok(JsonTemplate::Dynamic(JsonNode {
        parts: acc.parts.into(),
    }))
}

#[derive(Default)]
struct JsonAcc {
    raw: String,
    parts: Vec<JsonPart>,
}

impl JsonAcc {
    fn flush(&mut self) {
        if !self.raw.is_empty() {
            let raw = std::mem::take(&mut self.raw);
            self.parts.push(JsonPart::Raw(raw.into()));
        }
    }

    fn string(&mut self, s: &str) {
        let mut escaped = Vec::with_capacity(s.len() + 2);
        escaped.push(b'"');
        json_escape(s, &mut escaped);
        escaped.push(b'"');
        self.raw
            .push_str(std::str::from_utf8(&escaped).unwrap_or_default());
    }

    fn part(&mut self, part: JsonPart) {
        self.flush();
        self.parts.push(part);
    }
}

fn push_key_path(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&serde_json::Value::from(key).to_string());
        path.push(']');
    }
}

fn compile_json_value(
    v: &serde_json::Value,
    scope: &dyn Scope,
    path: &mut String,
    acc: &mut JsonAcc,
) -> Result<(), (String, TemplateError)> {
    use serde_json::Value;
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => acc.raw.push_str(&v.to_string()),
        Value::String(s) => {
            let t = compile(s, scope).map_err(|e| (path.clone(), e))?;
            if let Some(text) = t.as_static() {
                acc.string(text);
            } else if t.is_one_expression() {
                acc.part(JsonPart::Typed(t));
            } else {
                acc.raw.push('"');
                acc.part(JsonPart::Str(t.json_escaped()));
                acc.raw.push('"');
            }
        }
        Value::Array(items) => {
            acc.raw.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    acc.raw.push(',');
                }
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                compile_json_value(item, scope, path, acc)?;
                path.truncate(len);
            }
            acc.raw.push(']');
        }
        Value::Object(members) => {
            acc.raw.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    acc.raw.push(',');
                }
                let len = path.len();
                push_key_path(path, key);
                let k = compile(key, scope).map_err(|e| (path.clone(), e))?;
                let Some(key_text) = k.as_static() else {
                    return Err((
                        path.clone(),
                        TemplateError {
                            offset: 0,
                            message: "an object key must be the same for every request; only constant values (vars) may be used in keys".to_string(),
                        },
                    ));
                };
                acc.string(key_text);
                acc.raw.push(':');
                compile_json_value(item, scope, path, acc)?;
                path.truncate(len);
            }
            acc.raw.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;
    use std::cell::RefCell;

    /// Captures `token` (slot 0) and `user_id` (slot 1); feed `users` with `email` and `name`;
    /// `vars.*` constants. Records every path it is asked about.
    #[derive(Default)]
    struct TestScope {
        asked: RefCell<Vec<String>>,
    }

    impl Scope for TestScope {
        fn resolve(&self, path: &str) -> Result<VarRef, String> {
            self.asked.borrow_mut().push(path.to_string());
            let known = [
                "token",
                "user_id",
                "users.email",
                "users.name",
                "vars.password",
                "vars.greeting",
                "vars.tricky",
                "vars.key",
            ];
            Ok(match path {
                "token" => VarRef::Capture(0),
                "user_id" => VarRef::Capture(1),
                "users.email" => VarRef::Feed { feed: 0, column: 0 },
                "users.name" => VarRef::Feed { feed: 0, column: 1 },
                "vars.password" => VarRef::Const("LoadTest123!".into()),
                "vars.greeting" => VarRef::Const("  hi  ".into()),
                "vars.tricky" => VarRef::Const("{{not parsed}} \"q\"".into()),
                "vars.key" => VarRef::Const("k".into()),
                _ => {
                    return Err(format!(
                        "unknown variable \"{path}\"{}",
                        suggest::hint(path, known)
                    ))
                }
            })
        }
    }

    struct TestCtx {
        captures: Vec<Option<String>>,
        /// Which captures hold JSON text.
        json: Vec<bool>,
        row: Vec<String>,
        rng: SmallRng,
    }

    impl TestCtx {
        fn new() -> TestCtx {
            TestCtx {
                captures: vec![Some("tok-123".to_string()), None],
                json: vec![false, false],
                row: vec!["ann@example.com".to_string(), "Ann".to_string()],
                rng: SmallRng::seed_from_u64(7),
            }
        }
    }

    impl RenderCtx for TestCtx {
        fn capture(&self, slot: usize) -> Option<&str> {
            self.captures.get(slot)?.as_deref()
        }
        fn capture_is_json(&self, slot: usize) -> bool {
            self.json[slot]
        }
        fn feed(&self, feed: usize, column: usize) -> Option<&str> {
            assert_eq!(feed, 0);
            self.row.get(column).map(String::as_str)
        }
        fn vu(&self) -> u64 {
            3
        }
        fn iteration(&self) -> u64 {
            7
        }
        fn scenario(&self) -> &str {
            "smoke"
        }
        fn env(&self) -> &str {
            "staging"
        }
        fn rng(&mut self) -> &mut SmallRng {
            &mut self.rng
        }
        fn now_ms(&self) -> u64 {
            1_700_000_000_123
        }
    }

    fn t(src: &str) -> Template {
        compile(src, &TestScope::default()).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn render(src: &str) -> String {
        t(src).render_string(&mut TestCtx::new())
    }

    fn err(src: &str) -> TemplateError {
        match compile(src, &TestScope::default()) {
            Ok(t) => panic!("{src:?} should not compile: {t:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn url_templates_percent_encode_values_and_folded_constants_not_their_own_text() {
        let url = |src: &str, ctx: &mut TestCtx| {
            let t = compile_url(src, &TestScope::default()).unwrap();
            let mut out = String::new();
            t.render_url(ctx, &mut out);
            out
        };
        let mut ctx = TestCtx::new();
        ctx.row[1] = "a\nb {c}#d".to_string();
        assert_eq!(
            url("/u/{{users.name}}?e={{users.email}}", &mut ctx),
            "/u/a%0Ab%20%7Bc%7D%23d?e=ann@example.com"
        );
        // A var is folded in encoded; the template's own text stays as written.
        let t = compile_url("/k/{{vars.tricky}}/{x}", &TestScope::default()).unwrap();
        assert_eq!(
            t.as_static(),
            Some("/k/%7B%7Bnot%20parsed%7D%7D%20%22q%22/{x}")
        );
        // Elsewhere (a header, a body) values are as they are.
        assert_eq!(render("{{vars.tricky}}"), "{{not parsed}} \"q\"");
    }

    #[test]
    fn renders_variables_in_every_form() {
        let cases: &[(&str, &str)] = &[
            ("Bearer {{token}}", "Bearer tok-123"),
            ("{{ users.email }}", "ann@example.com"),
            ("{{{token}}}", "tok-123"),
            ("{{{ token }}}", "tok-123"),
            ("{{&token}}", "tok-123"),
            ("{{\n  users.name\n}}", "Ann"),
            (
                "/users/{{users.name}}/{{token}}?x=1",
                "/users/Ann/tok-123?x=1",
            ),
            ("{{vu}}-{{iteration}}", "3-7"),
            ("{{scenario}}@{{env}}", "smoke@staging"),
            ("{{now}}", "1700000000123"),
            ("<{{user_id}}>", "<>"), // a missing capture renders empty
            ("a {{! a comment }}b", "a b"),
            ("a {{!-- has }} inside --}}b", "a b"),
            ("\\{{token}}", "{{token}}"),
            ("\\{{token}} {{token}}", "{{token}} tok-123"),
            ("\\{{{token}}}", "{{{token}}}"),
            ("\\\\{{token}}", "\\tok-123"),
            ("a\\b {{token}}", "a\\b tok-123"),
            ("{ \"json\": 1 } }}", "{ \"json\": 1 } }}"),
            ("", ""),
        ];
        for &(src, want) in cases {
            assert_eq!(render(src), want, "{src:?}");
        }
    }

    #[test]
    fn strips_white_space_with_tildes() {
        let cases: &[(&str, &str)] = &[
            ("a  {{~token~}}  b", "atok-123b"),
            ("a \n {{~token}} b", "atok-123 b"),
            ("a {{token~}} \n b", "a tok-123b"),
            ("a  {{~! note ~}}  b", "ab"),
            ("a  {{~{token}~}}  b", "atok-123b"),
            ("a  {{{token}~}}  b", "a  tok-123b"),
            // Only the template's own text is stripped, never a value.
            ("{{vars.greeting}} {{~token}}", "  hi  tok-123"),
            ("{{token~}} {{~vars.greeting}}", "tok-123  hi  "),
        ];
        for &(src, want) in cases {
            assert_eq!(render(src), want, "{src:?}");
        }
    }

    #[test]
    fn detects_static_templates_and_folds_constants() {
        let statics: &[(&str, &str)] = &[
            ("/api/v1/health", "/api/v1/health"),
            ("", ""),
            ("x{{! comment }}y", "xy"),
            ("\\{{x}}", "{{x}}"),
            ("{{vars.password}}", "LoadTest123!"),
            ("p={{vars.password}}&k={{ vars.key }}", "p=LoadTest123!&k=k"),
            ("{{vars.tricky}}", "{{not parsed}} \"q\""),
        ];
        for &(src, want) in statics {
            let tpl = t(src);
            assert!(tpl.is_static(), "{src:?}");
            assert_eq!(tpl.as_static(), Some(want), "{src:?}");
            assert_eq!(tpl.variables().count(), 0);
            assert_eq!(tpl.source(), src);
        }
        for src in [
            "{{token}}",
            "{{vars.key}}{{vu}}",
            "{{uuid}}",
            "{{now}}",
            "{{env}}",
        ] {
            assert!(!t(src).is_static(), "{src:?}");
            assert_eq!(t(src).as_static(), None);
        }
        let lit = Template::literal("{{x}}");
        assert_eq!(lit.as_static(), Some("{{x}}"));
        assert_eq!(Template::literal("").as_static(), Some(""));
    }

    #[test]
    fn lists_variables() {
        let tpl = t("{{token}}/{{users.email}}/{{vu}}/{{vars.password}}/{{uuid}}/{{env}}");
        let vars: Vec<&VarRef> = tpl.variables().collect();
        assert_eq!(
            vars,
            [
                &VarRef::Capture(0),
                &VarRef::Feed { feed: 0, column: 0 },
                &VarRef::Builtin(Builtin::Vu),
                &VarRef::Builtin(Builtin::Env),
            ]
        );
    }

    #[test]
    fn asks_the_scope_for_each_path_but_not_for_helpers() {
        let scope = TestScope::default();
        compile(
            "{{token}}{{vars.key}}{{token}}{{vu}}{{uuid}}{{random_int 1 2}}{{scenario}}",
            &scope,
        )
        .unwrap();
        assert_eq!(*scope.asked.borrow(), ["token", "vars.key", "token"]);
    }

    #[test]
    fn renders_helpers() {
        let mut ctx = TestCtx::new();
        for _ in 0..50 {
            let email = t("{{random_email}}").render_string(&mut ctx);
            let local = email.strip_suffix("@example.com").unwrap();
            let tail = local.strip_prefix("user_").unwrap();
            assert_eq!(tail.len(), 12, "{email}");
            assert!(tail
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));

            let s = t("{{random_string 16}}").render_string(&mut ctx);
            assert_eq!(s.len(), 16);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");

            let id = t("{{uuid}}").render_string(&mut ctx);
            assert_eq!(id.len(), 36, "{id}");
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(groups[2].starts_with('4'), "{id}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
            assert!(id
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        assert_eq!(t("{{random_string 0}}").render_string(&mut ctx), "");
        assert_eq!(t("{{random_int -5 -5}}").render_string(&mut ctx), "-5");
        assert_eq!(
            t("{{random_int -9223372036854775808 -9223372036854775808}}").render_string(&mut ctx),
            "-9223372036854775808"
        );
        assert_eq!(
            t("{{random_int 18446744 18446744}}").render_string(&mut ctx),
            "18446744"
        );
        let mut seen = [false; 6];
        for _ in 0..300 {
            let n: usize = t("{{random_int 1 6}}")
                .render_string(&mut ctx)
                .parse()
                .unwrap();
            assert!((1..=6).contains(&n));
            seen[n - 1] = true;
        }
        assert_eq!(seen, [true; 6], "both ends of the range are reachable");
        let big = t("{{random_string 1048576}}");
        assert!(!big.is_static());
    }

    #[test]
    fn rendering_is_reproducible_from_the_seed_and_appends() {
        let tpl = t("{{uuid}} {{random_string 8}} {{random_int 0 1000000}} {{random_email}}");
        let a = tpl.render_string(&mut TestCtx::new());
        let b = tpl.render_string(&mut TestCtx::new());
        assert_eq!(a, b);
        let mut ctx = TestCtx::new();
        let c = tpl.render_string(&mut ctx);
        let d = tpl.render_string(&mut ctx);
        assert_ne!(c, d);
        let mut out = String::from("prefix:");
        t("{{token}}").render(&mut TestCtx::new(), &mut out);
        t("/static").render(&mut TestCtx::new(), &mut out);
        assert_eq!(out, "prefix:tok-123/static");
    }

    #[test]
    fn errors_name_the_offset() {
        let cases: &[(&str, usize, &str)] = &[
            ("abc {{name", 4, "unclosed `{{`; expected `}}`"),
            ("abc {{name and more", 4, "unclosed `{{`"),
            ("{{{token}}", 8, "`{{{` must be closed with `}}}`"),
            ("x{{{token", 1, "unclosed `{{{`; expected `}}}`"),
            ("{{}}", 0, "empty expression"),
            ("x {{  }}", 2, "empty expression"),
            ("{{~}}", 0, "empty expression"),
            ("{{randon_int 1 2}}", 2, "unknown helper \"randon_int\"; did you mean \"random_int\"?"),
            ("{{foo 1}}", 2, "unknown helper \"foo\"; helpers are random_email, random_string, uuid, random_int, vu, iteration, now"),
            ("/u/{{tokn}}", 5, "unknown variable \"tokn\"; did you mean \"token\"?"),
            ("{{uuidd}}", 2, "unknown variable \"uuidd\"; did you mean \"uuid\"?"),
            ("{{random_emial}}", 2, "did you mean \"random_email\"?"),
            ("{{nothing_close}}", 2, "unknown variable \"nothing_close\""),
            ("{{random_int 1}}", 2, "random_int takes 2 arguments (the minimum and the maximum), got 1"),
            ("{{random_int}}", 2, "got 0"),
            ("{{random_int 1 2 3}}", 2, "got 3"),
            ("{{random_int 5 1}}", 13, "random_int minimum 5 is larger than the maximum 1"),
            ("{{random_int a 1}}", 13, "random_int expects a whole number for the minimum, got variable \"a\""),
            ("{{random_int 1 \"9\"}}", 15, "expects a whole number for the maximum, got a string"),
            ("{{random_int 1 2.5}}", 15, "expects a whole number for the maximum, got 2.5"),
            ("{{random_int 1 99999999999999999999}}", 15, "99999999999999999999 is too large"),
            ("{{random_string}}", 2, "random_string takes 1 argument (the length), got 0"),
            ("{{random_string 1048577}}", 16, "random_string length 1048577 is out of range; it must be from 0 to 1048576"),
            ("{{random_string -1}}", 16, "out of range"),
            ("{{random_string 1.5}}", 16, "expects a whole number for the length, got 1.5"),
            ("{{random_string \"10\"}}", 16, "got a string"),
            ("{{random_string users.email}}", 16, "got variable \"users.email\""),
            ("{{uuid 4}}", 7, "uuid takes no arguments"),
            ("{{random_email x}}", 15, "random_email takes no arguments"),
            ("{{now 1}}", 6, "now takes no arguments"),
            ("{{vu 1}}", 5, "vu takes no arguments"),
            ("{{env \"x\"}}", 6, "env takes no arguments"),
            ("{{#if token}}y{{/if}}", 0, "block helpers are not supported"),
            ("ab{{/if}}", 2, "block helpers are not supported"),
            ("{{^token}}x", 0, "block helpers are not supported"),
            ("a{{~#each x}}", 1, "block helpers are not supported"),
            ("x{{else}}", 1, "block helpers are not supported"),
            ("{{> header}}", 0, "partials"),
            ("{{* deco}}", 0, "decorators"),
            ("{{random_string (uuid)}}", 16, "sub-expressions"),
            ("{{token key=1}}", 8, "hash arguments"),
            ("{{@index}}", 2, "data variables"),
            ("{{a..b}}", 2, "invalid variable path \"a..b\""),
            ("{{users.}}", 2, "invalid variable path"),
            ("{{token \"unclosed}}", 8, "unclosed string"),
            ("{{a}b}}", 3, "unexpected `}`"),
            ("{{a + b}}", 4, "unexpected character '+'"),
            ("{{5}}", 2, "expected a variable or a helper name, found number 5"),
            ("{{\"x\"}}", 2, "found a string"),
            ("x {{! never closed", 2, "unclosed comment `{{!`"),
            ("{{!-- }} --", 0, "unclosed comment `{{!--`; expected `--}}`"),
            ("ok {{token}} then {{", 18, "unclosed `{{`"),
        ];
        for &(src, offset, want) in cases {
            let e = err(src);
            assert!(
                e.message.contains(want),
                "{src:?}: {:?} should contain {want:?}",
                e.message
            );
            assert_eq!(e.offset, offset, "{src:?}: {}", e.message);
            assert!(e.message.chars().next().unwrap().is_lowercase() || e.message.starts_with('`'));
        }
        assert_eq!(
            err("abc {{name").to_string(),
            "at offset 4: unclosed `{{`; expected `}}`"
        );
        assert!(compile("{{random_string 1048576}}", &TestScope::default()).is_ok());
    }

    #[test]
    fn knows_which_templates_yield_numbers() {
        for src in [
            "{{random_int 1 2}}",
            "{{ vu }}",
            "{{iteration}}",
            "{{now}}",
            "{{~vu~}}",
            "{{{vu}}}",
        ] {
            assert!(t(src).yields_number(), "{src:?}");
        }
        for src in [
            "{{uuid}}",
            " {{vu}}",
            "{{vu}}{{vu}}",
            "{{token}}",
            "{{scenario}}",
            "1",
            "{{random_string 3}}",
        ] {
            assert!(!t(src).yields_number(), "{src:?}");
        }
    }

    fn json_t(v: &serde_json::Value) -> JsonTemplate {
        compile_json(v, &TestScope::default()).unwrap_or_else(|(p, e)| panic!("{p}: {e}"))
    }

    fn json_render(tpl: &JsonTemplate, ctx: &mut TestCtx) -> serde_json::Value {
        let mut out = Vec::new();
        tpl.render(ctx, &mut out);
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("invalid JSON {:?}: {e}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn static_json_is_serialized_once() {
        let v = json!({
            "email": "a@b.c", "n": 1, "f": 1.5, "ok": true, "none": null,
            "arr": [1, "two", [], {}], "nested": {"deep": {"x": "y"}},
            "password": "{{vars.password}}", "{{vars.key}}": "{{! dropped }}v",
            "quote": "say \"hi\"\n\ttab \u{1} é ✓ 😀", "esc": "\\{{not a template}}"
        });
        let tpl = json_t(&v);
        assert!(tpl.is_static());
        let bytes = tpl.as_static().unwrap();
        let back: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(
            back,
            json!({
                "email": "a@b.c", "n": 1, "f": 1.5, "ok": true, "none": null,
                "arr": [1, "two", [], {}], "nested": {"deep": {"x": "y"}},
                "password": "LoadTest123!", "k": "v",
                "quote": "say \"hi\"\n\ttab \u{1} é ✓ 😀", "esc": "{{not a template}}"
            })
        );
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(
            !text.contains(", ") && !text.contains("\": "),
            "compact: {text}"
        );
        assert_eq!(tpl.variables().count(), 0);
        let mut out = b"x".to_vec();
        tpl.render(&mut TestCtx::new(), &mut out);
        assert_eq!(&out[1..], &bytes[..]);
        assert_eq!(
            json_t(&json!("plain")).as_static().unwrap().as_ref(),
            b"\"plain\""
        );
        assert_eq!(json_t(&json!([])).as_static().unwrap().as_ref(), b"[]");
    }

    #[test]
    fn dynamic_json_renders_values_and_numbers() {
        let v = json!({
            "email": "{{users.email}}",
            "id": "{{random_int 42 42}}",
            "neg": "{{random_int -3 -3}}",
            "vu": "{{ vu }}",
            "iter": "{{iteration}}",
            "at": "{{now}}",
            "label": "vu-{{vu}}",
            "padded": " {{vu}}",
            "token": "Bearer {{token}}",
            "missing": "{{user_id}}",
            "list": ["{{vu}}", "x", 2, {"s": "{{scenario}}"}],
            "static": "same"
        });
        let tpl = json_t(&v);
        assert!(!tpl.is_static());
        assert!(tpl.as_static().is_none());
        assert_eq!(
            json_render(&tpl, &mut TestCtx::new()),
            json!({
                "email": "ann@example.com",
                "id": 42,
                "neg": -3,
                "vu": 3,
                "iter": 7,
                "at": 1_700_000_000_123u64,
                "label": "vu-3",
                "padded": " 3",
                "token": "Bearer tok-123",
                "missing": "",
                "list": [3, "x", 2, {"s": "smoke"}],
                "static": "same"
            })
        );
        let vars: Vec<&VarRef> = tpl.variables().collect();
        assert!(vars.contains(&&VarRef::Feed { feed: 0, column: 0 }));
        assert!(vars.contains(&&VarRef::Capture(0)));
        assert!(vars.contains(&&VarRef::Builtin(Builtin::Scenario)));
    }

    #[test]
    fn a_whole_value_template_keeps_the_json_type_of_its_value() {
        let body = json_t(&json!({
            "userId": "{{user_id}}",
            "label": "id-{{user_id}}",
            "text": "{{string user_id}}",
            "forced": "{{json users.name}}",
            "token": "{{token}}",
            "token_json": "{{json token}}",
            "vu": "{{string vu}}",
            "const": "{{json vars.password}}"
        }));
        let mut ctx = TestCtx::new();
        for (captured, want) in [
            ("10", json!(10)),
            ("-1.5e3", json!(-1500.0)),
            ("true", json!(true)),
            ("null", json!(null)),
            ("{\"a\":[1,true,null]}", json!({"a": [1, true, null]})),
        ] {
            ctx.captures[1] = Some(captured.to_string());
            ctx.json[1] = true;
            ctx.row[1] = "42".into();
            let out = json_render(&body, &mut ctx);
            assert_eq!(out["userId"], want, "{captured}");
            assert_eq!(out["label"], json!(format!("id-{captured}")));
            assert_eq!(out["text"], json!(captured));
            assert_eq!(out["forced"], json!(42), "json parses text that is JSON");
            assert_eq!(out["token"], json!("tok-123"));
            assert_eq!(
                out["token_json"],
                json!("tok-123"),
                "text that is not JSON stays a string"
            );
            assert_eq!(out["vu"], json!("3"));
            assert_eq!(out["const"], json!("LoadTest123!"));
        }
        // Text (a header, a JSON string's content, a CSV cell) stays a string; so does a
        // capture not made yet.
        ctx.json[1] = false;
        assert_eq!(
            json_render(&body, &mut ctx)["userId"],
            json!("{\"a\":[1,true,null]}")
        );
        ctx.captures[1] = None;
        assert_eq!(json_render(&body, &mut ctx)["userId"], json!(""));
        // Outside a JSON body, `json` writes JSON text and `string` the text.
        let mut ctx = TestCtx::new();
        ctx.captures[1] = Some("10".into());
        ctx.json[1] = true;
        assert_eq!(
            t("{{json user_id}}/{{json token}}").render_string(&mut ctx),
            "10/\"tok-123\""
        );
        assert_eq!(t("{{string user_id}}").render_string(&mut ctx), "10");
        assert!(!t("{{json vars.password}}").is_static());
        assert_eq!(
            err("{{json 1}}").message,
            "json expects a variable, e.g. {{json user_id}}, got number 1"
        );
        assert_eq!(
            err("{{string a b}}").message,
            "string takes 1 argument (the value), got 2"
        );
    }

    #[test]
    fn k6_names_point_to_ours() {
        assert_eq!(
            err("{{__VU}}").message,
            "unknown variable \"__VU\"; k6's __VU is {{vu}} here (from 1, as in k6)"
        );
        assert!(err("{{__ITER}}").message.contains("{{iteration}}"));
        assert!(err("{{__ENV.TOKEN}}").message.contains("{{vars.x}}"));
        assert!(err("{{json __VU}}").message.contains("{{vu}}"));
    }

    #[test]
    fn json_escapes_values_and_literals() {
        let nasty = "q\"uote \\ back\nnew\rret\ttab \u{0} \u{1f} \u{7f} é ✓ 😀 \u{2028} </script>";
        let tpl = json_t(
            &json!({"v": "{{token}}", "lit": "a\"b\\c\nd {{token}}", "f": "{{users.name}}"}),
        );
        let mut ctx = TestCtx::new();
        ctx.captures[0] = Some(nasty.to_string());
        ctx.row[1] = "\"".repeat(3);
        let out = json_render(&tpl, &mut ctx);
        assert_eq!(out["v"], json!(nasty));
        assert_eq!(out["lit"], json!(format!("a\"b\\c\nd {nasty}")));
        assert_eq!(out["f"], json!("\"\"\""));

        let mut raw = Vec::new();
        json_escape("a\"\\\n\u{1}é", &mut raw);
        assert_eq!(String::from_utf8(raw).unwrap(), "a\\\"\\\\\\n\\u0001é");
    }

    #[test]
    fn json_errors_carry_the_path() {
        let cases: Vec<(serde_json::Value, &str, &str)> = vec![
            (
                json!({"user": {"email": "{{tokn}}"}}),
                "user.email",
                "did you mean \"token\"?",
            ),
            (json!([{"a": "x"}, {"a": "{{"}]), "[1].a", "unclosed `{{`"),
            (
                json!({"odd key": {"x": "{{#if}}"}}),
                "[\"odd key\"].x",
                "block helpers",
            ),
            (json!("{{}}"), "", "empty expression"),
            (
                json!({"items": [1, ["{{random_string 2000000}}"]]}),
                "items[1][0]",
                "out of range",
            ),
            (
                json!({"{{token}}": 1}),
                "[\"{{token}}\"]",
                "object key must be the same for every request",
            ),
            (
                json!({"a": {"{{nope}}": 1}}),
                "a[\"{{nope}}\"]",
                "unknown variable \"nope\"",
            ),
        ];
        for (v, want_path, want) in cases {
            let (path, e) = compile_json(&v, &TestScope::default()).unwrap_err();
            assert_eq!(path, want_path, "{v}");
            assert!(e.message.contains(want), "{v}: {}", e.message);
        }
    }

    #[test]
    fn digits_and_uuid_format() {
        for n in [0u64, 1, 9, 10, 12345, u64::MAX] {
            assert_eq!(Digits::u64(n).as_str(), n.to_string());
        }
        for n in [0i64, -1, 1, -1234, i64::MIN, i64::MAX] {
            assert_eq!(Digits::i64(n).as_str(), n.to_string());
        }
        let mut buf = [0u8; 36];
        assert_eq!(
            format_uuid_v4([0xff; 16], &mut buf),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            format_uuid_v4([0; 16], &mut buf),
            "00000000-0000-4000-8000-000000000000"
        );
    }
}
