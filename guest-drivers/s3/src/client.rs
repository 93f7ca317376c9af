//! The S3 REST calls the driver makes, signed with SigV4 (the AWS SDK's `aws-sigv4`), sent
//! through `wasi:http` (the SDK's `http` module), their XML answers read with `quick-xml`.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use wharf_guest_sdk::http::{Method, Network, Request, Response, StatusCode, transient};
use wharf_guest_sdk::{Error, Result};

/// Characters kept as they are in a key's path (RFC 3986 unreserved, and `/`).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Characters kept as they are in a query value (RFC 3986 unreserved).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where the bucket is and how to sign for it.
#[derive(Clone)]
pub struct Client {
    /// `http` or `https`.
    pub scheme: String,
    /// The endpoint's host and port.
    pub authority: String,
    pub bucket: String,
    pub region: String,
    pub path_style: bool,
    credentials: Option<Credentials>,
    /// Headers every object write carries (storage class, ACL, encryption).
    pub write_headers: Vec<(&'static str, String)>,
    pub user_agent: Option<String>,
    /// Retries and timeouts (`max_retries`, `retry_delay`, …).
    pub network: Network,
}

impl fmt::Debug for Client {
    /// Never shows the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field(
                "endpoint",
                &format_args!("{}://{}", self.scheme, self.authority),
            )
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An answer's failure, read from its status and XML error body.
pub fn failure(what: &str, status: StatusCode, body: &[u8]) -> Error {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct S3Error {
        code: String,
        message: String,
    }
    let parsed: S3Error = quick_xml::de::from_reader(body).unwrap_or_default();
    let detail = if parsed.code.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!(
            "{what}: {} ({}; HTTP {status})",
            parsed.message, parsed.code
        )
    };
    match status.as_u16() {
        401 | 403 => Error::permission_denied(detail),
        408 => Error::timeout(detail),
        429 | 500..=599 => Error::backend(detail, true),
        _ => Error::backend(detail, false),
    }
}

impl Client {
    pub fn new(
        endpoint: &str,
        bucket: String,
        region: String,
        path_style: bool,
        credentials: Option<Credentials>,
    ) -> std::result::Result<Self, String> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("expected a URL such as http://127.0.0.1:9000 ({e})"))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s.to_owned(),
            _ => return Err("expected an http:// or https:// URL".into()),
        };
        let authority = uri
            .authority()
            .ok_or("expected a URL with a host")?
            .as_str()
            .to_owned();
        if authority.contains('@') {
            return Err("expected no user information in the URL".into());
        }
        Ok(Self {
            scheme,
            authority,
            bucket,
            region,
            path_style,
            credentials,
            write_headers: Vec::new(),
            user_agent: None,
            network: Network::default(),
        })
    }

    /// The headers every object write carries.
    pub fn write_headers(&self) -> Vec<(&'static str, String)> {
        self.write_headers.clone()
    }

    /// The URL of `key` (empty for the bucket) with `query` (names and raw values).
    pub fn url(&self, key: &str, query: &[(&str, &str)]) -> String {
        let key = utf8_percent_encode(key, KEY);
        let mut url = if self.path_style {
            format!("{}://{}/{}/{key}", self.scheme, self.authority, self.bucket)
        } else {
            format!("{}://{}.{}/{key}", self.scheme, self.bucket, self.authority)
        };
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            if !value.is_empty() || !matches!(*name, "uploads" | "delete") {
                url.push('=');
                url.push_str(&utf8_percent_encode(value, QUERY).to_string());
            }
        }
        url
    }

    /// A request for `key`, signed (the body's hash signed too, unless `unsigned_body`).
    pub fn request<B: AsRef<[u8]>>(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: B,
        unsigned_body: bool,
    ) -> Result<Request<B>> {
        let mut builder = Request::builder().method(method).uri(self.url(key, query));
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(agent) = &self.user_agent {
            builder = builder.header("user-agent", agent.as_str());
        }
        let mut request = builder
            .body(body)
            .map_err(|e| Error::backend(format!("building a request failed: {e}"), false))?;
        self.sign(&mut request, None, unsigned_body)?;
        Ok(request)
    }

    /// Signs `request` in its headers, or (with `presign`) in its query for that long.
    fn sign<B: AsRef<[u8]>>(
        &self,
        request: &mut Request<B>,
        presign: Option<Duration>,
        unsigned_body: bool,
    ) -> Result<()> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        let identity: Identity = credentials.clone().into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        if let Some(expiry) = presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expiry);
            settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| Error::backend(format!("signing failed: {e}"), false))?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = if unsigned_body || presign.is_some() {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(request.body().as_ref())
        };
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            body,
        )
        .map_err(|e| Error::backend(format!("signing failed: {e}"), false))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Error::backend(format!("signing failed: {e}"), false))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// A pre-signed URL for `method` on `key`, valid for `expiry`.
    pub fn presign(&self, method: Method, key: &str, expiry: Duration) -> Result<Option<String>> {
        if self.credentials.is_none() {
            return Ok(None);
        }
        let mut request = Request::builder()
            .method(method)
            .uri(self.url(key, &[]))
            .body(Vec::new())
            .map_err(|e| Error::backend(format!("building a request failed: {e}"), false))?;
        self.sign(&mut request, Some(expiry), true)?;
        Ok(Some(request.uri().to_string()))
    }

    /// Sends a request with a body held in memory and reads the whole answer. A request the
    /// server failed for a while ([`transient`]: 500, 503, 429, …) is sent again after a
    /// back-off, up to `max_retries` times; so is one that never got its whole answer, when
    /// sending it twice changes nothing (GET, HEAD, PUT, DELETE, or `repeatable`: a POST whose
    /// second sending is harmless, such as a bulk delete).
    pub fn send(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Response> {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        self.send_repeatable(method, key, query, headers, body, idempotent)
    }

    /// [`Client::send`], saying whether a request whose answer was lost may be sent again.
    pub fn send_repeatable(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Vec<u8>,
        repeatable: bool,
    ) -> Result<Response> {
        self.network.retry(
            || self.send_once(method.clone(), key, query, headers, body.clone()),
            |outcome| match outcome {
                Ok(r) => transient(r.status),
                Err(e) => repeatable && e.is_temporary(),
            },
        )
    }

    /// Signs and sends a request once (signed anew each time: a signature is only good for a
    /// while), for the steps that decide themselves whether to send again.
    pub fn send_once(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Response> {
        let request = self.request(method, key, query, headers, body, false)?;
        self.network.send(request)
    }
}

/// Parses an S3 XML answer.
pub fn xml<T: for<'de> Deserialize<'de>>(what: &str, body: &[u8]) -> Result<T> {
    quick_xml::de::from_reader(body)
        .map_err(|e| Error::backend(format!("{what}: unreadable answer ({e})"), true))
}

/// One page of ListObjectsV2.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListPage {
    pub contents: Vec<Object>,
    pub common_prefixes: Vec<CommonPrefix>,
    pub is_truncated: bool,
    pub next_continuation_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CommonPrefix {
    pub prefix: String,
}

/// One page of ListMultipartUploads.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct UploadsPage {
    pub upload: Vec<InProgress>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct InProgress {
    pub key: String,
    pub upload_id: String,
    pub initiated: String,
}

/// One page of ListParts.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct PartsPage {
    pub part: Vec<Part>,
    pub is_truncated: bool,
    pub next_part_number_marker: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct Part {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Initiated {
    pub upload_id: String,
}

/// Seconds since the epoch of an ISO 8601 time as S3 writes it (`2026-12-06T15:04:05.000Z`).
pub fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>());
    let (h, min, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let nanos: u32 = format!("{frac:0<9}")[..9].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + s;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

/// The time of an HTTP date header (`Sun, 06 Dec 2026 15:04:05 GMT`).
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let mut parts = text.split_whitespace().skip(1);
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    parse_iso8601(&format!("{year:04}-{month:02}-{day:02}T{time}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_iso8601("1970-01-02T00:00:01.500Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::new(86_401, 500_000_000)
        );
        let a = parse_iso8601("2026-12-06T15:04:05.000Z").unwrap();
        let b = parse_http_date("Sun, 06 Dec 2026 15:04:05 GMT").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_796_569_445
        );
    }

    #[test]
    fn urls_and_debug() {
        let creds = Credentials::new("AKIDEXAMPLE", "very-secret", None, None, "test");
        let c = Client::new(
            "http://127.0.0.1:9000",
            "b".into(),
            "us-east-1".into(),
            true,
            Some(creds),
        )
        .unwrap();
        assert_eq!(
            c.url("a/b c", &[("list-type", "2"), ("prefix", "a/")]),
            "http://127.0.0.1:9000/b/a/b%20c?list-type=2&prefix=a%2F"
        );
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
