//! Fuzzes what reads chat text: the built-in command parser and the scanner that flags
//! instructions in untrusted content. Neither may panic; a parsed decision names an
//! approval id that looks like one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use openmog::domain::provenance;
use openmog::engine::{Command, parse_command};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(Command::Decide {
        approval: Some(id), ..
    }) = parse_command(text)
    {
        assert!(id.0.starts_with("a-"), "{id:?} from {text:?}");
    }
    for finding in provenance::scan(text) {
        assert!(finding.excerpt.chars().count() <= 120);
    }
});
