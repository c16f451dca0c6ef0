//! The bytes a WebSocket client sends after the upgrade, read by tungstenite in the server
//! role with `/ws`'s limits; every text message is decoded and checked as a client frame.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sala_server::fuzzing::ws_frames(data);
});
