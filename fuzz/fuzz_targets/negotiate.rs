//! Arbitrary Sec-WebSocket-Extensions values through the permessage-deflate negotiation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsview_fuzz::negotiate_offers(data));
