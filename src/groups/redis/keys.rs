//! Channel and key names, all under the configured prefix.

use crate::groups::Target;

/// `PREFIX:g:GROUP` (pub/sub channel of a group), `PREFIX:all` (broadcast channel),
/// `PREFIX:p:GROUP` (presence sorted set of a group).
#[derive(Debug)]
pub(super) struct Keys {
    group: String,
    all: String,
    presence: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            group: format!("{prefix}:g:"),
            all: format!("{prefix}:all"),
            presence: format!("{prefix}:p:"),
        }
    }

    pub(super) fn group_channel(&self, group: &str) -> String {
        let mut s = String::with_capacity(self.group.len() + group.len());
        s.push_str(&self.group);
        s.push_str(group);
        s
    }

    pub(super) fn broadcast_channel(&self) -> &str {
        &self.all
    }

    pub(super) fn channel(&self, target: &Target) -> String {
        match target {
            Target::Group(group) => self.group_channel(group),
            Target::All => self.all.clone(),
        }
    }

    pub(super) fn presence_key(&self, group: &str) -> String {
        format!("{}{group}", self.presence)
    }

    /// What a message on `channel` targets; `None` for a channel that is not ours.
    pub(super) fn target_of(&self, channel: &[u8]) -> Option<Target> {
        if channel == self.all.as_bytes() {
            return Some(Target::All);
        }
        let group = channel.strip_prefix(self.group.as_bytes())?;
        std::str::from_utf8(group)
            .ok()
            .map(|g| Target::Group(g.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let keys = Keys::new("app1");
        assert_eq!(keys.group_channel("room"), "app1:g:room");
        assert_eq!(keys.broadcast_channel(), "app1:all");
        assert_eq!(keys.presence_key("room"), "app1:p:room");
        assert_eq!(
            keys.target_of(b"app1:g:room:a"),
            Some(Target::Group("room:a".into()))
        );
        assert_eq!(keys.target_of(b"app1:all"), Some(Target::All));
        assert_eq!(keys.target_of(b"app2:g:room"), None);
        assert_eq!(keys.target_of(b"app1:g:\xff"), None);
    }
}
