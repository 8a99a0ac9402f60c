//! permessage-deflate negotiation (RFC 7692 §5, §7.1): reading the client's offers in
//! `Sec-WebSocket-Extensions`, choosing one, and writing the server's response.

/// How a server compresses, when a client offers permessage-deflate. The defaults keep
/// no context between messages on either side, so an idle connection holds no zlib
/// memory; see `docs/performance.md` for what context takeover costs and saves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// zlib level for outgoing messages, 0 (store) to 9. Default 1: the fastest, and on
    /// short JSON within a few percent of the best ratio.
    pub level: u32,
    /// Outgoing messages shorter than this are sent uncompressed (RFC 7692 lets each
    /// message choose). Default 128 bytes.
    pub threshold: usize,
    /// Keep the server's compression context between messages (better ratio on similar
    /// messages, at the cost of a zlib deflate state per connection). Granted unless the
    /// client asks for `server_no_context_takeover`. Default `false`.
    pub server_context_takeover: bool,
    /// Let the client keep its compression context between messages (costs an inflate
    /// window per connection here). Default `false`: the server answers with
    /// `client_no_context_takeover`.
    pub client_context_takeover: bool,
    /// The largest LZ77 window the server compresses with, 9 to 15 bits. Default 15.
    pub server_max_window_bits: u8,
    /// The largest window asked of the client when it allows choosing, 9 to 15 bits
    /// (the inflate window held per connection with client context takeover). Default 15.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 1,
            threshold: 128,
            server_context_takeover: false,
            client_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, in bits.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, in bits (at most; the inflate window used for it).
    pub client_max_window_bits: u8,
}

/// One permessage-deflate offer, as parsed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value (the server may choose).
    client_max_window_bits: Option<Option<u8>>,
}

/// Chooses the first permessage-deflate offer in `headers` (every
/// `Sec-WebSocket-Extensions` value, in order) that `config` can accept. Returns the
/// agreed parameters and the response header value, or `None` to go uncompressed.
///
/// An offer is declined (and the next one tried) if it has an unknown or repeated
/// parameter or a bad value, or asks for an 8-bit server window: zlib cannot compress
/// raw deflate with a 256-byte window.
///
/// ```
/// use wsview::engine::{negotiate, DeflateConfig};
/// let offers = ["permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits"];
/// let (params, response) = negotiate(offers, &DeflateConfig::default()).unwrap();
/// assert_eq!(params.server_max_window_bits, 15);
/// assert_eq!(response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
/// ```
pub fn negotiate<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    for header in headers {
        for extension in split_outside_quotes(header, ',') {
            let mut parts = split_outside_quotes(extension, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            let Some(offer) = parse_offer(parts) else {
                continue;
            };
            if let Some(accepted) = accept(&offer, config) {
                return Some(accepted);
            }
        }
    }
    None
}

fn accept(offer: &Offer, config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    let ours = config.server_max_window_bits.clamp(9, 15);
    let server_bits = match offer.server_max_window_bits {
        Some(n) if n < 9 => return None,
        Some(n) => n.min(ours),
        None => ours,
    };
    let wanted = config.client_max_window_bits.clamp(9, 15);
    let client_bits = match offer.client_max_window_bits {
        // The client lets us choose (up to what it named).
        Some(limit) => wanted.min(limit.unwrap_or(15)),
        // It did not: it may use the full window.
        None => 15,
    };
    let params = DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || !config.server_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || !config.client_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits.max(9),
    };
    let mut response = String::from("permessage-deflate");
    if params.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    // Offered, it must be answered (§7.1.2.1); else only a narrower window is named.
    if offer.server_max_window_bits.is_some() || server_bits < 15 {
        response.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if let Some(limit) = offer.client_max_window_bits {
        // Name our choice only when it narrows what the client offered.
        if client_bits < limit.unwrap_or(15) {
            response.push_str(&format!("; client_max_window_bits={client_bits}"));
        }
    }
    Some((params, response))
}

fn parse_offer<'a>(params: impl Iterator<Item = &'a str>) -> Option<Offer> {
    let mut offer = Offer::default();
    let mut seen = [false; 4];
    for param in params {
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
            None => (param.trim(), None),
        };
        let slot = match key.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => {
                value.is_none().then_some(())?;
                offer.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" => {
                value.is_none().then_some(())?;
                offer.client_no_context_takeover = true;
                1
            }
            "server_max_window_bits" => {
                offer.server_max_window_bits = Some(window_bits(value?)?);
                2
            }
            "client_max_window_bits" => {
                offer.client_max_window_bits = Some(match value {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None; // a parameter given twice declines the offer (§7.1)
        }
    }
    Some(offer)
}

/// 8 to 15, written in decimal without leading zeros (RFC 7692 §7.1.2.1).
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') || v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(v),
    }
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg(offers: &[&str], config: &DeflateConfig) -> Option<(DeflateParams, String)> {
        negotiate(offers.iter().copied(), config)
    }

    fn takeover() -> DeflateConfig {
        DeflateConfig {
            server_context_takeover: true,
            client_context_takeover: true,
            ..DeflateConfig::default()
        }
    }

    #[test]
    fn plain_offer_with_full_context_takeover() {
        let (p, r) = neg(&["permessage-deflate"], &takeover()).unwrap();
        assert_eq!(r, "permessage-deflate");
        assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (15, 15)
        );
    }

    #[test]
    fn the_clients_requests_are_honoured() {
        let (p, r) = neg(
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"],
            &takeover(),
        )
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(
            r,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        // client_no_context_takeover in an offer is the client's hint: echoed.
        let (p, r) = neg(
            &["permessage-deflate; client_no_context_takeover"],
            &takeover(),
        )
        .unwrap();
        assert!(p.client_no_context_takeover);
        assert_eq!(r, "permessage-deflate; client_no_context_takeover");
    }

    #[test]
    fn client_window_is_chosen_only_when_the_client_allows() {
        let config = DeflateConfig {
            client_max_window_bits: 10,
            ..takeover()
        };
        let (p, r) = neg(&["permessage-deflate; client_max_window_bits"], &config).unwrap();
        assert_eq!(p.client_max_window_bits, 10);
        assert_eq!(r, "permessage-deflate; client_max_window_bits=10");
        let (p, r) = neg(&["permessage-deflate"], &config).unwrap();
        assert_eq!(p.client_max_window_bits, 15);
        assert_eq!(r, "permessage-deflate");
        let (p, r) = neg(&["permessage-deflate; client_max_window_bits=9"], &config).unwrap();
        assert_eq!(p.client_max_window_bits, 9);
        assert_eq!(r, "permessage-deflate");
    }

    #[test]
    fn several_offers_fall_through_to_the_first_acceptable() {
        // Autobahn 13.7's client: three offers in one header.
        let header = "permessage-deflate; client_no_context_takeover; client_max_window_bits; \
                      server_no_context_takeover; server_max_window_bits=9, \
                      permessage-deflate; client_no_context_takeover; client_max_window_bits; \
                      server_no_context_takeover, \
                      permessage-deflate; client_no_context_takeover; client_max_window_bits";
        let (p, _) = neg(&[header], &DeflateConfig::default()).unwrap();
        assert_eq!(p.server_max_window_bits, 9);
        // Bad offers are skipped, across headers too.
        let (p, _) = neg(
            &[
                "x-webkit-deflate-frame",
                "permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; bogus",
                "permessage-deflate; server_max_window_bits=12",
            ],
            &DeflateConfig::default(),
        )
        .unwrap();
        assert_eq!(p.server_max_window_bits, 12);
    }

    #[test]
    fn invalid_offers_are_declined() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown=1",
            "permessage-deflate; server_max_window_bits=8",
        ] {
            assert_eq!(neg(&[bad], &DeflateConfig::default()), None, "{bad}");
        }
        assert_eq!(neg(&[], &DeflateConfig::default()), None);
        assert_eq!(
            neg(&["foo, bar; baz=\"a,b\""], &DeflateConfig::default()),
            None
        );
    }

    #[test]
    fn quoted_values_and_case() {
        let (p, _) = neg(
            &["Permessage-Deflate; Server_Max_Window_Bits=\"11\""],
            &DeflateConfig::default(),
        )
        .unwrap();
        assert_eq!(p.server_max_window_bits, 11);
    }
}
