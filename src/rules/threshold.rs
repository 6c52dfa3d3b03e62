//! Thresholds in k6's grammar: metric types, threshold conditions and metric keys.
//!
//! This module owns the *language*: it parses a condition such as `p(95) < 500` into a
//! [`Condition`], a key such as `http_req_duration{name:login}` into a [`MetricKey`], knows the
//! built-in metrics and their [`MetricType`]s, and says which aggregations fit which type. It
//! hands these values to `plan::validate`, which attaches them to the plan; judging a condition
//! is [`Operator::holds`] on an observed value that the metrics code computed.
//!
//! # The grammar, as k6 implements it
//!
//! ```text
//! condition   = ws* aggregation ws* operator ws* limit ws*
//! aggregation = "avg" | "min" | "max" | "med" | "p" | "p(" number ")" | "rate" | "count" | "value"
//! operator    = "<" | "<=" | ">" | ">=" | "==" | "===" | "!="
//! limit       = number
//! number      = [+-]? (decimal | hexadecimal)
//! decimal     = (digits ("." digits?)? | "." digits) ([eE] [+-]? digits)?
//! hexadecimal = "0" [xX] (hexdigits ("." hexdigits?)? | "." hexdigits) [pP] [+-]? digits
//! key         = name ("{" tag ("," tag)* "}")?
//! name        = [a-zA-Z_] [a-zA-Z0-9_]{1,128}
//! tag         = key-text ":" value-text          (value-text not empty)
//! ```
//!
//! - Whitespace (any Unicode white space, like Go's `strings.TrimSpace`) is allowed around the
//!   aggregation, the operator and the limit, but not inside them: `p( 95 )` and `p (95)` are
//!   rejected, as in k6.
//! - Numbers are what Go's `strconv.ParseFloat` reads, hexadecimal floats (`0x1p-2`) included,
//!   minus three accidents of Go's parser that we refuse with a message saying why: `NaN`, `Inf`
//!   (k6 compares against them: `avg<NaN` always fails, `avg<Inf` always passes) and
//!   underscores (`1_000`). A value that overflows is an error in both.
//! - A bare `p` is a percentile of 0, as k6 reads it ([`Condition::warnings`] says so).
//! - A percentile must lie in `0..=100` (decimals allowed: `p(99.9)`). k6 accepts any number and
//!   then crashes (an index out of range) when it judges one outside that range on a trend with
//!   two samples or more.
//! - Names and operators are case-sensitive.
//! - In a key, the tag selector runs from the first `{` to the last `}`, which must end the key.
//!   Tags are split on `,` and each at its first `:` (so `{url:http://x:8080}` and
//!   `{check:login: status is 200}` work). Each tag needs a `:` and a non-empty value text; keys
//!   and values are then trimmed of white space and then of surrounding `"`/`'` quotes, so
//!   `{ name : 'login' }` equals `{name:login}` and `{status:""}` selects an empty `status` tag.
//!   A repeated tag keeps its last value.
//! - An empty tag name (`{:login}`) is an error: k6 accepts it in `k6 inspect` and overflows its
//!   stack on it in `k6 run`.
//!
//! Which tags and values a selector may name is not the grammar's business: k6 accepts any, and
//! so does `plan::validate`, with a warning when one can match nothing.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::suggest;
use crate::summary::schema::MetricType;

impl MetricType {
    /// The aggregations a threshold on this type may use, as a list for messages.
    pub fn supported_aggregations(self) -> &'static str {
        match self {
            MetricType::Counter => "count, rate",
            MetricType::Gauge => "value, min, max",
            MetricType::Rate => "rate",
            MetricType::Trend => "avg, min, max, med, p(N)",
        }
    }
}

/// k6's built-in metrics and their types.
pub const BUILTIN_METRICS: &[(&str, MetricType)] = &[
    ("http_reqs", MetricType::Counter),
    ("http_req_duration", MetricType::Trend),
    ("http_req_waiting", MetricType::Trend),
    ("http_req_receiving", MetricType::Trend),
    ("http_req_sending", MetricType::Trend),
    ("http_req_connecting", MetricType::Trend),
    ("http_req_tls_handshaking", MetricType::Trend),
    ("http_req_blocked", MetricType::Trend),
    ("http_req_failed", MetricType::Rate),
    ("checks", MetricType::Rate),
    ("iterations", MetricType::Counter),
    ("iteration_duration", MetricType::Trend),
    ("vus", MetricType::Gauge),
    ("vus_max", MetricType::Gauge),
    ("data_sent", MetricType::Counter),
    ("data_received", MetricType::Counter),
    ("dropped_iterations", MetricType::Counter),
    ("group_duration", MetricType::Trend),
];

/// The type of a k6 built-in metric we record, or `None` for any other name.
pub fn builtin_metric(name: &str) -> Option<MetricType> {
    BUILTIN_METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, t)| t)
}

/// k6's other built-in metrics: WebSocket and gRPC. k6 accepts thresholds on them in any
/// script; we never record them (HTTP only), so a threshold on one sees no data.
pub const UNRECORDED_K6_METRICS: &[(&str, MetricType)] = &[
    ("ws_sessions", MetricType::Counter),
    ("ws_msgs_sent", MetricType::Counter),
    ("ws_msgs_received", MetricType::Counter),
    ("ws_ping", MetricType::Trend),
    ("ws_session_duration", MetricType::Trend),
    ("ws_connecting", MetricType::Trend),
    ("grpc_req_duration", MetricType::Trend),
];

/// The type of one of [`UNRECORDED_K6_METRICS`].
pub fn unrecorded_k6_metric(name: &str) -> Option<MetricType> {
    UNRECORDED_K6_METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, t)| t)
}

/// Whether `name` is a valid k6 metric name: an ASCII letter or underscore followed by 1 to 128
/// ASCII letters, digits or underscores (k6's `^[a-zA-Z_][a-zA-Z0-9_]{1,128}$`).
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=129).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// How a threshold reduces a metric to one number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Med,
    /// `p(N)`, N in `0..=100`.
    Percentile(f64),
    /// Rate metrics: the share of non-zero samples. Counters: the count per second.
    Rate,
    Count,
    /// Gauges: the last value (`min` and `max` also apply to gauges).
    Value,
}

impl Aggregation {
    /// Whether a threshold on a metric of type `t` may use this aggregation (as k6 decides).
    pub fn fits(&self, t: MetricType) -> bool {
        use Aggregation as A;
        match t {
            MetricType::Trend => {
                matches!(self, A::Avg | A::Min | A::Max | A::Med | A::Percentile(_))
            }
            MetricType::Counter => matches!(self, A::Count | A::Rate),
            MetricType::Rate => matches!(self, A::Rate),
            // k6 takes only `value` on a gauge; its summary shows min and max too, and a
            // threshold on them is what a gauge is fed for (the deepest queue, the lowest stock).
            MetricType::Gauge => matches!(self, A::Value | A::Min | A::Max),
        }
    }

    /// The keyword, or `p` for a percentile (see `Display` for `p(95)`).
    pub fn name(&self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Med => "med",
            Aggregation::Percentile(_) => "p",
            Aggregation::Rate => "rate",
            Aggregation::Count => "count",
            Aggregation::Value => "value",
        }
    }
}

/// `avg`, `p(95)`, `p(99.9)`: the form k6 prints.
impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Percentile(p) => write!(f, "p({p})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Serialized as its text (`"p(95)"`), the way users wrote it and k6 prints it.
impl Serialize for Aggregation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A comparison. `==` and `===` mean the same on numbers, as in k6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    StrictEq,
    Ne,
}

impl Operator {
    /// Whether `observed <op> limit` is true. Like k6's float comparison, a NaN observation
    /// fails every operator but `!=`.
    pub fn holds(&self, observed: f64, limit: f64) -> bool {
        match self {
            Operator::Lt => observed < limit,
            Operator::Le => observed <= limit,
            Operator::Gt => observed > limit,
            Operator::Ge => observed >= limit,
            Operator::Eq | Operator::StrictEq => observed == limit,
            Operator::Ne => observed != limit,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Eq => "==",
            Operator::StrictEq => "===",
            Operator::Ne => "!=",
        }
    }

    fn from_token(s: &str) -> Option<Operator> {
        Some(match s {
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "==" => Operator::Eq,
            "===" => Operator::StrictEq,
            "!=" => Operator::Ne,
            _ => return None,
        })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as its symbol (`"<="`).
impl Serialize for Operator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One parsed threshold condition, e.g. `p(95)<500`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// The text as written in the plan.
    pub source: String,
    pub aggregation: Aggregation,
    pub operator: Operator,
    pub limit: f64,
}

/// How a metric's values read, for display: a trend of durations is in milliseconds, a rate
/// metric is a share shown as a percentage, `data_*` counters are bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Millis,
    Bytes,
    Ratio,
    Plain,
}

impl Unit {
    /// The unit of a metric's values: every trend we record is a duration in milliseconds
    /// (custom trends receive the request's duration), rate metrics are ratios, `data_sent` and
    /// `data_received` are bytes.
    pub fn for_metric(name: &str, t: MetricType) -> Unit {
        match t {
            MetricType::Trend => Unit::Millis,
            MetricType::Rate => Unit::Ratio,
            _ if name == "data_sent" || name == "data_received" => Unit::Bytes,
            _ => Unit::Plain,
        }
    }
}

impl Condition {
    /// Whether an observed aggregate passes this condition.
    pub fn holds(&self, observed: f64) -> bool {
        self.operator.holds(observed, self.limit)
    }

    /// The limit for people: `500 ms`, `1%`, `10/s`, `1.5 MB`.
    pub fn describe_limit(&self, unit: Unit) -> String {
        format_value(self.aggregation, self.limit, unit)
    }

    /// The whole condition for people: `p(95) < 500 ms`.
    pub fn describe(&self, unit: Unit) -> String {
        format!(
            "{} {} {}",
            self.aggregation,
            self.operator,
            self.describe_limit(unit)
        )
    }

    /// What k6 accepts here that is most likely not what was meant, for a warning: a bare `p`,
    /// which reads as `p(0)`, the minimum.
    pub fn warnings(&self) -> Option<String> {
        let lhs = self.source.split(is_operator_char).next().unwrap_or("");
        (lhs.trim() == "p").then(|| {
            format!(
                "\"p\" without a percentile in \"{}\" reads as p(0), the minimum, as k6 reads it; \
                 write p(N) with the percentile you mean, or min",
                self.source
            )
        })
    }

    /// An error when this condition's aggregation cannot apply to a metric of type `t` (k6
    /// rejects `p(95)` on a rate, for example).
    pub fn check_fits(&self, metric: &str, t: MetricType) -> Result<(), ThresholdError> {
        let builtin_gauge = t == MetricType::Gauge && builtin_metric(metric).is_some();
        if builtin_gauge && matches!(self.aggregation, Aggregation::Min | Aggregation::Max) {
            // k6 takes only `value` on a gauge; min and max are ours for custom gauges, where
            // every sample is recorded, and the VU gauges are not sampled that way.
            return Err(ThresholdError::BuiltinGauge {
                expr: self.source.clone(),
                metric: metric.to_string(),
                aggregation: self.aggregation.to_string(),
            });
        }
        if self.aggregation.fits(t) {
            return Ok(());
        }
        Err(ThresholdError::DoesNotFit {
            expr: self.source.clone(),
            metric: metric.to_string(),
            metric_type: t,
            aggregation: self.aggregation.to_string(),
        })
    }
}

/// `p(95) < 500`: normalized spacing.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.aggregation, self.operator, self.limit)
    }
}

/// An aggregate value for people, in the metric's unit (see [`Condition::describe_limit`]).
/// The rate of a counter is per second; the rate of a rate metric is a percentage.
pub fn format_value(aggregation: Aggregation, value: f64, unit: Unit) -> String {
    match (aggregation, unit) {
        (Aggregation::Rate, Unit::Ratio) => format!("{}%", round_sig(value * 100.0)),
        (Aggregation::Rate, Unit::Bytes) => format!("{}/s", format_bytes(value)),
        (Aggregation::Rate, _) => format!("{}/s", round_sig(value)),
        (Aggregation::Count, Unit::Bytes) => format_bytes(value),
        (Aggregation::Count | Aggregation::Value, _) => round_sig(value),
        (_, Unit::Millis) => format!("{} ms", round_sig(value)),
        (_, Unit::Bytes) => format_bytes(value),
        (_, Unit::Ratio | Unit::Plain) => round_sig(value),
    }
}

/// Six significant digits, trailing zeros dropped: `7.000000000000001` reads `7`.
fn round_sig(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let rounded: f64 = format!("{v:.5e}").parse().unwrap_or(v);
    // `-0` reads oddly in a report.
    format!("{}", rounded + 0.0)
}

/// Decimal units, like k6's summary: `512 B`, `1.5 kB`, `12 MB`.
fn format_bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = v;
    let mut i = 0;
    while v.abs() >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    let rounded: f64 = format!("{v:.3e}").parse().unwrap_or(v);
    format!("{} {}", rounded + 0.0, UNITS[i])
}

/// A threshold key: a metric and an optional tag selector (`http_req_duration{name:login}`).
///
/// Equality and hashing ignore `source`: `m{a:1,b:2}`, `m{b:2,a:1}` and `m{ a : '1', b:2 }` are
/// the same sub-metric (as in k6), so compare keys with `==`, not by their source text.
#[derive(Debug, Clone, Serialize)]
pub struct MetricKey {
    /// The key as written in the plan.
    pub source: String,
    /// The metric's name, without the selector.
    pub metric: String,
    /// The selector's tags, sorted by tag name, each name once. Empty: the whole metric.
    pub tags: Vec<(String, String)>,
}

impl MetricKey {
    /// A key for a whole metric (no selector).
    pub fn whole(metric: &str) -> MetricKey {
        MetricKey {
            source: metric.to_string(),
            metric: metric.to_string(),
            tags: Vec::new(),
        }
    }

    /// Whether the key selects part of the metric by tags.
    pub fn is_submetric(&self) -> bool {
        !self.tags.is_empty()
    }

    /// The value the selector requires for `tag`, if it names it.
    pub fn tag(&self, tag: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == tag)
            .map(|(_, v)| v.as_str())
    }
}

impl PartialEq for MetricKey {
    fn eq(&self, other: &Self) -> bool {
        self.metric == other.metric && self.tags == other.tags
    }
}

impl Eq for MetricKey {}

impl Hash for MetricKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.metric.hash(state);
        self.tags.hash(state);
    }
}

/// The canonical form: `metric{a:1,b:2}` (tags sorted, no spaces or quotes).
impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if self.tags.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}:{v}")?;
        }
        f.write_str("}")
    }
}

const OPERATORS: &str = "<, <=, >, >=, ==, === or !=";
const AGGREGATIONS: &str = "avg, min, max, med, p(N), rate, count or value";

/// What is wrong with a threshold or a threshold key. Each message quotes the offending text
/// and says what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("empty threshold; expected `aggregation operator limit`, e.g. \"p(95)<500\"")]
    Empty,
    #[error("no operator in \"{expr}\"; expected `aggregation operator limit` with one of {OPERATORS}, e.g. \"p(95)<500\"")]
    MissingOperator { expr: String },
    #[error("unknown operator \"{op}\" in \"{expr}\"; expected one of {OPERATORS}")]
    UnknownOperator { expr: String, op: String },
    #[error("missing aggregation before \"{op}\" in \"{expr}\"; expected one of {AGGREGATIONS}")]
    MissingAggregation { expr: String, op: String },
    #[error("unknown aggregation \"{name}\" in \"{expr}\"; expected one of {AGGREGATIONS}{hint}")]
    UnknownAggregation {
        expr: String,
        name: String,
        /// `; did you mean "p(95)"?` or empty.
        hint: String,
    },
    #[error("invalid percentile \"{name}\" in \"{expr}\"; expected p(N) with N a number from 0 to 100, e.g. p(95) or p(99.9)")]
    BadPercentile { expr: String, name: String },
    #[error("missing limit after \"{op}\" in \"{expr}\"; expected a number, e.g. \"p(95)<500\"")]
    MissingLimit { expr: String, op: String },
    #[error("limit \"{limit}\" in \"{expr}\" is not a number{hint}")]
    BadLimit {
        expr: String,
        limit: String,
        /// Extra advice (units, percent signs) or empty.
        hint: String,
    },
    #[error("aggregation {aggregation} in \"{expr}\" does not fit {metric_type} metric \"{metric}\"; {metric_type} metrics support {}", metric_type.supported_aggregations())]
    DoesNotFit {
        expr: String,
        metric: String,
        metric_type: MetricType,
        aggregation: String,
    },
    #[error("aggregation {aggregation} in \"{expr}\" does not fit \"{metric}\"; k6 takes only value on its gauges (min and max apply to custom gauges)")]
    BuiltinGauge {
        expr: String,
        metric: String,
        aggregation: String,
    },
    #[error("empty metric name in \"{key}\"; expected a metric such as http_req_duration, optionally with tags: http_req_duration{{name:login}}")]
    EmptyMetricName { key: String },
    #[error("invalid metric name \"{name}\" in \"{key}\"; a metric name is an ASCII letter or underscore followed by 1 to 128 letters, digits or underscores")]
    BadMetricName { key: String, name: String },
    #[error(
        "unmatched \"{brace}\" in \"{key}\"; a tag selector looks like metric{{tag:value,...}}"
    )]
    UnmatchedBrace { key: String, brace: char },
    #[error(
        "\"}}\" before \"{{\" in \"{key}\"; a tag selector looks like metric{{tag:value,...}}"
    )]
    BraceOrder { key: String },
    #[error("text after the closing \"}}\" in \"{key}\"; the tag selector must end the key")]
    TrailingText { key: String },
    #[error("empty tag selector in \"{key}\"; write tag:value pairs, e.g. {{name:login}}, or drop the braces")]
    EmptySelector { key: String },
    #[error(
        "empty tag in \"{key}\" (a stray comma?); expected tag:value pairs separated by commas"
    )]
    EmptyTag { key: String },
    #[error(
        "malformed tag \"{tag}\" in \"{key}\"; expected tag:value with a value, e.g. name:login"
    )]
    BadTag { key: String, tag: String },
    #[error("empty tag name in \"{tag}\" of \"{key}\"; expected tag:value, e.g. name:login")]
    EmptyTagName { key: String, tag: String },
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!')
}

/// Parses one threshold condition, e.g. `p(95)<500`, `rate < 0.01`, `count>=10`.
pub fn parse_condition(s: &str) -> Result<Condition, ThresholdError> {
    let expr = || s.to_string();
    if s.trim().is_empty() {
        return Err(ThresholdError::Empty);
    }
    // A valid condition holds exactly one run of operator characters (no aggregation or number
    // contains one), so taking the first run accepts exactly what k6's scanner accepts.
    let Some(start) = s.find(is_operator_char) else {
        return Err(ThresholdError::MissingOperator { expr: expr() });
    };
    let end = s[start..]
        .find(|c| !is_operator_char(c))
        .map_or(s.len(), |n| start + n);
    let op_text = &s[start..end];
    let Some(operator) = Operator::from_token(op_text) else {
        return Err(ThresholdError::UnknownOperator {
            expr: expr(),
            op: op_text.to_string(),
        });
    };
    let lhs = s[..start].trim();
    let rhs = s[end..].trim();

    if lhs.is_empty() {
        return Err(ThresholdError::MissingAggregation {
            expr: expr(),
            op: op_text.to_string(),
        });
    }
    let aggregation = parse_aggregation(lhs).map_err(|e| match e {
        AggError::Unknown(hint) => ThresholdError::UnknownAggregation {
            expr: expr(),
            name: lhs.to_string(),
            hint,
        },
        AggError::Percentile => ThresholdError::BadPercentile {
            expr: expr(),
            name: lhs.to_string(),
        },
    })?;

    if rhs.is_empty() {
        return Err(ThresholdError::MissingLimit {
            expr: expr(),
            op: op_text.to_string(),
        });
    }
    let Some(limit) = parse_number(rhs) else {
        return Err(ThresholdError::BadLimit {
            expr: expr(),
            limit: rhs.to_string(),
            hint: limit_hint(rhs),
        });
    };

    Ok(Condition {
        source: s.to_string(),
        aggregation,
        operator,
        limit,
    })
}

enum AggError {
    Unknown(String),
    Percentile,
}

fn parse_aggregation(s: &str) -> Result<Aggregation, AggError> {
    Ok(match s {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "rate" => Aggregation::Rate,
        "count" => Aggregation::Count,
        "value" => Aggregation::Value,
        // As k6 reads it; `Condition::warnings` says so.
        "p" => Aggregation::Percentile(0.0),
        _ => {
            if let Some(inner) = s.strip_prefix("p(").and_then(|r| r.strip_suffix(')')) {
                return match parse_number(inner) {
                    Some(p) if (0.0..=100.0).contains(&p) => Ok(Aggregation::Percentile(p + 0.0)),
                    _ => Err(AggError::Percentile),
                };
            }
            return Err(AggError::Unknown(aggregation_hint(s)));
        }
    })
}

/// A suggestion for a misspelled aggregation: `p95` → `p(95)`, `P(95)` → `p(95)`,
/// `mean` → `avg`, `median` → `med`, `avgg` → `avg`.
fn aggregation_hint(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    if lower != s && parse_aggregation(&lower).is_ok() {
        return format!("; did you mean \"{lower}\"?");
    }
    for prefix in [
        "p",
        "p ",
        "p_",
        "percentile",
        "percentile_",
        "pct",
        "p[",
        "p{",
    ] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let rest = rest
                .trim_end_matches([']', '}', ')'])
                .trim_start_matches('(')
                .trim();
            if let Some(n) = parse_number(rest) {
                if (0.0..=100.0).contains(&n) && !rest.starts_with(['+', '-']) {
                    return format!("; did you mean \"p({rest})\"?");
                }
            }
        }
    }
    let alias = match lower.as_str() {
        "mean" | "average" => Some("avg"),
        "median" => Some("med"),
        "minimum" => Some("min"),
        "maximum" => Some("max"),
        "sum" | "total" => Some("count"),
        "last" | "current" => Some("value"),
        _ => None,
    };
    if let Some(a) = alias {
        return format!("; did you mean \"{a}\"?");
    }
    suggest::hint(
        &lower,
        ["avg", "min", "max", "med", "rate", "count", "value"],
    )
}

fn limit_hint(rhs: &str) -> String {
    let unsigned = rhs.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if matches!(unsigned.as_str(), "nan" | "inf" | "infinity") {
        return "; k6 would read it, but a limit of NaN or Inf always or never holds: write a \
                finite number"
            .to_string();
    }
    if rhs.contains('_') && parse_number(&rhs.replace('_', "")).is_some() {
        return format!("; write it without underscores: {}", rhs.replace('_', ""));
    }
    let number = rhs.trim_end_matches(|c: char| c.is_alphabetic());
    let unit = &rhs[number.len()..];
    if !unit.is_empty() {
        if let Some(n) = parse_number(number.trim()) {
            let millis = match unit {
                "ms" => Some(n),
                "s" => Some(n * 1e3),
                "m" => Some(n * 6e4),
                "h" => Some(n * 3.6e6),
                "us" | "µs" | "μs" => Some(n / 1e3),
                _ => None,
            };
            return match millis {
                Some(ms) => format!(
                    "; write a plain number without a unit (trend limits are milliseconds: {} for {rhs})",
                    round_sig(ms)
                ),
                None => "; write a plain number without a unit".to_string(),
            };
        }
    }
    if let Some(t) = rhs.strip_suffix('%') {
        if let Some(n) = parse_number(t.trim()) {
            return format!(
                "; write rates as a fraction: {} for {}%",
                round_sig(n / 100.0),
                t.trim()
            );
        }
    }
    String::new()
}

/// A finite number as Go's `strconv.ParseFloat` reads it, decimal or hexadecimal (`0x1.8p1`),
/// minus `NaN`, `Inf` and underscores. `None` for anything else, including values that
/// overflow.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if b.len() > i + 1 && b[i] == b'0' && matches!(b[i + 1], b'x' | b'X') {
        let v = parse_hex_float(&b[i + 2..])?;
        return Some(if b[0] == b'-' { -v } else { v });
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The part of a Go hexadecimal float after `0x`: a mantissa of hex digits with an optional
/// point, then a binary exponent, which Go requires (`0x10` alone is an error in k6 too).
fn parse_hex_float(b: &[u8]) -> Option<f64> {
    let (mut mantissa, mut exp, mut digits) = (0u128, 0i64, 0usize);
    let (mut point, mut sticky) = (false, false);
    let mut i = 0;
    while i < b.len() {
        let d = match b[i] {
            b'.' if !point => {
                point = true;
                i += 1;
                continue;
            }
            c => match (c as char).to_digit(16) {
                Some(d) => d as u128,
                None => break,
            },
        };
        digits += 1;
        if mantissa >> 120 == 0 {
            mantissa = mantissa << 4 | d;
            exp -= if point { 4 } else { 0 };
        } else {
            // 120 bits are plenty for 53; what is dropped only decides the rounding.
            sticky |= d != 0;
            exp += if point { 0 } else { 4 };
        }
        i += 1;
    }
    if digits == 0 || !matches!(b.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let start = i;
    let mut e: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        e = (e * 10 + (b[i] - b'0') as i64).min(1 << 20);
        i += 1;
    }
    if i == start || i != b.len() {
        return None;
    }
    let mut v = (mantissa | sticky as u128) as f64;
    let mut scale = exp + if negative { -e } else { e };
    while scale != 0 {
        let step = scale.clamp(-1000, 1000);
        v *= 2f64.powi(step as i32);
        scale -= step;
    }
    v.is_finite().then_some(v)
}

/// Parses a threshold key: a metric name with an optional tag selector, following k6's
/// `ParseMetricName` and `AddSubmetric` (see the module docs for the exact rules).
pub fn parse_metric_key(s: &str) -> Result<MetricKey, ThresholdError> {
    let key = || s.to_string();
    let open = s.find('{');
    let close = s.rfind('}');
    let (name, selector) = match (open, close) {
        (None, None) => (s, None),
        (Some(_), None) => {
            return Err(ThresholdError::UnmatchedBrace {
                key: key(),
                brace: '{',
            })
        }
        (None, Some(_)) => {
            return Err(ThresholdError::UnmatchedBrace {
                key: key(),
                brace: '}',
            })
        }
        (Some(o), Some(c)) if c < o => return Err(ThresholdError::BraceOrder { key: key() }),
        (Some(_), Some(c)) if c + 1 != s.len() => {
            return Err(ThresholdError::TrailingText { key: key() })
        }
        (Some(o), Some(c)) => (&s[..o], Some(&s[o + 1..c])),
    };

    if name.is_empty() {
        return Err(ThresholdError::EmptyMetricName { key: key() });
    }
    if !is_valid_metric_name(name) {
        return Err(ThresholdError::BadMetricName {
            key: key(),
            name: name.to_string(),
        });
    }

    let mut tags: Vec<(String, String)> = Vec::new();
    if let Some(selector) = selector {
        if selector.trim().is_empty() {
            return Err(ThresholdError::EmptySelector { key: key() });
        }
        for tag in selector.split(',') {
            if tag.trim().is_empty() {
                return Err(ThresholdError::EmptyTag { key: key() });
            }
            let bad = || ThresholdError::BadTag {
                key: key(),
                tag: tag.to_string(),
            };
            let (k, v) = tag.split_once(':').ok_or_else(bad)?;
            // k6 checks emptiness before trimming: `{name: }` selects an empty name tag.
            if v.is_empty() {
                return Err(bad());
            }
            let k = unquote(k);
            let v = unquote(v);
            if k.is_empty() {
                return Err(ThresholdError::EmptyTagName {
                    key: key(),
                    tag: tag.to_string(),
                });
            }
            match tags.iter_mut().find(|(existing, _)| existing == k) {
                Some(slot) => slot.1 = v.to_string(),
                None => tags.push((k.to_string(), v.to_string())),
            }
        }
        tags.sort();
    }

    Ok(MetricKey {
        source: s.to_string(),
        metric: name.to_string(),
        tags,
    })
}

/// k6 trims white space, then any surrounding quote characters.
fn unquote(s: &str) -> &str {
    s.trim().trim_matches(['"', '\''])
}

/// All conditions on one metric key (`http_req_duration{name:login}: [...]`).
#[derive(Debug, Clone)]
pub struct Threshold {
    pub key: MetricKey,
    pub metric_type: MetricType,
    pub conditions: Vec<ThresholdCondition>,
    /// Where the key stands in the plan, for annotations.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct ThresholdCondition {
    pub condition: Condition,
    pub abort_on_fail: bool,
    pub delay_abort_eval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Aggregation as A;
    use Operator as O;

    fn ok(s: &str) -> (Aggregation, Operator, f64) {
        let c = parse_condition(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"));
        assert_eq!(c.source, s);
        (c.aggregation, c.operator, c.limit)
    }

    fn err(s: &str) -> ThresholdError {
        match parse_condition(s) {
            Ok(c) => panic!("{s:?} should be rejected, got {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn accepts_k6_conditions() {
        let cases: &[(&str, Aggregation, Operator, f64)] = &[
            ("p(95)<500", A::Percentile(95.0), O::Lt, 500.0),
            ("p(95) < 500", A::Percentile(95.0), O::Lt, 500.0),
            ("rate < 0.01", A::Rate, O::Lt, 0.01),
            ("rate<0.01", A::Rate, O::Lt, 0.01),
            ("p(99.9)<=1000", A::Percentile(99.9), O::Le, 1000.0),
            ("count>=10", A::Count, O::Ge, 10.0),
            ("count>20", A::Count, O::Gt, 20.0),
            ("med==3", A::Med, O::Eq, 3.0),
            ("value===1", A::Value, O::StrictEq, 1.0),
            ("avg!=0", A::Avg, O::Ne, 0.0),
            ("min>0", A::Min, O::Gt, 0.0),
            ("max<=2000", A::Max, O::Le, 2000.0),
            ("p(0)<1", A::Percentile(0.0), O::Lt, 1.0),
            ("p(100)<1", A::Percentile(100.0), O::Lt, 1.0),
            ("p(99.99)<1", A::Percentile(99.99), O::Lt, 1.0),
            ("p(50.)<1", A::Percentile(50.0), O::Lt, 1.0),
            ("p(.5)<1", A::Percentile(0.5), O::Lt, 1.0),
            ("p(1e1)<1", A::Percentile(10.0), O::Lt, 1.0),
            ("  p(95)  <  500  ", A::Percentile(95.0), O::Lt, 500.0),
            ("\tavg\t<\t200\n", A::Avg, O::Lt, 200.0),
            ("avg <= 1.5", A::Avg, O::Le, 1.5),
            ("rate<.05", A::Rate, O::Lt, 0.05),
            ("rate<5.", A::Rate, O::Lt, 5.0),
            ("avg<1e3", A::Avg, O::Lt, 1000.0),
            ("avg<1E-3", A::Avg, O::Lt, 0.001),
            ("avg>-5", A::Avg, O::Gt, -5.0),
            ("avg>+5", A::Avg, O::Gt, 5.0),
            ("value>= 0", A::Value, O::Ge, 0.0),
            ("count ==0", A::Count, O::Eq, 0.0),
            ("avg\u{a0}<\u{a0}10", A::Avg, O::Lt, 10.0),
            ("p(95)<0500", A::Percentile(95.0), O::Lt, 500.0),
            // As k6 reads them: a bare `p` is p(0), hexadecimal floats are numbers.
            ("p<5", A::Percentile(0.0), O::Lt, 5.0),
            (" p <5", A::Percentile(0.0), O::Lt, 5.0),
            ("avg<0x1p-2", A::Avg, O::Lt, 0.25),
            ("avg<0X1.8P1", A::Avg, O::Lt, 3.0),
            ("avg>-0x.8p0", A::Avg, O::Gt, -0.5),
            ("p(0x1p2)<1", A::Percentile(4.0), O::Lt, 1.0),
            ("avg<1e-400", A::Avg, O::Lt, 0.0),
        ];
        for &(s, agg, op, limit) in cases {
            assert_eq!(ok(s), (agg, op, limit), "{s:?}");
        }
    }

    #[test]
    fn rejects_malformed_conditions() {
        let cases: &[(&str, &str)] = &[
            ("", "empty threshold"),
            ("   ", "empty threshold"),
            ("p(95)", "no operator"),
            ("avg 500", "no operator"),
            ("count!20", "unknown operator \"!\""),
            ("avg=1", "unknown operator \"=\""),
            ("avg=<1", "unknown operator \"=<\""),
            ("avg<<1", "unknown operator \"<<\""),
            ("avg====1", "unknown operator \"====\""),
            ("avg<>1", "unknown operator \"<>\""),
            ("avg=>1", "unknown operator \"=>\""),
            ("avg !== 1", "unknown operator \"!==\""),
            ("avg < = 1", "limit \"= 1\""),
            ("<500", "missing aggregation"),
            (" <= 1", "missing aggregation"),
            ("p(95)<", "missing limit"),
            ("p(95)<   ", "missing limit"),
            ("foo>20", "unknown aggregation \"foo\""),
            ("AVG<1", "unknown aggregation \"AVG\""),
            ("P(95)<1", "unknown aggregation \"P(95)\""),
            ("p95<500", "unknown aggregation \"p95\""),
            ("p 95<500", "unknown aggregation"),
            ("p (95)<500", "unknown aggregation"),
            ("mean<1", "unknown aggregation"),
            ("percentile(95)<1", "unknown aggregation"),
            ("avg avg<1", "unknown aggregation"),
            ("p()<5", "invalid percentile"),
            ("p(99<5", "unknown aggregation"),
            ("p( 95 )<5", "invalid percentile"),
            ("p(foo)<5", "invalid percentile"),
            ("p(-1)<5", "invalid percentile"),
            ("p(101)<5", "invalid percentile"),
            ("p(100.0001)<5", "invalid percentile"),
            ("p(NaN)<5", "invalid percentile"),
            ("p(+Inf)<5", "invalid percentile"),
            ("p(0x10)<5", "invalid percentile"),
            ("p(9_5)<5", "invalid percentile"),
            (
                "count>abc",
                "limit \"abc\" in \"count>abc\" is not a number",
            ),
            (
                "avg<NaN",
                "is not a number; k6 would read it, but a limit of NaN or Inf",
            ),
            ("avg<Inf", "is not a number; k6 would read it"),
            ("avg<-Inf", "is not a number; k6 would read it"),
            ("avg<infinity", "is not a number; k6 would read it"),
            ("avg<0x10", "is not a number"),
            ("avg<0x1p", "is not a number"),
            ("avg<0xp1", "is not a number"),
            ("avg<0x1.2.3p1", "is not a number"),
            ("avg<0x1p2000", "is not a number"),
            (
                "avg<1_000",
                "is not a number; write it without underscores: 1000",
            ),
            ("avg<1e999", "is not a number"),
            ("avg<1e", "is not a number"),
            ("avg<.", "is not a number"),
            ("avg<-", "is not a number"),
            (
                "p(95)<500ms",
                "without a unit (trend limits are milliseconds: 500 for 500ms)",
            ),
            ("p(95)<1.5s", "milliseconds: 1500 for 1.5s"),
            ("count<10k", "; write a plain number without a unit"),
            ("rate<1%", "as a fraction: 0.01 for 1%"),
            ("p(95)<500 && avg<3", "is not a number"),
            ("p(95)<5 00", "is not a number"),
            ("p(95)<500,", "is not a number"),
            ("avg<1 garbage", "is not a number"),
            ("avg<1<2", "is not a number"),
        ];
        for &(s, want) in cases {
            let msg = err(s).to_string();
            assert!(msg.contains(want), "{s:?}: {msg:?} should contain {want:?}");
        }
        assert!(cases.len() >= 40);
    }

    #[test]
    fn a_bare_p_reads_as_p0_with_a_warning() {
        let w = parse_condition("p<5").unwrap().warnings().unwrap();
        assert!(w.contains("\"p<5\" reads as p(0), the minimum"), "{w}");
        assert_eq!(parse_condition("p(0)<5").unwrap().warnings(), None);
        assert_eq!(parse_condition("avg<5").unwrap().warnings(), None);
        assert_eq!(parse_condition("p(95) < 5").unwrap().warnings(), None);
    }

    #[test]
    fn suggests_aggregations() {
        let hint = |s: &str| match err(s) {
            ThresholdError::UnknownAggregation { hint, .. } => hint,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(hint("p95<1"), "; did you mean \"p(95)\"?");
        assert_eq!(hint("p99.9<1"), "; did you mean \"p(99.9)\"?");
        assert_eq!(hint("P(95)<1"), "; did you mean \"p(95)\"?");
        assert_eq!(hint("percentile(90)<1"), "; did you mean \"p(90)\"?");
        assert_eq!(hint("p 95<1"), "; did you mean \"p(95)\"?");
        assert_eq!(hint("AVG<1"), "; did you mean \"avg\"?");
        assert_eq!(hint("mean<1"), "; did you mean \"avg\"?");
        assert_eq!(hint("median<1"), "; did you mean \"med\"?");
        assert_eq!(hint("avgg<1"), "; did you mean \"avg\"?");
        assert_eq!(hint("cont<1"), "; did you mean \"count\"?");
        assert_eq!(hint("rates<1"), "; did you mean \"rate\"?");
        assert_eq!(hint("p150<1"), "");
        assert_eq!(hint("zzzzzz<1"), "");
        let msg = err("p95<500").to_string();
        assert_eq!(
            msg,
            "unknown aggregation \"p95\" in \"p95<500\"; expected one of avg, min, max, med, p(N), \
             rate, count or value; did you mean \"p(95)\"?"
        );
    }

    #[test]
    fn messages_are_lowercase_fragments() {
        for s in ["", "avg", "avg=1", "<1", "x<1", "p(200)<1", "avg<", "avg<x"] {
            let msg = err(s).to_string();
            assert!(msg.chars().next().unwrap().is_lowercase(), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
        }
    }

    #[test]
    fn fits_every_pair() {
        use MetricType::*;
        let all = [
            A::Avg,
            A::Min,
            A::Max,
            A::Med,
            A::Percentile(95.0),
            A::Rate,
            A::Count,
            A::Value,
        ];
        let expected = |a: &Aggregation, t: MetricType| -> bool {
            matches!(
                (a, t),
                (A::Avg | A::Min | A::Max | A::Med | A::Percentile(_), Trend)
                    | (A::Count | A::Rate, Counter)
                    | (A::Rate, Rate)
                    | (A::Value | A::Min | A::Max, Gauge)
            )
        };
        let mut count = 0;
        for a in &all {
            for t in MetricType::ALL {
                assert_eq!(a.fits(t), expected(a, t), "{a} on {t}");
                count += 1;
            }
        }
        assert_eq!(count, 32);
        // Spelled out, so a change to either table above shows up here.
        assert!(A::Percentile(50.0).fits(Trend));
        assert!(!A::Percentile(50.0).fits(Rate));
        assert!(!A::Avg.fits(Counter));
        assert!(!A::Count.fits(Rate));
        assert!(!A::Value.fits(Trend));
        assert!(A::Min.fits(Gauge) && A::Max.fits(Gauge) && !A::Avg.fits(Gauge));
        assert!(A::Rate.fits(Counter) && A::Rate.fits(Rate) && !A::Rate.fits(Gauge));
    }

    #[test]
    fn check_fits_names_the_metric_and_the_choices() {
        let c = parse_condition("p(95)<0.01").unwrap();
        assert!(c.check_fits("http_req_duration", MetricType::Trend).is_ok());
        let e = c
            .check_fits("http_req_failed", MetricType::Rate)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "aggregation p(95) in \"p(95)<0.01\" does not fit rate metric \"http_req_failed\"; \
             rate metrics support rate"
        );
        let e = parse_condition("max<1")
            .unwrap()
            .check_fits("vus", MetricType::Gauge)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "aggregation max in \"max<1\" does not fit \"vus\"; k6 takes only value on its \
             gauges (min and max apply to custom gauges)"
        );
        for custom in ["min<1", "max<1", "value<1"] {
            let c = parse_condition(custom).unwrap();
            assert!(c.check_fits("queue_depth", MetricType::Gauge).is_ok());
        }
        let e = parse_condition("avg<1")
            .unwrap()
            .check_fits("vus", MetricType::Gauge)
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("gauge metrics support value, min, max"),
            "{e}"
        );
    }

    #[test]
    fn operators_hold() {
        let table: &[(Operator, f64, f64, bool)] = &[
            (O::Lt, 1.0, 2.0, true),
            (O::Lt, 2.0, 2.0, false),
            (O::Le, 2.0, 2.0, true),
            (O::Le, 3.0, 2.0, false),
            (O::Gt, 3.0, 2.0, true),
            (O::Gt, 2.0, 2.0, false),
            (O::Ge, 2.0, 2.0, true),
            (O::Ge, 1.0, 2.0, false),
            (O::Eq, 2.0, 2.0, true),
            (O::Eq, 2.5, 2.0, false),
            (O::StrictEq, 2.0, 2.0, true),
            (O::StrictEq, 2.5, 2.0, false),
            (O::Ne, 2.5, 2.0, true),
            (O::Ne, 2.0, 2.0, false),
            (O::Lt, f64::NAN, 2.0, false),
            (O::Ge, f64::NAN, 2.0, false),
            (O::Ne, f64::NAN, 2.0, true),
        ];
        for &(op, observed, limit, want) in table {
            assert_eq!(op.holds(observed, limit), want, "{observed} {op} {limit}");
        }
        for op in [O::Lt, O::Le, O::Gt, O::Ge, O::Eq, O::StrictEq, O::Ne] {
            assert_eq!(Operator::from_token(op.as_str()), Some(op));
        }
        let c = parse_condition("p(95) < 500").unwrap();
        assert!(c.holds(499.9));
        assert!(!c.holds(500.0));
    }

    #[test]
    fn builtin_metrics_have_k6_types() {
        use MetricType::*;
        assert_eq!(BUILTIN_METRICS.len(), 18);
        assert_eq!(builtin_metric("http_reqs"), Some(Counter));
        assert_eq!(builtin_metric("http_req_duration"), Some(Trend));
        assert_eq!(builtin_metric("http_req_tls_handshaking"), Some(Trend));
        assert_eq!(builtin_metric("http_req_blocked"), Some(Trend));
        assert_eq!(builtin_metric("http_req_failed"), Some(Rate));
        assert_eq!(builtin_metric("checks"), Some(Rate));
        assert_eq!(builtin_metric("iterations"), Some(Counter));
        assert_eq!(builtin_metric("iteration_duration"), Some(Trend));
        assert_eq!(builtin_metric("vus"), Some(Gauge));
        assert_eq!(builtin_metric("vus_max"), Some(Gauge));
        assert_eq!(builtin_metric("data_sent"), Some(Counter));
        assert_eq!(builtin_metric("data_received"), Some(Counter));
        assert_eq!(builtin_metric("dropped_iterations"), Some(Counter));
        assert_eq!(builtin_metric("group_duration"), Some(Trend));
        assert_eq!(builtin_metric("http_req_duration{name:x}"), None);
        assert_eq!(builtin_metric("login_duration"), None);
        for (name, _) in BUILTIN_METRICS {
            assert!(is_valid_metric_name(name), "{name}");
        }
    }

    #[test]
    fn metric_types_parse_and_serialize() {
        for t in MetricType::ALL {
            assert_eq!(t.as_str().parse::<MetricType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert_eq!(
            "histogram".parse::<MetricType>().unwrap_err().to_string(),
            "unknown metric type \"histogram\"; expected counter, gauge, rate or trend"
        );
        assert!("Trend".parse::<MetricType>().is_err());
    }

    #[test]
    fn metric_names_follow_k6() {
        let long_ok = format!("a{}", "b".repeat(128));
        let too_long = format!("a{}", "b".repeat(129));
        for name in [
            "ab",
            "_x",
            "http_req_duration",
            "login_duration",
            "A1",
            "__",
            &long_ok,
        ] {
            assert!(is_valid_metric_name(name), "{name}");
        }
        for name in [
            "",
            "a",
            "1abc",
            "with space",
            "dash-name",
            "dot.name",
            "é_name",
            "a$",
            &too_long,
        ] {
            assert!(!is_valid_metric_name(name), "{name}");
        }
    }

    fn key(s: &str) -> MetricKey {
        parse_metric_key(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn accepts_metric_keys() {
        type Case = (
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
        );
        let cases: &[Case] = &[
            ("http_req_duration", "http_req_duration", &[]),
            (
                "http_req_duration{name:login}",
                "http_req_duration",
                &[("name", "login")],
            ),
            (
                "http_req_duration{name:login,status:200}",
                "http_req_duration",
                &[("name", "login"), ("status", "200")],
            ),
            (
                "http_req_duration{status:200,name:login}",
                "http_req_duration",
                &[("name", "login"), ("status", "200")],
            ),
            (
                "m1{abc:123, easyas:doremi}",
                "m1",
                &[("abc", "123"), ("easyas", "doremi")],
            ),
            ("m1{ a : 1 }", "m1", &[("a", "1")]),
            ("m1{a : '1' , b : \"2\"}", "m1", &[("a", "1"), ("b", "2")]),
            ("m1{\" a\" : ' 1'}", "m1", &[(" a", " 1")]),
            ("m1{a:\"\",b: ''}", "m1", &[("a", ""), ("b", "")]),
            ("m1{name: }", "m1", &[("name", "")]),
            ("m1{group:::mygroup}", "m1", &[("group", "::mygroup")]),
            (
                "http_req_duration{name:http://${}.com}",
                "http_req_duration",
                &[("name", "http://${}.com")],
            ),
            (
                "m1{url:ssh://github.com:grafana/k6}",
                "m1",
                &[("url", "ssh://github.com:grafana/k6")],
            ),
            ("m1{a:1,a:2}", "m1", &[("a", "2")]),
            (
                "m1{scenario:smoke,method:GET}",
                "m1",
                &[("method", "GET"), ("scenario", "smoke")],
            ),
        ];
        for &(s, metric, want) in cases {
            let k = key(s);
            assert_eq!(k.source, s);
            assert_eq!(k.metric, metric, "{s}");
            assert_eq!(k.tags, tags(want), "{s}");
            assert_eq!(k.is_submetric(), !want.is_empty());
        }
    }

    #[test]
    fn rejects_malformed_metric_keys() {
        let cases: &[(&str, &str)] = &[
            ("", "empty metric name"),
            ("{name:x}", "empty metric name"),
            ("x", "invalid metric name \"x\""),
            ("1metric", "invalid metric name"),
            (
                "http_req_duration ",
                "invalid metric name \"http_req_duration \"",
            ),
            ("http_req_duration {name:x}", "invalid metric name"),
            ("my-metric", "invalid metric name"),
            ("test_metric{easyas}", "malformed tag \"easyas\""),
            ("test_metric{easyas:}", "malformed tag \"easyas:\""),
            ("test_metric{abc:123,easyas:}", "malformed tag"),
            ("test_metric{abc:123,easyas:doremi", "unmatched \"{\""),
            ("test_metricabc:123,easyas:doremi}", "unmatched \"}\""),
            ("test_metric}abc:123,easyas:doremi}", "unmatched \"}\""),
            ("test_metric}abc{bar", "\"}\" before \"{\""),
            ("test_metric{foo:ba}r", "text after the closing"),
            ("test_metric{}", "empty tag selector"),
            ("test_metric{  }", "empty tag selector"),
            ("test_metric{a:1,}", "empty tag"),
            ("test_metric{a:1,,b:2}", "empty tag"),
            ("test_metric{:login}", "empty tag name"),
            ("test_metric{'':login}", "empty tag name"),
        ];
        for &(s, want) in cases {
            let msg = match parse_metric_key(s) {
                Ok(k) => panic!("{s:?} should be rejected, got {k:?}"),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(want), "{s:?}: {msg:?} should contain {want:?}");
        }
    }

    #[test]
    fn metric_keys_compare_by_meaning() {
        use std::collections::HashSet;
        let a = key("http_req_duration{name:login,status:200}");
        let b = key("http_req_duration{ status : '200', name:login }");
        let c = key("http_req_duration{name:login}");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(c, key("http_req_duration"));
        assert_eq!(
            key("http_req_duration"),
            MetricKey::whole("http_req_duration")
        );
        let set: HashSet<MetricKey> = [a.clone(), b, c].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert_eq!(a.to_string(), "http_req_duration{name:login,status:200}");
        assert_eq!(a.tag("status"), Some("200"));
        assert_eq!(a.tag("method"), None);
        assert_eq!(key("vus").to_string(), "vus");
    }

    #[test]
    fn displays_and_serializes() {
        let c = parse_condition("p(99.9)<=1000").unwrap();
        assert_eq!(c.to_string(), "p(99.9) <= 1000");
        assert_eq!(
            parse_condition("rate<0.01").unwrap().to_string(),
            "rate < 0.01"
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "source": "p(99.9)<=1000",
                "aggregation": "p(99.9)",
                "operator": "<=",
                "limit": 1000.0
            })
        );
        assert_eq!(A::Percentile(95.0).to_string(), "p(95)");
        assert_eq!(A::Percentile(0.5).to_string(), "p(0.5)");
        assert_eq!(A::Med.to_string(), "med");
        let k = key("m1{b:2,a:1}");
        assert_eq!(
            serde_json::to_value(&k).unwrap(),
            serde_json::json!({"source": "m1{b:2,a:1}", "metric": "m1", "tags": [["a", "1"], ["b", "2"]]})
        );
    }

    #[test]
    fn describes_limits_in_units() {
        let d = |s: &str, unit: Unit| parse_condition(s).unwrap().describe_limit(unit);
        assert_eq!(d("p(95)<500", Unit::Millis), "500 ms");
        assert_eq!(d("avg<1.25", Unit::Millis), "1.25 ms");
        assert_eq!(d("rate<0.01", Unit::Ratio), "1%");
        assert_eq!(d("rate<0.07", Unit::Ratio), "7%");
        assert_eq!(d("rate>0.999", Unit::Ratio), "99.9%");
        assert_eq!(d("rate>10", Unit::Plain), "10/s");
        assert_eq!(d("count<100", Unit::Plain), "100");
        assert_eq!(d("count<1500000", Unit::Bytes), "1.5 MB");
        assert_eq!(d("rate<2048", Unit::Bytes), "2.048 kB/s");
        assert_eq!(d("count<512", Unit::Bytes), "512 B");
        assert_eq!(d("value<=50", Unit::Plain), "50");
        assert_eq!(
            parse_condition("p(95)<500").unwrap().describe(Unit::Millis),
            "p(95) < 500 ms"
        );
        assert_eq!(
            format_value(A::Percentile(95.0), 231.534_79, Unit::Millis),
            "231.535 ms"
        );
        assert_eq!(format_value(A::Rate, 0.0, Unit::Ratio), "0%");
        assert_eq!(
            Unit::for_metric("http_req_duration", MetricType::Trend),
            Unit::Millis
        );
        assert_eq!(
            Unit::for_metric("http_req_failed", MetricType::Rate),
            Unit::Ratio
        );
        assert_eq!(
            Unit::for_metric("data_sent", MetricType::Counter),
            Unit::Bytes
        );
        assert_eq!(
            Unit::for_metric("http_reqs", MetricType::Counter),
            Unit::Plain
        );
        assert_eq!(Unit::for_metric("vus", MetricType::Gauge), Unit::Plain);
    }

    #[test]
    fn numbers_follow_go_decimal_syntax() {
        for (s, v) in [
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e2", 100.0),
            ("1E+2", 100.0),
            ("0.0", 0.0),
        ] {
            assert_eq!(parse_number(s), Some(v), "{s}");
        }
        for (s, v) in [
            ("0x1p0", 1.0),
            ("0x1p-2", 0.25),
            ("-0x1.8p1", -3.0),
            ("+0XAP0", 10.0),
            ("0x.1p4", 1.0),
            ("0x1.p1", 2.0),
            ("0x0p0", 0.0),
            ("0x1p-1074", 5e-324),
            ("0x1.fffffffffffffp1023", f64::MAX),
            // Past 120 bits the digits only round: 2^128 - 1 is 2^128 in a double.
            ("0xffffffffffffffffffffffffffffffffp0", 2f64.powi(128)),
        ] {
            assert_eq!(parse_number(s), Some(v), "{s}");
        }
        for s in [
            "", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "0x10", "1_0", "NaN", "inf", "Infinity",
            " 1", "1 ", "1e400", "--1", "١", "0x", "0xp1", "0x1p", "0x1p+", "0x1q1", "0x1p1.5",
            "0x1_0p0", "0x2p1023", "0x1p1 ",
        ] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }
}
