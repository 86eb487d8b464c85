#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tincan_protocol::fuzzing::decode(data));
