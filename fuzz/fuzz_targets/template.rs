//! Templates: compile any text, render what compiles; a JSON body stays JSON whatever a VU
//! captured.
#![no_main]

use std::sync::Arc;

use kaizen_loadtest::plan::template::{self, RenderCtx, Scope, VarRef};
use libfuzzer_sys::fuzz_target;
use rand::rngs::SmallRng;
use rand::SeedableRng;

struct Vars;
impl Scope for Vars {
    fn resolve(&self, path: &str) -> Result<VarRef, String> {
        match path {
            "vars.a" => Ok(VarRef::Const(Arc::from("A\"\\"))),
            "token" => Ok(VarRef::Capture(0)),
            "users.email" => Ok(VarRef::Feed { feed: 0, column: 0 }),
            other => Err(format!("unknown variable {other:?}")),
        }
    }
}

struct Ctx<'a> {
    cap: &'a str,
    rng: SmallRng,
}
impl RenderCtx for Ctx<'_> {
    fn capture(&self, _slot: usize) -> Option<&str> {
        Some(self.cap)
    }
    fn feed(&self, _feed: usize, _column: usize) -> Option<&str> {
        Some(self.cap)
    }
    fn vu(&self) -> u64 {
        1
    }
    fn iteration(&self) -> u64 {
        0
    }
    fn scenario(&self) -> &str {
        "s"
    }
    fn env(&self) -> &str {
        "e"
    }
    fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }
}

fuzz_target!(|input: (&str, &str)| {
    let (src, cap) = input;
    let mut ctx = Ctx { cap, rng: SmallRng::seed_from_u64(0) };
    if let Ok(t) = template::compile(src, &Vars) {
        let _ = t.render_string(&mut ctx);
    }
    let body = serde_json::json!({ "a": src, "b": ["{{token}}", "x{{users.email}}"] });
    if let Ok(t) = template::compile_json(&body, &Vars) {
        let mut out = Vec::new();
        t.render(&mut ctx, &mut out);
        serde_json::from_slice::<serde_json::Value>(&out).expect("a rendered JSON body is JSON");
    }
});
