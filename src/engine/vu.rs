//! A virtual user: a small state (captures, cookies, feed rows, an RNG) and the loop that walks a
//! flow's steps, sends each request, judges its checks, takes its captures and records it into
//! the thread's recorder. A VU is a plain struct driven by a task, not a runtime of its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::engine::http::reason::{self, Reason};
use crate::engine::http::{message, pool};
use crate::engine::metrics::local;
use crate::engine::metrics::recorder::{CheckKey, CustomKey, CutKey, SeriesKey, Trend};
use crate::plan::model::{
    Body, CaptureSource, CheckKind, Compare, Expected, FeedOrder, Plan, RequestId, RequestSpec,
    Step, Think,
};
use crate::plan::template::{RenderCtx, Template};
use crate::summary::schema::ErrorClass;
use crate::summary::schema::MetricType;
use crate::url::push_urlencoded;

/// One level of the walk: a step list, the next step in it, the group its requests are tagged
/// with, and when the group began if this level is a group's own list (for `group_duration`).
#[derive(Clone, Copy)]
struct Frame<'a> {
    steps: &'a [ExecStep],
    next: usize,
    group: u16,
    group_started: Option<Instant>,
}

/// The walk's stack of step lists: inline up to 8 levels of nesting (no allocation per
/// iteration), on the heap past that.
struct Stack<'a> {
    inline: [Frame<'a>; 8],
    len: usize,
    spill: Vec<Frame<'a>>,
}

impl<'a> Stack<'a> {
    fn new(first: Frame<'a>) -> Self {
        Stack {
            inline: [first; 8],
            len: 1,
            spill: Vec::new(),
        }
    }

    fn last_mut(&mut self) -> Option<&mut Frame<'a>> {
        if let Some(top) = self.spill.last_mut() {
            return Some(top);
        }
        self.len.checked_sub(1).map(|i| &mut self.inline[i])
    }

    fn push(&mut self, item: Frame<'a>) {
        if self.len < self.inline.len() && self.spill.is_empty() {
            self.inline[self.len] = item;
            self.len += 1;
        } else {
            self.spill.push(item);
        }
    }

    fn pop(&mut self) {
        if self.spill.pop().is_none() {
            self.len = self.len.saturating_sub(1);
        }
    }
}

/// A step with its group resolved to an index (0: no group).
#[derive(Debug)]
pub enum ExecStep {
    Request(RequestId),
    Pick {
        cumulative: Vec<u32>,
        branches: Vec<Vec<ExecStep>>,
    },
    Group {
        id: u16,
        steps: Vec<ExecStep>,
    },
    Think(Think),
}

/// Converts plan steps, numbering groups in `groups` (index 0 is the empty group) by their path:
/// a group in a group is `outer::inner`, as k6 tags it (without k6's leading `::`).
pub fn compile_steps(steps: &[Step], groups: &mut Vec<String>) -> Vec<ExecStep> {
    compile_in(steps, "", groups)
}

/// Converts a once-per-test phase's steps: its requests are tagged with the group `root`
/// (`setup`: k6's `::setup`), a group in it `setup::name`. Also returns the root's group id.
pub fn compile_phase_steps(
    steps: &[Step],
    root: &str,
    groups: &mut Vec<String>,
) -> (u16, Vec<ExecStep>) {
    let id = group_id(root, groups);
    (id, compile_in(steps, root, groups))
}

/// The index of the group at `path`, numbered on first sight.
fn group_id(path: &str, groups: &mut Vec<String>) -> u16 {
    let id = match groups.iter().position(|g| g == path) {
        Some(i) => i,
        None => {
            groups.push(path.to_string());
            groups.len() - 1
        }
    };
    id as u16
}

fn compile_in(steps: &[Step], parent: &str, groups: &mut Vec<String>) -> Vec<ExecStep> {
    steps
        .iter()
        .map(|s| match s {
            Step::Request(id) => ExecStep::Request(*id),
            Step::Think(t) => ExecStep::Think(*t),
            Step::Pick {
                cumulative,
                branches,
            } => ExecStep::Pick {
                cumulative: cumulative.clone(),
                branches: branches
                    .iter()
                    .map(|b| compile_in(b, parent, groups))
                    .collect(),
            },
            Step::Group { name, steps } => {
                let path = if parent.is_empty() {
                    name.clone()
                } else {
                    format!("{parent}::{name}")
                };
                ExecStep::Group {
                    id: group_id(&path, groups),
                    steps: compile_in(steps, &path, groups),
                }
            }
        })
        .collect()
}

/// What the engine precomputes per request.
#[derive(Debug)]
pub struct RequestRt {
    /// First index of this request's checks in the run's check table (expect checks, then one
    /// per capture).
    pub check_base: u32,
    pub needs_body: bool,
    pub needs_json: bool,
    /// The plan's default headers the request does not set itself, then the request's own: a
    /// request's header replaces a default of the same name.
    pub headers: Vec<crate::plan::model::Header>,
    /// Their names in lower case (as hyper writes them).
    lower_names: Vec<Box<str>>,
    /// Which of the headers the client adds by default the request sets itself.
    has: message::Has,
    /// Every header name is a valid token (validation makes sure; otherwise nothing is sent).
    names_ok: bool,
    /// The URL, when nothing in it changes per request: joined and parsed once, with the
    /// length of its text (for `data_sent`) and its HTTP/1.1 target.
    fixed_url: Option<reqwest::Url>,
    fixed_target: Option<message::Target>,
    /// The whole request when nothing in it changes per request; used when the VU has no
    /// cookie to send.
    fixed_bytes: Option<Prebuilt>,
    /// Set once this request could not be built: its warning is printed once per run, not
    /// once per attempt.
    invalid_reported: AtomicBool,
}

/// A request built once before the run.
#[derive(Debug)]
struct Prebuilt {
    /// Head and body.
    bytes: Vec<u8>,
    /// Where the body starts in `bytes`.
    body_start: usize,
}

impl RequestRt {
    /// Precomputes what can be for `spec`, sent against `base_url` (without a trailing slash).
    pub fn new(plan: &Plan, spec: &RequestSpec, check_base: u32, base_url: &str) -> RequestRt {
        use crate::plan::model::CheckKind;
        let needs_json = spec
            .expect
            .checks
            .iter()
            .any(|c| matches!(c.kind, CheckKind::JsonPresent(_) | CheckKind::JsonIs(..)))
            || spec
                .captures
                .iter()
                .map(|c| &c.source)
                .chain(spec.gauges.iter().map(|g| &g.source))
                .any(|s| matches!(s, CaptureSource::Json(_)));
        let needs_body = needs_json
            || spec.expect.checks.iter().any(|c| {
                matches!(
                    c.kind,
                    CheckKind::BodyContains(_) | CheckKind::HeaderPresent(_)
                )
            })
            || spec
                .captures
                .iter()
                .map(|c| &c.source)
                .chain(spec.gauges.iter().map(|g| &g.source))
                .any(|s| matches!(s, CaptureSource::Header(_)));
        let headers: Vec<crate::plan::model::Header> = plan
            .defaults
            .headers
            .iter()
            .filter(|d| {
                !spec
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(&d.name))
            })
            .chain(spec.headers.iter())
            .cloned()
            .collect();
        let lower_names: Vec<Box<str>> = headers
            .iter()
            .map(|h| h.name.to_ascii_lowercase().into())
            .collect();
        let mut has = message::Has::default();
        for n in &lower_names {
            has.note(n);
        }
        let names_ok = lower_names.iter().all(|n| message::valid_header_name(n));
        let mut rt = RequestRt {
            check_base,
            needs_body,
            needs_json,
            headers,
            lower_names,
            has,
            names_ok,
            fixed_url: None,
            fixed_target: None,
            fixed_bytes: None,
            invalid_reported: AtomicBool::new(false),
        };
        let (Some(path), true) = (
            spec.url.as_static(),
            spec.query.iter().all(|(_, v)| v.is_static()),
        ) else {
            return rt;
        };
        let mut text = String::new();
        join_url(&mut text, base_url, path);
        for (i, (k, v)) in spec.query.iter().enumerate() {
            push_query(&mut text, i, k, v.as_static().unwrap_or_default());
        }
        let Ok(url) = reqwest::Url::parse(&text) else {
            return rt;
        };
        rt.fixed_target = message::Target::from_url(&url).filter(|_| rt.names_ok);
        rt.fixed_url = Some(url);
        let static_body = match &spec.body {
            None => Some(None),
            Some(Body::Json(t)) => t.as_static().map(|b| Some(b.to_vec())),
            Some(Body::Text(t)) => t.as_static().map(|b| Some(b.as_bytes().to_vec())),
            Some(Body::Form(fields)) => fields.iter().all(|(_, v)| v.is_static()).then(|| {
                Some(form_body(fields, |v| {
                    v.as_static().unwrap_or_default().to_string()
                }))
            }),
        };
        let values: Option<Vec<&str>> = rt.headers.iter().map(|h| h.value.as_static()).collect();
        if let (Some(target), Some(body), Some(values)) = (&rt.fixed_target, static_body, values) {
            if values
                .iter()
                .all(|v| message::valid_header_value(v.as_bytes()))
            {
                let mut bytes = Vec::new();
                let body = body.as_deref();
                message::write_head(
                    &mut bytes,
                    message::HeadParts {
                        method: &spec.method,
                        target,
                        cookie: None,
                        has: rt.has,
                        user_agent: crate::engine::http::message::USER_AGENT,
                        body_len: body.map(<[u8]>::len),
                        content_type: content_type_of(spec.body.as_ref()),
                    },
                    rt.lower_names
                        .iter()
                        .map(|n| &**n)
                        .zip(values.iter().copied()),
                );
                let body_start = bytes.len();
                bytes.extend_from_slice(body.unwrap_or_default());
                rt.fixed_bytes = Some(Prebuilt { bytes, body_start });
            }
        }
        rt
    }
}

impl RequestRt {
    /// Known before the run to go to an `https://` URL.
    pub fn tls(&self) -> bool {
        self.fixed_target.as_ref().is_some_and(|t| t.tls)
    }
}

/// The content type the client adds to a body when the plan's headers set none.
fn content_type_of(body: Option<&Body>) -> Option<&'static str> {
    match body {
        Some(Body::Json(_)) => Some("application/json"),
        Some(Body::Form(_)) => Some("application/x-www-form-urlencoded"),
        _ => None,
    }
}

/// The buffers a request's headers and body are rendered into.
struct Rendered<'a> {
    hvals: &'a mut String,
    spans: &'a mut Vec<(usize, usize)>,
    body: &'a mut Vec<u8>,
}

/// An urlencoded form body.
fn form_body(fields: &[(String, Template)], mut value: impl FnMut(&Template) -> String) -> Vec<u8> {
    let mut s = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        push_urlencoded(&mut s, k);
        s.push('=');
        push_urlencoded(&mut s, &value(v));
    }
    s.into_bytes()
}

fn push_query(url: &mut String, i: usize, k: &str, v: &str) {
    url.push(if i == 0 && !url.contains('?') {
        '?'
    } else {
        '&'
    });
    push_urlencoded(url, k);
    url.push('=');
    push_urlencoded(url, v);
}

/// Everything VUs of one scenario share.
pub struct ScenarioRt {
    pub index: u16,
    pub name: Arc<str>,
    pub env: Arc<str>,
    pub plan: Arc<Plan>,
    /// Without a trailing slash.
    pub base_url: String,
    /// Keep-alive connections of the client (HTTP/1.1 and HTTP/2).
    pub pool: Arc<pool::Pool>,
    pub requests: Arc<Vec<RequestRt>>,
    pub setup: Vec<ExecStep>,
    pub flow: Vec<ExecStep>,
    pub teardown: Vec<ExecStep>,
    /// Pause after each iteration (scenario's `think`, else the plan's default).
    pub think: Option<Think>,
    /// Per feed: the shared cursor of `unique` order.
    pub feed_cursors: Arc<Vec<AtomicU64>>,
}

pub struct Vu {
    pub id: u64,
    pub sc: Arc<ScenarioRt>,
    pub iteration: u64,
    captures: Vec<Option<String>>,
    /// Per capture slot: the value is JSON text (a number, boolean, null, object or array),
    /// which a whole-value template in a JSON body writes as it is.
    capture_json: Vec<bool>,
    cookies: Vec<(String, String)>,
    rows: Vec<usize>,
    rng: SmallRng,
    set_up: bool,
    /// A once-per-test phase's VU (setup, teardown): the first request that fails, or whose
    /// check or capture fails, ends its walk, and says why here.
    strict: bool,
    failure: Option<String>,
    /// The group its requests are tagged with outside any group of their own (a phase's
    /// `setup`/`teardown`, as k6 tags them `::setup`); 0: none.
    root_group: u16,
    /// Requests this VU could not build (`invalid_request`), since the executor last asked: a
    /// walk stops at the first, and a closed-model VU pauses before its next iteration.
    invalid: u64,
    /// A connection could not be made since the executor last asked (refused, unreachable),
    /// and how many iterations in a row that happened: the VU backs off before its next one.
    refused: bool,
    refusals: u32,
    /// When the last request ended, while nothing has run since (an iteration that ends with
    /// a request ends then: one clock read less).
    last_end: Option<Instant>,
    /// Buffers reused from request to request: the rendered URL, a scratch string, the
    /// rendered body, the rendered header values (and where each is), the cookie header, the
    /// HTTP/1.1 bytes sent, the response body kept for checks, the check outcomes, the values
    /// read for gauges (metric, value).
    url: String,
    text: String,
    body: Vec<u8>,
    hvals: String,
    spans: Vec<(usize, usize)>,
    cookie: String,
    out: Vec<u8>,
    resp_body: Vec<u8>,
    outcomes: Vec<bool>,
    gauge_values: Vec<(usize, f64)>,
}

impl RenderCtx for Vu {
    fn capture(&self, slot: usize) -> Option<&str> {
        self.captures.get(slot)?.as_deref()
    }
    fn capture_is_json(&self, slot: usize) -> bool {
        self.capture_json.get(slot).copied().unwrap_or(false)
    }
    fn feed(&self, feed: usize, column: usize) -> Option<&str> {
        let f = self.sc.plan.feeds.get(feed)?;
        f.rows.cell(*self.rows.get(feed)?, column)
    }
    fn feed_is_json(&self, feed: usize, column: usize) -> bool {
        let Some(f) = self.sc.plan.feeds.get(feed) else {
            return false;
        };
        self.rows
            .get(feed)
            .is_some_and(|&row| f.rows.is_json(row, column))
    }
    fn vu(&self) -> u64 {
        self.id
    }
    fn iteration(&self) -> u64 {
        self.iteration
    }
    fn scenario(&self) -> &str {
        &self.sc.name
    }
    fn env(&self) -> &str {
        &self.sc.env
    }
    fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }
}

pub fn draw(think: &Think, rng: &mut SmallRng) -> Duration {
    if think.max <= think.min {
        think.min
    } else {
        let lo = think.min.as_micros() as u64;
        let hi = think.max.as_micros() as u64;
        Duration::from_micros(rng.gen_range(lo..=hi))
    }
}

impl Vu {
    pub fn new(id: u64, sc: Arc<ScenarioRt>) -> Vu {
        let captures = vec![None; sc.plan.captures.len()];
        let capture_json = vec![false; sc.plan.captures.len()];
        let rows = vec![0; sc.plan.feeds.len()];
        Vu {
            id,
            sc,
            iteration: 0,
            captures,
            capture_json,
            cookies: Vec::new(),
            rows,
            rng: SmallRng::from_entropy(),
            set_up: false,
            strict: false,
            failure: None,
            root_group: 0,
            invalid: 0,
            refused: false,
            refusals: 0,
            last_end: None,
            url: String::new(),
            text: String::new(),
            body: Vec::new(),
            hvals: String::new(),
            spans: Vec::new(),
            cookie: String::new(),
            out: Vec::new(),
            resp_body: Vec::new(),
            outcomes: Vec::new(),
            gauge_values: Vec::new(),
        }
    }

    fn pick_rows(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let plan = self.sc.plan.clone();
        for (i, f) in plan.feeds.iter().enumerate() {
            let n = f.rows.len().max(1) as u64;
            self.rows[i] = match f.order {
                FeedOrder::Sequential => ((self.id - 1 + self.iteration) % n) as usize,
                FeedOrder::Random => self.rng.gen_range(0..n) as usize,
                FeedOrder::Unique => {
                    (self.sc.feed_cursors[i].fetch_add(1, Ordering::Relaxed) % n) as usize
                }
            };
        }
    }

    /// Whether a request could not be built since the last call (its iteration or setup
    /// stopped there).
    pub fn take_invalid(&mut self) -> bool {
        std::mem::take(&mut self.invalid) > 0
    }

    /// How long a closed-model VU waits before its next iteration when a connection could not
    /// be made in this one: [`BACKOFF_FIRST`], doubling with each such iteration in a row up
    /// to [`BACKOFF_MAX`], each wait drawn between half and all of it so that the VUs do not
    /// retry in step. A dead port answers a connect in microseconds: without the wait, 200 VUs
    /// made 32 800 attempts a second and burnt 1.6 cores measuring nothing but themselves.
    /// `None` once an iteration connected (or never needed to).
    pub fn take_backoff(&mut self) -> Option<Duration> {
        if !std::mem::take(&mut self.refused) {
            self.refusals = 0;
            return None;
        }
        self.refusals = self.refusals.saturating_add(1);
        let full = BACKOFF_FIRST
            .saturating_mul(1 << (self.refusals - 1).min(16))
            .min(BACKOFF_MAX);
        Some(full.mul_f64(0.5 + 0.5 * self.rng.gen::<f64>()))
    }

    /// Whether the VU's setup has run.
    pub fn is_set_up(&self) -> bool {
        self.set_up
    }

    /// Runs the VU's setup steps once, before its first iteration.
    pub async fn ensure_setup(&mut self) {
        if self.set_up {
            return;
        }
        self.set_up = true;
        let sc = self.sc.clone();
        if !sc.setup.is_empty() {
            self.pick_rows();
            self.walk(&sc.setup, None).await;
        }
    }

    /// A once-per-test phase's VU: strict (the first failure ends a run and is kept), its
    /// requests tagged with the phase's group.
    pub fn for_phase(sc: Arc<ScenarioRt>, group: u16) -> Vu {
        let mut vu = Vu::new(1, sc);
        vu.strict = true;
        vu.root_group = group;
        vu.set_up = true;
        vu
    }

    /// Run `run` of a phase: the feed rows for it (the row `run` of `for_each`), then the
    /// steps; the first failure, if any. Captures and cookies carry over from run to run, as
    /// from iteration to iteration.
    pub async fn run_phase(&mut self, run: u64, for_each: Option<usize>) -> Option<String> {
        let sc = self.sc.clone();
        self.iteration = run;
        self.pick_rows();
        if let Some(f) = for_each {
            if let Some(row) = self.rows.get_mut(f) {
                *row = run as usize;
            }
        }
        self.walk(&sc.flow, None).await;
        self.failure.take()
    }

    /// The values of `slots`, as text and whether each is JSON text (empty when not captured).
    pub fn captured(&self, slots: &[usize]) -> Vec<(String, bool)> {
        slots
            .iter()
            .map(|&s| {
                let text = self.captures.get(s).cloned().flatten().unwrap_or_default();
                (text, self.capture_json.get(s).copied().unwrap_or(false))
            })
            .collect()
    }

    /// One iteration of the flow, recorded. `lag` (open model) is how late it started against
    /// its schedule; it is added to the first request's duration (no coordinated omission).
    /// `t0`: when it starts, if the caller has just read the clock.
    pub async fn iterate(&mut self, lag: Option<Duration>, t0: Option<Instant>) {
        let sc = self.sc.clone();
        self.pick_rows();
        let t0 = t0.unwrap_or_else(Instant::now);
        self.last_end = None;
        self.walk(&sc.flow, lag).await;
        // The pause belongs to the iteration, as a `sleep()` at the end of a k6 script does.
        if let Some(t) = &sc.think {
            let d = draw(t, &mut self.rng);
            tokio::time::sleep(d).await;
            self.last_end = None;
        }
        // An iteration that ends with a request ends when that request did.
        let end = self.last_end.take().unwrap_or_else(Instant::now);
        let micros = end.saturating_duration_since(t0).as_micros() as u64
            + lag.map_or(0, |l| l.as_micros() as u64);
        local::record(|r| r.record_iteration(sc.index, micros, true));
        self.iteration += 1;
    }

    pub async fn teardown(&mut self) {
        let sc = self.sc.clone();
        if self.set_up && !sc.teardown.is_empty() {
            self.walk(&sc.teardown, None).await;
        }
    }

    async fn walk(&mut self, steps: &[ExecStep], mut lag: Option<Duration>) {
        let invalid_before = self.invalid;
        let mut stack = Stack::new(Frame {
            steps,
            next: 0,
            group: self.root_group,
            group_started: None,
        });
        while let Some(top) = stack.last_mut() {
            let Frame {
                steps: list,
                next: i,
                group,
                group_started,
            } = *top;
            if i >= list.len() {
                // A group's list is done: the group ran to its end (k6's `group_duration`).
                if let Some(t0) = group_started {
                    let micros = t0.elapsed().as_micros() as u64;
                    let scenario = self.sc.index;
                    local::record(|r| r.record_group(scenario, group, micros));
                }
                stack.pop();
                continue;
            }
            top.next += 1;
            match &list[i] {
                ExecStep::Request(id) => {
                    self.request(*id, group, lag.take()).await;
                    // A request that could not be built ends the walk: what follows would
                    // use what it did not get. So does any failure in a phase.
                    if self.invalid != invalid_before || self.failure.is_some() {
                        return;
                    }
                }
                ExecStep::Think(t) => {
                    let d = draw(t, &mut self.rng);
                    tokio::time::sleep(d).await;
                    self.last_end = None;
                }
                ExecStep::Group { id, steps } => stack.push(Frame {
                    steps,
                    next: 0,
                    group: *id,
                    group_started: Some(Instant::now()),
                }),
                ExecStep::Pick {
                    cumulative,
                    branches,
                } => {
                    let total = *cumulative.last().unwrap_or(&1);
                    let r = self.rng.gen_range(0..total.max(1));
                    let idx = cumulative.partition_point(|&c| c <= r);
                    if let Some(b) = branches.get(idx) {
                        stack.push(Frame {
                            steps: b,
                            next: 0,
                            group,
                            group_started: None,
                        });
                    }
                }
            }
        }
    }

    /// Sends one request, judges its response (expected status, checks, captures) and records
    /// it.
    async fn request(&mut self, id: RequestId, group: u16, lag: Option<Duration>) {
        let sc = self.sc.clone();
        let spec = &sc.plan.requests[id];
        let mut resp_body = std::mem::take(&mut self.resp_body);
        let cut = CutKey {
            scenario: sc.index,
            request: id as u16,
            group,
        };
        let Sent { mut o, start } = self.send(&sc, id, cut, &mut resp_body).await;
        if o.error == ErrorClass::InvalidRequest {
            // Not sent: no sample, no check; counted apart, and said once.
            if self.strict {
                self.failure = Some(format!(
                    "request {:?} ({} {:?}) could not be built (invalid_request)",
                    spec.name,
                    spec.method,
                    spec.url.source()
                ));
            }
            self.invalid += 1;
            self.last_end = None;
            self.resp_body = resp_body;
            let why = Reason::new(o.error, o.reason);
            local::record(|r| {
                r.record_invalid_request(cut);
                r.record_reason(cut, why);
            });
            return;
        }
        let sent = o.sent;
        self.refused |= o.error == ErrorClass::Connect;

        for (k, val) in std::mem::take(&mut o.cookies) {
            match self.cookies.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = val,
                None => self.cookies.push((k, val)),
            }
        }
        let status = o.status;
        let failed = o.error != ErrorClass::None
            || if spec.expect.status.is_empty() {
                status >= 400
            } else {
                !spec.expect.status.contains(&status)
            };
        let error = if o.error == ErrorClass::None && failed {
            ErrorClass::Status
        } else {
            o.error
        };
        // http_req_duration: from the connection in hand to the last byte (sending + waiting +
        // receiving, as k6); from the start for a request that never had a connection.
        let base = o.timings.got_conn.unwrap_or(start);
        let elapsed = o.end.saturating_duration_since(base);
        let mut outcomes = std::mem::take(&mut self.outcomes);
        outcomes.clear();
        self.check(&sc, id, &mut o, error, elapsed, &resp_body, &mut outcomes);
        if self.strict && (failed || outcomes.contains(&false)) {
            self.failure = Some(failure_of(
                spec,
                &sc.plan.captures,
                status,
                error,
                &outcomes,
            ));
        }
        let gauges = std::mem::take(&mut self.gauge_values);
        self.last_end = Some(o.end);
        record(
            &sc,
            Done {
                id,
                key: SeriesKey {
                    scenario: sc.index,
                    request: id as u16,
                    group,
                    status,
                    error,
                    failed,
                },
                o: &o,
                start,
                elapsed,
                lag,
                sent,
                outcomes: &outcomes,
                gauges: &gauges,
            },
        );
        self.outcomes = outcomes;
        self.gauge_values = gauges;
        // A large body is not kept between requests (thousands of VUs).
        if resp_body.capacity() <= 64 * 1024 {
            self.resp_body = resp_body;
        }
    }

    /// Renders what the request spec leaves open (the URL, the headers, the body; nothing when
    /// the whole request was built beforehand), adds this VU's cookies, and sends it. The
    /// response body lands in `resp_body` when a check or capture needs it.
    async fn send(
        &mut self,
        sc: &ScenarioRt,
        id: RequestId,
        cut: CutKey,
        resp_body: &mut Vec<u8>,
    ) -> Sent {
        let plan = &*sc.plan;
        let spec = &plan.requests[id];
        let rt = &sc.requests[id];
        let timeout = spec.timeout.unwrap_or(plan.defaults.timeout);

        // The URL: known before the run, or rendered (a path is joined to the base URL, an
        // absolute URL is used as is) and parsed.
        let parsed;
        let url = match &rt.fixed_url {
            Some(u) => Ok(u),
            None => {
                self.render_url(spec, &sc.base_url);
                parsed = crate::url::parse_request_url(&self.url);
                parsed.as_ref()
            }
        };
        let dynamic_target;
        let target = match (&rt.fixed_target, url) {
            (Some(t), _) => Some(t),
            (None, Ok(u)) if rt.fixed_url.is_none() && rt.names_ok => {
                dynamic_target = message::Target::from_url(u);
                dynamic_target.as_ref()
            }
            _ => None,
        };

        let cookie = self.cookie_header();
        let cookie_opt = (!cookie.is_empty()).then_some(cookie.as_str());

        // Headers and body: nothing to render when the whole request was built beforehand.
        let prebuilt = match (&rt.fixed_bytes, cookie_opt, target.is_some()) {
            (Some(fixed), None, true) => Some(fixed),
            _ => None,
        };
        let mut hvals = std::mem::take(&mut self.hvals);
        let mut spans = std::mem::take(&mut self.spans);
        let mut body = std::mem::take(&mut self.body);
        hvals.clear();
        spans.clear();
        body.clear();
        let headers_ok = match prebuilt {
            Some(_) => true,
            None => {
                let parts = Rendered {
                    hvals: &mut hvals,
                    spans: &mut spans,
                    body: &mut body,
                };
                self.render_parts(spec, rt, parts)
            }
        };
        let values = HeaderValues {
            rt,
            hvals: &hvals,
            spans: &spans,
        };
        // The body, rendered or (a prebuilt request) in its bytes: what a redirect's later hop
        // sends again.
        let body_buf = body;
        let body: &[u8] = match prebuilt {
            Some(p) => &p.bytes[p.body_start..],
            None => &body_buf,
        };

        resp_body.clear();
        let start = Instant::now();
        // A header value with a line break or a control character is never sent
        // (`invalid_request`, below).
        let o = match (url, target) {
            (Ok(url), Some(target)) if headers_ok => {
                let in_flight = InFlight::new(cut, prebuilt.map_or(0, |p| p.bytes.len()));
                let build = |out: &mut Vec<u8>, hop: pool::Hop<'_>| {
                    let with_body = hop.with_body && spec.body.is_some();
                    let mut has = rt.has;
                    if !hop.with_body {
                        // reqwest drops these with the body of a 301/302/303.
                        has.content_type = false;
                        has.content_length = false;
                    }
                    let skip = |n: &str| {
                        (hop.cross_origin && SENSITIVE.contains(&n))
                            || (!hop.with_body && BODY_HEADERS.contains(&n))
                    };
                    message::write_head(
                        out,
                        message::HeadParts {
                            method: hop.method,
                            target: hop.target,
                            cookie: cookie_opt.filter(|_| !hop.cross_origin),
                            has,
                            user_agent: crate::engine::http::message::USER_AGENT,
                            body_len: with_body.then_some(body.len()),
                            content_type: content_type_of(spec.body.as_ref().filter(|_| with_body)),
                        },
                        values.iter().filter(|(n, _)| !skip(n)),
                    );
                    if with_body {
                        out.extend_from_slice(body);
                    }
                    in_flight
                        .built
                        .fetch_add(out.len() as u64, Ordering::Relaxed);
                };
                let mut scratch = std::mem::take(&mut self.out);
                let o = send_request(
                    sc,
                    pool::Outgoing {
                        method: &spec.method,
                        url,
                        target,
                        prebuilt: prebuilt.map(|p| &p.bytes[..]),
                        build: &build,
                        keep_body: rt.needs_body,
                        keep_headers: rt.needs_body,
                    },
                    timeout,
                    start,
                    &mut scratch,
                    resp_body,
                )
                .await;
                in_flight.landed();
                self.out = scratch;
                o
            }
            // A URL that cannot be requested, or a header value HTTP forbids (a line break
            // from a CSV cell): nothing is sent.
            (url, target) => {
                warn_invalid(spec, rt, || {
                    unsendable(url.err(), target.is_some(), &values)
                });
                let why = reason::invalid(url.is_ok(), target.is_some(), rt.names_ok);
                Outcome::failed(why, start)
            }
        };
        self.hvals = hvals;
        self.spans = spans;
        self.body = body_buf;
        self.cookie = cookie;

        Sent { o, start }
    }

    /// Renders the headers and the body of a request into `parts`; says whether every header
    /// value can be sent.
    fn render_parts(&mut self, spec: &RequestSpec, rt: &RequestRt, parts: Rendered<'_>) -> bool {
        let mut headers_ok = true;
        for h in &rt.headers {
            let a = parts.hvals.len();
            h.value.render(self, parts.hvals);
            headers_ok &= message::valid_header_value(&parts.hvals.as_bytes()[a..]);
            parts.spans.push((a, parts.hvals.len()));
        }
        if let Some(b) = &spec.body {
            self.render_body(b, parts.body);
        }
        headers_ok
    }

    /// The cookies this VU was given, in one `Cookie` header value (empty for none), in a
    /// buffer the caller gives back to `self.cookie`.
    #[inline]
    fn cookie_header(&mut self) -> String {
        let mut cookie = std::mem::take(&mut self.cookie);
        cookie.clear();
        for (i, (k, v)) in self.cookies.iter().enumerate() {
            if i > 0 {
                cookie.push_str("; ");
            }
            cookie.push_str(k);
            cookie.push('=');
            cookie.push_str(v);
        }
        cookie
    }

    /// The request's checks and captures on its response (a capture that finds its value stores
    /// it in this VU), each outcome pushed to `outcomes`; the values its gauges read go to
    /// `self.gauge_values`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn check(
        &mut self,
        sc: &ScenarioRt,
        id: RequestId,
        o: &mut Outcome,
        error: ErrorClass,
        elapsed: Duration,
        resp_body: &[u8],
        outcomes: &mut Vec<bool>,
    ) {
        let spec = &sc.plan.requests[id];
        let rt = &sc.requests[id];
        let status = o.status;
        let json = if rt.needs_json && error == ErrorClass::None {
            serde_json::from_slice::<serde_json::Value>(resp_body).ok()
        } else {
            None
        };
        let headers = o.headers.take();
        // A response that broke off (reset, timeout, too large, ...) fails every check, as in
        // k6, where such a response has no status.
        let broken = !matches!(error, ErrorClass::None | ErrorClass::Status);
        for c in &spec.expect.checks {
            let ok = !broken
                && match &c.kind {
                    CheckKind::Status(list) => list.contains(&status),
                    CheckKind::JsonPresent(p) => json
                        .as_ref()
                        .is_some_and(|j| p.path.query(j).first().is_some()),
                    CheckKind::JsonIs(p, op, want) => {
                        match json.as_ref().and_then(|j| p.path.query(j).first()) {
                            Some(got) => self.compare(got, *op, want),
                            None => false,
                        }
                    }
                    CheckKind::BodyContains(t) => {
                        let mut text = std::mem::take(&mut self.text);
                        text.clear();
                        t.render(self, &mut text);
                        let found = memfind(resp_body, text.as_bytes());
                        self.text = text;
                        found && error == ErrorClass::None
                    }
                    CheckKind::HeaderPresent(h) => headers
                        .as_ref()
                        .is_some_and(|hs| hs.contains_key(h.as_str())),
                    CheckKind::MaxDuration(d) => error == ErrorClass::None && elapsed <= *d,
                };
            outcomes.push(ok);
        }
        for cap in &spec.captures {
            let value = self.read(&cap.source, json.as_ref(), headers.as_ref());
            outcomes.push(value.is_some());
            if let Some((v, is_json)) = value {
                self.captures[cap.slot] = Some(v);
                self.capture_json[cap.slot] = is_json;
            }
        }
        self.gauge_values.clear();
        for g in &spec.gauges {
            // A response without the value, or with one that is not a number, adds no sample.
            let value = self
                .read(&g.source, json.as_ref(), headers.as_ref())
                .and_then(|(v, _)| gauge_number(&v));
            if let Some(v) = value {
                self.gauge_values.push((g.metric, v));
            }
        }
    }

    /// Whether `got` compares so with the expected value, rendered now when it is a template
    /// (with this VU's captures: "read back what I created").
    fn compare(&mut self, got: &serde_json::Value, op: Compare, want: &Expected) -> bool {
        let rendered;
        let want = match want {
            Expected::Value(v) => v,
            Expected::Template(t) => {
                let mut out = Vec::new();
                t.render(self, &mut out);
                match serde_json::from_slice(&out) {
                    Ok(v) => {
                        rendered = v;
                        &rendered
                    }
                    Err(_) => return false,
                }
            }
        };
        compare_json(got, op, want)
    }

    /// The value at `source` in a response, as text, and whether that text is JSON: a JSON
    /// string as its content (text), any other JSON value as its JSON text; a header or a
    /// cookie as text.
    fn read(
        &self,
        source: &CaptureSource,
        json: Option<&serde_json::Value>,
        headers: Option<&reqwest::header::HeaderMap>,
    ) -> Option<(String, bool)> {
        match source {
            CaptureSource::Json(p) => json.and_then(|j| {
                p.path.query(j).first().map(|v| match v {
                    serde_json::Value::String(s) => (s.clone(), false),
                    other => (other.to_string(), true),
                })
            }),
            CaptureSource::Header(h) => headers
                .and_then(|hs| hs.get(h.as_str()))
                .and_then(|v| v.to_str().ok())
                .map(|v| (v.to_string(), false)),
            CaptureSource::Cookie(name) => self
                .cookies
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| (v.clone(), false)),
        }
    }

    /// Renders the request's URL into `self.url`: the path joined to the base URL (an absolute
    /// URL as is), then the query.
    fn render_url(&mut self, spec: &RequestSpec, base_url: &str) {
        let mut url = std::mem::take(&mut self.url);
        url.clear();
        let mut text = std::mem::take(&mut self.text);
        match spec.url.as_static() {
            Some(s) => join_url(&mut url, base_url, s),
            None => {
                // Values are percent-encoded where a URL cannot hold them (a line break, a
                // brace), so the URL sent is the one the values spell.
                text.clear();
                spec.url.render_url(self, &mut text);
                join_url(&mut url, base_url, &text);
            }
        }
        for (i, (k, v)) in spec.query.iter().enumerate() {
            text.clear();
            v.render(self, &mut text);
            push_query(&mut url, i, k, &text);
        }
        self.text = text;
        self.url = url;
    }

    fn render_body(&mut self, body: &Body, out: &mut Vec<u8>) {
        match body {
            Body::Json(t) => t.render(self, out),
            Body::Text(t) => {
                let mut s = std::mem::take(&mut self.text);
                s.clear();
                t.render(self, &mut s);
                out.extend_from_slice(s.as_bytes());
                self.text = s;
            }
            Body::Form(fields) => {
                let mut values = Vec::with_capacity(fields.len());
                for (_, v) in fields {
                    values.push(v.render_string(self));
                }
                let mut it = values.into_iter();
                out.extend_from_slice(&form_body(fields, |_| it.next().unwrap_or_default()));
            }
        }
    }
}

/// Why a request of a once-per-test phase failed: its status or error, else its first check
/// (or capture) that failed.
fn failure_of(
    spec: &RequestSpec,
    captures: &[String],
    status: u16,
    error: ErrorClass,
    outcomes: &[bool],
) -> String {
    let what = format!(
        "request {:?} ({} {:?})",
        spec.name,
        spec.method,
        spec.url.source()
    );
    let expected = || match spec.expect.status.as_slice() {
        [] => "below 400".to_string(),
        list => list
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
    };
    match error {
        ErrorClass::None => {}
        ErrorClass::Status => {
            return format!("{what} got status {status}, expected {}", expected());
        }
        other => return format!("{what} failed: {}", other.as_str()),
    }
    let check = spec
        .check_names(captures)
        .zip(outcomes)
        .find(|(_, ok)| !**ok)
        .map(|(name, _)| name);
    match check {
        Some(name) => format!("{what}: check {name:?} failed"),
        None => format!("{what} failed"),
    }
}

/// Why a request could not be built, for the warning: its URL (`url_error`), its target (not
/// http(s), or a header name that is no token), or a header value HTTP would refuse.
fn unsendable(url_error: Option<&String>, target: bool, values: &HeaderValues<'_>) -> String {
    match (url_error, target) {
        (Some(e), _) => format!("its URL cannot be requested: it {e}"),
        (None, false) if !values.rt.names_ok => "a header name is not an HTTP token".into(),
        (None, false) => "its URL is not an http(s) URL with a host".into(),
        (None, true) => unsendable_header(values),
    }
}

/// Which header of a request HTTP would refuse, and why, for the warning.
fn unsendable_header(values: &HeaderValues<'_>) -> String {
    values
        .iter()
        .enumerate()
        .find_map(|(i, (_, v))| {
            let c = crate::text::forbidden_in_header(v)?;
            let h = &values.rt.headers[i];
            Some(format!(
                "its header {:?} (template {:?}) came out with {}, which HTTP forbids in a header",
                h.name,
                h.value.source(),
                crate::text::describe(c)
            ))
        })
        .unwrap_or_else(|| "a header name is not an HTTP token".into())
}

/// The warning for a request that could not be built, printed once per request and run: which
/// template made it unsendable, never the value (it may be a captured token).
fn warn_invalid(spec: &RequestSpec, rt: &RequestRt, why: impl FnOnce() -> String) {
    if rt.invalid_reported.swap(true, Ordering::Relaxed) {
        return;
    }
    let why = why();
    let url = spec.url.source();
    crate::redact::errln!(
        "warning: request {:?} ({} {url:?}) could not be built and was not sent: {why}; \
         counted as invalid_request (not in http_reqs nor http_req_failed: the plan's data is at \
         fault, not the target); the iteration stops there; said once, however often it happens",
        spec.name,
        spec.method
    );
}

/// Headers dropped when a redirect leaves the origin (as reqwest).
const SENSITIVE: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "www-authenticate",
];
/// Headers dropped with the body of a 301/302/303 redirect (as reqwest).
const BODY_HEADERS: [&str; 4] = [
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
];

/// A request's header values: rendered (`spans` into `hvals`), or the static values of the
/// request when nothing was rendered.
struct HeaderValues<'a> {
    rt: &'a RequestRt,
    hvals: &'a str,
    spans: &'a [(usize, usize)],
}

impl HeaderValues<'_> {
    /// (lower-case name, value) pairs.
    fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.rt.lower_names.iter().enumerate().map(|(i, n)| {
            let v = match self.spans.get(i) {
                Some(&(a, b)) => &self.hvals[a..b],
                None => self.rt.headers[i].value.as_static().unwrap_or_default(),
            };
            (&**n, v)
        })
    }
}

/// The first wait of a VU whose connection could not be made ([`Vu::take_backoff`]).
pub const BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest: one attempt a second per VU against a dead port.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What a request came to.
struct Outcome {
    status: u16,
    error: ErrorClass,
    /// Why it failed, in `error`'s words (`reason::of`); empty when it did not.
    reason: &'static str,
    /// The bytes written to and read from the socket (`data_sent`, `data_received`).
    sent: u64,
    received: u64,
    headers: Option<reqwest::header::HeaderMap>,
    cookies: Vec<(String, String)>,
    /// The last hop's (its `wrote` starts the waiting time), with the first hop's connection
    /// when redirected.
    timings: message::Timings,
    /// When the (first hop of the) request was written: the end of its sending time.
    sent_at: Option<Instant>,
    end: Instant,
}

impl Outcome {
    fn failed(why: Reason, start: Instant) -> Outcome {
        Outcome {
            status: 0,
            error: why.class,
            reason: why.text,
            sent: 0,
            received: 0,
            headers: None,
            cookies: Vec::new(),
            timings: message::Timings::default(),
            sent_at: None,
            end: start,
        }
    }
}

/// A request on its way: recorded as cut off in flight if its future is dropped (the iteration
/// interrupted) before the response came.
struct InFlight {
    key: CutKey,
    /// The bytes of the hops built so far: what a request cut off in flight counts in
    /// `data_sent` (its future, and the socket counts in it, are gone).
    built: std::sync::atomic::AtomicU64,
    landed: bool,
}

impl InFlight {
    /// A request on its way, of `built` bytes so far (a prebuilt request's).
    fn new(key: CutKey, built: usize) -> InFlight {
        InFlight {
            key,
            built: AtomicU64::new(built as u64),
            landed: false,
        }
    }

    fn landed(mut self) {
        self.landed = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.landed {
            let (key, sent) = (self.key, *self.built.get_mut());
            local::record(|r| r.record_cut_request(key, sent));
        }
    }
}

/// What sending a request gave: its outcome, and when it started (after it was rendered).
struct Sent {
    o: Outcome,
    start: Instant,
}

/// A request done and judged, for the recorder.
struct Done<'a> {
    id: RequestId,
    key: SeriesKey,
    o: &'a Outcome,
    start: Instant,
    /// `http_req_duration`, before the lag is added.
    elapsed: Duration,
    /// How late an open-model iteration started (added to its duration: coordinated omission).
    lag: Option<Duration>,
    sent: u64,
    outcomes: &'a [bool],
    /// Values read for the request's gauges: (metric, value).
    gauges: &'a [(usize, f64)],
}

/// Records a request into this thread's recorder: its timings (k6's `http_req_*` trends), its
/// bytes, its checks, the custom metrics it feeds, and for an open-model iteration its start lag
/// and raw duration.
#[inline]
fn record(sc: &ScenarioRt, d: Done<'_>) {
    let Done {
        id,
        key,
        o,
        start,
        elapsed,
        lag,
        sent,
        outcomes,
        gauges,
    } = d;
    let plan = &*sc.plan;
    let spec = &plan.requests[id];
    let rt = &sc.requests[id];
    let failed = key.failed;
    let lag_us = lag.map_or(0, |l| l.as_micros() as u64);
    let duration_us = elapsed.as_micros() as u64 + lag_us;
    let us = |d: Duration| d.as_micros() as u64;
    let mut timings = [(Trend::Duration, duration_us); 7];
    let mut n = 1;
    let mut push = |t: Trend, v: u64| {
        timings[n] = (t, v);
        n += 1;
    };
    let t = o.timings;
    if let (Some(w), Some(f)) = (t.wrote, t.first_byte) {
        push(Trend::Waiting, us(f.saturating_duration_since(w)) + lag_us);
        push(Trend::Receiving, us(o.end.saturating_duration_since(f)));
    }
    let span =
        |s: Option<(Instant, Instant)>| s.map_or(0, |(a, b)| us(b.saturating_duration_since(a)));
    if let Some(g) = t.got_conn {
        push(Trend::Blocked, us(g.saturating_duration_since(start)));
        push(Trend::Connecting, span(t.connect));
        push(Trend::TlsHandshaking, span(t.tls));
        if let Some(w) = o.sent_at {
            push(Trend::Sending, us(w.saturating_duration_since(g)));
        }
    }
    let scenario = sc.index;
    let received = o.received;
    let why = (!o.reason.is_empty()).then(|| Reason::new(o.error, o.reason));
    local::record(|r| {
        r.record_request(key, &timings[..n], sent, received);
        if let Some(why) = why {
            let at = CutKey {
                scenario,
                request: id as u16,
                group: key.group,
            };
            r.record_reason(at, why);
        }
        if lag.is_some() {
            let s = r.scenario_mut(scenario);
            crate::engine::metrics::recorder::record_opt(&mut s.raw_duration, us(elapsed));
            crate::engine::metrics::recorder::record_opt(&mut s.start_lag, lag_us);
        }
        for (i, ok) in outcomes.iter().enumerate() {
            r.record_check(
                CheckKey {
                    scenario,
                    check: rt.check_base + i as u32,
                    group: key.group,
                },
                *ok,
            );
        }
        for &m in &spec.metrics {
            let ck = CustomKey {
                scenario,
                metric: m as u16,
                request: id as u16,
            };
            match plan.metrics[m].kind {
                MetricType::Trend => r.record_custom_trend(ck, duration_us),
                MetricType::Counter => r.record_custom_counter(ck, failed as u64),
                MetricType::Rate => r.record_custom_rate(ck, !failed),
                // Gauges are fed by `gauges` below, with a value read from the response.
                MetricType::Gauge => {}
            }
        }
        if !gauges.is_empty() {
            let at_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            for &(m, v) in gauges {
                let ck = CustomKey {
                    scenario,
                    metric: m as u16,
                    request: id as u16,
                };
                r.record_custom_gauge(ck, v, at_us);
            }
        }
    });
}

/// A gauge's value from the text a response gave: a number as Go and k6 read it (`42`, `1.5e3`),
/// or a boolean as 1 or 0, as k6's `Gauge.add` takes `true`; anything else is no value.
fn gauge_number(text: &str) -> Option<f64> {
    match text.trim() {
        "true" => Some(1.0),
        "false" => Some(0.0),
        t => crate::rules::threshold::parse_number(t),
    }
}

/// Sends over the engine's client (HTTP/1.1, or HTTP/2 where the server chose it), within
/// `timeout`.
async fn send_request(
    sc: &ScenarioRt,
    out: pool::Outgoing<'_>,
    timeout: Duration,
    start: Instant,
    scratch: &mut Vec<u8>,
    resp_body: &mut Vec<u8>,
) -> Outcome {
    let mut progress = message::Progress::new(start);
    // The deadline from the start already read: no clock read for the timer.
    let deadline = tokio::time::Instant::from_std(start) + timeout;
    let result = tokio::time::timeout_at(
        deadline,
        pool::send(&sc.pool, out, scratch, &mut progress, resp_body),
    )
    .await
    .unwrap_or(Err(message::Error::Timeout));
    // What the sockets took and gave, a timed-out request's included.
    progress.settle();
    let t = progress.timings;
    let mut o = Outcome {
        status: 0,
        error: ErrorClass::None,
        reason: "",
        sent: progress.sent,
        received: progress.received,
        headers: None,
        cookies: Vec::new(),
        timings: t,
        sent_at: progress.first_wrote.or(t.wrote),
        end: Instant::now(),
    };
    match result {
        Ok(r) => {
            o.status = r.status;
            o.headers = r.headers;
            o.cookies = r.cookies;
        }
        Err(e) => {
            let why = reason::of(&e, &t);
            o.error = why.class;
            o.reason = why.text;
        }
    }
    o
}

/// `got` against `want`: equality as [`json_equal`]; an order between numbers (a numeric
/// string counts as its number, as equality lets `"200"` equal 200).
fn compare_json(got: &serde_json::Value, op: Compare, want: &serde_json::Value) -> bool {
    let number = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    let order = || number(got)?.partial_cmp(&number(want)?);
    use std::cmp::Ordering::{Greater, Less};
    match op {
        Compare::Eq => json_equal(got, want),
        Compare::Ne => !json_equal(got, want),
        Compare::Gt => order() == Some(Greater),
        Compare::Gte => order().is_some_and(|o| o != Less),
        Compare::Lt => order() == Some(Less),
        Compare::Lte => order().is_some_and(|o| o != Greater),
    }
}

fn json_equal(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    if got == want {
        return true;
    }
    // A YAML scalar `200` and a JSON string "200" (or the reverse) compare by text.
    match (got, want) {
        (serde_json::Value::String(g), w) => *g == w.to_string().trim_matches('"'),
        (g, serde_json::Value::String(w)) => {
            serde_json::from_str::<serde_json::Value>(w).is_ok_and(|v| v == *g)
        }
        _ => false,
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn join_url(out: &mut String, base: &str, path: &str) {
    if path.starts_with("http://") || path.starts_with("https://") {
        out.push_str(path);
    } else {
        out.push_str(base);
        if !path.starts_with('/') {
            out.push('/');
        }
        out.push_str(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_and_encode() {
        let mut s = String::new();
        join_url(&mut s, "http://127.0.0.1:1", "/health");
        assert_eq!(s, "http://127.0.0.1:1/health");
        s.clear();
        join_url(&mut s, "http://127.0.0.1:1", "http://127.0.0.2/x");
        assert_eq!(s, "http://127.0.0.2/x");
        assert_eq!(crate::url::urlencode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(crate::url::urlencode("é/x"), "%C3%A9%2Fx");
    }

    #[test]
    fn json_equality_tolerates_scalar_text() {
        assert!(json_equal(
            &serde_json::json!("bearer"),
            &serde_json::json!("bearer")
        ));
        assert!(json_equal(
            &serde_json::json!("200"),
            &serde_json::json!(200)
        ));
        assert!(!json_equal(&serde_json::json!(1), &serde_json::json!(2)));
    }

    #[test]
    fn comparisons_order_numbers_and_nothing_else() {
        use serde_json::json;
        assert!(compare_json(&json!(3), Compare::Gt, &json!(0)));
        assert!(compare_json(&json!("3"), Compare::Gte, &json!(3)));
        assert!(!compare_json(&json!(3), Compare::Lt, &json!(3)));
        assert!(compare_json(&json!(3), Compare::Lte, &json!(3.0)));
        assert!(compare_json(&json!(1), Compare::Ne, &json!(2)));
        assert!(
            !compare_json(&json!("a"), Compare::Gt, &json!(0)),
            "not a number"
        );
        assert!(!compare_json(&json!(null), Compare::Lt, &json!(1)));
        assert!(compare_json(
            &json!({"a": [1]}),
            Compare::Eq,
            &json!({"a": [1]})
        ));
    }
}
