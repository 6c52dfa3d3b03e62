//! `${X}` and `${X:-default}` in `vars` values and environment `base_url`s.
//!
//! Pure: the caller passes the lookup (tests inject theirs) and decides what an unset variable
//! means (a warning in `validate`, an error in `run` when a request uses it).

/// The result of expanding one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    pub value: String,
    /// Every variable the string reads, with the value it got from the environment (`None`:
    /// unset, the default or nothing was used).
    pub reads: Vec<(String, Option<String>)>,
    /// Variables that are unset and have no default: the value holds nothing in their place.
    pub unset: Vec<String>,
}

/// Expands `${NAME}` and `${NAME:-default}`; `$$` is a literal `$`. Any other `$` is kept as is,
/// so `p4$$word` and `cost: 5$` both do what they look like.
pub(crate) fn expand(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, String> {
    let mut out = Expanded {
        value: String::with_capacity(input.len()),
        reads: Vec::new(),
        unset: Vec::new(),
    };
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.value.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.value.push('$');
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.value.push('$');
            rest = after;
            continue;
        };
        let Some(close) = body_start.find('}') else {
            return Err(format!(
                "unclosed \"${{\" in {input:?}; write ${{NAME}} or ${{NAME:-default}} (and $$ for a literal $)"
            ));
        };
        let body = &body_start[..close];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_env_name(name) {
            let hint = if name.contains('-') && !name.contains(":-") && default.is_none() {
                " (a default is written ${NAME:-default})"
            } else {
                ""
            };
            return Err(format!(
                "invalid environment variable name {name:?} in \"${{{body}}}\"; a name is letters, digits and underscores, not starting with a digit{hint}"
            ));
        }
        // An empty value counts as unset, as in the shell's `:-`.
        let found = lookup(name).filter(|v| !v.is_empty());
        match (&found, default) {
            (Some(v), _) => out.value.push_str(v),
            (None, Some(d)) => out.value.push_str(d),
            (None, None) => {
                if !out.unset.iter().any(|u| u == name) {
                    out.unset.push(name.to_string());
                }
            }
        }
        out.reads.push((name.to_string(), found));
        rest = &body_start[close + 1..];
    }
    out.value.push_str(rest);
    Ok(out)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a value read from this environment variable must be treated as a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    crate::redact::is_secret_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("staging.example.com".into()),
            "API_TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(s: &str) -> Expanded {
        expand(s, &env).unwrap()
    }

    #[test]
    fn plain_text_is_unchanged() {
        let e = run("https://example.com/a$b");
        assert_eq!(e.value, "https://example.com/a$b");
        assert!(e.reads.is_empty() && e.unset.is_empty());
    }

    #[test]
    fn set_variables_and_defaults() {
        assert_eq!(
            run("https://${HOST}/api").value,
            "https://staging.example.com/api"
        );
        assert_eq!(run("${NOPE:-fallback}").value, "fallback");
        assert_eq!(run("${HOST:-fallback}").value, "staging.example.com");
        assert_eq!(run("${NOPE:-}").value, "");
        assert!(run("${NOPE:-}").unset.is_empty());
        // An empty variable takes the default, as `:-` does in a shell.
        assert_eq!(run("${EMPTY:-d}").value, "d");
    }

    #[test]
    fn unset_without_default_is_reported_once() {
        let e = run("${NOPE}-${NOPE}-${HOST}");
        assert_eq!(e.value, "--staging.example.com");
        assert_eq!(e.unset, vec!["NOPE".to_string()]);
        assert_eq!(e.reads.len(), 3);
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(run("p$$${HOST}").value, "p$staging.example.com");
        assert_eq!(run("$${HOST}").value, "${HOST}");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(expand("${HOST", &env).unwrap_err().contains("unclosed"));
        assert!(expand("${1X}", &env)
            .unwrap_err()
            .contains("invalid environment variable name"));
        assert!(expand("${}", &env).is_err());
        assert!(expand("${HOST-x}", &env).unwrap_err().contains(":-default"));
    }

    #[test]
    fn secret_names() {
        for n in [
            "API_TOKEN",
            "slack_webhook_url",
            "DB_PASSWORD",
            "CLIENT_SECRET",
            "API_KEY",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        assert!(!is_secret_name("HOST"));
    }
}
