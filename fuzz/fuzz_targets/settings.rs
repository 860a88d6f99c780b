//! The example server's config file parser, through its public entry
//! point. Kept tiny on purpose: the parser is being rewritten, and this is
//! the one line to re-point if its signature changes.
#![no_main]

use gatehouse_example_server::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Debug output is also built from parsed values: it must not panic.
        let _ = Settings::from_json(text).map(|s| format!("{s:?}"));
    }
});
