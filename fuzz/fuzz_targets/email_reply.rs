//! Fuzzes the email reply grammar: `strip_quoted` then `parse_decision`, with their
//! invariants checked by `openmog_email::reply::fuzz_reply`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    openmog_email::reply::fuzz_reply(data);
});
