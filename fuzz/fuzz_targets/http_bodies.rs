//! A JSON request body of the HTTP API (the first byte picks which), through the `ApiJson`
//! extractor and the handler's validation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sala_server::fuzzing::http_bodies(data);
});
