//! Arbitrary bytes into the decoder, any role, limits and deflate settings.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsview_fuzz::decode(data));
