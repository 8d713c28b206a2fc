//! `file.write`: creates, overwrites or appends to a file inside the workspace, refusing
//! content over `max_write_bytes`.

use std::io::{self, Write};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::OpenOptions;
use serde_json::{Value, json};

use super::{Target, Workspace, blocking, io_error, optional_bool, optional_str, required_str};
use crate::skills::{Skill, SkillContext, SkillError};

/// Writes text to a file and returns `{path, bytes, mode}`.
///
/// `mode` is `create` (the default: the file must not exist yet), `overwrite` (replace the
/// file or create it) or `append` (add to the end, creating the file if missing).
/// `create_dirs` creates missing parent directories. Content longer than the configured
/// `max_write_bytes` is refused whole, nothing written; in `append` mode the cap is on what
/// one call adds, not on the file's size. Only regular files are written, never through a
/// symbolic link.
#[derive(Debug, Clone)]
pub struct FileWrite {
    workspace: Arc<Workspace>,
}

impl FileWrite {
    pub(super) fn new(workspace: Arc<Workspace>) -> Self {
        FileWrite { workspace }
    }
}

/// How a write treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Overwrite,
    Append,
}

impl Mode {
    fn parse(mode: Option<&str>) -> Result<Mode, SkillError> {
        match mode {
            None | Some("create") => Ok(Mode::Create),
            Some("overwrite") => Ok(Mode::Overwrite),
            Some("append") => Ok(Mode::Append),
            Some(other) => Err(SkillError::InvalidArgs(format!(
                "`mode` is `{other}`; use `create`, `overwrite` or `append`"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::Overwrite => "overwrite",
            Mode::Append => "append",
        }
    }
}

#[async_trait]
impl Skill for FileWrite {
    fn name(&self) -> &str {
        "file.write"
    }

    fn description(&self) -> &str {
        "Writes a text file inside the workspace (capped; symbolic links refused). Arguments: path, content, mode (create, overwrite, append), create_dirs."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": { "type": "string", "description": "relative to the workspace" },
                "content": { "type": "string", "description": "the text to write" },
                "mode": {
                    "type": "string",
                    "enum": ["create", "overwrite", "append"],
                    "description": "create (default; fails if the file exists), overwrite, or append"
                },
                "create_dirs": {
                    "type": "boolean",
                    "description": "create missing parent directories (default false)"
                }
            },
            "required": ["path", "content"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let target = Target::parse_file(required_str(&args, "path")?)?;
        let content = required_str(&args, "content")?.to_owned();
        let mode = Mode::parse(optional_str(&args, "mode")?)?;
        let create_dirs = optional_bool(&args, "create_dirs")?.unwrap_or(false);
        let cap = self.workspace.max_write_bytes;
        if content.len() > cap {
            return Err(SkillError::Refused(format!(
                "`{}`: {} bytes is more than a write may hold ({cap} bytes)",
                target.shown,
                content.len()
            )));
        }
        let workspace = Arc::clone(&self.workspace);
        let shown = target.shown.clone();
        let bytes = content.len();
        blocking(move || write(&workspace, &target, &content, mode, create_dirs)).await?;
        Ok(json!({ "path": shown, "bytes": bytes, "mode": mode.as_str() }))
    }
}

fn write(
    workspace: &Workspace,
    target: &Target,
    content: &str,
    mode: Mode,
    create_dirs: bool,
) -> Result<(), SkillError> {
    workspace.refuse_symlinks(target)?;
    let shown = target.shown.as_str();
    if create_dirs
        && let Some(parent) = target.rel.parent()
        && !parent.as_os_str().is_empty()
    {
        workspace
            .dir
            .create_dir_all(parent)
            .map_err(|e| io_error(shown, "cannot create its directory", e))?;
    }
    // Opening a pipe for writing would wait for a reader, so an existing target must be a
    // regular file.
    match workspace.dir.symlink_metadata(&target.rel) {
        Ok(meta) if meta.is_file() => {
            if mode == Mode::Create {
                return Err(already_exists(shown));
            }
        }
        Ok(_) => {
            return Err(SkillError::Failed(format!(
                "`{shown}` exists and is not a regular file"
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(shown, "cannot look it up", e)),
    }

    let mut options = OpenOptions::new();
    match mode {
        // `create_new` also closes the race with a file created since the check above.
        Mode::Create => options.write(true).create_new(true),
        Mode::Overwrite => options.write(true).create(true).truncate(true),
        Mode::Append => options.append(true).create(true),
    };
    let mut file = workspace
        .dir
        .open_with(&target.rel, &options)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => already_exists(shown),
            io::ErrorKind::NotFound if !create_dirs => SkillError::Failed(format!(
                "`{shown}`: its directory does not exist (set `create_dirs` to create it)"
            )),
            _ => io_error(shown, "cannot open for writing", e),
        })?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| io_error(shown, "cannot write", e))
}

fn already_exists(shown: &str) -> SkillError {
    SkillError::Failed(format!(
        "`{shown}` already exists; mode `create` never replaces a file (use `overwrite` or `append`)"
    ))
}
