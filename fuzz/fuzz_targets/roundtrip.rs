//! Messages encoded, then decoded in arbitrary reads: they must come back equal.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsview_fuzz::roundtrip(data));
