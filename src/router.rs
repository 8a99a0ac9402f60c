//! Path matching and path parameters, on `matchit` (the radix tree axum uses: one
//! lookup per request whatever the number of routes).

use crate::response::Response;
use crate::view::View;

/// Routes paths to views. Patterns use `{name}` for one segment and `{*name}` for the
/// rest of the path: `/socket/{namespace}`, `/static/{*file}`.
#[derive(Clone, Default)]
pub(crate) struct Router {
    tree: matchit::Router<usize>,
    views: Vec<View>,
}

/// A route that could not be added, as [`BuildError::problems`](crate::BuildError::problems)
/// lists it.
///
/// ```
/// let err = wsview::App::new()
///     .route("/a/{id}", |_r: wsview::Request| async { "a" })
///     .route("/a/{name}", |_r: wsview::Request| async { "b" })
///     .route("nope", |_r: wsview::Request| async { "c" })
///     .build()
///     .unwrap_err();
/// let routes: Vec<_> = err.problems().iter().filter_map(|p| p.route_error()).collect();
/// assert!(routes[0].is_conflict());
/// assert_eq!(routes[1].pattern(), "nope");
/// assert!(routes[1].is_invalid_pattern());
/// assert!(routes[1].to_string().contains("must start with '/'"));
/// ```
#[derive(Debug, Clone)]
pub struct RouteError {
    pattern: String,
    kind: RouteErrorKind,
}

#[derive(Debug, Clone)]
enum RouteErrorKind {
    /// Not a path pattern (no leading `/`, a bad `{…}` segment).
    Invalid(String),
    /// Another route already matches the same paths.
    Conflict(String),
}

impl RouteError {
    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Another route already matches the same paths.
    pub fn is_conflict(&self) -> bool {
        matches!(self.kind, RouteErrorKind::Conflict(_))
    }

    /// The pattern is not a path pattern (no leading `/`, a malformed parameter).
    pub fn is_invalid_pattern(&self) -> bool {
        matches!(self.kind, RouteErrorKind::Invalid(_))
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (RouteErrorKind::Invalid(reason) | RouteErrorKind::Conflict(reason)) = &self.kind;
        write!(f, "route {:?}: {reason}", self.pattern)
    }
}

impl std::error::Error for RouteError {}

/// Marks the response the router gives a path no route matches (a 404), so middleware
/// and [`api_socket::handle_message`](crate::api_socket::handle_message) can tell it from
/// a 404 a view wrote. Read it from [`Response::extensions`](crate::Response::extensions):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsview::{App, Request, Response, RouteNotFound};
/// let app = App::new()
///     .route("/gone", |_r: Request| async { Response::not_found() })
///     .build()?;
/// let routed = app.handle(Request::builder().uri("/gone").build()).await;
/// let unrouted = app.handle(Request::builder().uri("/nowhere").build()).await;
/// assert_eq!(routed.status(), 404);
/// assert_eq!(unrouted.status(), 404);
/// assert!(routed.extensions().get::<RouteNotFound>().is_none());
/// assert!(unrouted.extensions().get::<RouteNotFound>().is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteNotFound(());

impl RouteNotFound {
    /// The router's 404.
    pub(crate) fn response() -> Response {
        Response::not_found().with_extension(RouteNotFound(()))
    }
}

impl Router {
    pub(crate) fn insert(&mut self, pattern: &str, view: View) -> Result<(), RouteError> {
        let error = |kind| RouteError {
            pattern: pattern.to_owned(),
            kind,
        };
        if !pattern.starts_with('/') {
            return Err(error(RouteErrorKind::Invalid(
                "a route must start with '/'".to_owned(),
            )));
        }
        self.tree
            .insert(pattern, self.views.len())
            .map_err(|e| match e {
                matchit::InsertError::Conflict { .. } => {
                    error(RouteErrorKind::Conflict(e.to_string()))
                }
                _ => error(RouteErrorKind::Invalid(e.to_string())),
            })?;
        self.views.push(view);
        Ok(())
    }

    /// The view for `path` and its decoded path parameters.
    pub(crate) fn at(&self, path: &str) -> Option<(&View, Vec<(String, String)>)> {
        let m = self.tree.at(path).ok()?;
        let params = m
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), percent_decode(v)))
            .collect();
        self.views.get(*m.value).map(|v| (v, params))
    }
}

/// Decodes `%XX` escapes in a path segment; a segment that does not decode to UTF-8 is
/// kept as received.
fn percent_decode(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_escapes_and_keeps_bad_ones() {
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%FF"), "%FF");
    }
}
