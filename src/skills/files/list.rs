//! `file.list`: lists a directory inside the workspace, optionally recursively, never
//! following symbolic links, capped at `max_entries`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use cap_std::fs::FileType;
use serde_json::{Value, json};

use super::{Target, Workspace, blocking, io_error, optional_bool, optional_str, shown};
use crate::skills::{Risk, Skill, SkillContext, SkillError};

/// Lists a directory and returns `{path, entries, truncated}`.
///
/// Each entry is `{path, kind, bytes}`: `path` relative to the workspace (not to the listed
/// directory), `/`-separated; `kind` is `file`, `dir`, `symlink` or `other` (a pipe, socket
/// or device); `bytes` is a file's length and 0 for the other kinds. Entries come depth
/// first, each directory's sorted by name. A symbolic link is listed as itself and never
/// followed, also when recursing. After the configured `max_entries` the listing stops and
/// says `truncated: true`.
#[derive(Debug, Clone)]
pub struct FileList {
    workspace: Arc<Workspace>,
}

impl FileList {
    pub(super) fn new(workspace: Arc<Workspace>) -> Self {
        FileList { workspace }
    }
}

/// One listed entry.
struct Entry {
    path: String,
    kind: &'static str,
    bytes: u64,
}

#[async_trait]
impl Skill for FileList {
    fn risk(&self) -> Risk {
        Risk::Low
    }

    fn name(&self) -> &str {
        "file.list"
    }

    fn description(&self) -> &str {
        "Lists a directory inside the workspace (capped; symbolic links listed, never followed). Arguments: path, recursive."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {
                    "type": "string",
                    "description": "a directory relative to the workspace (default: the workspace)"
                },
                "recursive": {
                    "type": "boolean",
                    "description": "also list what subdirectories hold (default false)"
                }
            },
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let target = Target::parse(optional_str(&args, "path")?.unwrap_or("."))?;
        let recursive = optional_bool(&args, "recursive")?.unwrap_or(false);
        let workspace = Arc::clone(&self.workspace);
        let shown = target.shown.clone();
        let (entries, truncated) = blocking(move || list(&workspace, &target, recursive)).await?;
        let entries: Vec<Value> = entries
            .into_iter()
            .map(|e| json!({ "path": e.path, "kind": e.kind, "bytes": e.bytes }))
            .collect();
        Ok(json!({ "path": shown, "entries": entries, "truncated": truncated }))
    }
}

fn list(
    workspace: &Workspace,
    target: &Target,
    recursive: bool,
) -> Result<(Vec<Entry>, bool), SkillError> {
    workspace.refuse_symlinks(target)?;
    if !target.is_root() {
        let meta = workspace
            .dir
            .symlink_metadata(&target.rel)
            .map_err(|e| io_error(&target.shown, "cannot list", e))?;
        if !meta.is_dir() {
            return Err(SkillError::Failed(format!(
                "`{}` is not a directory",
                target.shown
            )));
        }
    }
    let mut entries = Vec::new();
    let truncated = walk(workspace, &target.rel, recursive, &mut entries)?;
    Ok((entries, truncated))
}

/// Adds the entries of `dir` (and, if `recursive`, of its subdirectories) to `out`.
/// Returns whether it stopped at the cap with entries left. Depth is bounded by the cap:
/// every level adds at least the directory it descends into.
fn walk(
    workspace: &Workspace,
    dir: &Path,
    recursive: bool,
    out: &mut Vec<Entry>,
) -> Result<bool, SkillError> {
    let dir_shown = shown(dir);
    let listing = if dir.as_os_str().is_empty() {
        workspace.dir.entries()
    } else {
        // `dir` was seen as a directory, not a link, when its parent was read.
        workspace.dir.read_dir(dir)
    }
    .map_err(|e| io_error(&dir_shown, "cannot list", e))?;

    // Sorted by name, so that the same tree always lists, and truncates, the same way.
    let mut children = BTreeMap::new();
    for entry in listing {
        let entry = entry.map_err(|e| io_error(&dir_shown, "cannot list", e))?;
        let name = entry.file_name();
        // The entry's own type: a link is reported as a link, not as what it points to.
        let file_type = entry
            .file_type()
            .map_err(|e| io_error(&shown(&dir.join(&name)), "cannot look it up", e))?;
        let bytes = if file_type.is_file() {
            entry.metadata().map_or(0, |m| m.len())
        } else {
            0
        };
        children.insert(name, (file_type, bytes));
    }

    for (name, (file_type, bytes)) in children {
        if out.len() >= workspace.max_entries {
            return Ok(true);
        }
        let child = dir.join(&name);
        out.push(Entry {
            path: shown(&child),
            kind: kind(file_type),
            bytes,
        });
        if recursive
            && file_type.is_dir()
            && !file_type.is_symlink()
            && walk(workspace, &child, recursive, out)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn kind(file_type: FileType) -> &'static str {
    if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_dir() {
        "dir"
    } else if file_type.is_file() {
        "file"
    } else {
        "other"
    }
}
