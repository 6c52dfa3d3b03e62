//! Secrets: tokens and webhook URLs. A [`Secret`] prints as `***` however it is formatted, and a
//! [`Redactor`] scrubs known secrets out of text that came from elsewhere (an HTTP client's error,
//! an API's error message) before it is printed.

use std::fmt;
use std::str::FromStr;

/// What a secret prints as, everywhere.
pub use crate::redact::MASK;

/// A token or webhook URL. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the
/// value, at the one place it is put on the wire.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Masks known secrets in text that came from elsewhere: the secrets join the process-wide
/// redactor ([`crate::redact`]), which masks them (and what the plan and the command line hold)
/// everywhere from then on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redactor;

impl Redactor {
    /// Values shorter than 4 characters are ignored: masking `a` would shred every message.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        crate::redact::extend(|r| secrets.into_iter().for_each(|s| r.add(s.expose())));
        Redactor
    }

    pub fn redact(&self, text: &str) -> String {
        crate::redact::redact(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_as_itself() {
        let s: Secret = "ghp_supersecret".parse().unwrap();
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose(), "ghp_supersecret");
    }

    #[test]
    fn redactor_replaces_longest_first_and_ignores_tiny_values() {
        let a = Secret::new("https://hooks.slack.com/services/T0/B0/xyz");
        let b = Secret::new("xyz");
        let c = Secret::new("token-123");
        let r = Redactor::new([&b, &a, &c]);
        assert_eq!(
            r.redact(
                "error sending to https://hooks.slack.com/services/T0/B0/xyz with token-123 (xyz)"
            ),
            "error sending to *** with *** (xyz)"
        );
    }
}
