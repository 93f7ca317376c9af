//! Checks of what a guest answers, before the host uses it: every string a guest hands over is
//! untrusted text that may reach a terminal, a log or an HTTP header. Error messages are cut to
//! a bound and stripped of control characters; redirect URLs must be absolute `http`/`https`
//! URLs of printable ASCII within a length bound; file records must hold valid paths and times;
//! lists and manifests have bounds of their own. A failed check is a broken contract
//! (`DriverFault`, the instance is replaced), except for error text, which is cleaned and kept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::bindings::{Capability, Datetime, GuestError, GuestFileInfo, Info};
use super::manifest::{Manifest, RequestedCapability};
use crate::driver::FileInfo;
use crate::error::{Error, ErrorKind};
use crate::path::is_valid;

/// Longest guest text (an error message, a log line) kept, in bytes; the rest is cut.
pub const MAX_TEXT: usize = 1024;
/// Longest redirect URL a guest may answer, in bytes.
pub const MAX_URL: usize = 8 << 10;

/// Longest driver name a manifest may give, in bytes.
pub const MAX_NAME: usize = 64;
/// Capabilities a manifest may ask for.
pub const MAX_REQUESTED: usize = 64;
/// Longest capability (a guest path, a host, a variable name) a manifest may ask for.
pub const MAX_CAPABILITY: usize = 1024;

/// A check that failed says what broke the contract.
pub(crate) type Checked<T> = std::result::Result<T, String>;

/// `text` as it may be shown: at most [`MAX_TEXT`] bytes, each control character (C0, DEL, C1,
/// which includes ESC and CR/LF) written as its `\u{…}` escape, so that no guest text can move
/// a terminal's cursor, colour it, or forge a log line.
pub fn clean_text(text: &str) -> String {
    clean_text_within(text, MAX_TEXT)
}

/// [`clean_text`] with another bound.
pub fn clean_text_within(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    let mut buf = [0; 4];
    for c in text.chars() {
        let escaped;
        let piece: &str = if c.is_control() {
            escaped = c.escape_unicode().to_string();
            &escaped
        } else {
            c.encode_utf8(&mut buf)
        };
        if out.len() + piece.len() > max {
            out.push('…');
            break;
        }
        out.push_str(piece);
    }
    out
}

/// A redirect URL from a guest, checked for use in a `Location` header.
pub(crate) fn redirect_url(url: &str) -> Checked<String> {
    let shown = || clean_text_within(url, 120);
    if url.len() > MAX_URL {
        return Err(format!(
            "a redirect URL of {} bytes (at most {MAX_URL}): {}",
            url.len(),
            shown()
        ));
    }
    if let Some(b) = url.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
        return Err(format!(
            "a redirect URL with the byte {b:#04x} (only printable ASCII is allowed): {}",
            shown()
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("a redirect URL that does not parse ({e}): {}", shown()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "a redirect URL that is not http or https: {}",
                shown()
            ));
        }
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() && !a.as_str().contains('@') => Ok(url.to_owned()),
        Some(_) => Err(format!(
            "a redirect URL with user information or no host: {}",
            shown()
        )),
        None => Err(format!("a redirect URL without a host: {}", shown())),
    }
}

/// A guest's time, checked.
pub(crate) fn time_of(d: &Datetime) -> Checked<SystemTime> {
    if d.nanoseconds >= 1_000_000_000 {
        return Err(format!("nanoseconds {} out of range", d.nanoseconds));
    }
    UNIX_EPOCH
        .checked_add(Duration::new(d.seconds, d.nanoseconds))
        .ok_or_else(|| format!("time {}s out of range", d.seconds))
}

/// A guest's file record, checked.
pub(crate) fn file_info(f: GuestFileInfo) -> Checked<FileInfo> {
    if f.path != "/" && !is_valid(&f.path) {
        return Err(format!("invalid path {:?}", clean_text(&f.path)));
    }
    if f.is_dir && f.size != 0 {
        return Err(format!("directory {} with size {}", f.path, f.size));
    }
    Ok(FileInfo {
        mod_time: time_of(&f.mod_time)?,
        path: f.path,
        size: f.size,
        is_dir: f.is_dir,
    })
}

/// A guest's manifest, checked: it is kept for as long as the component is loaded and shown by
/// `wharf inspect`, so it must be small and printable.
pub(crate) fn manifest(info: Info) -> Checked<Manifest> {
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if info.name.is_empty() || info.name.len() > MAX_NAME || !info.name.chars().all(name_ok) {
        return Err(format!(
            "the name {:?} is not 1 to {MAX_NAME} letters, digits, '-', '_' or '.'",
            clean_text_within(&info.name, 80)
        ));
    }
    let printable = |s: &str| s.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if info.wit_version.len() > 32 || !printable(&info.wit_version) {
        return Err(format!(
            "the WIT version {:?} is not a version",
            clean_text_within(&info.wit_version, 40)
        ));
    }
    if info.requested.len() > MAX_REQUESTED {
        return Err(format!(
            "{} capabilities asked for (at most {MAX_REQUESTED})",
            info.requested.len()
        ));
    }
    let mut requested = Vec::with_capacity(info.requested.len());
    for capability in info.requested {
        let (Capability::Directory(s) | Capability::Http(s) | Capability::Environment(s)) =
            &capability;
        if s.is_empty() || s.len() > MAX_CAPABILITY || !printable(s) {
            return Err(format!(
                "a capability {:?} that is empty, longer than {MAX_CAPABILITY} bytes or not printable ASCII",
                clean_text_within(s, 80)
            ));
        }
        requested.push(match capability {
            Capability::Directory(p) => RequestedCapability::Directory(p),
            Capability::Http(h) => RequestedCapability::Http(h),
            Capability::Environment(v) => RequestedCapability::Environment(v),
        });
    }
    Ok(Manifest {
        name: info.name,
        wit_version: info.wit_version,
        stateful: info.stateful,
        requested,
    })
}

/// Maps a guest's error to Wharf's, its texts cleaned.
pub(crate) fn guest_error(e: GuestError) -> Error {
    match e {
        GuestError::PathNotFound(p) => Error::not_found(clean_text(&p)),
        GuestError::InvalidPath(p) => Error::invalid_path(clean_text(&p)),
        GuestError::InvalidOffset(o) => Error::invalid_offset(clean_text(&o.path), o.offset),
        GuestError::Unsupported(op) => Error::unsupported(clean_text(&op)),
        GuestError::PermissionDenied(m) => {
            Error::new(ErrorKind::PermissionDenied).with_detail(clean_text(&m))
        }
        GuestError::Timeout(m) => Error::new(ErrorKind::Timeout).with_detail(clean_text(&m)),
        GuestError::Backend(b) => Error::new(ErrorKind::Backend {
            temporary: b.temporary,
        })
        .with_detail(clean_text(&b.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_and_control_characters_escaped() {
        assert_eq!(clean_text("plain text ä"), "plain text ä");
        assert_eq!(
            clean_text("red \x1b[31m\r\nforged: line\u{9b}"),
            "red \\u{1b}[31m\\u{d}\\u{a}forged: line\\u{9b}"
        );
        let long = "x".repeat(5000);
        let cut = clean_text(&long);
        assert!(
            cut.len() <= MAX_TEXT + '…'.len_utf8() && cut.ends_with('…'),
            "{cut}"
        );
        // Never cut inside a character or an escape.
        let cut = clean_text_within(&"\n".repeat(10), 14);
        assert_eq!(cut, "\\u{a}\\u{a}…");
        assert_eq!(clean_text_within("ääää", 5), "ää…");
    }

    fn info(name: &str, requested: Vec<Capability>) -> Info {
        Info {
            name: name.into(),
            wit_version: "0.1.0".into(),
            stateful: false,
            requested,
        }
    }

    #[test]
    fn manifests_are_small_and_printable() {
        let good = manifest(info(
            "js-inmemory",
            vec![Capability::Directory("/data".into())],
        ));
        assert_eq!(
            good.unwrap().requested,
            [RequestedCapability::Directory("/data".into())]
        );
        for (bad, why) in [
            (info("", vec![]), "name"),
            (info(&"n".repeat(65), vec![]), "name"),
            (info("evil\x1b[2J", vec![]), "name"),
            (
                info("ok", vec![Capability::Http("a\nb".into())]),
                "capability",
            ),
            (
                info("ok", vec![Capability::Environment("x".repeat(2000))]),
                "capability",
            ),
            (
                info("ok", vec![Capability::Environment("X".into()); 65]),
                "65 capabilities",
            ),
        ] {
            let e = manifest(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn redirect_urls_are_http_printable_and_bounded() {
        for good in [
            "http://example.com/a?b=c",
            "https://s3.example.com:9000/bucket/key?X-Amz-Signature=ab%20cd",
            "http://127.0.0.1/x",
            "https://[::1]:8443/x",
        ] {
            assert_eq!(redirect_url(good).as_deref(), Ok(good), "{good}");
        }
        for (bad, why) in [
            ("http://example.com/a\r\nSet-Cookie: x=1", "0x0d"),
            ("http://example.com/a b", "0x20"),
            ("http://example.com/ä", "0xc3"),
            ("javascript:alert(1)", "not http"),
            ("file:///etc/passwd", "does not parse"),
            ("hostile://instance/1", "not http"),
            ("/relative/path", "not http"),
            ("http://user:pass@example.com/", "user information"),
            ("http:///nohost", "parse"),
        ] {
            let e = redirect_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL));
        assert!(redirect_url(&long).unwrap_err().contains("bytes"));
    }
}
