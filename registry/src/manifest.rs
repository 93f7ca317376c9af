//! Manifests as the registry needs them: which kind (OCI image manifest or index, Docker schema 2
//! manifest or list), what they reference (checked to exist before the manifest is stored), the
//! subject and artifact type for the referrers API. The bytes are stored exactly as received.

use serde_json::Value;

use crate::error::{ApiError, Code};
use crate::names::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (signed): refused, as the reference registry refuses it by default.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The largest manifest accepted or served (the reference registry's limit).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// What a manifest says that the registry acts on.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Its media type (from the document, or from the `Content-Type` it was sent with).
    pub media_type: String,
    /// Blobs that must be in the repository: an image's config and layers (foreign layers,
    /// those with `urls`, excepted).
    pub blobs: Vec<Digest>,
    /// Manifests that must be in the repository: an index's entries.
    pub manifests: Vec<Digest>,
    /// The manifest this one refers to (OCI 1.1 `subject`).
    pub subject: Option<Digest>,
    /// `artifactType`, or for an image the config's media type (as the referrers API says).
    pub artifact_type: Option<String>,
    /// `annotations`, for the referrers API.
    pub annotations: Option<Value>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::ManifestInvalid, message)
}

/// The media type without its parameters.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

fn descriptor_digest(d: &Value, what: &str) -> Result<Digest, ApiError> {
    let s = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what} has no digest")))?;
    Digest::parse(s).map_err(|e| invalid(format!("{what}: {}", e.message)))
}

/// Parses and validates a manifest sent with `content_type` (None: not given).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, ApiError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
    let Value::Object(map) = &doc else {
        return Err(invalid("the manifest is not a JSON object"));
    };
    let declared = map.get("mediaType").and_then(Value::as_str);
    let sent = content_type.map(essence).filter(|t| {
        [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_LIST,
            DOCKER_SCHEMA1,
        ]
        .contains(t)
    });
    if map.get("schemaVersion").and_then(Value::as_i64) == Some(1) || sent == Some(DOCKER_SCHEMA1) {
        return Err(invalid(
            "Docker schema 1 manifests are not supported (nor by the reference registry's default configuration)",
        ));
    }
    if map.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let media_type = match (sent, declared) {
        (Some(sent), Some(declared)) if sent != declared => {
            return Err(invalid(format!(
                "the manifest's mediaType {declared} is not the Content-Type it was sent with ({sent})"
            )));
        }
        (_, Some(declared)) => declared.to_owned(),
        (Some(sent), None) => sent.to_owned(),
        (None, None) if map.contains_key("manifests") => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type.as_str()) {
        return Err(invalid(format!(
            "unsupported manifest media type {media_type}"
        )));
    }
    let mut parsed = Parsed {
        media_type: media_type.clone(),
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject: None,
        artifact_type: map
            .get("artifactType")
            .and_then(Value::as_str)
            .map(str::to_owned),
        annotations: map.get("annotations").cloned(),
    };
    if let Some(subject) = map.get("subject") {
        parsed.subject = Some(descriptor_digest(subject, "subject")?);
    }
    if is_index(&media_type) {
        if map.contains_key("config") || map.contains_key("layers") {
            return Err(invalid("an index has no config or layers"));
        }
        let entries = map
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("an index needs a manifests array"))?;
        for (i, entry) in entries.iter().enumerate() {
            parsed
                .manifests
                .push(descriptor_digest(entry, &format!("manifests[{i}]"))?);
        }
    } else {
        if map.contains_key("manifests") {
            return Err(invalid("an image manifest has no manifests array"));
        }
        let config = map
            .get("config")
            .ok_or_else(|| invalid("an image manifest needs a config"))?;
        parsed.blobs.push(descriptor_digest(config, "config")?);
        if parsed.artifact_type.is_none() {
            parsed.artifact_type = config
                .get("mediaType")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let layers = match map.get("layers") {
            None => &Vec::new(),
            Some(Value::Array(layers)) => layers,
            Some(_) => return Err(invalid("layers must be an array")),
        };
        for (i, layer) in layers.iter().enumerate() {
            let digest = descriptor_digest(layer, &format!("layers[{i}]"))?;
            // A foreign layer is fetched from its URLs, not from the registry.
            let foreign = layer
                .get("urls")
                .and_then(Value::as_array)
                .is_some_and(|u| !u.is_empty());
            if !foreign {
                parsed.blobs.push(digest);
            }
        }
    }
    Ok(parsed)
}

/// The media type of a stored manifest, as the reference registry infers it: the document's
/// `mediaType`, else an OCI index when it has `manifests`, an OCI manifest otherwise.
pub fn stored_media_type(bytes: &[u8]) -> String {
    let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    match doc.get("mediaType").and_then(Value::as_str) {
        Some(t) => t.to_owned(),
        None if doc.get("manifests").is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn an_image_references_its_config_and_local_layers() {
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d('a'), "size": 2},
            "layers": [
                {"mediaType": "l", "digest": d('b'), "size": 1},
                {"mediaType": "l", "digest": d('c'), "size": 1, "urls": ["https://x/y"]}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('e'), "size": 3}
        });
        let p = parse(m.to_string().as_bytes(), Some(OCI_MANIFEST)).unwrap();
        let blobs: Vec<String> = p.blobs.iter().map(|b| b.to_string()).collect();
        assert_eq!(blobs, [d('a'), d('b')]);
        assert_eq!(p.subject.unwrap().to_string(), d('e'));
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        let cases = [
            ("not json", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"schemaVersion":1}"#, "schema 1"),
            (r#"{"schemaVersion":2}"#, "needs a config"),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{}}"#,
                "no config",
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
                "manifests array",
            ),
            (
                r#"{"schemaVersion":2,"config":{"digest":"sha256:00"}}"#,
                "config: invalid digest",
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"text/plain","config":{}}"#,
                "unsupported manifest media type",
            ),
        ];
        for (body, why) in cases {
            let e = parse(body.as_bytes(), None).unwrap_err();
            assert_eq!(e.code, Code::ManifestInvalid, "{body}");
            assert!(e.message.contains(why), "{body}: {}", e.message);
        }
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{}"}}]}}"#,
            d('f')
        );
        let e = parse(index.as_bytes(), Some(OCI_MANIFEST)).unwrap_err();
        assert!(e.message.contains("not the Content-Type"), "{}", e.message);
        let p = parse(index.as_bytes(), Some("application/json")).unwrap();
        assert_eq!(p.manifests.len(), 1);
    }

    #[test]
    fn stored_types_are_inferred_as_the_reference_does() {
        assert_eq!(stored_media_type(br#"{"manifests":[]}"#), OCI_INDEX);
        assert_eq!(stored_media_type(br#"{"config":{}}"#), OCI_MANIFEST);
        assert_eq!(
            stored_media_type(format!(r#"{{"mediaType":"{DOCKER_LIST}"}}"#).as_bytes()),
            DOCKER_LIST
        );
    }
}
