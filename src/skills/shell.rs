//! `shell`: runs a command with `sh -c` (`cmd /C` on Windows) in a confined working
//! directory, with a cleared environment, capped output, and a timeout that kills the whole
//! process group.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Skill, SkillContext, SkillError};
use crate::config::{ConfigDuration, ShellSkillConfig};

/// Size of the buffer each output stream is read with.
const READ_BUF_BYTES: usize = 8 * 1024;

/// Runs a shell command and returns `{exit_code, stdout, stderr, timed_out, truncated}`.
///
/// The environment is cleared except for the allowlisted variables; the working directory
/// must lie inside the configured one; stdin is closed. On Unix the command runs in its own
/// process group, and a timeout (or the step being cancelled) kills the whole group, so
/// background processes it started die with it. A non-zero exit code is not an error:
/// post-conditions decide which codes are acceptable. A timeout is an error.
#[derive(Debug, Clone)]
pub struct Shell {
    workdir: Option<PathBuf>,
    env_allow: Vec<String>,
    timeout: ConfigDuration,
    max_output_bytes: usize,
}

impl Shell {
    /// From the configuration. `enabled` is for whoever registers the skill; it is not
    /// checked here.
    pub fn new(config: &ShellSkillConfig) -> Self {
        Shell {
            workdir: config.workdir.clone(),
            env_allow: config
                .env_allow
                .iter()
                .filter(|name| is_valid_env_name(name))
                .cloned()
                .collect(),
            timeout: config.timeout,
            max_output_bytes: config.max_output_bytes,
        }
    }

    /// The working directory of the command: the requested one, which must lie inside the
    /// configured one when that is set (relative paths are taken from it), or the configured
    /// one, or none (the current directory).
    async fn resolve_workdir(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<PathBuf>, SkillError> {
        match (&self.workdir, requested) {
            (None, None) => Ok(None),
            (Some(root), None) => Ok(Some(root.clone())),
            (None, Some(dir)) => Ok(Some(PathBuf::from(dir))),
            (Some(root), Some(dir)) => {
                let root = tokio::fs::canonicalize(root).await.map_err(|e| {
                    SkillError::Failed(format!(
                        "the configured workdir `{}` is not usable: {e}",
                        root.display()
                    ))
                })?;
                let wanted = tokio::fs::canonicalize(root.join(dir)).await.map_err(|e| {
                    SkillError::InvalidArgs(format!("workdir `{dir}` is not usable: {e}"))
                })?;
                if wanted.starts_with(&root) {
                    Ok(Some(wanted))
                } else {
                    Err(SkillError::Refused(format!(
                        "workdir `{dir}` is outside the configured workdir"
                    )))
                }
            }
        }
    }

    /// The command's whole environment: allowlisted variables of this process, then the
    /// overrides from the `env` argument (allowlisted names only).
    fn environment(
        &self,
        overrides: Option<&Value>,
    ) -> Result<BTreeMap<String, OsString>, SkillError> {
        let mut env = BTreeMap::new();
        for name in &self.env_allow {
            if let Some(value) = std::env::var_os(name) {
                env.insert(name.clone(), value);
            }
        }
        let overrides = match overrides {
            None | Some(Value::Null) => return Ok(env),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(SkillError::InvalidArgs(
                    "`env` must be an object of strings".into(),
                ));
            }
        };
        for (name, value) in overrides {
            if !self.env_allow.iter().any(|allowed| allowed == name) {
                return Err(SkillError::Refused(format!(
                    "environment variable `{name}` is not on the allowlist"
                )));
            }
            let Some(value) = value.as_str() else {
                return Err(SkillError::InvalidArgs(format!(
                    "environment variable `{name}` must be a string"
                )));
            };
            env.insert(name.clone(), OsString::from(value));
        }
        Ok(env)
    }
}

#[async_trait]
impl Skill for Shell {
    fn name(&self) -> &str {
        "shell"
    }

    fn description(&self) -> &str {
        "Runs a shell command (cleared environment, confined working directory, timeout). Arguments: command, workdir, env."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "command": { "type": "string", "description": "run with `sh -c` (`cmd /C` on Windows)" },
                "workdir": { "type": "string", "description": "working directory, inside the configured one" },
                "env": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "environment variables to set; allowlisted names only"
                }
            },
            "required": ["command"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let command = args
            .get("command")
            .and_then(Value::as_str)
            .ok_or_else(|| SkillError::InvalidArgs("`command` must be a string".into()))?;
        let requested_dir = match args.get("workdir") {
            None | Some(Value::Null) => None,
            Some(Value::String(dir)) => Some(dir.as_str()),
            Some(_) => return Err(SkillError::InvalidArgs("`workdir` must be a string".into())),
        };
        let env = self.environment(args.get("env"))?;
        let workdir = self.resolve_workdir(requested_dir).await?;

        let mut child = {
            let mut cmd = shell_command(command);
            cmd.env_clear()
                .envs(env)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(dir) = &workdir {
                cmd.current_dir(dir);
            }
            #[cfg(unix)]
            cmd.process_group(0);
            cmd.spawn()
                .map_err(|e| SkillError::Failed(format!("cannot start the command: {e}")))?
        };
        // Declared after `child` so it is dropped first: when the run is cancelled, the group
        // is killed while the shell is not yet reaped and its process group id still valid.
        let mut group = GroupKiller { pgid: child.id() };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let limit = self.max_output_bytes;

        let mut exited = false;
        let finished = tokio::time::timeout(self.timeout.0, async {
            tokio::join!(
                read_capped(stdout, limit),
                read_capped(stderr, limit),
                async {
                    let status = child.wait().await;
                    exited = true;
                    status
                }
            )
        })
        .await;

        let Ok(((stdout, stdout_cut), (stderr, stderr_cut), status)) = finished else {
            group.kill_now().await;
            let _ = child.kill().await;
            let note = if exited {
                " (the command exited, but processes it started kept its output open)"
            } else {
                ""
            };
            return Err(SkillError::Failed(format!(
                "timed out after {}{note}",
                self.timeout
            )));
        };
        group.disarm();
        let status = status
            .map_err(|e| SkillError::Failed(format!("waiting for the command failed: {e}")))?;

        Ok(json!({
            "exit_code": status.code().map_or(-1, i64::from),
            "stdout": String::from_utf8_lossy(&stdout),
            "stderr": String::from_utf8_lossy(&stderr),
            "timed_out": false,
            "truncated": stdout_cut || stderr_cut,
        }))
    }
}

/// `sh -c COMMAND`.
#[cfg(not(windows))]
fn shell_command(command: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// `cmd /C COMMAND`, passed as is (cmd does its own parsing).
#[cfg(windows)]
fn shell_command(command: &str) -> Command {
    let mut cmd = Command::new("cmd");
    cmd.arg("/C").raw_arg(command);
    cmd
}

/// A name `std::env` and `Command::env` accept.
fn is_valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

/// Reads a stream to its end, keeping at most `limit` bytes and discarding the rest (so the
/// child never blocks on a full pipe). Returns the bytes kept and whether any were dropped.
async fn read_capped<R: AsyncRead + Unpin>(reader: Option<R>, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let Some(mut reader) = reader else {
        return (kept, truncated);
    };
    let mut buf = vec![0u8; READ_BUF_BYTES];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, truncated)
}

/// Kills the command's process group unless disarmed: explicitly on timeout, or when dropped
/// because the run was cancelled before the command finished.
struct GroupKiller {
    pgid: Option<u32>,
}

impl GroupKiller {
    /// The command finished normally; leave its group alone.
    fn disarm(&mut self) {
        self.pgid = None;
    }

    /// Kills the group now.
    async fn kill_now(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid).await;
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group_blocking(pgid);
        }
    }
}

/// Sends SIGKILL to every process in the group (`kill -KILL -- -PGID`).
#[cfg(unix)]
async fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Process groups are a Unix notion; `kill_on_drop` handles the direct child.
#[cfg(not(unix))]
async fn kill_group(_pgid: u32) {}

/// As [`kill_group`], for `Drop`, where nothing can be awaited.
#[cfg(unix)]
fn kill_group_blocking(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Process groups are a Unix notion; `kill_on_drop` handles the direct child.
#[cfg(not(unix))]
fn kill_group_blocking(_pgid: u32) {}
