//! URL text: percent-encoding and decoding (RFC 3986), and a URL without its credentials for logs
//! and reports.

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
