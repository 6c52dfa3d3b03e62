//! A virtual user: a small state (captures, cookies, feed rows, an RNG) and the loop that walks a
//! flow's steps, sends each request, judges its checks, takes its captures and records it into
//! the thread's recorder. A VU is a plain struct driven by a task, not a runtime of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::http::{classify, MAX_BODY};
use crate::metrics::local;
use crate::metrics::recorder::{CheckKey, CustomKey, ErrorClass, SeriesKey, Trend};
use crate::plan::model::{Body, CaptureSource, CheckKind, FeedOrder, Plan, RequestId, Step, Think};
use crate::template::RenderCtx;
use crate::thresholds::MetricType;

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

/// Converts plan steps, numbering groups in `groups` (index 0 is the empty group).
pub fn compile_steps(steps: &[Step], groups: &mut Vec<String>) -> Vec<ExecStep> {
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
                branches: branches.iter().map(|b| compile_steps(b, groups)).collect(),
            },
            Step::Group { name, steps } => {
                let id = match groups.iter().position(|g| g == name) {
                    Some(i) => i,
                    None => {
                        groups.push(name.clone());
                        groups.len() - 1
                    }
                };
                ExecStep::Group {
                    id: id as u16,
                    steps: compile_steps(steps, groups),
                }
            }
        })
        .collect()
}

/// What the engine precomputes per request.
#[derive(Debug)]
pub struct RequestRt {
    pub method: reqwest::Method,
    /// First index of this request's checks in the run's check table (expect checks, then one
    /// per capture).
    pub check_base: u32,
    pub needs_body: bool,
    pub needs_json: bool,
    /// The plan's default headers the request does not set itself, then the request's own: a
    /// request's header replaces a default of the same name.
    pub headers: Vec<crate::plan::model::Header>,
}

/// Everything VUs of one scenario share.
pub struct ScenarioRt {
    pub index: u16,
    pub name: Arc<str>,
    pub env: Arc<str>,
    pub plan: Arc<Plan>,
    /// Without a trailing slash.
    pub base_url: String,
    pub client: reqwest::Client,
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
    cookies: Vec<(String, String)>,
    rows: Vec<usize>,
    rng: SmallRng,
    set_up: bool,
    url: String,
    text: String,
    body: Vec<u8>,
}

impl RenderCtx for Vu {
    fn capture(&self, slot: usize) -> Option<&str> {
        self.captures.get(slot)?.as_deref()
    }
    fn feed(&self, feed: usize, column: usize) -> Option<&str> {
        let f = self.sc.plan.feeds.get(feed)?;
        let row = f.rows.get(*self.rows.get(feed)?)?;
        row.get(column).map(|s| &**s)
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
        let rows = vec![0; sc.plan.feeds.len()];
        Vu {
            id,
            sc,
            iteration: 0,
            captures,
            cookies: Vec::new(),
            rows,
            rng: SmallRng::from_entropy(),
            set_up: false,
            url: String::new(),
            text: String::new(),
            body: Vec::new(),
        }
    }

    fn pick_rows(&mut self) {
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

    /// One iteration of the flow, recorded. `lag` (open model) is how late it started against
    /// its schedule; it is added to the first request's duration (no coordinated omission).
    pub async fn iterate(&mut self, lag: Option<Duration>) {
        let sc = self.sc.clone();
        self.pick_rows();
        let t0 = Instant::now();
        self.walk(&sc.flow, lag).await;
        // The pause belongs to the iteration, as a `sleep()` at the end of a k6 script does.
        if let Some(t) = &sc.think {
            let d = draw(t, &mut self.rng);
            tokio::time::sleep(d).await;
        }
        let micros = t0.elapsed().as_micros() as u64 + lag.map_or(0, |l| l.as_micros() as u64);
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
        let mut stack: Vec<(&[ExecStep], usize, u16)> = vec![(steps, 0, 0)];
        while let Some(top) = stack.last_mut() {
            let (list, i, group) = *top;
            if i >= list.len() {
                stack.pop();
                continue;
            }
            top.1 += 1;
            match &list[i] {
                ExecStep::Request(id) => self.request(*id, group, lag.take()).await,
                ExecStep::Think(t) => {
                    let d = draw(t, &mut self.rng);
                    tokio::time::sleep(d).await;
                }
                ExecStep::Group { id, steps } => stack.push((steps, 0, *id)),
                ExecStep::Pick {
                    cumulative,
                    branches,
                } => {
                    let total = *cumulative.last().unwrap_or(&1);
                    let r = self.rng.gen_range(0..total.max(1));
                    let idx = cumulative.partition_point(|&c| c <= r);
                    if let Some(b) = branches.get(idx) {
                        stack.push((b, 0, group));
                    }
                }
            }
        }
    }

    async fn request(&mut self, id: RequestId, group: u16, lag: Option<Duration>) {
        let sc = self.sc.clone();
        let plan = &*sc.plan;
        let spec = &plan.requests[id];
        let rt = &sc.requests[id];

        // URL: a path is joined to the base URL; an absolute URL is used as is.
        let mut url = std::mem::take(&mut self.url);
        url.clear();
        match spec.url.as_static() {
            Some(s) => join_url(&mut url, &sc.base_url, s),
            None => {
                let mut path = std::mem::take(&mut self.text);
                path.clear();
                spec.url.render(self, &mut path);
                join_url(&mut url, &sc.base_url, &path);
                self.text = path;
            }
        }
        for (i, (k, v)) in spec.query.iter().enumerate() {
            url.push(if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            });
            url.push_str(&urlencode(k));
            url.push('=');
            let mut val = String::new();
            v.render(self, &mut val);
            url.push_str(&urlencode(&val));
        }
        let mut sent = (spec.method.len() + url.len() + 12) as u64;
        let mut rb = sc.client.request(rt.method.clone(), url.as_str());
        for h in &rt.headers {
            let mut v = String::new();
            h.value.render(self, &mut v);
            sent += (h.name.len() + v.len() + 4) as u64;
            rb = rb.header(h.name.as_str(), v);
        }
        if !self.cookies.is_empty() {
            let c = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            sent += (c.len() + 10) as u64;
            rb = rb.header(reqwest::header::COOKIE, c);
        }
        match &spec.body {
            None => {}
            Some(Body::Json(t)) => {
                let mut b = std::mem::take(&mut self.body);
                b.clear();
                t.render(self, &mut b);
                sent += b.len() as u64 + 34;
                if !spec
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("content-type"))
                {
                    rb = rb.header(reqwest::header::CONTENT_TYPE, "application/json");
                }
                rb = rb.body(b.clone());
                self.body = b;
            }
            Some(Body::Text(t)) => {
                let mut s = String::new();
                t.render(self, &mut s);
                sent += s.len() as u64;
                rb = rb.body(s);
            }
            Some(Body::Form(fields)) => {
                let mut s = String::new();
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push('&');
                    }
                    s.push_str(&urlencode(k));
                    s.push('=');
                    let mut val = String::new();
                    v.render(self, &mut val);
                    s.push_str(&urlencode(&val));
                }
                sent += s.len() as u64 + 50;
                rb = rb
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(s);
            }
        }
        rb = rb.timeout(spec.timeout.unwrap_or(plan.defaults.timeout));
        self.url = url;

        let t0 = Instant::now();
        let result = rb.send().await;
        let mut status = 0u16;
        let mut error = ErrorClass::None;
        let mut received = 0u64;
        let mut waiting = None;
        let mut body: Vec<u8> = Vec::new();
        let mut headers = None;
        match result {
            Err(e) => error = classify(&e),
            Ok(mut resp) => {
                let t1 = Instant::now();
                waiting = Some(t1 - t0);
                status = resp.status().as_u16();
                received += 17;
                for (k, v) in resp.headers() {
                    received += (k.as_str().len() + v.len() + 4) as u64;
                }
                received += 2;
                {
                    for v in resp.headers().get_all(reqwest::header::SET_COOKIE) {
                        if let Some((k, val)) = v
                            .to_str()
                            .ok()
                            .and_then(|s| s.split(';').next())
                            .and_then(|kv| kv.split_once('='))
                        {
                            let (k, val) = (k.trim().to_string(), val.trim().to_string());
                            match self.cookies.iter_mut().find(|(n, _)| *n == k) {
                                Some(slot) => slot.1 = val,
                                None => self.cookies.push((k, val)),
                            }
                        }
                    }
                }
                if rt.needs_body {
                    headers = Some(resp.headers().clone());
                }
                // Read to the end, counting every byte; keep the body only when a check or a
                // capture reads it. Past MAX_BODY (decoded) the read stops: memory stays
                // bounded whatever the target sends, a gzip bomb included.
                let mut body_len = 0usize;
                loop {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => {
                            received += chunk.len() as u64;
                            body_len += chunk.len();
                            if body_len > MAX_BODY {
                                error = ErrorClass::BodyTooLarge;
                                break;
                            }
                            if rt.needs_body {
                                body.extend_from_slice(&chunk);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            error = match classify(&e) {
                                ErrorClass::Protocol => ErrorClass::Reset,
                                c => c,
                            };
                            break;
                        }
                    }
                }
            }
        }
        let end = Instant::now();
        let elapsed = end - t0;
        let failed = error != ErrorClass::None
            || if spec.expect.status.is_empty() {
                status >= 400
            } else {
                !spec.expect.status.contains(&status)
            };
        if error == ErrorClass::None && failed {
            error = ErrorClass::Status;
        }
        let lag_us = lag.map_or(0, |l| l.as_micros() as u64);
        let duration_us = elapsed.as_micros() as u64 + lag_us;

        // Checks and captures.
        let json = if rt.needs_json && error == ErrorClass::None {
            serde_json::from_slice::<serde_json::Value>(&body).ok()
        } else {
            None
        };
        // A response that broke off (reset, timeout, too large, ...) fails every check, as in
        // k6, where such a response has no status.
        let broken = !matches!(error, ErrorClass::None | ErrorClass::Status);
        let mut outcomes: Vec<bool> = Vec::with_capacity(spec.expect.checks.len());
        for c in &spec.expect.checks {
            let ok = !broken
                && match &c.kind {
                    CheckKind::Status(list) => list.contains(&status),
                    CheckKind::JsonPresent(p) => json
                        .as_ref()
                        .is_some_and(|j| p.path.query(j).first().is_some()),
                    CheckKind::JsonEquals(p, want) => json
                        .as_ref()
                        .and_then(|j| p.path.query(j).first().cloned())
                        .is_some_and(|got| json_equal(&got, want)),
                    CheckKind::BodyContains(s) => {
                        memfind(&body, s.as_bytes()) && error == ErrorClass::None
                    }
                    CheckKind::HeaderPresent(h) => headers
                        .as_ref()
                        .is_some_and(|hs| hs.contains_key(h.as_str())),
                    CheckKind::MaxDuration(d) => error == ErrorClass::None && elapsed <= *d,
                };
            outcomes.push(ok);
        }
        for cap in &spec.captures {
            let value = match &cap.source {
                CaptureSource::Json(p) => json.as_ref().and_then(|j| {
                    p.path.query(j).first().map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                }),
                CaptureSource::Header(h) => headers
                    .as_ref()
                    .and_then(|hs| hs.get(h.as_str()))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                CaptureSource::Cookie(name) => self
                    .cookies
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone()),
            };
            outcomes.push(value.is_some());
            if let Some(v) = value {
                self.captures[cap.slot] = Some(v);
            }
        }

        let key = SeriesKey {
            scenario: sc.index,
            request: id as u16,
            group,
            status,
            error,
            failed,
        };
        let mut timings = [
            (Trend::Duration, duration_us),
            (Trend::Waiting, 0),
            (Trend::Receiving, 0),
        ];
        let n = match waiting {
            Some(w) => {
                timings[1].1 = w.as_micros() as u64 + lag_us;
                timings[2].1 = (elapsed - w).as_micros() as u64;
                3
            }
            None => 1,
        };
        let scenario = sc.index;
        local::record(|r| {
            r.record_request(key, &timings[..n], sent, received);
            if lag.is_some() {
                let s = r.scenario_mut(scenario);
                crate::metrics::recorder::record_opt(
                    &mut s.raw_duration,
                    elapsed.as_micros() as u64,
                );
                crate::metrics::recorder::record_opt(&mut s.start_lag, lag_us);
            }
            for (i, ok) in outcomes.iter().enumerate() {
                r.record_check(
                    CheckKey {
                        scenario,
                        check: rt.check_base + i as u32,
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
                    MetricType::Gauge => r.record_custom_counter(ck, 0),
                }
            }
        });
        body.clear();
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

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
        assert_eq!(urlencode("a b&c=d"), "a%20b%26c%3Dd");
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
}
