//! Fuzzes configuration loading: any text as TOML, YAML or JSON (the first byte picks
//! which) must load or fail with an error, never panic; an error names no more than the
//! configuration said.

#![no_main]

use libfuzzer_sys::fuzz_target;
use openmog::config::{ConfigSource, load};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = ["toml", "yaml", "json"][usize::from(selector) % 3];
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = load(&[ConfigSource::Text {
        format: format.to_owned(),
        text: text.to_owned(),
    }]);
});
