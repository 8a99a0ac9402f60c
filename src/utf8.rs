//! Text known to be UTF-8, held in shared bytes.
//!
//! Its representation is tungstenite's `Utf8Bytes`: text over `Bytes` checked once, whose
//! `&str` view needs the unsafe code this crate forbids. The engine builds it from the
//! `String` it validated, without copying; this is the one file that names tungstenite
//! outside tests (see docs/architecture.md).

use std::str::Utf8Error;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes as EngineText;

/// UTF-8 text in reference-counted [`Bytes`]: cloning it shares the bytes, so a message
/// sent to many connections is encoded once.
///
/// ```
/// use wsview::Utf8Bytes;
/// let t = Utf8Bytes::from("héllo");
/// assert_eq!(t.as_str(), "héllo");
/// assert_eq!(t.len(), 6); // derefs to `str`
/// assert!(Utf8Bytes::try_from(vec![0xff]).is_err());
/// let b: bytes::Bytes = t.clone().into();
/// assert_eq!(b.as_ref(), "héllo".as_bytes());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(EngineText);

impl Utf8Bytes {
    /// Text from a `'static` string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(EngineText::from_static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl std::borrow::Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(EngineText::from(s))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        Utf8Bytes(EngineText::from(s))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(EngineText::from(s))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;

    /// Checks that the bytes are UTF-8, without copying them.
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        EngineText::try_from(bytes).map(Utf8Bytes)
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Utf8Error;

    fn try_from(bytes: Vec<u8>) -> Result<Self, Utf8Error> {
        EngineText::try_from(bytes).map(Utf8Bytes)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Bytes {
        Bytes::from(text.0)
    }
}
