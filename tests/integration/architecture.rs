//! The module graph of `src/`, read from its `use crate::…`, `super::…` and child-module paths:
//! no cycles between modules, the stages in order (docs/architecture.md), the command-line types
//! only in `commands/`.
//!
//! A small reader, not a compiler: comments and string literals are blanked, `#[cfg(test)]` items
//! are left out (tests may reach anywhere), `use` trees are expanded, and a path names the
//! longest module prefix it has (through `pub use` re-exports, so a facade `mod.rs` that re-exports
//! its children does not depend on them itself).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stages in data-flow order: a stage may import from the stages before it, and from leaves.
const STAGES: &[&str] = &[
    "plan", "engine", "summary", "verdict", "report", "notify", "commands",
];

/// Leaves: modules any stage may import, which import nothing but other leaves. Every top-level
/// module is a stage or a leaf.
const LEAVES: &[&str] = &[
    "cli",
    "exit",
    "fixture",
    "redact",
    "rules",
    "suggest",
    "summary::hist",
    "summary::schema",
    "text",
    "url",
];

/// The module holding the command-line types, which only `commands/` may import.
const CLI: &str = "cli";

#[test]
fn the_module_graph_has_no_cycles_and_its_stages_read_top_to_bottom() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    assert!(
        graph.modules.len() > 40,
        "the reader found only {} modules in {}",
        graph.modules.len(),
        src.display()
    );
    let problems = graph.problems(STAGES, LEAVES, CLI);
    assert!(
        problems.is_empty(),
        "{} problem(s) in the module graph:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The longest a function outside tests may be, in lines: past it, a function does several
/// things that each deserve a name.
const MAX_FN_LINES: usize = 150;

#[test]
fn no_function_outside_tests_is_longer_than_150_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    let mut long = Vec::new();
    for module in graph.modules.values() {
        for (name, line, lines) in functions(&module.tokens) {
            if lines > MAX_FN_LINES {
                let file = module.file.strip_prefix(&src).unwrap();
                long.push(format!(
                    "{}:{line} fn {name}: {lines} lines",
                    file.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions longer than {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// Every module path `docs/architecture.md` and the crate's own documentation name (a function, a
/// type, a module: `engine::run`, `plan::model::Plan::rules`) exists in `src/`.
#[test]
fn the_architecture_docs_name_only_what_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = Graph::read(&root.join("src"));
    let lib_doc: String = std::fs::read_to_string(root.join("src/lib.rs"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let arch = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut checked = 0;
    let mut missing = Vec::new();
    for (file, text) in [("src/lib.rs", &lib_doc), ("docs/architecture.md", &arch)] {
        for path in module_paths(text, &graph) {
            checked += 1;
            if !graph.names_something(&path) {
                missing.push(format!("{file}: {}", path.join("::")));
            }
        }
    }
    assert!(checked > 40, "only {checked} paths found");
    assert!(
        missing.is_empty(),
        "named but not in src/:\n{}",
        missing.join("\n")
    );
}

/// The checker itself finds a cycle, a stage imported backwards and a CLI type outside
/// `commands/`, in a small tree written for it.
#[test]
fn the_module_graph_check_finds_cycles_backward_imports_and_stray_cli_types() {
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        ("lib.rs", "pub mod cli;\npub mod plan;\npub mod engine;\npub mod commands;\nmod util;"),
        ("cli.rs", "pub struct Args;"),
        ("util.rs", "pub fn help() {}"),
        // A leaf may be imported from anywhere; a test module is not part of the graph.
        (
            "plan/mod.rs",
            "pub mod model;\npub mod load;\nmod describe;\nuse crate::util;\n#[cfg(test)]\nmod tests { use crate::commands::x; fn f() { crate::engine::run(); } }",
        ),
        // plan::model <-> plan::load: a cycle inside one stage.
        ("plan/model.rs", "use super::load::Loader;\npub struct Plan;"),
        // The plan stage reaching into the engine: backwards.
        (
            "plan/load.rs",
            "use crate::engine::run;\npub struct Loader;\nfn f() -> crate::plan::model::Plan { run(); todo!() }",
        ),
        // Neither a string nor a comment is an import.
        (
            "plan/describe.rs",
            "fn f() -> &'static str { \"crate::engine::run\" } // crate::commands",
        ),
        // The engine takes a command-line type.
        (
            "engine/mod.rs",
            "use crate::util::help;\npub fn run() { let _ = crate::cli::Args; }",
        ),
        ("commands/mod.rs", "use crate::{cli::Args, engine};\npub mod run;"),
        ("commands/run.rs", "/* crate::plan::model::Plan */ const C: char = '\"';"),
    ];
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let graph = Graph::read(dir.path());
    let problems = graph.problems(&["plan", "engine", "commands"], &["cli", "util"], "cli");
    let text = problems.join("\n");
    assert!(
        text.contains("cycle: plan::load -> plan::model -> plan::load"),
        "{text}"
    );
    assert!(
        text.contains("plan::load imports engine (plan/load.rs:1): a stage imports only from the stages before it and from leaves"),
        "{text}"
    );
    assert!(
        text.contains(
            "engine imports cli (engine/mod.rs:2): only commands/ uses the command-line types"
        ),
        "{text}"
    );
    assert_eq!(problems.len(), 3, "{text}");
    // Nothing is made of comments, strings or test modules.
    assert!(graph.edges["commands::run"].is_empty());
    assert!(graph.edges["plan::describe"].is_empty());
    assert_eq!(graph.edges["plan"], [("util".to_string(), 4)]);
}

/// The `a::b::c` paths in `text` whose first segment is a top-level module of the crate.
fn module_paths(text: &str, graph: &Graph) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !word(chars[i]) || (i > 0 && (word(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && word(chars[j]) {
                j += 1;
            }
            segments.push(chars[start..j].iter().collect::<String>());
            if j + 2 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' && word(chars[j + 2]) {
                j += 2;
            } else {
                break;
            }
        }
        if segments.len() > 1 && graph.modules.contains_key(&segments[0]) {
            out.push(segments);
        }
        i = j.max(i + 1);
    }
    out
}

/// Each function with a body: its name, the line of `fn` and how many lines it spans.
fn functions(toks: &[Tok]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for i in 0..toks.len() {
        if toks[i].text != "fn" || !toks.get(i + 1).is_some_and(|t| is_ident(&t.text)) {
            continue;
        }
        let mut depth = 0i32;
        let mut j = i + 2;
        while j < toks.len() {
            match toks[j].text.as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" => depth -= 1,
                ";" if depth == 0 => break,
                "{" if depth == 0 => {
                    let end = matching(toks, j);
                    out.push((
                        toks[i + 1].text.clone(),
                        toks[i].line,
                        toks[end].line - toks[i].line + 1,
                    ));
                    break;
                }
                _ => {}
            }
            j += 1;
        }
    }
    out
}

/// One module: its file and what it declares.
#[derive(Debug)]
struct Module {
    file: PathBuf,
    tokens: Vec<Tok>,
    children: BTreeSet<String>,
    test_children: BTreeSet<String>,
}

/// The modules of a crate and which imports which (target, line of the first reference).
struct Graph {
    root: PathBuf,
    modules: BTreeMap<String, Module>,
    edges: BTreeMap<String, Vec<(String, usize)>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut modules = BTreeMap::new();
        for file in rust_files(src) {
            let rel = file.strip_prefix(src).unwrap();
            if rel == Path::new("main.rs") {
                continue;
            }
            let name = module_name(rel);
            let text = std::fs::read_to_string(&file).unwrap();
            let (tokens, test_children) = without_test_items(tokenize(&blank(&text)));
            let children = declared_modules(&tokens);
            modules.insert(
                name,
                Module {
                    file,
                    tokens,
                    children,
                    test_children,
                },
            );
        }
        // Test-only modules (`#[cfg(test)] mod testdata;`) and everything under them.
        let test_only: Vec<String> = modules
            .iter()
            .flat_map(|(m, module)| module.test_children.iter().map(move |c| join(m, c)))
            .collect();
        modules.retain(|m, _| {
            !test_only
                .iter()
                .any(|t| m == t || m.starts_with(&format!("{t}::")))
        });
        let mut graph = Graph {
            root: src.to_path_buf(),
            modules,
            edges: BTreeMap::new(),
        };
        let names: Vec<String> = graph.modules.keys().cloned().collect();
        for m in names {
            let edges = graph.references(&m);
            graph.edges.insert(m, edges);
        }
        graph
    }

    /// The modules `m` refers to, each with the line of its first reference.
    fn references(&self, m: &str) -> Vec<(String, usize)> {
        let module = &self.modules[m];
        let toks = &module.tokens;
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut paths: Vec<(Vec<String>, usize)> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if toks[i].text == "use" {
                let reexport = i > 0 && is_visibility_end(toks, i);
                let start = i + 1;
                let end = (start..toks.len())
                    .find(|&j| toks[j].text == ";")
                    .unwrap_or(toks.len());
                let mut trees = Vec::new();
                use_tree(&toks[start..end], &[], &mut trees);
                for (path, alias) in trees {
                    let Some(abs) = self.absolute(m, &path, &aliases) else {
                        continue;
                    };
                    // A re-export only passes a name through: it is a dependency when the module
                    // uses the name itself.
                    let used = match &alias {
                        Some(a) => !reexport || uses_name(toks, a, start, end),
                        None => !reexport,
                    };
                    if let Some(a) = alias {
                        aliases.insert(a, abs.clone());
                    }
                    if used {
                        paths.push((abs, toks[start].line));
                    }
                }
                i = end + 1;
                continue;
            }
            if is_ident(&toks[i].text)
                && toks.get(i + 1).is_some_and(|t| t.text == "::")
                && !(i > 0 && toks[i - 1].text == "::")
            {
                let mut path = vec![toks[i].text.clone()];
                let mut j = i + 1;
                while j + 1 < toks.len() && toks[j].text == "::" && is_ident(&toks[j + 1].text) {
                    path.push(toks[j + 1].text.clone());
                    j += 2;
                }
                if let Some(abs) = self.absolute(m, &path, &aliases) {
                    paths.push((abs, toks[i].line));
                }
                i = j;
                continue;
            }
            i += 1;
        }
        let mut out: Vec<(String, usize)> = Vec::new();
        for (abs, line) in paths {
            let target = self.resolve(&abs);
            if target != m && !out.iter().any(|(t, _)| *t == target) {
                out.push((target, line));
            }
        }
        out
    }

    /// `path` as written in module `m`, from the crate root; `None` for another crate's path.
    fn absolute(
        &self,
        m: &str,
        path: &[String],
        aliases: &BTreeMap<String, Vec<String>>,
    ) -> Option<Vec<String>> {
        let here: Vec<String> = if m == "crate" {
            vec![]
        } else {
            m.split("::").map(String::from).collect()
        };
        let first = path.first()?.as_str();
        let mut abs = match first {
            "crate" => vec![],
            "self" => here.clone(),
            "super" => {
                let mut base = here.clone();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
            _ => {
                if let Some(a) = aliases.get(first) {
                    a.clone()
                } else if self.modules[m].children.contains(first) {
                    let mut v = here.clone();
                    v.push(first.to_string());
                    v
                } else {
                    return None;
                }
            }
        };
        abs.extend(path[1..].iter().cloned());
        Some(abs)
    }

    /// The module a path names: its longest module prefix, followed through `pub use`.
    fn resolve(&self, abs: &[String]) -> String {
        let mut abs = abs.to_vec();
        for _ in 0..8 {
            let module = self.resolve_once(&abs);
            let k = if module == "crate" {
                0
            } else {
                module.split("::").count()
            };
            match abs.get(k).and_then(|item| self.reexport(&module, item)) {
                Some(mut to) => {
                    to.extend(abs[k + 1..].iter().cloned());
                    abs = to;
                }
                None => return module,
            }
        }
        "crate".to_string()
    }

    /// Whether a path names a module, or an item of one (through `pub use`), or a method,
    /// variant or field of such an item.
    fn names_something(&self, path: &[String]) -> bool {
        let mut abs = path.to_vec();
        for _ in 0..8 {
            let module = self.resolve_once(&abs);
            let k = if module == "crate" {
                0
            } else {
                module.split("::").count()
            };
            let Some(item) = abs.get(k) else {
                return true;
            };
            if let Some(mut to) = self.reexport(&module, item) {
                to.extend(abs[k + 1..].iter().cloned());
                abs = to;
                continue;
            }
            let toks = &self.modules[&module].tokens;
            let declares = |name: &str| {
                toks.windows(2).any(|w| {
                    w[1].text == name
                        && matches!(
                            w[0].text.as_str(),
                            "fn" | "struct"
                                | "enum"
                                | "trait"
                                | "type"
                                | "const"
                                | "static"
                                | "mod"
                        )
                })
            };
            if !declares(item) {
                return false;
            }
            return abs[k + 1..]
                .iter()
                .all(|member| toks.iter().any(|t| &t.text == member));
        }
        false
    }

    /// The longest module prefix of a path.
    fn resolve_once(&self, abs: &[String]) -> String {
        (0..=abs.len())
            .rev()
            .map(|k| {
                if k == 0 {
                    "crate".to_string()
                } else {
                    abs[..k].join("::")
                }
            })
            .find(|name| self.modules.contains_key(name))
            .unwrap_or_else(|| "crate".to_string())
    }

    /// Where `pub use` in `module` takes `item` from.
    fn reexport(&self, module: &str, item: &str) -> Option<Vec<String>> {
        let toks = &self.modules[module].tokens;
        for i in 0..toks.len() {
            if toks[i].text != "use" || i == 0 || !is_visibility_end(toks, i) {
                continue;
            }
            let end = (i + 1..toks.len())
                .find(|&j| toks[j].text == ";")
                .unwrap_or(toks.len());
            let mut trees = Vec::new();
            use_tree(&toks[i + 1..end], &[], &mut trees);
            for (path, alias) in trees {
                if alias.as_deref() == Some(item) {
                    let abs = self.absolute(module, &path, &BTreeMap::new())?;
                    return (self.resolve_once(&abs) != module).then_some(abs);
                }
            }
        }
        None
    }

    fn problems(&self, stages: &[&str], leaves: &[&str], cli: &str) -> Vec<String> {
        let mut out = Vec::new();
        for cycle in cycles(&self.edges) {
            let mut names = cycle.clone();
            names.push(cycle[0].clone());
            let evidence: Vec<String> = cycle
                .iter()
                .zip(cycle.iter().cycle().skip(1))
                .map(|(a, b)| format!("{a} -> {b} at {}", self.at(a, b)))
                .collect();
            out.push(format!(
                "cycle: {} ({})",
                names.join(" -> "),
                evidence.join(", ")
            ));
        }
        let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
        let is_leaf = |m: &str| {
            leaves
                .iter()
                .any(|l| m == *l || m.starts_with(&format!("{l}::")))
        };
        for m in self.modules.keys() {
            if m != "crate" && !stages.contains(&top(m).as_str()) && !is_leaf(m) {
                out.push(format!(
                    "{m} is neither in a stage nor a leaf (docs/architecture.md)"
                ));
            }
        }
        for (a, targets) in &self.edges {
            if a == "crate" {
                continue;
            }
            for (b, _) in targets {
                let (ta, tb) = (top(a), top(b));
                let problem = if tb == cli && ta != "commands" {
                    Some("only commands/ uses the command-line types")
                } else if is_leaf(a) {
                    (!is_leaf(b)).then_some("a leaf imports nothing but other leaves")
                } else if ta == tb || is_leaf(b) {
                    None
                } else {
                    let rank = |t: &str| stages.iter().position(|s| *s == t);
                    match (rank(&ta), rank(&tb)) {
                        (Some(x), Some(y)) if y < x => None,
                        _ => Some("a stage imports only from the stages before it and from leaves"),
                    }
                };
                if let Some(why) = problem {
                    out.push(format!("{a} imports {b} ({}): {why}", self.at(a, b)));
                }
            }
        }
        out
    }

    /// `file:line` of the first reference from `a` to `b`.
    fn at(&self, a: &str, b: &str) -> String {
        let line = self.edges[a]
            .iter()
            .find(|(t, _)| t == b)
            .map_or(0, |(_, l)| *l);
        let file = self.modules[a].file.strip_prefix(&self.root).unwrap();
        format!("{}:{line}", file.display())
    }
}

/// Every cycle's modules (one strongly connected component of more than one module each, in
/// the order one walk around it takes).
fn cycles(edges: &BTreeMap<String, Vec<(String, usize)>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, recursive: the graph has a few hundred nodes at most.
    struct State<'a> {
        edges: &'a BTreeMap<String, Vec<(String, usize)>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for (w, _) in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.edges.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(walk(s.edges, comp));
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A component's modules from its smallest name, each followed by one it imports, until the walk
/// comes back (a cycle through all of them when it is one; the evidence either way).
fn walk(edges: &BTreeMap<String, Vec<(String, usize)>>, comp: Vec<String>) -> Vec<String> {
    let set: BTreeSet<&String> = comp.iter().collect();
    let start = comp.iter().min().unwrap().clone();
    let mut path = vec![start.clone()];
    let mut cur = start.clone();
    loop {
        let next = edges[&cur]
            .iter()
            .map(|(t, _)| t)
            .filter(|t| set.contains(t))
            .find(|t| !path.contains(t) || **t == start)
            .or_else(|| edges[&cur].iter().map(|(t, _)| t).find(|t| set.contains(t)))
            .unwrap()
            .clone();
        if next == start || path.contains(&next) {
            return path;
        }
        path.push(next.clone());
        cur = next;
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

/// `lib.rs` → `crate`, `a.rs` and `a/mod.rs` → `a`, `a/b.rs` → `a::b`.
fn module_name(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && !(parts.is_empty() && stem == "lib") {
        parts.push(stem.to_string());
    }
    if parts.is_empty() {
        "crate".to_string()
    } else {
        parts.join("::")
    }
}

fn join(m: &str, child: &str) -> String {
    if m == "crate" {
        child.to_string()
    } else {
        format!("{m}::{child}")
    }
}

/// The source with comments and the insides of string and character literals made spaces
/// (newlines kept, so lines still count).
fn blank(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let keep = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && peek(&c, i, 1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && peek(&c, i, 1) == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && peek(&c, i, 1) == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && peek(&c, i, 1) == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    keep(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (c[i] == 'r' || (c[i] == 'b' && peek(&c, i, 1) == Some('r')))
            && (i == 0 || !ident(c[i - 1]))
            && {
                let mut k = if c[i] == 'b' { 2 } else { 1 };
                while peek(&c, i, k) == Some('#') {
                    k += 1;
                }
                peek(&c, i, k) == Some('"')
            }
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut k = if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while peek(&c, i, k) == Some('#') {
                hashes += 1;
                k += 1;
            }
            for _ in 0..=k {
                out.push(' ');
            }
            out.pop();
            out.push('"');
            i += k + 1;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"' && (1..=hashes).all(|h| c.get(i + h) == Some(&'#')) {
                    out.push('"');
                    for _ in 0..hashes {
                        out.push(' ');
                    }
                    i += 1 + hashes;
                    break;
                }
                keep(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    keep(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' && (peek(&c, i, 1) == Some('\\') || peek(&c, i, 2) == Some('\'')) {
            // A character literal ('x', '\n', '\''), not a lifetime.
            out.push('\'');
            i += 1;
            if c.get(i) == Some(&'\\') {
                out.push(' ');
                i += 1;
            }
            if i < c.len() {
                keep(&mut out, c[i]);
                i += 1;
            }
            while i < c.len() && c[i] != '\'' {
                keep(&mut out, c[i]);
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn peek(c: &[char], i: usize, k: usize) -> Option<char> {
    c.get(i + k).copied()
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    line: usize,
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokenize(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok {
                text: c[start..i].iter().collect(),
                line,
            });
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Tok {
                text: ch.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The tokens without the items marked `#[cfg(test)]`, and the names of the modules so marked.
fn without_test_items(toks: Vec<Tok>) -> (Vec<Tok>, BTreeSet<String>) {
    let is = |i: usize, s: &str| toks.get(i).is_some_and(|t| t.text == s);
    let mut out = Vec::new();
    let mut test_mods = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        let cfg_test = ["#", "[", "cfg", "(", "test", ")", "]"]
            .iter()
            .enumerate()
            .all(|(k, s)| is(i + k, s));
        if !cfg_test {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += 7;
        // Further attributes of the same item.
        while is(i, "#") && is(i + 1, "[") {
            i = matching(&toks, i + 1) + 1;
        }
        let item_start = i;
        let words: Vec<&str> = toks[i..].iter().take(8).map(|t| t.text.as_str()).collect();
        if let Some(k) = words.iter().position(|w| *w == "mod") {
            if words.get(k + 2) == Some(&";") {
                test_mods.insert(words[k + 1].to_string());
            }
        }
        let is_use = words
            .iter()
            .find(|w| !matches!(**w, "pub" | "(" | ")" | "crate" | "super" | "in" | "self"))
            .is_some_and(|w| *w == "use");
        let mut depth = 0i32;
        while i < toks.len() {
            match toks[i].text.as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" => depth -= 1,
                ";" if depth == 0 => {
                    i += 1;
                    break;
                }
                "{" if depth == 0 && !is_use => {
                    i = matching(&toks, i) + 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        debug_assert!(i > item_start);
    }
    (out, test_mods)
}

/// The index of the bracket closing the one at `open`.
fn matching(toks: &[Tok], open: usize) -> usize {
    let (o, c) = match toks[open].text.as_str() {
        "{" => ("{", "}"),
        "[" => ("[", "]"),
        _ => ("(", ")"),
    };
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.text == o {
            depth += 1;
        } else if t.text == c {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    toks.len() - 1
}

/// `mod x;` declarations (the module's children in files of their own).
fn declared_modules(toks: &[Tok]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in toks.windows(3) {
        if w[0].text == "mod" && is_ident(&w[1].text) && (w[2].text == ";" || w[2].text == "{") {
            out.insert(w[1].text.clone());
        }
    }
    out
}

/// Whether `name` stands anywhere in the tokens but in `toks[start..end]` (its own `use`) and
/// a `mod` declaration.
fn uses_name(toks: &[Tok], name: &str, start: usize, end: usize) -> bool {
    toks.iter().enumerate().any(|(k, t)| {
        (k < start || k > end) && t.text == name && (k == 0 || toks[k - 1].text != "mod")
    })
}

/// Whether the `use` at `i` is preceded by a visibility (`pub`, `pub(crate)`, `pub(super)`).
fn is_visibility_end(toks: &[Tok], i: usize) -> bool {
    match toks[i - 1].text.as_str() {
        "pub" => true,
        ")" => {
            let open = (0..i - 1).rev().find(|&k| toks[k].text == "(");
            open.is_some_and(|k| k > 0 && toks[k - 1].text == "pub")
        }
        _ => false,
    }
}

/// Expands a `use` tree into its paths, each with the name it binds (`None` for `*`).
fn use_tree(toks: &[Tok], prefix: &[String], out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix.to_vec();
    let mut i = 0;
    if toks.first().is_some_and(|t| t.text == "::") {
        i = 1;
    }
    while i < toks.len() {
        let t = toks[i].text.as_str();
        if t == "{" {
            let close = matching(toks, i);
            let inner = &toks[i + 1..close];
            let mut start = 0;
            let mut depth = 0;
            for k in 0..=inner.len() {
                let at_end = k == inner.len();
                if !at_end {
                    match inner[k].text.as_str() {
                        "{" => depth += 1,
                        "}" => depth -= 1,
                        _ => {}
                    }
                }
                if at_end || (depth == 0 && inner[k].text == ",") {
                    if k > start {
                        use_tree(&inner[start..k], &path, out);
                    }
                    start = k + 1;
                }
            }
            return;
        } else if t == "*" {
            out.push((path, None));
            return;
        } else if t == "as" {
            let alias = toks.get(i + 1).map(|t| t.text.clone());
            out.push((path, alias.filter(|a| a != "_")));
            return;
        } else if t == "::" || (t == "self" && !path.is_empty()) {
            i += 1;
        } else {
            path.push(t.to_string());
            i += 1;
        }
    }
    let alias = path.last().cloned();
    out.push((path, alias));
}
