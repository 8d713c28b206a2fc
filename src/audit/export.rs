//! Audit export and anchoring: the chain written out as JSON lines (one sealed record a
//! line, hashes included), a check of such a file on its own, and a check that the store
//! still holds, unchanged, every record an earlier export saw — which a rewrite of the
//! tail, or its deletion, cannot pass.

use std::io::{BufRead, Write};

use super::{AuditRecord, GENESIS_HASH, Verification};
use crate::clock::Timestamp;
use crate::store::Store;
use crate::{Error, Result};

const PAGE: usize = 1000;

/// Writes every record appended at or after `since` to `out`, one JSON object a line,
/// oldest first; returns how many.
pub async fn export(store: &dyn Store, since: Timestamp, out: &mut dyn Write) -> Result<u64> {
    let mut from = 1;
    let mut written = 0;
    loop {
        let page = store.audit_records(from, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(written);
        };
        from = last.seq + 1;
        for record in page.iter().filter(|r| r.at >= since) {
            serde_json::to_writer(&mut *out, record)?;
            out.write_all(b"\n")
                .map_err(|err| Error::Store(format!("cannot write the export: {err}")))?;
            written += 1;
        }
    }
}

/// Reads an export: its records in file order. A line that is not a record is an error
/// naming the line.
pub fn read_export(input: impl BufRead) -> Result<Vec<AuditRecord>> {
    let mut records = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|err| Error::Store(format!("cannot read the export: {err}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line)
            .map_err(|err| Error::Corrupt(format!("export line {}: {err}", n + 1)))?;
        records.push(record);
    }
    Ok(records)
}

/// Checks an export on its own: every record intact and linked to the one before, with
/// consecutive sequence numbers (an export from `--since` may start past the first).
pub fn verify_export(records: &[AuditRecord]) -> Verification {
    let mut previous: Option<&AuditRecord> = None;
    for record in records {
        let broken = |reason: &str| Verification::Broken {
            seq: record.seq,
            reason: reason.to_owned(),
        };
        match previous {
            Some(prev) if record.seq != prev.seq + 1 => {
                return broken("missing or out of order in the export");
            }
            Some(prev) if record.prev_hash != prev.hash => {
                return broken("does not link to the previous record");
            }
            None if record.seq == 1 && record.prev_hash != GENESIS_HASH => {
                return broken("the first record does not start the chain");
            }
            _ => {}
        }
        if !record.is_intact() {
            return broken("content does not match its hash (altered)");
        }
        previous = Some(record);
    }
    Verification::Intact {
        records: records.len() as u64,
        head: previous.map_or_else(|| GENESIS_HASH.to_owned(), |r| r.hash.clone()),
    }
}

/// Checks that the store still holds every record of `anchor` (an earlier export) exactly
/// as it was. Together with [`super::verify`] this detects a rewritten or deleted tail,
/// which a hash chain alone cannot.
pub async fn verify_against(store: &dyn Store, anchor: &[AuditRecord]) -> Result<Verification> {
    for chunk in anchor.chunks(PAGE) {
        let first = chunk[0].seq;
        let stored = store.audit_records(first, chunk.len()).await?;
        for (i, expected) in chunk.iter().enumerate() {
            match stored.get(i) {
                Some(found) if found.seq == expected.seq && found.hash == expected.hash => {}
                Some(found) if found.seq == expected.seq => {
                    return Ok(Verification::Broken {
                        seq: expected.seq,
                        reason: "differs from the exported record (rewritten)".to_owned(),
                    });
                }
                _ => {
                    return Ok(Verification::Broken {
                        seq: expected.seq,
                        reason: "exported earlier, no longer in the store (deleted)".to_owned(),
                    });
                }
            }
        }
    }
    Ok(Verification::Intact {
        records: anchor.len() as u64,
        head: anchor
            .last()
            .map_or_else(|| GENESIS_HASH.to_owned(), |r| r.hash.clone()),
    })
}
