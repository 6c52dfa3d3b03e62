//! URL text: percent-encoding and decoding (RFC 3986), the checks every URL a request is sent to
//! passes before the first request, and a URL without its credentials for logs and reports.

/// Appends `s` percent-encoded (RFC 3986: unreserved characters stay, every other byte is
/// `%XX`): query components, form fields, a GitLab project path as one path segment.
pub fn push_urlencoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// Appends a value that arrives at run time (a capture, a CSV cell, a var) to a URL, so that
/// what is sent is what the value says: the bytes a URL cannot hold as written are
/// percent-encoded (control characters, white space, `"` `<` `>` `\` `^` `` ` `` `{` `|` `}`,
/// non-ASCII as UTF-8) and so is `#` (a fragment is never sent: the rest of the URL, query
/// included, would be dropped). A `%` is kept when it starts an escape (`%2F`), so a value that
/// is already encoded is not encoded twice. The URL's own delimiters (`/ ? & = : @ [ ]`) are
/// kept: a captured link is followed as it is.
pub fn push_url_value(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_hexdigit);
    out.reserve(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        let keep = match b {
            b'%' => hex(i + 1) && hex(i + 2),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => true,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' => {
                true
            }
            b',' | b';' | b'=' | b':' | b'@' | b'/' | b'?' | b'[' | b']' => true,
            _ => false,
        };
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Why a base URL (a plan's `base_url`, one from `${VAR}`, `--base-url`) cannot be used, as the
/// end of a sentence that starts with the URL; else the URL requests are joined to (without a
/// trailing `/`). It must be an `http` or `https` URL with a host, a port from 1 to 65535, no
/// query or fragment, and no control character or white space (a URL parser drops some of those
/// silently: the URL sent would not be the one written, and a NUL before an `@` moves the host).
pub fn check_base_url(url: &str) -> Result<String, String> {
    let u = check_url(url)?;
    if u.query().is_some() || u.fragment().is_some() {
        return Err(
            "must not have a query or fragment; put query parameters on the requests".into(),
        );
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// [`check_base_url`] for an absolute URL a request is sent to: a query is fine, a fragment is
/// not (it is never sent, and the request's `query` would land behind it). Validation checks
/// every URL known before the run with it, and the engine every URL a request renders, so a
/// value cannot make a URL that a plan could not hold.
pub fn parse_request_url(url: &str) -> Result<reqwest::Url, String> {
    let u = check_url(url)?;
    if u.fragment().is_some() {
        return Err("must not have a fragment (#...): it is never sent".into());
    }
    Ok(u)
}

/// [`parse_request_url`], for its verdict alone.
pub fn check_request_url(url: &str) -> Result<(), String> {
    parse_request_url(url).map(|_| ())
}

/// The checks both kinds of URL pass: characters, syntax, scheme, host and port.
fn check_url(url: &str) -> Result<reqwest::Url, String> {
    if let Some(c) = crate::text::forbidden_in_url(url) {
        return Err(format!(
            "contains {}; a URL may not hold control characters or white space",
            crate::text::describe(c)
        ));
    }
    if !url.contains("://") {
        return Err(format!("is not a URL; did you mean \"http://{url}\"?"));
    }
    // `http:///x` would go to the host `x`: URL parsers skip the extra slashes.
    if url
        .split_once("://")
        .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with(['/', '\\']))
    {
        return Err("has no host".into());
    }
    let u = reqwest::Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("must use http or https, not {}", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if u.port() == Some(0) {
        return Err("has port 0; a port is 1 to 65535".into());
    }
    Ok(u)
}

/// `s` percent-encoded, as [`push_urlencoded`] appends it.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_urlencoded(&mut out, s);
    out
}

/// `s` with its `%XX` escapes decoded (an invalid escape is kept as it is; bytes that are not
/// UTF-8 are replaced).
pub fn urldecode(s: &str) -> String {
    String::from_utf8_lossy(&urldecode_bytes(s)).into_owned()
}

/// The bytes `s` stands for, its `%XX` escapes decoded (an invalid escape is kept as it is).
pub fn urldecode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A URL without its `user:password@` part, for logs and reports.
pub fn strip_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_time_values_are_encoded_only_where_a_url_cannot_hold_them() {
        let enc = |s: &str| {
            let mut out = String::from("/x/");
            push_url_value(&mut out, s);
            out
        };
        assert_eq!(enc("a\nb"), "/x/a%0Ab");
        assert_eq!(enc("{id}"), "/x/%7Bid%7D");
        assert_eq!(enc("a b#c"), "/x/a%20b%23c");
        assert_eq!(enc("50%"), "/x/50%25");
        assert_eq!(enc("a%2Fb"), "/x/a%2Fb");
        assert_eq!(enc("é\0\u{7f}"), "/x/%C3%A9%00%7F");
        assert_eq!(enc("/next?page=2&x=[1]"), "/x//next?page=2&x=[1]");
    }

    #[test]
    fn urls_are_checked_before_they_are_used() {
        assert_eq!(
            check_base_url("http://127.0.0.1:8000/api/").unwrap(),
            "http://127.0.0.1:8000/api"
        );
        let bad = |u: &str| check_base_url(u).unwrap_err();
        assert!(bad("http://127.0.0.1:9\0@other.host/").contains("U+0000 (NUL)"));
        assert!(bad("http://h/\r\n::error title=x::y").contains("U+000D"));
        assert!(bad("http://h/x?y=1").contains("query or fragment"));
        assert!(bad("http://h/x#frag").contains("query or fragment"));
        assert!(bad("ftp://h/").contains("http or https, not ftp"));
        assert!(bad("http://[::1").contains("is not a URL"));
        assert!(bad("http://h:99999/").contains("is not a URL"));
        assert!(bad("http://h:0/").contains("port 0"));
        assert!(bad("http://:80/").contains("is not a URL"));
        assert!(bad("http:///x").contains("no host"));
        assert!(bad("localhost:8000").contains("is not a URL"));
        assert!(check_request_url("http://h/x?y=1").is_ok());
        assert!(check_request_url("http://h/x#f")
            .unwrap_err()
            .contains("fragment"));
    }

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://bob:hunter2@api.example.com/v1"),
            "https://api.example.com/v1"
        );
        assert_eq!(
            strip_credentials("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000"
        );
    }
}
