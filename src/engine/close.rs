//! Close frames (RFC 6455 §5.5.1, §7.4): which codes may be received and sent, and the
//! body's form.

use super::error::ProtocolError;

/// Whether a peer may send `code` in a close frame: the codes RFC 6455 and IANA register
/// for use on the wire (1000-1003, 1007-1014), and the ranges for libraries and
/// applications (3000-4999). 1004 is reserved; 1005, 1006 and 1015 only report what
/// happened and never travel.
///
/// ```
/// use wsview::engine::close_code_allowed;
/// assert!(close_code_allowed(1000) && close_code_allowed(4999));
/// assert!(!close_code_allowed(1005) && !close_code_allowed(2999));
/// ```
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close frame's body: `None` when empty, else the code and the reason, checked.
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::BadClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_allowed(code) {
                return Err(ProtocolError::BadCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}

/// The body of a close frame with `code` and as much of `reason` as fits in a control
/// frame (123 bytes, cut at a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut body = Vec::with_capacity(2 + end);
    body.extend_from_slice(&code.to_be_bytes());
    body.extend_from_slice(&reason.as_bytes()[..end]);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code() {
        let allowed: Vec<u16> = (0..=u16::MAX).filter(|c| close_code_allowed(*c)).collect();
        assert_eq!(allowed.len(), 4 + 8 + 2000);
        // Autobahn 7.7.* (valid) and 7.9.* (invalid).
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(close_code_allowed(c), "{c}");
        }
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!close_code_allowed(c), "{c}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_close(&[]), Ok(None));
        assert_eq!(parse_close(&[3]), Err(ProtocolError::BadClosePayload));
        assert_eq!(parse_close(&[3, 232]), Ok(Some((1000, ""))));
        assert_eq!(parse_close(b"\x03\xe8bye"), Ok(Some((1000, "bye"))));
        assert_eq!(
            parse_close(&[3, 237]),
            Err(ProtocolError::BadCloseCode(1005))
        );
        assert_eq!(
            parse_close(b"\x03\xe8\xff"),
            Err(ProtocolError::InvalidUtf8)
        );
        let long = "é".repeat(100);
        let body = close_payload(4000, &long);
        assert!(body.len() <= 125);
        assert_eq!(parse_close(&body).unwrap().unwrap().0, 4000);
    }
}
