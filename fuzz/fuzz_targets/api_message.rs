//! Any text as a REST-over-WebSocket message: parsed, made a request, run through an app.
#![no_main]
#[path = "../harden/api_message.rs"]
mod api_message;
libfuzzer_sys::fuzz_target!(|data: &[u8]| api_message::run(data));
