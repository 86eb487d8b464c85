#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tincan_call::fuzzing::audio_jitter(data));
