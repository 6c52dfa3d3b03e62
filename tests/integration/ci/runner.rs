//! A simulated GitHub Actions runner: enough of GitHub's expression language (`${{ … }}`: paths,
//! literals, `==`, `!=`, `!`, `&&`, `||`, `toJSON`, `format`, `always()`) and of a job (`run:`
//! steps under `bash -eo pipefail`, `$GITHUB_OUTPUT`, `$GITHUB_PATH`, the Action's composite
//! steps, `actions/checkout`, `actions/upload-artifact@v4` and `actions/download-artifact@v4`
//! with v4's rules) to run the Action and the example workflows as a runner would.
//!
//! What GitHub itself provides is stood in for: the artifact store is a directory, and an upload
//! of a name the run already holds fails as v4 does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use yaml_rust2::Yaml;

use super::{output, yaml_docs, GITHUB_TOKEN};
use crate::support::root;

/// Evaluates one expression (the text between `${{` and `}}`) against `ctx`.
pub(super) fn eval_expr(expr: &str, ctx: &Value) -> Value {
    let mut p = Parser {
        s: expr.as_bytes(),
        i: 0,
        ctx,
    };
    let v = p.or();
    p.ws();
    assert!(p.i == p.s.len(), "cannot parse the expression {expr:?}");
    v
}

/// A value as GitHub writes it into a string.
pub(super) fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string_pretty(other).unwrap(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => to_text(a) == to_text(b),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    ctx: &'a Value,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.eat("||") {
            let r = self.and();
            if !truthy(&v) {
                v = r;
            }
        }
        v
    }

    fn and(&mut self) -> Value {
        let mut v = self.cmp();
        while self.eat("&&") {
            let r = self.cmp();
            if truthy(&v) {
                v = r;
            }
        }
        v
    }

    fn cmp(&mut self) -> Value {
        let v = self.unary();
        if self.eat("==") {
            return Value::Bool(equal(&v, &self.unary()));
        }
        if self.eat("!=") {
            return Value::Bool(!equal(&v, &self.unary()));
        }
        v
    }

    fn unary(&mut self) -> Value {
        if self.eat("!") {
            return Value::Bool(!truthy(&self.unary()));
        }
        self.primary()
    }

    fn ident(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || matches!(self.s[self.i], b'_' | b'-'))
        {
            self.i += 1;
        }
        String::from_utf8(self.s[start..self.i].to_vec()).unwrap()
    }

    fn primary(&mut self) -> Value {
        if self.eat("(") {
            let v = self.or();
            assert!(self.eat(")"), "unclosed parenthesis");
            return v;
        }
        if self.eat("'") {
            let mut out = String::new();
            loop {
                let c = self.s[self.i];
                self.i += 1;
                if c == b'\'' {
                    if self.s.get(self.i) == Some(&b'\'') {
                        self.i += 1;
                        out.push('\'');
                        continue;
                    }
                    break;
                }
                out.push(c as char);
            }
            return Value::String(out);
        }
        let name = self.ident();
        assert!(!name.is_empty(), "an expression expected at {}", self.i);
        if name.as_bytes()[0].is_ascii_digit() {
            return name
                .parse::<i64>()
                .map_or_else(|_| json!(name.parse::<f64>().unwrap()), |i| json!(i));
        }
        match name.as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            "null" => return Value::Null,
            _ => {}
        }
        if self.eat("(") {
            let mut args = Vec::new();
            if !self.eat(")") {
                loop {
                    args.push(self.or());
                    if self.eat(")") {
                        break;
                    }
                    assert!(self.eat(","), "a comma between arguments");
                }
            }
            return call(&name, &args);
        }
        let mut v = self.ctx.get(&name).cloned().unwrap_or(Value::Null);
        loop {
            if self.eat(".") {
                let key = self.ident();
                v = v.get(&key).cloned().unwrap_or(Value::Null);
            } else if self.eat("[") {
                let key = self.or();
                assert!(self.eat("]"));
                v = v.get(to_text(&key)).cloned().unwrap_or(Value::Null);
            } else {
                return v;
            }
        }
    }
}

fn call(name: &str, args: &[Value]) -> Value {
    match name {
        "toJSON" => Value::String(serde_json::to_string_pretty(&args[0]).unwrap()),
        "format" => {
            let mut s = to_text(&args[0]);
            for (i, a) in args[1..].iter().enumerate() {
                s = s.replace(&format!("{{{i}}}"), &to_text(a));
            }
            Value::String(s)
        }
        // The steps simulated here run only while the job is green.
        "always" | "success" => Value::Bool(true),
        "failure" | "cancelled" => Value::Bool(false),
        other => panic!("the simulated runner does not know {other}()"),
    }
}

/// Replaces each `${{ … }}` in `text`.
pub(super) fn interpolate(text: &str, ctx: &Value) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("}}").expect("closed expression") + i;
        out.push_str(&to_text(&eval_expr(&rest[i + 3..end], ctx)));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A scalar of a workflow file as text (`true`, `3`, `"x"`).
pub(super) fn scalar(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null | Yaml::BadValue => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Reads a `$GITHUB_OUTPUT` file: `name=value` lines and `name<<DELIMITER` blocks.
pub(super) fn read_outputs(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// The workflow run's artifacts: name → directory. upload-artifact v4 refuses a name twice.
#[derive(Clone)]
pub(super) struct Artifacts {
    pub dir: PathBuf,
    pub names: Arc<Mutex<Vec<String>>>,
}

impl Artifacts {
    pub fn new(dir: &Path) -> Artifacts {
        Artifacts {
            dir: dir.to_path_buf(),
            names: Arc::default(),
        }
    }

    /// `actions/upload-artifact@v4`: `path` is a directory or a `dir/*suffix` pattern.
    fn upload(&self, workspace: &Path, name: &str, path: &str) -> Result<(), String> {
        let mut names = self.names.lock().unwrap();
        if names.iter().any(|n| n == name) {
            return Err(format!(
                "Failed to CreateArtifact: Received non-retryable error: Failed request: (409) \
                 Conflict: an artifact with this name already exists on the workflow run ({name})"
            ));
        }
        let dest = self.dir.join(name);
        std::fs::create_dir_all(&dest).unwrap();
        for f in matching(workspace, path) {
            std::fs::copy(&f, dest.join(f.file_name().unwrap())).unwrap();
        }
        names.push(name.to_string());
        Ok(())
    }

    /// `actions/download-artifact@v4` by `pattern` into `path`, each artifact in a directory of
    /// its name unless `merge-multiple`.
    fn download(&self, workspace: &Path, pattern: &str, path: &str, merge: bool) {
        let names = self.names.lock().unwrap().clone();
        for name in names.iter().filter(|n| wildcard(pattern, n)) {
            let dest = if merge {
                workspace.join(path)
            } else {
                workspace.join(path).join(name)
            };
            std::fs::create_dir_all(&dest).unwrap();
            for f in super::files(&self.dir.join(name)) {
                std::fs::copy(&f, dest.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len()).any(|i| {
                    s.is_char_boundary(head.len() + i) && wildcard(tail, &s[head.len() + i..])
                })
        }
    }
}

/// The files a path of upload-artifact names: a directory's, or `dir/pattern`'s.
fn matching(workspace: &Path, path: &str) -> Vec<PathBuf> {
    let full = workspace.join(path);
    if full.is_dir() {
        return super::files(&full);
    }
    let (dir, pattern) = path.rsplit_once('/').unwrap_or((".", path));
    super::files(&workspace.join(dir))
        .into_iter()
        .filter(|f| wildcard(pattern, &f.file_name().unwrap().to_string_lossy()))
        .collect()
}

/// One job on a simulated runner.
pub(super) struct Runner {
    pub workspace: PathBuf,
    pub temp: PathBuf,
    /// Where the Action's files are, as `github.action_path`.
    pub action_path: PathBuf,
    /// The Action's inputs, defaults filled in.
    pub inputs: BTreeMap<String, String>,
    /// `github.*` beyond what is computed (`action_ref`, `job`, …).
    pub github: serde_json::Map<String, Value>,
    /// `matrix`, `needs`, and the workflow's `inputs` when running a workflow's step.
    pub job_ctx: serde_json::Map<String, Value>,
    pub step_outputs: BTreeMap<String, BTreeMap<String, String>>,
    pub path_dirs: Vec<PathBuf>,
    /// The job's environment (the runner's and the workflow's variables).
    pub env: Vec<(String, String)>,
    pub step_summary: PathBuf,
    pub artifacts: Option<Artifacts>,
    /// The step outputs inside the last Action run.
    pub action_steps: BTreeMap<String, BTreeMap<String, String>>,
    steps_run: usize,
}

impl Runner {
    pub fn new(workspace: &Path, temp: &Path) -> Runner {
        Runner {
            workspace: workspace.to_path_buf(),
            temp: temp.to_path_buf(),
            action_path: root(),
            inputs: BTreeMap::new(),
            github: serde_json::Map::new(),
            job_ctx: serde_json::Map::new(),
            step_outputs: BTreeMap::new(),
            path_dirs: vec![],
            env: vec![],
            step_summary: temp.join("step_summary.md"),
            artifacts: None,
            action_steps: BTreeMap::new(),
            steps_run: 0,
        }
    }

    /// The expression context of a step.
    pub fn ctx(&self) -> Value {
        let mut github = self.github.clone();
        github.insert(
            "action_path".into(),
            json!(self.action_path.display().to_string()),
        );
        github.insert("token".into(), json!(GITHUB_TOKEN));
        github.entry("job").or_insert(json!("loadtest"));
        github.entry("run_attempt").or_insert(json!("1"));
        let steps: serde_json::Map<String, Value> = self
            .step_outputs
            .iter()
            .map(|(id, o)| (id.clone(), json!({ "outputs": o })))
            .collect();
        let mut ctx = self.job_ctx.clone();
        ctx.entry("matrix").or_insert(Value::Null);
        ctx.insert("github".into(), Value::Object(github));
        ctx.insert("steps".into(), Value::Object(steps));
        ctx.insert(
            "runner".into(),
            json!({ "os": "Linux", "arch": "X64", "temp": self.temp.display().to_string() }),
        );
        if !self.inputs.is_empty() {
            ctx.insert("inputs".into(), json!(self.inputs));
        }
        Value::Object(ctx)
    }

    pub fn eval(&self, value: &str) -> String {
        interpolate(value, &self.ctx())
    }

    /// Runs one `run:` step with `bash --noprofile --norc -eo pipefail`, as GitHub does.
    pub fn run_step(&mut self, step: &Yaml) -> Output {
        self.run_step_with(step, &[])
    }

    fn run_step_with(&mut self, step: &Yaml, extra_env: &[(String, String)]) -> Output {
        self.steps_run += 1;
        let id = step["id"]
            .as_str()
            .map_or_else(|| format!("__run_{}", self.steps_run), str::to_string);
        let script = self.temp.join(format!("{id}.sh"));
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let output_file = self.temp.join(format!("{id}.output"));
        let path_file = self.temp.join(format!("{id}.path"));
        let _ = std::fs::remove_file(&output_file);
        let _ = std::fs::remove_file(&path_file);
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&self.workspace)
            .env_clear();
        let mut path: Vec<PathBuf> = self.path_dirs.clone();
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        c.env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", &self.temp)
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", &self.temp)
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &path_file)
            .env("GITHUB_STEP_SUMMARY", &self.step_summary);
        for (k, v) in self.env.iter().chain(extra_env) {
            c.env(k, v);
        }
        if let Some(env) = step["env"].as_hash() {
            for (k, v) in env {
                c.env(k.as_str().unwrap(), self.eval(&scalar(v)));
            }
        }
        let o = output(&mut c);
        self.step_outputs.insert(id, read_outputs(&output_file));
        for line in std::fs::read_to_string(&path_file)
            .unwrap_or_default()
            .lines()
        {
            self.path_dirs.insert(0, PathBuf::from(line));
        }
        o
    }

    /// A step's `with:`, evaluated.
    fn with(&self, step: &Yaml) -> BTreeMap<String, String> {
        step["with"]
            .as_hash()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), self.eval(&scalar(v))))
            .collect()
    }

    /// Runs the Action's composite steps in order with `with` as its inputs (defaults filled
    /// in) and `step_env` (the calling step's `env:`) added to each; the printed output of every
    /// step, and whether the last one run succeeded.
    pub fn run_action(
        &mut self,
        with: &BTreeMap<String, String>,
        step_env: &[(String, String)],
    ) -> (String, bool) {
        let action = yaml_docs(&self.action_path.join("action.yml")).remove(0);
        let saved = (
            std::mem::take(&mut self.inputs),
            std::mem::take(&mut self.step_outputs),
        );
        self.inputs = action_inputs(&action, with, &self.ctx());
        let mut log = String::new();
        let mut ok = true;
        for step in action["runs"]["steps"].as_vec().unwrap() {
            if let Some(cond) = step["if"].as_str() {
                if !truthy(&eval_expr(cond, &self.ctx())) {
                    continue;
                }
            }
            if step["run"].as_str().is_some() {
                let o = self.run_step_with(step, step_env);
                let (out, err) = super::text(&o);
                log.push_str(&out);
                log.push_str(&err);
                if !o.status.success() {
                    ok = false;
                    break;
                }
            } else if let Err(e) = self.uses(step) {
                log.push_str(&e);
                ok = false;
                break;
            }
        }
        // What the calling workflow sees: the Action's outputs.
        let outputs: BTreeMap<String, String> = action["outputs"]
            .as_hash()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_string(),
                    self.eval(v["value"].as_str().unwrap()),
                )
            })
            .collect();
        self.action_steps = std::mem::take(&mut self.step_outputs);
        (self.inputs, self.step_outputs) = saved;
        self.step_outputs.insert("__action".into(), outputs);
        (log, ok)
    }

    /// A `uses:` step of the actions GitHub provides.
    pub fn uses(&mut self, step: &Yaml) -> Result<(), String> {
        let uses = step["uses"].as_str().unwrap();
        let with = self.with(step);
        let name = uses.split('@').next().unwrap();
        match name {
            "actions/checkout" | "actions/cache" => Ok(()),
            "actions/upload-artifact" => {
                assert!(uses.ends_with("@v4"), "{uses}");
                let store = self.artifacts.clone().expect("an artifact store");
                store.upload(&self.workspace, &with["name"], &with["path"])
            }
            "actions/download-artifact" => {
                let store = self.artifacts.clone().expect("an artifact store");
                let pattern = with.get("pattern").or(with.get("name")).unwrap();
                let merge = with.get("merge-multiple").is_some_and(|m| m == "true");
                store.download(&self.workspace, pattern, &with["path"], merge);
                Ok(())
            }
            other => Err(format!("the simulated runner cannot run {other}")),
        }
    }
}

/// The Action's inputs: its defaults (expressions evaluated), then `with`.
pub(super) fn action_inputs(
    action: &Yaml,
    with: &BTreeMap<String, String>,
    ctx: &Value,
) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for (k, v) in action["inputs"].as_hash().unwrap() {
        let k = k.as_str().unwrap().to_string();
        let default = interpolate(v["default"].as_str().unwrap_or(""), ctx);
        all.insert(k, default);
    }
    for (k, v) in with {
        assert!(all.contains_key(k), "the Action has no input {k}");
        all.insert(k.clone(), v.clone());
    }
    all
}

#[test]
fn the_simulated_expressions_follow_githubs_rules() {
    let ctx = json!({
        "inputs": { "comment": "true", "baseline": "", "github-token": "t0k" },
        "matrix": { "segment": 2 },
        "steps": { "a": { "outputs": { "bin": "" } }, "b": { "outputs": { "bin": "/x" } } }
    });
    let e = |s: &str| to_text(&eval_expr(s, &ctx));
    assert_eq!(e("steps.a.outputs.bin || steps.b.outputs.bin"), "/x");
    assert_eq!(
        e("(inputs.comment == 'true' || inputs.baseline != '') && inputs.github-token || ''"),
        "t0k"
    );
    assert_eq!(
        e("(inputs.comment == 'false' || inputs.baseline != '') && inputs.github-token || ''"),
        ""
    );
    assert_eq!(e("format('p-{0}/{1}', matrix.segment, 4)"), "p-2/4");
    assert_eq!(e("toJSON(matrix)"), "{\n  \"segment\": 2\n}");
    assert_eq!(e("toJSON(inputs.nothing)"), "null");
    assert_eq!(e("!inputs.baseline && 'it''s'"), "it's");
    assert!(wildcard(
        "loadtest-reports-segment-*",
        "loadtest-reports-segment-1-of-4-x-1"
    ));
    assert!(!wildcard(
        "loadtest-reports-segment-*",
        "loadtest-reports-merge-1"
    ));
}
