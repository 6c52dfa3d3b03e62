use super::*;

fn ok(src: &str) -> Node {
    match parse(src.as_bytes(), &Limits::default()) {
        Ok(n) => n,
        Err(e) => panic!("{src:?} should parse, got {e}"),
    }
}

fn err(src: &str) -> YamlError {
    err_with(src, &Limits::default())
}

fn err_with(src: &str, limits: &Limits) -> YamlError {
    match parse(src.as_bytes(), limits) {
        Ok(n) => panic!("{src:?} should fail, got {n:?}"),
        Err(e) => e,
    }
}

fn at(line: usize, col: usize) -> Mark {
    Mark::new(line, col)
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

/// Follows a path of string keys and list indexes.
fn walk<'a>(mut n: &'a Node, steps: &[&str]) -> &'a Node {
    for step in steps {
        n = match step.parse::<usize>() {
            Ok(i) => &n.as_seq().unwrap_or_else(|| panic!("{step}: not a list"))[i],
            Err(_) => n.get(step).unwrap_or_else(|| panic!("no key {step}")),
        };
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Positions

#[test]
fn positions_at_several_depths() {
    let root = ok("\
version: 1
scenarios:
  smoke:
    vus: 5
    stages:
      - { duration: 1m, target: 10 }
      -   duration: 2m
          target: 50
");
    assert_eq!(root.mark, at(1, 1));
    assert_eq!(root.get_entry("version").unwrap().0.mark, at(1, 1));
    assert_eq!(walk(&root, &["version"]).mark, at(1, 10));
    assert_eq!(root.get_entry("scenarios").unwrap().0.mark, at(2, 1));
    assert_eq!(walk(&root, &["scenarios"]).mark, at(3, 3));
    assert_eq!(walk(&root, &["scenarios", "smoke"]).mark, at(4, 5));
    assert_eq!(walk(&root, &["scenarios", "smoke", "vus"]).mark, at(4, 10));
    // A block sequence is placed at its first `-`.
    assert_eq!(
        walk(&root, &["scenarios", "smoke", "stages"]).mark,
        at(6, 7)
    );
    assert_eq!(
        walk(&root, &["scenarios", "smoke", "stages", "0"]).mark,
        at(6, 9)
    );
    assert_eq!(
        walk(&root, &["scenarios", "smoke", "stages", "0", "target"]).mark,
        at(6, 33)
    );
    assert_eq!(
        walk(&root, &["scenarios", "smoke", "stages", "1"]).mark,
        at(7, 11)
    );
    assert_eq!(
        walk(&root, &["scenarios", "smoke", "stages", "1", "target"]).mark,
        at(8, 19)
    );
}

#[test]
fn columns_count_characters_and_crlf_is_one_line_break() {
    let root = ok("name: \"héllo wörld\"\r\nx: [é, ü]\r\n");
    assert_eq!(walk(&root, &["x", "1"]).mark, at(2, 8));
    let e = err("a: \"ü\"\r\nb: [1,\r\n");
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn byte_order_mark_is_not_part_of_the_first_key() {
    let root = ok("\u{feff}version: 1\n");
    assert_eq!(root.get("version").unwrap().value, Value::Int(1));
    assert_eq!(walk(&root, &["version"]).mark, at(1, 10));
}

#[test]
fn the_design_documents_sample_plan_loads() {
    let root = ok(SAMPLE_PLAN);
    assert_eq!(walk(&root, &["version"]).value, Value::Int(1));
    let login = walk(&root, &["requests", "login"]);
    assert_eq!(
        login.get("post").unwrap().as_str(),
        Some("/api/v1/auth/login")
    );
    let stages = walk(&root, &["scenarios", "auth", "stages"])
        .as_seq()
        .unwrap();
    assert_eq!(stages[1].get("target").unwrap().value, Value::Int(50));
    let key = "http_req_duration{name:logout}";
    assert!(walk(&root, &["scenarios", "auth", "thresholds", key])
        .as_seq()
        .is_some());
    assert_eq!(
        walk(&root, &["environments", "production", "protected"]).value,
        Value::Bool(true)
    );
}

/// A plan with every top-level key (`docs/plan.md`).
const SAMPLE_PLAN: &str = r#"version: 1
name: kaizen-studio
environments:
  local:      { base_url: http://localhost:8000 }
  staging:    { base_url: https://staging.kaizen-studio.example.com }
  production: { base_url: https://kaizen-studio.example.com, protected: true }
vars: { password: "LoadTest123!", token: "${KAIZEN_API_TOKEN:-}" }   # ${X} / ${X:-default} read the environment
defaults: { headers: { accept: application/json }, timeout: 10s, think: 1s..3s }
data:
  users: { csv: ../fixtures/users.csv, order: sequential }          # or random / unique
requests:                         # the API client, named once, used by many flows
  login:
    post: /api/v1/auth/login
    json: { email: "{{users.email}}", password: "{{vars.password}}" }
    expect: { status: 200, json: [access_token] }
    capture: { token: $.access_token }
    metric: [login_duration, auth_errors]   # custom metrics this request feeds; tagged name=login
metrics:                          # custom metrics and their k6 type (trend if not given)
  login_duration: trend           # a trend receives the request's duration
  auth_errors: counter            # a counter counts the request's failures
  success_rate: rate              # a rate records each request's success (true) or failure
flows:
  session: [register, login]
thresholds:                       # k6 grammar, applied to every scenario unless overridden
  http_req_duration: ["p(95)<500", "p(99)<1000"]
  http_req_failed: ["rate<0.05"]
scenarios:
  smoke:
    executor: constant-vus
    vus: 5
    duration: 30s
    setup: [session]              # once per VU
    flow: [health, me, list_agents, list_pipelines, metrics]   # every iteration
    teardown: [logout]            # once per VU, at the end
  auth:
    executor: ramping-vus
    stages: [{ duration: 1m, target: 10 }, { duration: 2m, target: 50 }, { duration: 1m, target: 0 }]
    flow:
      - pick:                     # weighted choice, per iteration
          - { weight: 30, flow: [register] }
          - { weight: 70, flow: [login, me, logout] }
    thresholds: { "login_duration": ["p(95)<250"], "http_req_duration{name:logout}": ["p(95)<150"] }
"#;

// ---------------------------------------------------------------------------------------------
// Scalars

#[test]
fn plain_scalars_follow_the_core_schema() {
    let cases: &[(&str, Value)] = &[
        ("~", Value::Null),
        ("null", Value::Null),
        ("Null", Value::Null),
        ("NULL", Value::Null),
        ("", Value::Null),
        ("true", Value::Bool(true)),
        ("True", Value::Bool(true)),
        ("FALSE", Value::Bool(false)),
        ("0", Value::Int(0)),
        ("42", Value::Int(42)),
        ("-17", Value::Int(-17)),
        ("+8", Value::Int(8)),
        ("007", Value::Int(7)),
        ("0x1F", Value::Int(31)),
        ("0o17", Value::Int(15)),
        ("9223372036854775807", Value::Int(i64::MAX)),
        ("1.5", Value::Float(1.5)),
        ("-0.25", Value::Float(-0.25)),
        (".5", Value::Float(0.5)),
        ("2.", Value::Float(2.0)),
        ("1e3", Value::Float(1000.0)),
        ("6.02E+23", Value::Float(6.02e23)),
        (".inf", Value::Float(f64::INFINITY)),
        ("-.Inf", Value::Float(f64::NEG_INFINITY)),
        ("+.INF", Value::Float(f64::INFINITY)),
        // YAML 1.1 spellings are strings in 1.2.
        ("yes", s("yes")),
        ("off", s("off")),
        ("1_000", s("1_000")),
        ("0b101", s("0b101")),
        ("0x", s("0x")),
        ("-0x1", s("-0x1")),
        ("inf", s("inf")),
        ("nan", s("nan")),
        ("1.2.3", s("1.2.3")),
        ("1e", s("1e")),
        ("30s", s("30s")),
        ("1s..3s", s("1s..3s")),
        ("p(95)<500", s("p(95)<500")),
        ("http://localhost:8000", s("http://localhost:8000")),
    ];
    for (text, want) in cases {
        let root = ok(&format!("k: {text}\n"));
        assert_eq!(&root.get("k").unwrap().value, want, "plain {text:?}");
    }
    let nan = ok("k: .NaN\n");
    assert!(matches!(nan.get("k").unwrap().value, Value::Float(f) if f.is_nan()));
}

#[test]
fn integers_that_do_not_fit_are_errors() {
    let e = err("vus: 99999999999999999999\n");
    assert_eq!((e.line, e.col), (1, 6));
    assert!(
        e.message.contains("does not fit in a 64-bit integer"),
        "{e}"
    );
    assert!(err("k: 0xFFFFFFFFFFFFFFFFFF\n")
        .message
        .contains("does not fit"));
}

#[test]
fn quoted_and_block_scalars_are_always_strings() {
    let root = ok("a: 'true'\nb: \"5\"\nc: \"null\"\nd: ''\ne: |\n  1.5\nf: >-\n  ~\ng: '0x10'\n");
    assert_eq!(root.get("a").unwrap().value, s("true"));
    assert_eq!(root.get("b").unwrap().value, s("5"));
    assert_eq!(root.get("c").unwrap().value, s("null"));
    assert_eq!(root.get("d").unwrap().value, s(""));
    assert_eq!(root.get("e").unwrap().value, s("1.5\n"));
    assert_eq!(root.get("f").unwrap().value, s("~"));
    assert_eq!(root.get("g").unwrap().value, s("0x10"));
}

#[test]
fn core_tags_are_honoured() {
    let root = ok(
        "a: !!str 5\nb: !!int \"7\"\nc: !!float 1\nd: !!bool \"true\"\ne: !!null ''\nf: ! 12\n\
         g: !!seq [1]\nh: !!map {x: 1}\ni: !<tag:yaml.org,2002:str> 3\nj: !!float 1e400000\n",
    );
    assert_eq!(root.get("a").unwrap().value, s("5"));
    assert_eq!(root.get("b").unwrap().value, Value::Int(7));
    assert_eq!(root.get("c").unwrap().value, Value::Float(1.0));
    assert_eq!(root.get("d").unwrap().value, Value::Bool(true));
    assert_eq!(root.get("e").unwrap().value, Value::Null);
    assert_eq!(root.get("f").unwrap().value, s("12"));
    assert_eq!(
        root.get("g").unwrap().value,
        Value::Seq(vec![Node::new(Value::Int(1), at(7, 11))])
    );
    assert!(root.get("h").unwrap().get("x").is_some());
    assert_eq!(root.get("i").unwrap().value, s("3"));
    assert_eq!(root.get("j").unwrap().value, Value::Float(f64::INFINITY));
}

#[test]
fn unknown_and_mismatched_tags_are_errors() {
    // At the tagged value (yaml-rust2 places a node after its tag).
    let e = err("a:\n  b: !custom x\n");
    assert_eq!((e.line, e.col), (2, 14));
    assert_eq!(e.message, "a.b: unknown tag !custom");
    assert_eq!(
        err("a: !!binary aGk=\n").message,
        "a: unsupported tag !!binary"
    );
    assert_eq!(
        err("a: !!int 1.5\n").message,
        "a: \"1.5\" is not a valid integer (tag !!int)"
    );
    assert_eq!(
        err("a: !!bool yes\n").message,
        "a: \"yes\" is not a valid boolean (tag !!bool)"
    );
    assert_eq!(
        err("a: !!map [1]\n").message,
        "a: tag !!map cannot be used on a list"
    );
    assert_eq!(
        err("a: !!seq x\n").message,
        "a: tag !!seq cannot be used on a scalar"
    );
    assert!(err("%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n")
        .message
        .contains("unknown tag !<tag:example.com,2000:x>"));
}

// ---------------------------------------------------------------------------------------------
// Mappings

#[test]
fn duplicate_keys_are_errors_at_the_second_key() {
    let e = err("scenarios:\n  smoke:\n    vus: 1\n    duration: 1m\n    vus: 2\n");
    assert_eq!((e.line, e.col), (5, 5));
    assert_eq!(
        e.message,
        "scenarios.smoke: duplicate key \"vus\"; it is already defined on line 3"
    );
    let e = err("{a: 1, b: 2, a: 3}");
    assert_eq!((e.line, e.col), (1, 14));
    // Keys compare by value: 1 and 0x1 are the same integer; 1 and "1" are not.
    assert!(err("1: a\n0x1: b\n").message.contains("duplicate key 1;"));
    let root = ok("1: a\n\"1\": b\n");
    assert_eq!(root.as_map().unwrap().len(), 2);
}

#[test]
fn non_scalar_keys_are_errors() {
    let e = err("a:\n  ? [x, y]\n  : 1\n");
    assert_eq!((e.line, e.col), (2, 5));
    assert_eq!(
        e.message,
        "a: a mapping key must be a string or another scalar, not a list"
    );
    assert!(err("{? {x: 1} : 2}").message.contains("not a mapping"));
}

#[test]
fn merge_keys_merge_with_explicit_keys_winning() {
    let root = ok("\
defaults: &defaults
  timeout: 10s
  think: 1s
  retries: 2
slow: &slow
  timeout: 60s
  jitter: 5ms
a:
  <<: *defaults
  think: 0s
b:
  think: 3s
  <<: [*slow, *defaults]
");
    let a = root.get("a").unwrap().as_map().unwrap();
    let keys: Vec<_> = a
        .iter()
        .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap_or("2")))
        .collect();
    assert_eq!(
        keys,
        [("timeout", "10s"), ("retries", "2"), ("think", "0s")]
    );
    let b = root.get("b").unwrap();
    assert_eq!(b.get("think").unwrap().as_str(), Some("3s"));
    assert_eq!(
        b.get("timeout").unwrap().as_str(),
        Some("60s"),
        "earlier merged map wins"
    );
    assert_eq!(b.get("jitter").unwrap().as_str(), Some("5ms"));
    assert_eq!(b.get("retries").unwrap().value, Value::Int(2));
    assert_eq!(b.as_map().unwrap().len(), 4);
    // Merged values keep the position where they were written.
    assert_eq!(b.get("retries").unwrap().mark, at(4, 12));
    // A mapping is placed at its first key as written, not at an anchor it merges or aliases.
    let root = ok("k: &k name\nv: &v {x: 1}\nm:\n  <<: *v\n  y: 2\nn:\n  *k : 3\n");
    assert_eq!(root.get("m").unwrap().mark, at(4, 3));
    assert_eq!(root.get("n").unwrap().mark, at(7, 3));
    assert_eq!(walk(&root, &["n", "name"]).value, Value::Int(3));
    let e = err("k: &k name\nn:\n  name: 1\n  *k : 2\n");
    assert_eq!((e.line, e.col), (4, 3));
    // An inline mapping can be merged too; a quoted "<<" is an ordinary key.
    let root = ok("a: {<<: {x: 1}, y: 2}\nb: {\"<<\": 1}\n");
    assert_eq!(
        root.get("a").unwrap().get("x").unwrap().value,
        Value::Int(1)
    );
    assert_eq!(
        root.get("b").unwrap().get("<<").unwrap().value,
        Value::Int(1)
    );
}

#[test]
fn bad_merges_are_errors() {
    let e = err("a: &a 1\nb:\n  <<: *a\n");
    assert_eq!((e.line, e.col), (3, 7));
    assert_eq!(
        e.message,
        "a merge key (<<) takes a mapping or a list of mappings, not an integer"
    );
    assert!(err("b:\n  <<: [{x: 1}, [2]]\n")
        .message
        .contains("not a list"));
    assert!(err("b:\n  <<: {x: 1}\n  <<: {y: 1}\n")
        .message
        .contains("duplicate key <<"));
}

#[test]
fn merges_are_counted_against_the_node_budget() {
    let mut src = String::from("base: &b {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4}\nall:\n");
    for i in 0..10 {
        src.push_str(&format!("  m{i}: {{<<: *b}}\n"));
    }
    let limits = Limits {
        max_nodes: 100,
        ..Limits::default()
    };
    // 11 nodes for the base, 11 for its anchored copy, then 14 per entry of `all`.
    let e = err_with(&src, &limits);
    assert!(
        e.message
            .contains("expands to more than 100 nodes (YAML aliases?)"),
        "{e}"
    );
    assert_eq!(e.line, 8, "{e}");
}

// ---------------------------------------------------------------------------------------------
// Aliases

#[test]
fn aliases_are_expanded_with_the_anchors_positions() {
    let root = ok("hdr: &h {accept: json}\na: *h\nb: [*h, *h]\nn: &n 5\nm: *n\n");
    let h = root.get("hdr").unwrap();
    assert_eq!(root.get("a").unwrap(), h);
    assert_eq!(walk(&root, &["b", "1"]), h);
    assert_eq!(root.get("a").unwrap().mark, at(1, 9));
    assert_eq!(root.get("m").unwrap().value, Value::Int(5));
    let e = err("a: [1, *zz]\n");
    assert_eq!(
        (e.line, e.col, e.message.as_str()),
        (1, 8, "unknown anchor in alias *zz")
    );
    let e = err("a: &r [1, *r]\n");
    assert_eq!((e.line, e.col), (1, 11));
    assert_eq!(
        e.message,
        "a[1]: alias *r refers to a node that contains it"
    );
}

#[test]
fn a_billion_laughs_fails_fast() {
    let mut src = String::from("lol0: &lol0 \"lol\"\n");
    for i in 1..=9 {
        let refs = vec![format!("*lol{}", i - 1); 9].join(", ");
        src.push_str(&format!("lol{i}: &lol{i} [{refs}]\n"));
    }
    let e = err(&src);
    assert_eq!(
        e.message,
        "the plan expands to more than 200000 nodes (YAML aliases?)"
    );
    assert!(e.line >= 6 && e.line <= 10, "{e}");
}

#[test]
fn the_node_budget_applies_without_aliases() {
    let limits = Limits {
        max_nodes: 10,
        ..Limits::default()
    };
    assert!(parse(b"a: [1, 2, 3]\nb: {c: 4}\n", &limits).is_ok());
    let e = err_with("a: [1, 2, 3, 4, 5, 6, 7, 8]\n", &limits);
    assert_eq!((e.line, e.col), (1, 26));
    assert_eq!(e.message, "the plan has more than 10 nodes");
}

#[test]
fn a_wide_flow_collection_is_refused_before_yaml_rust2_buffers_it() {
    // yaml-rust2 tokenizes a whole top-level flow collection before it emits an event.
    let src = format!("[{}1]", "1,".repeat(1_000_000));
    let e = err(&src);
    assert_eq!(
        e.message,
        "the plan has more than 200000 nodes in one flow collection"
    );
    assert_eq!(e.line, 1);
    // Many small flow collections are fine.
    let many = "- {duration: 1m, target: 10}\n".repeat(2_000);
    assert_eq!(ok(&many).as_seq().unwrap().len(), 2_000);
}

// ---------------------------------------------------------------------------------------------
// Depth

fn deep_error(src: &str, limits: &Limits) -> YamlError {
    let e = err_with(src, limits);
    assert_eq!(e.message, "the plan nests deeper than 64 levels", "{e}");
    e
}

#[test]
fn ten_thousand_deep_flow_collections_are_refused() {
    let seq = "[".repeat(10_000) + &"]".repeat(10_000);
    let e = deep_error(&seq, &Limits::default());
    assert_eq!((e.line, e.col), (1, 65));
    let map = "{a: ".repeat(10_000) + &"}".repeat(10_000);
    let e = deep_error(&map, &Limits::default());
    assert_eq!((e.line, e.col), (1, 4 * 64 + 1));
    // Nested inside a block mapping, the 65th level is the 63rd bracket.
    let e = deep_error(&format!("a:\n  b: {seq}\n"), &Limits::default());
    assert_eq!((e.line, e.col), (2, 6 + 62));
}

#[test]
fn ten_thousand_deep_block_collections_are_refused() {
    let mut map = String::new();
    for i in 0..10_000 {
        map.push_str(&" ".repeat(i));
        map.push_str("a:\n");
    }
    // 50 MB of indentation: let it past the size check to reach the depth check.
    let roomy = Limits {
        max_bytes: 64 << 20,
        ..Limits::default()
    };
    let e = deep_error(&map, &roomy);
    assert_eq!((e.line, e.col), (65, 65));
    let seq = "- ".repeat(10_000) + "x\n";
    let e = deep_error(&seq, &Limits::default());
    assert_eq!((e.line, e.col), (1, 2 * 64 + 1));
}

#[test]
fn depth_at_the_limit_is_fine_and_aliases_count_their_depth() {
    let flat = "[".repeat(64) + &"]".repeat(64);
    assert!(parse(flat.as_bytes(), &Limits::default()).is_ok());
    let limits = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    assert!(parse(b"a: &x [[1]]\nb: [*x]\n", &limits).is_ok());
    let e = err_with("a: &x [[[1]]]\nb: [*x]\n", &limits);
    assert_eq!((e.line, e.col), (2, 5));
    assert_eq!(e.message, "the plan nests deeper than 4 levels");
}

#[test]
fn prescan_ignores_brackets_in_quotes_and_comments() {
    let mut src =
        String::from("# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n");
    src.push_str(&format!("a: \"{}\"\n", "[{".repeat(100)));
    src.push_str(&format!("b: '{}'' {}'\n", "[".repeat(100), "{".repeat(100)));
    src.push_str(&format!("c: x{} # {}\n", "[".repeat(100), "{".repeat(100)));
    src.push_str(&format!(
        "d: [\"{}\", '{}']\n",
        "]".repeat(100),
        "[".repeat(100)
    ));
    let root = ok(&src);
    assert_eq!(root.get("c").unwrap().as_str().unwrap().len(), 101);
    assert_eq!(walk(&root, &["d", "1"]).as_str().unwrap().len(), 100);
}

#[test]
fn prescan_is_not_fooled_by_quotes_inside_plain_scalars() {
    let deep = "[".repeat(10_000);
    for prefix in ["a: don't\n", "a: x\"y\n", "[a \"b, ", "- it's\n- "] {
        let e = deep_error(&format!("{prefix}{deep}"), &Limits::default());
        assert!(e.col >= 65, "{prefix:?}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bytes and documents

#[test]
fn invalid_utf8_is_reported_at_the_first_bad_byte() {
    let e = parse(b"a: 1\nname: \"caf\xc3\xa9 \xff\"\n", &Limits::default()).unwrap_err();
    assert_eq!((e.line, e.col), (2, 13));
    assert!(e.message.starts_with("invalid UTF-8"), "{e}");
}

#[test]
fn control_characters_are_refused() {
    let e = err("a: 1\nb: x\0y\n");
    assert_eq!((e.line, e.col), (2, 5));
    assert_eq!(
        e.message,
        "control character U+0000 is not allowed in a plan"
    );
    assert!(err("a: \u{1b}[0m\n").message.contains("U+001B"));
    assert!(err("a: \u{9c}\n").message.contains("U+009C"));
    assert!(ok("a: \"tab\there\"\nb: \u{85}\n").get("a").is_some());
}

#[test]
fn empty_plans_are_errors() {
    for src in [
        "",
        "\n\n",
        "# only a comment\n   # and another\n",
        "---\n",
        "--- \n...\n",
    ] {
        let e = err(src);
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (1, 1, "the plan is empty"),
            "{src:?}"
        );
    }
    assert_eq!(ok("~\n").value, Value::Null);
    assert_eq!(ok("--- {}\n").value, Value::Map(vec![]));
}

#[test]
fn a_second_document_is_an_error_at_its_start() {
    let e = err("a: 1\n---\nb: 2\n");
    assert_eq!((e.line, e.col), (2, 1));
    assert_eq!(
        e.message,
        "a plan is one YAML document, but a second one starts here"
    );
    assert!(err("--- 1\n...\n--- 2\n").line == 3);
    // An explicit end is fine.
    assert!(ok("a: 1\n...\n").get("a").is_some());
}

#[test]
fn syntax_errors_keep_yaml_rust2_position_and_message() {
    let e = err("a: [1, 2\nb: 3\n");
    assert_eq!((e.line, e.col), (2, 2));
    assert_eq!(e.message, "illegal placement of ':' indicator");
    assert_eq!(e.to_string(), "2:2: illegal placement of ':' indicator");
    let e = err("a: 1\nb: c: d\n");
    assert_eq!((e.line, e.col), (2, 5));
    assert_eq!(e.message, "mapping values are not allowed in this context");
}

#[test]
fn too_many_bytes_are_refused_before_parsing() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let e = parse(b"a: 1\nb: 2\nc: 3\n", &limits).unwrap_err();
    assert_eq!(
        e.message,
        "the plan is 15 bytes; a plan may be at most 10 bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn load_file_returns_text_and_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadtest.yaml");
    std::fs::write(&path, "version: 1\n").unwrap();
    let (text, node) = load_file(&path, &Limits::default()).unwrap();
    assert_eq!(text, "version: 1\n");
    assert_eq!(node.get("version").unwrap().value, Value::Int(1));

    std::fs::write(&path, "version: 1\nversion: 2\n").unwrap();
    match load_file(&path, &Limits::default()) {
        Err(LoadError::Yaml { source, .. }) => assert_eq!((source.line, source.col), (2, 1)),
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, b"a: \xfe\n").unwrap();
    match load_file(&path, &Limits::default()) {
        Err(LoadError::Yaml { source, .. }) => {
            assert_eq!((source.line, source.col), (1, 4));
            assert!(source.message.starts_with("invalid UTF-8"));
        }
        other => panic!("{other:?}"),
    }
    match load_file(&dir.path().join("missing.yaml"), &Limits::default()) {
        Err(e @ LoadError::Io { .. }) => assert!(e.to_string().starts_with("cannot read ")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_file_refuses_a_50_mb_plan_from_its_size_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    // Sparse: no data is written, and reading it would find NULs, not a size error.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    match load_file(&path, &Limits::default()) {
        Err(LoadError::TooLarge { size, max, .. }) => {
            // The read path would report max + 1: this came from the metadata.
            assert_eq!((size, max), (50 << 20, 4 << 20));
        }
        other => panic!("{other:?}"),
    }
}
