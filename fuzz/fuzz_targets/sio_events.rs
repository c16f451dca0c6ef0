//! A Socket.io event, `EVENT\nJSON`, through the payload reader of its handler and the
//! checks on the frame it becomes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sala_server::fuzzing::sio_events(data);
});
