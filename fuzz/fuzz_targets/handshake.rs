//! Request heads into the WebSocket handshake, through the app's service.
#![no_main]
#[path = "../harden/handshake.rs"]
mod handshake;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    handshake::run(data);
});
