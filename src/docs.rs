//! The guide, as pages of the API docs: each module below is one page of the
//! repository's `docs/` folder, and every Rust block in it is a doc test.

#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

#[doc = include_str!("../docs/migration-django-websocket.md")]
pub mod migration_django_websocket {}

#[doc = include_str!("../docs/handlers.md")]
pub mod handlers {}

#[doc = include_str!("../docs/groups.md")]
pub mod groups {}

#[doc = include_str!("../docs/axum.md")]
pub mod axum {}
