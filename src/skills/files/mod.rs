//! `file.read`, `file.write` and `file.list`: file access confined to one workspace
//! directory. This module owns the workspace handle, the path checks and the error wording
//! the three skills share.
//!
//! Confinement has two layers:
//!
//! - Each path is checked before any filesystem call: it must be relative, and no `..`
//!   is allowed (so `a/../b` is refused too, not only paths that would climb out). Then
//!   every component that exists is looked at without following it, and a symbolic link
//!   anywhere on the way is refused, even one that points inside the workspace: the skills
//!   never follow symbolic links, so what a step names is what it touches.
//! - Every operation goes through a `cap_std::fs::Dir` opened on the workspace, which cannot
//!   resolve a path outside it, symbolic links included (on Linux with `openat2` and
//!   `RESOLVE_BENEATH` where the kernel has it). If a link appears between the check and
//!   the use, the worst it can do is lead somewhere else inside the workspace.
//!
//! `cap_std` is synchronous; each operation runs on tokio's blocking pool.

mod list;
mod read;
mod write;

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde_json::Value;

use super::SkillError;
use crate::config::FileSkillConfig;

pub use list::FileList;
pub use read::FileRead;
pub use write::FileWrite;

/// The three file skills, sharing one open workspace. Register the ones wanted.
#[derive(Debug, Clone)]
pub struct Files {
    /// `file.read`.
    pub read: FileRead,
    /// `file.write`.
    pub write: FileWrite,
    /// `file.list`.
    pub list: FileList,
}

impl Files {
    /// Opens the configured workspace. Fails if `workspace` is not set or is not an
    /// existing directory. `enabled` is for whoever registers the skills; it is not checked
    /// here.
    pub fn new(config: &FileSkillConfig) -> Result<Files, SkillError> {
        let workspace = Arc::new(Workspace::open(config)?);
        Ok(Files {
            read: FileRead::new(Arc::clone(&workspace)),
            write: FileWrite::new(Arc::clone(&workspace)),
            list: FileList::new(workspace),
        })
    }
}

/// The open workspace and the limits that apply in it.
#[derive(Debug)]
struct Workspace {
    dir: Dir,
    max_read_bytes: usize,
    max_write_bytes: usize,
    max_entries: usize,
}

impl Workspace {
    fn open(config: &FileSkillConfig) -> Result<Workspace, SkillError> {
        let Some(root) = &config.workspace else {
            return Err(SkillError::Failed(
                "`workspace` is not set: the file skills need a directory to work in".into(),
            ));
        };
        // The one place ambient authority is used: from here on, every path is resolved
        // beneath this handle.
        let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| {
            SkillError::Failed(format!(
                "cannot open the workspace `{}` (it must be an existing directory): {e}",
                root.display()
            ))
        })?;
        Ok(Workspace {
            dir,
            max_read_bytes: config.max_read_bytes,
            max_write_bytes: config.max_write_bytes,
            max_entries: config.max_entries,
        })
    }

    /// Refuses a path if any existing component of it is a symbolic link. Components after
    /// the first missing one cannot be links, so the walk stops there.
    fn refuse_symlinks(&self, target: &Target) -> Result<(), SkillError> {
        let mut prefix = PathBuf::new();
        for part in target.rel.components() {
            prefix.push(part);
            match self.dir.symlink_metadata(&prefix) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(SkillError::Refused(format!(
                        "`{}`: `{}` is a symbolic link, and the file skills never follow one",
                        target.shown,
                        shown(&prefix)
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(&target.shown, "cannot look it up", e)),
            }
        }
        Ok(())
    }
}

/// A path from a step's arguments, checked to stay inside the workspace.
#[derive(Debug, Clone)]
struct Target {
    /// Relative to the workspace, only normal components; empty for the workspace itself.
    rel: PathBuf,
    /// `rel` as shown in outputs and errors: `/`-separated, `.` for the workspace.
    shown: String,
}

impl Target {
    /// Checks the path's shape: relative, no `..`, no NUL. `.` components are dropped.
    fn parse(path: &str) -> Result<Target, SkillError> {
        if path.contains('\0') {
            return Err(SkillError::InvalidArgs(format!(
                "path `{}` contains a NUL character",
                path.escape_debug()
            )));
        }
        let mut rel = PathBuf::new();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(SkillError::Refused(format!(
                        "`{path}`: `..` is not allowed; paths stay inside the workspace"
                    )));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(SkillError::Refused(format!(
                        "`{path}`: absolute paths are not allowed; give a path relative to the workspace"
                    )));
                }
            }
        }
        let shown = shown(&rel);
        Ok(Target { rel, shown })
    }

    /// As [`Target::parse`], for skills that need a file: the workspace itself is refused.
    fn parse_file(path: &str) -> Result<Target, SkillError> {
        let target = Target::parse(path)?;
        if target.is_root() {
            return Err(SkillError::InvalidArgs(format!(
                "`{path}` names the workspace itself, not a file"
            )));
        }
        Ok(target)
    }

    fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }
}

/// A relative path as outputs show it: `/`-separated on every platform, `.` when empty.
fn shown(rel: &Path) -> String {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// An IO error as a skill error naming the path. cap-std's refusals of a path that would
/// leave the workspace are `Refused`; the rest are `Failed`.
fn io_error(shown: &str, doing: &str, e: io::Error) -> SkillError {
    if is_escape(&e) {
        SkillError::Refused(format!(
            "`{shown}`: {doing}: the path leads outside the workspace"
        ))
    } else {
        SkillError::Failed(format!("`{shown}`: {doing}: {e}"))
    }
}

/// cap-std reports an escape as `PermissionDenied` with one of these messages, and nothing
/// else tells it apart from a real permission problem.
fn is_escape(e: &io::Error) -> bool {
    if e.kind() != io::ErrorKind::PermissionDenied {
        return false;
    }
    let message = e.to_string();
    message.contains("outside of the filesystem") || message.contains("absolute path")
}

/// Runs a filesystem operation on the blocking pool, so a slow disk never stalls the
/// runtime.
async fn blocking<T, F>(operation: F) -> Result<T, SkillError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SkillError> + Send + 'static,
{
    tokio::task::spawn_blocking(operation)
        .await
        .map_err(|e| SkillError::Failed(format!("the file operation did not finish: {e}")))?
}

/// A required string argument.
fn required_str<'a>(args: &'a Value, key: &str) -> Result<&'a str, SkillError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| SkillError::InvalidArgs(format!("`{key}` must be a string")))
}

/// An optional string argument; `null` counts as absent.
fn optional_str<'a>(args: &'a Value, key: &str) -> Result<Option<&'a str>, SkillError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(SkillError::InvalidArgs(format!("`{key}` must be a string"))),
    }
}

/// An optional boolean argument; `null` counts as absent.
fn optional_bool(args: &Value, key: &str) -> Result<Option<bool>, SkillError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(SkillError::InvalidArgs(format!(
            "`{key}` must be a boolean"
        ))),
    }
}

/// An optional non-negative integer argument; `null` counts as absent.
fn optional_count(args: &Value, key: &str) -> Result<Option<u64>, SkillError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            SkillError::InvalidArgs(format!("`{key}` must be a non-negative integer"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_climb_out_are_refused_before_any_filesystem_call() {
        for path in ["../x", "a/../../x", "a/../b", "..", "/etc/passwd", "/"] {
            let result = Target::parse(path);
            assert!(
                matches!(result, Err(SkillError::Refused(_))),
                "{path}: {result:?}"
            );
        }
        assert!(matches!(
            Target::parse("a\0b"),
            Err(SkillError::InvalidArgs(_))
        ));
    }

    #[test]
    fn relative_paths_are_normalised_for_display() {
        let target = Target::parse("./notes//today.txt").unwrap();
        assert_eq!(target.shown, "notes/today.txt");
        assert_eq!(target.rel, PathBuf::from("notes").join("today.txt"));
        let root = Target::parse(".").unwrap();
        assert!(root.is_root());
        assert_eq!(root.shown, ".");
        assert!(matches!(
            Target::parse_file("."),
            Err(SkillError::InvalidArgs(_))
        ));
    }
}
