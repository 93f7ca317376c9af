//! Percent-encoding as the storage services expect it: RFC 3986 unreserved characters stay as
//! they are, everything else is escaped (`/` too, except in [`PATH`]).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters escaped in a query value (and in an object name that is one path segment): all
/// but the RFC 3986 unreserved characters.
pub const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters escaped in a URL path: as [`QUERY_VALUE`], but `/` separates segments.
pub const PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// `s` escaped for a URL path (its `/` kept).
pub fn path(s: &str) -> String {
    utf8_percent_encode(s, PATH).to_string()
}

/// `s` escaped for a query value or a single path segment.
pub fn component(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// `name=value&…` with every value escaped ([`QUERY_VALUE`]); a `None` value writes the bare
/// name (a flag such as Swift's `bulk-delete`).
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| match value {
            Some(v) => format!("{name}={}", component(v)),
            None => name.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay() {
        assert_eq!(path("files/a b/c%~-_."), "files/a%20b/c%25~-_.");
        assert_eq!(component("a/b+c=d"), "a%2Fb%2Bc%3Dd");
        assert_eq!(
            query([("a", Some("x y")), ("flag", None), ("e", Some(""))]),
            "a=x%20y&flag&e="
        );
    }
}
