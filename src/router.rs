//! Path matching and path parameters, on `matchit` (the radix tree axum uses: one
//! lookup per request whatever the number of routes).

use crate::view::View;

/// Routes paths to views. Patterns use `{name}` for one segment and `{*name}` for the
/// rest of the path: `/socket/{namespace}`, `/static/{*file}`.
#[derive(Clone, Default)]
pub(crate) struct Router {
    tree: matchit::Router<usize>,
    views: Vec<View>,
}

/// A route that could not be added.
#[derive(Debug, Clone)]
pub struct RouteError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Router {
    pub(crate) fn insert(&mut self, pattern: &str, view: View) -> Result<(), RouteError> {
        if !pattern.starts_with('/') {
            return Err(RouteError {
                pattern: pattern.to_owned(),
                reason: "a route must start with '/'".to_owned(),
            });
        }
        self.tree
            .insert(pattern, self.views.len())
            .map_err(|e| RouteError {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
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
