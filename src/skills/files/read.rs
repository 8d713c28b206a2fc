//! `file.read`: reads a file inside the workspace, capped at `max_read_bytes`.

use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;

use serde_json::{Value, json};

use super::{Target, Workspace, blocking, io_error, optional_count, required_str};
use crate::skills::{Risk, Skill, SkillContext, SkillError};

/// Reads a file and returns `{path, content, bytes, size, truncated}`.
///
/// `content` is the text read, with invalid UTF-8 replaced; `bytes` how many bytes were
/// read; `size` the file's whole length; `truncated` whether the read stopped before the
/// end. At most `max_bytes` (if given) and never more than the configured `max_read_bytes`
/// are read. Only regular files are read: a directory, a device or a pipe is refused, and
/// so is any path through a symbolic link.
#[derive(Debug, Clone)]
pub struct FileRead {
    workspace: Arc<Workspace>,
}

impl FileRead {
    pub(super) fn new(workspace: Arc<Workspace>) -> Self {
        FileRead { workspace }
    }
}

/// What a read got.
struct Got {
    kept: Vec<u8>,
    size: u64,
    truncated: bool,
}

#[async_trait]
impl Skill for FileRead {
    fn risk(&self) -> Risk {
        Risk::Medium
    }

    fn name(&self) -> &str {
        "file.read"
    }

    fn description(&self) -> &str {
        "Reads a text file inside the workspace (capped; symbolic links refused). Arguments: path, max_bytes."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": { "type": "string", "description": "relative to the workspace" },
                "max_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "read at most this many bytes (never more than the configured cap)"
                }
            },
            "required": ["path"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let target = Target::parse_file(required_str(&args, "path")?)?;
        let cap = self.workspace.max_read_bytes;
        let limit = match optional_count(&args, "max_bytes")? {
            Some(asked) => usize::try_from(asked).unwrap_or(usize::MAX).min(cap),
            None => cap,
        };
        let workspace = Arc::clone(&self.workspace);
        let shown = target.shown.clone();
        let got = blocking(move || read_capped(&workspace, &target, limit)).await?;
        Ok(json!({
            "path": shown,
            "content": String::from_utf8_lossy(&got.kept),
            "bytes": got.kept.len(),
            "size": got.size,
            "truncated": got.truncated,
        }))
    }
}

/// Reads at most `limit` bytes of a regular file, and one more to learn whether there was
/// more.
fn read_capped(workspace: &Workspace, target: &Target, limit: usize) -> Result<Got, SkillError> {
    workspace.refuse_symlinks(target)?;
    let shown = target.shown.as_str();
    // Opening a pipe for reading would wait for a writer, so only regular files are opened.
    let meta = workspace
        .dir
        .symlink_metadata(&target.rel)
        .map_err(|e| io_error(shown, "cannot read", e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(SkillError::Failed(format!(
            "`{shown}` is {what}; only regular files can be read"
        )));
    }
    let mut file = workspace
        .dir
        .open(&target.rel)
        .map_err(|e| io_error(shown, "cannot open", e))?;
    let size = file.metadata().map_or(meta.len(), |m| m.len());
    let wanted = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut kept = Vec::new();
    file.by_ref()
        .take(wanted)
        .read_to_end(&mut kept)
        .map_err(|e| io_error(shown, "cannot read", e))?;
    let truncated = kept.len() > limit;
    kept.truncate(limit);
    Ok(Got {
        kept,
        size,
        truncated,
    })
}
