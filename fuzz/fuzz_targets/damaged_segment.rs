#![no_main]

// Each binary runs one of the targets.
#[allow(dead_code)]
#[path = "../../tests/fuzz/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::damaged_segment(data));
