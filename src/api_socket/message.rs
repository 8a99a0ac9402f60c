//! Requests carried over a socket: one JSON message, checked and made a request.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};
use serde_json::value::RawValue;

use crate::api_socket::context::{is_hop_by_hop, ApiContext};
use crate::api_socket::error::{MessageError, MessageErrorKind};
use crate::request::Request;
use crate::websocket::sender::WebSocketSender;

/// The most header values a message's `headers` may hold (counting each value of a
/// repeated header): the 100 hyper allows an HTTP request. More is answered with 400.
pub const MAX_HEADERS: usize = 100;

/// The most bytes a message's header names and values may add up to. More is answered
/// with 400.
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// Marks a request that arrived as a message over a socket rather than over HTTP: it is
/// in the [extensions](Request::extensions) of every such request, and
/// [`Request::is_virtual`] tells whether it is there. Middleware that must treat the two
/// transports differently (CSRF checks, access logs) look for it.
#[derive(Debug, Clone)]
pub struct VirtualRequest {
    id: Option<Box<RawValue>>,
    sender: Option<WebSocketSender>,
}

impl VirtualRequest {
    /// A handle to the WebSocket the request came over, so a view can push to that client
    /// later, unprompted (django-websocket-request could not): keep it in a subscription
    /// list and [`send`](WebSocketSender::send) events through it. Sends fail once the
    /// connection is gone. `None` when the request came over another transport.
    ///
    /// ```
    /// use wsview::{Request, Response, VirtualRequest, WebSocketSender};
    ///
    /// async fn subscribe(req: Request) -> Response {
    ///     let Some(sender) = req.extensions().get::<VirtualRequest>().and_then(|v| v.sender())
    ///     else {
    ///         return Response::bad_request("subscribe over the socket");
    ///     };
    ///     let sender: WebSocketSender = sender.clone();
    ///     tokio::spawn(async move {
    ///         let _ = sender.send(r#"{"event": "snippet_created", "data": {"id": 7}}"#).await;
    ///     });
    ///     Response::json(&serde_json::json!({ "subscribed": true }))
    /// }
    /// # let _ = subscribe;
    /// ```
    pub fn sender(&self) -> Option<&WebSocketSender> {
        self.sender.as_ref()
    }

    /// The message's `id` as the JSON text the client sent (`7`, `"a1"`, `{"n": 1}`), or
    /// `None` if it sent none. Handy for logs that correlate with the client.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref().map(RawValue::get)
    }
}

/// One message, checked and ready to become a [`Request`].
///
/// ```
/// use wsview::{ApiContext, ApiMessage};
/// let msg = ApiMessage::parse(r#"{"id": 7, "method": "get", "url": "/api/items/", "data": {"page": 2}}"#)
///     .unwrap();
/// assert_eq!(msg.id(), Some("7"));
/// assert_eq!(msg.method(), "GET");
/// let req = msg.into_request(&ApiContext::new());
/// assert_eq!(req.query("page").as_deref(), Some("2"));
/// assert!(req.is_virtual());
///
/// let err = ApiMessage::parse(r#"{"id": 8}"#).unwrap_err();
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.to_string(), "Missing URL");
/// assert_eq!(err.id(), Some("8"));
/// ```
#[derive(Debug, Clone)]
pub struct ApiMessage {
    id: Option<Box<RawValue>>,
    method: Method,
    uri: Uri,
    /// The raw JSON text of `data`, for methods that send it as the body.
    body: Option<String>,
    token: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiMessage {
    /// Parses and checks one message. Errors carry the message's `id` when it had one,
    /// so their reply can echo it.
    pub fn parse(text: &str) -> Result<ApiMessage, MessageError> {
        let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text)
            .map_err(|_| MessageError::new(None, MessageErrorKind::Malformed))?;
        let id = fields
            .get("id")
            .map(|raw| (*raw).to_owned())
            .filter(|raw| raw.get() != "null");
        match parse_fields(&fields) {
            Ok(msg) => Ok(ApiMessage { id, ..msg }),
            Err(kind) => Err(MessageError::new(id, kind)),
        }
    }

    /// The message's `id` as received, to echo in the reply.
    pub(super) fn raw_id(&self) -> Option<&RawValue> {
        self.id.as_deref()
    }

    /// The message's `id`, as the JSON text the client sent.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref().map(RawValue::get)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI: the `url`, with `data` appended to its query for `GET`, `HEAD` and
    /// `DELETE`.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request body: `data`'s JSON text for methods other than `GET`, `HEAD` and
    /// `DELETE`; empty otherwise.
    pub fn body(&self) -> &str {
        self.body.as_deref().unwrap_or("")
    }

    /// The request, with `ctx`'s peer address and headers. Precedence, lowest first:
    /// the context's headers, the message's `headers` (each replaces every value of its
    /// name; hop-by-hop, `Sec-WebSocket-*`, `Content-Length` and `Origin` are ignored),
    /// then the `token` as `Authorization`. A JSON body gets
    /// `Content-Type: application/json` unless the message named another, and its
    /// `Content-Length`. The request carries a [`VirtualRequest`] extension.
    pub fn into_request(self, ctx: &ApiContext) -> Request {
        let mut headers = ctx.headers().clone();
        // A message's header replaces every value of its name: group the message's
        // values by name first (hashed, so linear), then swap each name's values in.
        let mut ours = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            // Bounded by `MAX_HEADERS`, far below the map's limit; never a panic anyway.
            if ours.try_append(name, value).is_err() {
                tracing::warn!("api socket: too many headers; the rest dropped");
                break;
            }
        }
        let mut current: Option<HeaderName> = None;
        for (name, value) in ours {
            if let Some(name) = name {
                headers.remove(&name);
                current = Some(name);
            }
            let Some(name) = &current else { continue };
            if headers.try_append(name.clone(), value).is_err() {
                tracing::warn!("api socket: too many headers; the rest dropped");
                break;
            }
        }
        if let Some(token) = &self.token {
            let scheme = ctx.token_scheme();
            let value = if scheme.is_empty() {
                HeaderValue::from_str(token)
            } else {
                HeaderValue::from_str(&format!("{scheme} {token}"))
            };
            match value {
                Ok(v) => {
                    let _ = headers.try_insert(header::AUTHORIZATION, v);
                }
                // The token was checked in `parse`, the scheme when it was set.
                Err(_) => tracing::warn!("api socket: token not usable as a header; dropped"),
            }
        }
        let body = match self.body {
            Some(body) => {
                if !headers.contains_key(header::CONTENT_TYPE) {
                    let _ = headers.try_insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                let _ = headers.try_insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                Bytes::from(body)
            }
            None => Bytes::new(),
        };
        let mut builder = Request::builder()
            .method(self.method)
            .uri_parsed(self.uri)
            .version(Version::HTTP_11)
            .headers(headers)
            .body(body)
            .secure(ctx.is_secure());
        if let Some(addr) = ctx.remote_addr() {
            builder = builder.remote_addr(addr);
        }
        let mut req = builder.build();
        req.mark_virtual();
        req.extensions_mut().insert(VirtualRequest {
            id: self.id,
            sender: ctx.sender().cloned(),
        });
        req
    }
}

/// Checks every field but the id (left `None`), in the order the errors table documents.
fn parse_fields(fields: &BTreeMap<String, &RawValue>) -> Result<ApiMessage, MessageErrorKind> {
    let url = match optional_string(fields.get("url")) {
        Ok(Some(url)) if !url.is_empty() => url,
        Ok(_) => return Err(MessageErrorKind::MissingUrl),
        Err(()) => return Err(invalid("url", "a string")),
    };
    let mut uri = parse_path(&url).ok_or(MessageErrorKind::InvalidUrl)?;
    let method = match optional_string(fields.get("method")) {
        Ok(None) => Method::GET,
        Ok(Some(m)) => parse_method(&m).ok_or(MessageErrorKind::UnknownMethod)?,
        Err(()) => return Err(invalid("method", "a string")),
    };
    let data = match fields.get("data") {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if raw.get().starts_with('{') => Some(*raw),
        Some(_) => return Err(invalid("data", "an object")),
    };
    let mut body = None;
    if let Some(data) = data {
        if matches!(method, Method::GET | Method::HEAD | Method::DELETE) {
            uri = with_query(&uri, data).ok_or_else(|| invalid("data", "an object"))?;
        } else {
            body = Some(data.get().to_owned());
        }
    }
    let token = match optional_string(fields.get("token")) {
        Ok(t) => t.filter(|t| !t.is_empty()),
        Err(()) => return Err(invalid("token", "a string")),
    };
    if let Some(t) = &token {
        if HeaderValue::from_str(t).is_err() {
            return Err(invalid("token", "printable ASCII"));
        }
    }
    let headers = match fields.get("headers") {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => parse_headers(raw)?,
    };
    Ok(ApiMessage {
        id: None,
        method,
        uri,
        body,
        token,
        headers,
    })
}

fn invalid(field: &'static str, expected: &'static str) -> MessageErrorKind {
    MessageErrorKind::InvalidField { field, expected }
}

/// `Ok(None)` for an absent or null field, `Err` for one that is not a string.
fn optional_string(raw: Option<&&RawValue>) -> Result<Option<String>, ()> {
    match raw {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).map_err(|_| ()),
    }
}

fn parse_method(m: &str) -> Option<Method> {
    Some(match m.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        "OPTIONS" => Method::OPTIONS,
        _ => return None,
    })
}

/// An absolute path with an optional query: `/a/b?c=d`. Not `//host/…`, not a full URL,
/// not a fragment.
fn parse_path(url: &str) -> Option<Uri> {
    if !url.starts_with('/') || url.starts_with("//") || url.contains('#') {
        return None;
    }
    let uri: Uri = url.parse().ok()?;
    (uri.scheme().is_none() && uri.authority().is_none()).then_some(uri)
}

/// `uri` with `data`'s fields appended to its query: strings as they are, numbers and
/// booleans as JSON writes them, `null` as an empty value, arrays as one pair per element,
/// objects as JSON text.
fn with_query(uri: &Uri, data: &RawValue) -> Option<Uri> {
    let pairs: Ordered<'_> = serde_json::from_str(data.get()).ok()?;
    if pairs.0.is_empty() {
        return Some(uri.clone());
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &pairs.0 {
        if value.get().starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(value.get()).ok()?;
            for item in items {
                query.append_pair(key, &query_text(item));
            }
        } else {
            query.append_pair(key, &query_text(value));
        }
    }
    let added = query.finish();
    let joined = match uri.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}&{added}", uri.path()),
        _ => format!("{}?{added}", uri.path()),
    };
    joined.parse().ok()
}

fn query_text(value: &RawValue) -> String {
    let raw = value.get();
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).unwrap_or_default()
    } else if raw == "null" {
        String::new()
    } else {
        raw.to_owned()
    }
}

/// The message's `headers`: names to strings, numbers, booleans or arrays of those.
/// Headers a message may not set are dropped. At most [`MAX_HEADERS`] values and
/// [`MAX_HEADER_BYTES`] bytes, counted as they are read, so a huge `headers` costs no
/// more than reading it.
fn parse_headers(raw: &RawValue) -> Result<Vec<(HeaderName, HeaderValue)>, MessageErrorKind> {
    let bad = || {
        invalid(
            "headers",
            "an object of header names to strings (or arrays of strings)",
        )
    };
    if !raw.get().starts_with('{') {
        return Err(bad());
    }
    let pairs: Ordered<'_> = serde_json::from_str(raw.get()).map_err(|_| bad())?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for (name, value) in &pairs.0 {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let values: Vec<&RawValue> = if value.get().starts_with('[') {
            serde_json::from_str(value.get()).map_err(|_| bad())?
        } else {
            vec![*value]
        };
        if is_hop_by_hop(&name) || name == header::CONTENT_LENGTH || name == header::ORIGIN {
            continue;
        }
        for v in values {
            let text = match v.get().as_bytes().first() {
                Some(b'"') => serde_json::from_str::<String>(v.get()).map_err(|_| bad())?,
                Some(b'{' | b'[') | None => return Err(bad()),
                Some(_) if v.get() == "null" => return Err(bad()),
                Some(_) => v.get().to_owned(), // numbers, booleans
            };
            if out.len() == MAX_HEADERS {
                return Err(MessageErrorKind::TooManyHeaders);
            }
            bytes += name.as_str().len() + text.len();
            if bytes > MAX_HEADER_BYTES {
                return Err(MessageErrorKind::HeadersTooLarge);
            }
            out.push((
                name.clone(),
                HeaderValue::from_str(&text).map_err(|_| bad())?,
            ));
        }
    }
    Ok(out)
}

/// A JSON object's members in the order they were written.
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Ordered<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Ordered<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Visit)
    }
}
