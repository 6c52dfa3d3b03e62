//! "Did you mean" suggestions for misspelled names (variables, helpers, aggregations, keys).
//!
//! The rule follows cargo's: a candidate is close enough when its Damerau-Levenshtein distance
//! to the name is at most a third of the name's length (and at least 1 edit is always allowed).
//! The closest candidate wins; on a tie, the first one given.

/// The candidate closest to `name`, if any is close enough to be worth suggesting.
///
/// ```
/// use kaizen_loadtest::suggest::did_you_mean;
/// assert_eq!(did_you_mean("tokn", ["token", "user"]), Some("token"));
/// assert_eq!(did_you_mean("zzz", ["token", "user"]), None);
/// ```
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(name, candidate);
        if distance > limit {
            continue;
        }
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `; did you mean "x"?` when there is a suggestion, else nothing: ready to append to a message.
pub fn hint<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match did_you_mean(name, candidates) {
        Some(s) => format!("; did you mean \"{s}\"?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let names = ["token", "password", "email", "user_id"];
        assert_eq!(did_you_mean("tokn", names), Some("token"));
        assert_eq!(did_you_mean("pasword", names), Some("password"));
        assert_eq!(did_you_mean("emial", names), Some("email")); // transposition is one edit
        assert_eq!(did_you_mean("userid", names), Some("user_id"));
    }

    #[test]
    fn rejects_distant_names() {
        let names = ["token", "password"];
        assert_eq!(did_you_mean("xyz", names), None);
        assert_eq!(did_you_mean("tkn", ["token"]), None); // 2 edits on a 3-char name
        assert_eq!(did_you_mean("anything", std::iter::empty()), None);
    }

    #[test]
    fn short_names_allow_one_edit() {
        assert_eq!(did_you_mean("vu", ["vus"]), Some("vus"));
        assert_eq!(did_you_mean("", ["a"]), Some("a"));
        assert_eq!(did_you_mean("ab", ["xy"]), None);
    }

    #[test]
    fn closest_wins_then_first() {
        assert_eq!(did_you_mean("abcdef", ["abcxxx", "abcdex"]), Some("abcdex"));
        assert_eq!(did_you_mean("abc", ["abd", "abe"]), Some("abd"));
        assert_eq!(did_you_mean("avg", ["avg", "avgs"]), Some("avg"));
    }

    #[test]
    fn hint_formats_or_is_empty() {
        assert_eq!(hint("tokn", ["token"]), "; did you mean \"token\"?");
        assert_eq!(hint("qqqq", ["token"]), "");
    }
}
