//! Keeping attachments: each within the size limit is written to its own folder per mail
//! under `attachments_dir`, named by a digest of the Message-ID (so a mail seen twice
//! overwrites its own copy), and the request lists where it is.

use std::path::Path;

use crate::mail::{IncomingMail, digest};

/// Writes `mail`'s attachments that have content under `dir`, recording each path. A
/// failure to write is logged and leaves that attachment listed as not kept.
pub(crate) fn keep(dir: &Path, mail: &mut IncomingMail) {
    let folder = dir.join(digest(mail.id.as_bytes()));
    for attachment in &mut mail.attachments {
        let Some(content) = attachment.content.take() else {
            continue;
        };
        let path = folder.join(&attachment.name);
        let written =
            std::fs::create_dir_all(&folder).and_then(|()| std::fs::write(&path, &content));
        match written {
            Ok(()) => attachment.saved = Some(path),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot keep an attachment");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Attachment;

    #[test]
    fn attachments_within_the_limit_are_written_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut mail = IncomingMail {
            id: "m1@x".to_owned(),
            attachments: vec![
                Attachment {
                    name: "notes.txt".to_owned(),
                    content_type: "text/plain".to_owned(),
                    size: 2,
                    content: Some(b"hi".to_vec()),
                    saved: None,
                },
                Attachment {
                    name: "big.bin".to_owned(),
                    content_type: "application/octet-stream".to_owned(),
                    size: 1 << 30,
                    content: None,
                    saved: None,
                },
            ],
            ..IncomingMail::default()
        };
        keep(dir.path(), &mut mail);
        let saved = mail.attachments[0].saved.clone().expect("kept");
        assert_eq!(std::fs::read(&saved).unwrap(), b"hi");
        assert!(saved.starts_with(dir.path()));
        assert!(mail.attachments[1].saved.is_none());
    }
}
