//! Fuzzes the whole receive path of a mail: MIME and character-set decoding, quoting, the
//! reply grammar, nonces, automatic-mail and Authentication-Results checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    openmog_email::fuzz_mail(data);
});
