//! Fetching a bearer token from an OAuth 2.0 token endpoint (or a cloud's metadata service,
//! which answers the same way): one request, its JSON answer read into a [`Token`], and the
//! same error kinds for every driver — a network failure or a 5xx/429 answer is a temporary
//! `Backend` error, a refusal is `PermissionDenied`. Messages never hold the request's secrets:
//! transport errors lose their URL, and bodies are never shown.

use std::time::{Duration, SystemTime};

use wharf_runtime::{Error, ErrorKind, Result, Secret};

use crate::failure::is_temporary_status;
use crate::{Request, Token, fetch_failed};

/// The lifetime of a token whose answer does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// `PermissionDenied` with `message`.
pub fn denied(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::PermissionDenied).with_detail(message)
}

/// Sends `request` once with `http` and reads the token of its answer; `what` names the
/// request in messages ("the service account's token request").
pub async fn fetch_bearer(
    http: &reqwest::Client,
    request: &Request,
    what: &str,
) -> Result<Token<Secret>> {
    wharf_runtime::network::count_request();
    let response = request
        .build(http)
        .send()
        .await
        .map_err(|e| fetch_failed(what, e))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| fetch_failed(&format!("{what}: reading the answer"), e))?;
    read_answer(status, &body, what, SystemTime::now())
}

/// The token in an answer of `status` with `body`, received at `now`.
pub fn read_answer(
    status: reqwest::StatusCode,
    body: &[u8],
    what: &str,
    now: SystemTime,
) -> Result<Token<Secret>> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if !status.is_success() {
        let reason = json
            .get("error_description")
            .or_else(|| json.get("error"))
            .and_then(|v| v.as_str())
            .unwrap_or("no reason given");
        let reason = reason.lines().next().unwrap_or_default();
        let message = format!("{what} was refused (HTTP {}): {reason}", status.as_u16());
        return Err(if is_temporary_status(status) {
            Error::temporary(message)
        } else {
            denied(message)
        });
    }
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| denied(format!("{what}: the answer holds no access_token")))?;
    let seconds = |v: &serde_json::Value| -> Option<u64> {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    let expires = if let Some(s) = json.get("expires_in").and_then(seconds) {
        now + Duration::from_secs(s)
    } else if let Some(at) = json.get("expires_on").and_then(seconds) {
        SystemTime::UNIX_EPOCH + Duration::from_secs(at)
    } else {
        now + DEFAULT_LIFETIME
    };
    Ok(Token {
        value: Secret::new(token),
        expires: Some(expires),
    })
}

#[cfg(test)]
mod tests {
    use reqwest::{Method, StatusCode};

    use super::*;
    use crate::testing::{MockServer, Reply};

    const NOW: Duration = Duration::from_secs(1_700_000_000);

    fn read(status: u16, body: &str) -> Result<Token<Secret>> {
        read_answer(
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
            "the token request",
            SystemTime::UNIX_EPOCH + NOW,
        )
    }

    #[test]
    fn lifetimes_are_read_in_every_form() {
        let t = read(200, r#"{"access_token":"a","expires_in":3599}"#).unwrap();
        assert_eq!(t.value.expose(), "a");
        assert_eq!(
            t.expires,
            Some(SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(3599))
        );
        let t = read(200, r#"{"access_token":"a","expires_in":"60"}"#).unwrap();
        assert_eq!(
            t.expires,
            Some(SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(60))
        );
        let t = read(200, r#"{"access_token":"a","expires_on":"1700000900"}"#).unwrap();
        assert_eq!(
            t.expires,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_900))
        );
        let t = read(200, r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(
            t.expires,
            Some(SystemTime::UNIX_EPOCH + NOW + DEFAULT_LIFETIME)
        );
    }

    #[test]
    fn refusals_and_outages_have_their_kinds() {
        let e = read(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: 1"}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "permission denied: the token request was refused (HTTP 401): AADSTS7000215: Invalid client secret."
        );
        for status in [429, 500, 503] {
            assert!(read(status, "{}").unwrap_err().is_temporary(), "{status}");
        }
        let e = read(200, r#"{"token_type":"Bearer"}"#).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
    }

    #[tokio::test]
    async fn a_network_failure_is_temporary() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/token?key=S3CRET", l.local_addr().unwrap())
        };
        let req = Request::new(Method::POST, closed).form(&[("secret", "S3CRET")]);
        let e = fetch_bearer(&reqwest::Client::new(), &req, "the token request")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: true });
        assert!(!format!("{e} {e:?}").contains("S3CRET"), "{e:?}");

        let server = MockServer::start();
        server.push(Reply::hang_up());
        let req = Request::new(Method::POST, format!("{}/token", server.url()));
        let e = fetch_bearer(&reqwest::Client::new(), &req, "the token request")
            .await
            .unwrap_err();
        assert!(e.is_temporary(), "{e}");
    }
}
