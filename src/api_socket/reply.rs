//! The JSON reply to a message.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{self, HeaderMap};
use http::StatusCode;
use serde_json::value::RawValue;

use crate::response::Response;

/// `{"id": …, "status": …, "headers": {…}, "body": …}`, plus `"body_encoding": "base64"`
/// for a body that is not UTF-8. `head`: the request was HEAD, so no body (as over HTTP).
pub(super) fn encode_reply(id: Option<&RawValue>, resp: &Response, head: bool) -> String {
    let status = resp.status();
    let no_body = head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let body: &[u8] = if no_body { b"" } else { resp.body() };

    let mut headers = serde_json::Map::new();
    for name in resp.headers().keys() {
        let mut values: Vec<serde_json::Value> = resp
            .headers()
            .get_all(name)
            .iter()
            .map(|v| serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.remove(0)
        } else {
            serde_json::Value::Array(values)
        };
        headers.insert(name.as_str().to_owned(), value);
    }

    let mut out = String::with_capacity(64 + body.len());
    out.push_str("{\"id\":");
    out.push_str(id.map_or("null", RawValue::get));
    out.push_str(",\"status\":");
    out.push_str(status.as_str());
    out.push_str(",\"headers\":");
    out.push_str(&serde_json::Value::Object(headers).to_string());
    out.push_str(",\"body\":");
    let json_body = is_json(resp.headers())
        .then(|| serde_json::from_slice::<&RawValue>(body).ok())
        .flatten();
    match (json_body, std::str::from_utf8(body)) {
        (Some(raw), _) => out.push_str(raw.get()),
        (None, Ok(text)) => out.push_str(&serde_json::Value::from(text).to_string()),
        (None, Err(_)) => {
            out.push_str(&serde_json::Value::from(BASE64.encode(body)).to_string());
            out.push_str(",\"body_encoding\":\"base64\"");
        }
    }
    out.push('}');
    out
}

/// Whether the content type is `application/json` or `…+json`.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}
