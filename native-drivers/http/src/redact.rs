//! Keeping secrets out of logs, error messages and `Debug` output: a request declares which of
//! its query parameters and headers are secret (a SAS `sig`, a TempURL `temp_url_sig`, a
//! resumable session's `upload_id`, a token header), and everything that shows a request shows
//! it through these functions.

/// What replaces a secret value.
pub const REDACTED: &str = "<redacted>";

/// Headers that carry credentials in every service the kit speaks to; always redacted.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-auth-token",
    "x-auth-key",
    "x-storage-token",
    "x-subject-token",
];

/// True when the header `name` is secret by default or is one of `secret` (names compared
/// without regard to case).
pub fn is_secret_header(name: &str, secret: &[String]) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
        || secret.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// `url` with the value of every query parameter named in `secret` replaced by
/// [`REDACTED`], and any user information (`user:password@`) removed. The rest stays as it is,
/// so the URL still tells which request it was.
pub fn url(url: &str, secret: &[impl AsRef<str>]) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = strip_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let name = pair.split('=').next().unwrap_or_default();
                let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
                if pair.contains('=')
                    && secret
                        .iter()
                        .any(|s| s.as_ref().eq_ignore_ascii_case(&decoded))
                {
                    format!("{name}={REDACTED}")
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn strip_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    match base[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &base[..authority_start],
            &base[authority_start + at + 1..]
        ),
        None => base.to_owned(),
    }
}

/// `(name, value)` for showing a header: the value replaced when the header is secret.
pub fn header<'a>(name: &'a str, value: &'a str, secret: &[String]) -> (&'a str, &'a str) {
    if is_secret_header(name, secret) {
        (name, REDACTED)
    } else {
        (name, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_replaced() {
        let u = "https://acct.blob.core.windows.net/c/a%20b?sv=2021&sig=abc%2Bdef&se=x";
        assert_eq!(
            url(u, &["sig"]),
            "https://acct.blob.core.windows.net/c/a%20b?sv=2021&sig=<redacted>&se=x"
        );
        assert_eq!(
            url(
                "http://h/v1/o?temp_url_sig=deadbeef&temp_url_expires=1",
                &["TEMP_URL_SIG"]
            ),
            "http://h/v1/o?temp_url_sig=<redacted>&temp_url_expires=1"
        );
        // Names are compared decoded; flags without a value stay.
        assert_eq!(
            url(
                "http://h/?upload%5Fid=s3cr3t&bulk-delete#top",
                &["upload_id"]
            ),
            "http://h/?upload%5Fid=<redacted>&bulk-delete#top"
        );
        assert_eq!(url("http://h/p", &[] as &[&str]), "http://h/p");
    }

    #[test]
    fn user_information_is_dropped() {
        assert_eq!(
            url("https://alice:hunter2@h:8080/p?q=1", &[] as &[&str]),
            "https://h:8080/p?q=1"
        );
        assert_eq!(url("https://h/p@q", &[] as &[&str]), "https://h/p@q");
    }

    #[test]
    fn credential_headers_are_always_secret() {
        assert_eq!(header("Authorization", "Bearer t", &[]).1, REDACTED);
        assert_eq!(header("X-Auth-Token", "t", &[]).1, REDACTED);
        assert_eq!(header("x-ms-version", "2021", &[]).1, "2021");
        assert_eq!(
            header(
                "x-amz-security-token",
                "t",
                &["X-Amz-Security-Token".into()]
            )
            .1,
            REDACTED
        );
    }
}
