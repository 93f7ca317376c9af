//! Getting a token and the storage URL from the identity service: tempauth/swauth (v1: a GET
//! with `X-Auth-User` / `X-Auth-Key`), Keystone v2.0 (`POST {authurl}/tokens`) and Keystone v3
//! (`POST {authurl}/auth/tokens`, token in `X-Subject-Token`), picking the `object-store`
//! endpoint of the configured region and interface from the catalog.
//!
//! Request bodies and answers are built and read by plain functions, so they are unit-tested
//! without a server. A [`Session`] knows when its token runs out; the client renews it shortly
//! before that, and again whenever Swift answers 401.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use wharf_runtime::{Error, ErrorKind, Secret};

use crate::config::{AuthVersion, Config, EndpointType};
use wharf_http::{Request, Token, fetch_failed};

use crate::error::is_temporary_status;

/// A token is renewed when less than this is left of it.
pub(crate) const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// What authentication yields.
#[derive(Clone)]
pub(crate) struct Session {
    pub token: Secret,
    /// The account's storage URL, without a trailing `/`.
    pub storage_url: String,
    /// When the token runs out, if the service said.
    pub expires: Option<SystemTime>,
    /// The project (tenant) the token is scoped to, if the service said.
    pub tenant_id: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("storage_url", &self.storage_url)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session as the client caches it: until [`RENEW_BEFORE`] before its token runs out,
    /// or until Swift refuses a token without an expiry.
    pub(crate) fn into_token(self) -> Token<Session> {
        Token {
            expires: self.expires,
            value: self,
        }
    }
}

/// How to ask for a token.
pub(crate) struct AuthRequest {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Json>,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The request's own Debug redacts the key header; the body holds the password.
        f.debug_struct("AuthRequest")
            .field("request", &self.to_request())
            .finish_non_exhaustive()
    }
}

impl AuthRequest {
    /// The request to send: the v1 key header is secret, and so is the body.
    fn to_request(&self) -> Request {
        let mut request = Request::new(self.method.clone(), self.url.as_str());
        for (name, value) in &self.headers {
            request = if *name == "x-auth-key" {
                request.secret_header(*name, value.as_str())
            } else {
                request.header(*name, value.as_str())
            };
        }
        if let Some(body) = &self.body {
            request = request
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(body.to_string());
        }
        request
    }
}

fn join(base: &str, tail: &str) -> String {
    format!("{}/{tail}", base.trim_end_matches('/'))
}

/// The request that authenticates `config`.
pub(crate) fn request(config: &Config) -> AuthRequest {
    let url = config.auth_url.as_str();
    match config.auth_version {
        AuthVersion::V1 => AuthRequest {
            method: reqwest::Method::GET,
            url: url.to_owned(),
            headers: vec![
                ("x-auth-user", config.username.clone()),
                ("x-auth-key", config.password.expose().to_owned()),
            ],
            body: None,
        },
        AuthVersion::V2 => {
            let mut auth = json!({
                "passwordCredentials": {
                    "username": config.username,
                    "password": config.password.expose(),
                }
            });
            if let Some(id) = &config.tenant_id {
                auth["tenantId"] = json!(id);
            } else if let Some(name) = &config.tenant {
                auth["tenantName"] = json!(name);
            }
            AuthRequest {
                method: reqwest::Method::POST,
                url: join(url, "tokens"),
                headers: vec![],
                body: Some(json!({ "auth": auth })),
            }
        }
        AuthVersion::V3 => {
            let user_domain = domain(&config.domain_id, &config.domain);
            let mut user = json!({ "name": config.username, "password": config.password.expose() });
            if let Some(d) = &user_domain {
                user["domain"] = d.clone();
            }
            let mut auth = json!({
                "identity": { "methods": ["password"], "password": { "user": user } }
            });
            if let Some(trust) = &config.trust_id {
                auth["scope"] = json!({ "OS-TRUST:trust": { "id": trust } });
            } else if let Some(id) = &config.tenant_id {
                auth["scope"] = json!({ "project": { "id": id } });
            } else if let Some(name) = &config.tenant {
                let mut project = json!({ "name": name });
                // The project's domain defaults to the user's.
                if let Some(d) =
                    domain(&config.tenant_domain_id, &config.tenant_domain).or(user_domain)
                {
                    project["domain"] = d;
                }
                auth["scope"] = json!({ "project": project });
            }
            AuthRequest {
                method: reqwest::Method::POST,
                url: join(url, "auth/tokens"),
                headers: vec![],
                body: Some(json!({ "auth": auth })),
            }
        }
    }
}

fn domain(id: &Option<String>, name: &Option<String>) -> Option<Json> {
    match (id, name) {
        (Some(id), _) => Some(json!({ "id": id })),
        (None, Some(name)) => Some(json!({ "name": name })),
        (None, None) => None,
    }
}

fn auth_error(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::PermissionDenied)
        .with_detail(format!("swift authentication failed: {}", why.into()))
}

fn bad_answer(why: impl std::fmt::Display) -> Error {
    Error::backend(format!(
        "swift authentication: unexpected answer from the identity service: {why}"
    ))
}

/// Reads the identity service's answer into a session.
pub(crate) fn session(
    config: &Config,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Session, Error> {
    if !status.is_success() {
        let text = String::from_utf8_lossy(body);
        let first = text.lines().next().unwrap_or_default().trim();
        let message = format!("HTTP {} {first}", status.as_u16());
        return Err(match status.as_u16() {
            401 | 403 => auth_error(format!("{message} (check username and password)")),
            _ if is_temporary_status(status) => Error::temporary(format!(
                "swift authentication: the identity service answered {message}"
            )),
            _ => Error::backend(format!(
                "swift authentication: the identity service answered {message}"
            )),
        });
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match config.auth_version {
        AuthVersion::V1 => {
            let token = header("x-auth-token")
                .or_else(|| header("x-storage-token"))
                .ok_or_else(|| bad_answer("no X-Auth-Token"))?;
            let storage_url =
                header("x-storage-url").ok_or_else(|| bad_answer("no X-Storage-Url"))?;
            let expires = header("x-auth-token-expires")
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| now + Duration::from_secs_f64(s));
            Ok(Session {
                token: Secret::new(token),
                storage_url: storage_url.trim_end_matches('/').to_owned(),
                expires,
                tenant_id: config.tenant_id.clone(),
            })
        }
        AuthVersion::V2 => {
            let json: Json = serde_json::from_slice(body).map_err(bad_answer)?;
            let access = &json["access"];
            let token = access["token"]["id"]
                .as_str()
                .ok_or_else(|| bad_answer("no access.token.id"))?;
            let expires = access["token"]["expires"].as_str().and_then(parse_iso8601);
            let tenant_id = access["token"]["tenant"]["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| config.tenant_id.clone());
            let storage_url = v2_endpoint(config, &access["serviceCatalog"])?;
            Ok(Session {
                token: Secret::new(token),
                storage_url,
                expires,
                tenant_id,
            })
        }
        AuthVersion::V3 => {
            let token =
                header("x-subject-token").ok_or_else(|| bad_answer("no X-Subject-Token"))?;
            let json: Json = serde_json::from_slice(body).map_err(bad_answer)?;
            let t = &json["token"];
            let expires = t["expires_at"].as_str().and_then(parse_iso8601);
            let tenant_id = t["project"]["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| config.tenant_id.clone());
            let storage_url = v3_endpoint(config, &t["catalog"])?;
            Ok(Session {
                token: Secret::new(token),
                storage_url,
                expires,
                tenant_id,
            })
        }
    }
}

fn object_store_services(catalog: &Json) -> impl Iterator<Item = &Json> {
    catalog
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"].as_str() == Some("object-store"))
}

fn region_matches(config: &Config, endpoint: &Json) -> bool {
    match &config.region {
        None => true,
        Some(r) => {
            endpoint["region"].as_str() == Some(r) || endpoint["region_id"].as_str() == Some(r)
        }
    }
}

fn no_endpoint(config: &Config, endpoint_type: EndpointType) -> Error {
    auth_error(format!(
        "the catalog has no {} object-store endpoint{}",
        endpoint_type.interface(),
        config
            .region
            .as_deref()
            .map(|r| format!(" in region {r:?}"))
            .unwrap_or_default()
    ))
}

fn v2_endpoint(config: &Config, catalog: &Json) -> Result<String, Error> {
    let field = config.endpoint_type.v2_field();
    object_store_services(catalog)
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .filter(|e| region_matches(config, e))
        .find_map(|e| e[field].as_str())
        .map(|u| u.trim_end_matches('/').to_owned())
        .ok_or_else(|| no_endpoint(config, config.endpoint_type))
}

fn v3_endpoint(config: &Config, catalog: &Json) -> Result<String, Error> {
    let interface = config.endpoint_type.interface();
    object_store_services(catalog)
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .filter(|e| e["interface"].as_str() == Some(interface) && region_matches(config, e))
        .find_map(|e| e["url"].as_str())
        .map(|u| u.trim_end_matches('/').to_owned())
        .ok_or_else(|| no_endpoint(config, config.endpoint_type))
}

/// Parses the ISO 8601 times Keystone writes (`2015-08-27T09:49:58Z`,
/// `2015-08-27T09:49:58.000000Z`, with an optional `+00:00` offset).
pub(crate) fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, offset_secs) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0i64)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        (
            t,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    } else {
        (rest, 0)
    };
    let mut t = time.split(':');
    let (h, mi): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || sec >= 61.0 {
        return None;
    }
    // Days since the epoch (proleptic Gregorian calendar).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_secs_f64(sec))
}

/// Authenticates `config` with `http`.
pub(crate) async fn authenticate(
    http: &reqwest::Client,
    config: &Config,
) -> Result<Session, Error> {
    let what = format!(
        "authentication at {}",
        wharf_http::redact::url(config.auth_url.as_str(), &[] as &[&str])
    );
    // Sent once: the request that needs the session retries, and authenticates again then.
    wharf_runtime::network::count_request();
    let response = request(config)
        .to_request()
        .build(http)
        .send()
        .await
        .map_err(|e| fetch_failed(&what, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| fetch_failed(&format!("{what}: reading the answer"), e))?;
    session(config, status, &headers, &body, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};
    use wharf_runtime::Params;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut p = Params::from_pairs([
            ("authurl", "https://keystone.example/v3"),
            ("username", "alice"),
            ("password", "s3cret"),
            ("container", "registry"),
        ]);
        for (k, v) in pairs {
            p.insert(*k, *v);
        }
        Config::from_params(p).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn v1_sends_user_and_key_headers_and_reads_the_answer() {
        let c = config(&[("authurl", "http://127.0.0.1:8080/auth/v1.0")]);
        let req = request(&c);
        assert_eq!(req.method, reqwest::Method::GET);
        assert_eq!(req.url, "http://127.0.0.1:8080/auth/v1.0");
        assert_eq!(
            req.headers,
            [
                ("x-auth-user", "alice".into()),
                ("x-auth-key", "s3cret".into())
            ]
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let s = session(
            &c,
            StatusCode::OK,
            &headers(&[
                ("x-auth-token", "AUTH_tk1"),
                ("x-storage-url", "http://127.0.0.1:8080/v1/AUTH_test/"),
                ("x-auth-token-expires", "3600"),
            ]),
            b"",
            now,
        )
        .unwrap();
        assert_eq!(s.token.expose(), "AUTH_tk1");
        assert_eq!(s.storage_url, "http://127.0.0.1:8080/v1/AUTH_test");
        assert_eq!(s.expires, Some(now + Duration::from_secs(3600)));
        let e = session(&c, StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"", now).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn v2_request_and_catalog() {
        let c = config(&[
            ("authurl", "https://keystone.example/v2.0/"),
            ("tenant", "proj"),
            ("region", "two"),
            ("endpointtype", "internal"),
        ]);
        let req = request(&c);
        assert_eq!(req.url, "https://keystone.example/v2.0/tokens");
        assert_eq!(
            req.body.unwrap(),
            json!({"auth": {"passwordCredentials": {"username": "alice", "password": "s3cret"},
                "tenantName": "proj"}})
        );
        let body = json!({"access": {
        "token": {"id": "tok2", "expires": "2030-01-02T03:04:05Z", "tenant": {"id": "t-1"}},
        "serviceCatalog": [
            {"type": "compute", "endpoints": [{"region": "two", "internalURL": "http://nova"}]},
            {"type": "object-store", "endpoints": [
                {"region": "one", "publicURL": "https://one/v1/AUTH_t", "internalURL": "http://one-int/v1/AUTH_t"},
                {"region": "two", "publicURL": "https://two/v1/AUTH_t", "internalURL": "http://two-int/v1/AUTH_t/"}
            ]}
        ]}});
        let s = session(
            &c,
            StatusCode::OK,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(s.token.expose(), "tok2");
        assert_eq!(s.storage_url, "http://two-int/v1/AUTH_t");
        assert_eq!(s.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(s.expires, parse_iso8601("2030-01-02T03:04:05Z"));

        let c = config(&[
            ("authurl", "https://keystone.example/v2.0"),
            ("region", "three"),
        ]);
        let e = session(
            &c,
            StatusCode::OK,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("region \"three\""), "{e}");
        let c = config(&[
            ("authurl", "https://keystone.example/v2.0"),
            ("tenantid", "t-9"),
        ]);
        assert_eq!(request(&c).body.unwrap()["auth"]["tenantId"], json!("t-9"));
    }

    #[test]
    fn v3_request_scopes_and_catalog() {
        let c = config(&[("domain", "users"), ("tenant", "proj")]);
        let req = request(&c);
        assert_eq!(req.url, "https://keystone.example/v3/auth/tokens");
        assert_eq!(
            req.body.unwrap(),
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "alice", "password": "s3cret", "domain": {"name": "users"}}}},
                "scope": {"project": {"name": "proj", "domain": {"name": "users"}}}
            }})
        );
        let c = config(&[
            ("domainid", "d1"),
            ("tenant", "proj"),
            ("tenantdomainid", "d2"),
        ]);
        let body = request(&c).body.unwrap();
        assert_eq!(
            body["auth"]["identity"]["password"]["user"]["domain"],
            json!({"id": "d1"})
        );
        assert_eq!(
            body["auth"]["scope"]["project"]["domain"],
            json!({"id": "d2"})
        );
        let c = config(&[("tenantid", "p-1"), ("tenant", "ignored")]);
        assert_eq!(
            request(&c).body.unwrap()["auth"]["scope"],
            json!({"project": {"id": "p-1"}})
        );
        let c = config(&[("trustid", "tr-1"), ("tenant", "proj")]);
        assert_eq!(
            request(&c).body.unwrap()["auth"]["scope"],
            json!({"OS-TRUST:trust": {"id": "tr-1"}})
        );

        let c = config(&[("region", "RegionOne")]);
        let answer = json!({"token": {
        "expires_at": "2030-01-02T03:04:05.000000Z",
        "project": {"id": "p-7"},
        "catalog": [{"type": "object-store", "endpoints": [
            {"interface": "internal", "region_id": "RegionOne", "url": "http://int/v1/AUTH_p"},
            {"interface": "public", "region_id": "RegionTwo", "url": "https://two/v1/AUTH_p"},
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "https://pub/v1/AUTH_p"}
        ]}]}});
        let s = session(
            &c,
            StatusCode::CREATED,
            &headers(&[("x-subject-token", "tok3")]),
            answer.to_string().as_bytes(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(s.token.expose(), "tok3");
        assert_eq!(s.storage_url, "https://pub/v1/AUTH_p");
        assert_eq!(s.tenant_id.as_deref(), Some("p-7"));
        let e = session(
            &c,
            StatusCode::CREATED,
            &HeaderMap::new(),
            answer.to_string().as_bytes(),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("X-Subject-Token"), "{e}");
    }

    #[test]
    fn token_expiry_decides_renewal() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let fresh = |s: &Session| s.clone().into_token().good_at(now, RENEW_BEFORE);
        let mut s = Session {
            token: Secret::new("t"),
            storage_url: "http://x/v1/AUTH_a".into(),
            expires: None,
            tenant_id: None,
        };
        assert!(fresh(&s), "a token without expiry is kept until refused");
        s.expires = Some(now + Duration::from_secs(3600));
        assert!(fresh(&s));
        s.expires = Some(now + Duration::from_secs(30));
        assert!(!fresh(&s), "a token about to run out is renewed");
        s.expires = Some(now - Duration::from_secs(1));
        assert!(!fresh(&s));
        assert!(!format!("{s:?}").contains("\"t\""));
    }

    #[tokio::test]
    async fn an_unreachable_identity_service_is_a_temporary_error() {
        let server = wharf_http::testing::MockServer::start();
        server.push(wharf_http::testing::Reply::hang_up());
        let c = config(&[("authurl", &format!("{}/auth/v1.0", server.url()))]);
        let e = authenticate(&reqwest::Client::new(), &c).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Backend { temporary: true }, "{e}");
        assert!(!format!("{e} {e:?}").contains("s3cret"), "{e:?}");
        assert_eq!(server.requests()[0].header("x-auth-key"), Some("s3cret"));
    }

    #[test]
    fn iso8601_times() {
        let t = |s| {
            parse_iso8601(s)
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        assert_eq!(t("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(t("2000-03-01T00:00:00Z"), 951_868_800.0);
        assert_eq!(t("2030-01-02T03:04:05Z"), 1_893_553_445.0);
        assert_eq!(t("2030-01-02T03:04:05.500000Z"), 1_893_553_445.5);
        assert_eq!(t("2030-01-02T05:04:05+02:00"), 1_893_553_445.0);
        assert_eq!(parse_iso8601("yesterday"), None);
        assert_eq!(parse_iso8601("2030-13-02T03:04:05Z"), None);
    }
}
