//! `shell.run`: runs a command with `sh -c` (`cmd /C` on Windows) in a confined working
//! directory, with a cleared environment, capped output, CPU and memory limits (Unix), and a
//! timeout that kills the whole process group.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Skill, SkillContext, SkillError};
use crate::config::{ConfigDuration, ShellSkillConfig};

/// Size of the buffer each output stream is read with.
const READ_BUF_BYTES: usize = 8 * 1024;

/// The exit code of the limit prelude when `ulimit` refuses a limit.
#[cfg(not(windows))]
const LIMIT_FAILED_CODE: i32 = 125;

/// What the limit prelude writes to stderr when `ulimit` refuses a limit. With the exit
/// code, it tells a refused limit apart from the command's own failure (a command that
/// prints it and exits 125 only fails its own step).
#[cfg(not(windows))]
const LIMIT_FAILED_NOTE: &str = "openmog: a resource limit could not be applied";

/// Runs a shell command and returns `{exit_code, signal, stdout, stderr, timed_out,
/// truncated}`.
///
/// The environment is cleared except for the allowlisted variables; the working directory
/// must lie inside the configured one; stdin is closed. On Unix the command runs in its own
/// process group, and a timeout (or the step being cancelled) kills the whole group, so
/// background processes it started die with it. A non-zero exit code is not an error:
/// post-conditions decide which codes are acceptable. A timeout is an error.
///
/// On Unix, `cpu_seconds` and `memory_mb` become `ulimit -t` and `ulimit -v`, set by a
/// wrapper shell before it `exec`s the command, so every process the command starts
/// inherits them. They limit each process, not the command as a whole: the timeout bounds
/// the whole. Both the soft and the hard limit are set, so the command cannot raise them
/// again, unless openmog runs with the privilege to raise hard limits (root with
/// `CAP_SYS_RESOURCE`): run it as an ordinary user. A process over its CPU time is killed
/// (`signal` 9, or 24 for `SIGXCPU`); an allocation over the memory limit fails. If a limit
/// cannot be set (macOS may refuse `ulimit -v`), the command does not run and the step
/// fails. On Windows the limits are not applied.
#[derive(Debug, Clone)]
pub struct Shell {
    workdir: Option<PathBuf>,
    env_allow: Vec<String>,
    timeout: ConfigDuration,
    max_output_bytes: usize,
    limits: Limits,
}

/// Per-process resource limits, applied on Unix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Limits {
    cpu_seconds: Option<u64>,
    memory_kib: Option<u64>,
}

impl Limits {
    fn any(&self) -> bool {
        self.cpu_seconds.is_some() || self.memory_kib.is_some()
    }

    /// The `ulimit` lines the wrapper shell runs before the command, or none without limits.
    /// Only numbers are formatted into it; the command never is.
    #[cfg(not(windows))]
    fn prelude(&self) -> Option<String> {
        use std::fmt::Write as _;

        let mut prelude = String::new();
        for (flag, value) in [("-t", self.cpu_seconds), ("-v", self.memory_kib)] {
            if let Some(value) = value {
                // Without `-S` or `-H`, `ulimit` sets the soft and the hard limit; an
                // unprivileged process cannot raise a hard limit again. One limit per
                // `ulimit`, since dash takes only one.
                let _ = writeln!(
                    prelude,
                    "ulimit {flag} {value} || {{ echo '{LIMIT_FAILED_NOTE}' >&2; exit {LIMIT_FAILED_CODE}; }}"
                );
            }
        }
        (!prelude.is_empty()).then_some(prelude)
    }
}

impl Shell {
    /// From the configuration. `enabled` is for whoever registers the skill; it is not
    /// checked here.
    pub fn new(config: &ShellSkillConfig) -> Self {
        let limits = Limits {
            cpu_seconds: config.cpu_seconds,
            memory_kib: config.memory_mb.map(|mb| mb.saturating_mul(1024)),
        };
        if cfg!(not(unix)) && limits.any() {
            tracing::warn!(
                "skills.shell: cpu_seconds and memory_mb are not applied on this platform"
            );
        }
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
            limits,
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

    /// Whether the limit prelude, not the command, ended the run.
    #[cfg(not(windows))]
    fn limits_refused(&self, status: ExitStatus, stderr: &str) -> bool {
        self.limits.any()
            && status.code() == Some(LIMIT_FAILED_CODE)
            && stderr.contains(LIMIT_FAILED_NOTE)
    }

    /// Windows runs no prelude.
    #[cfg(windows)]
    fn limits_refused(&self, _status: ExitStatus, _stderr: &str) -> bool {
        false
    }
}

#[async_trait]
impl Skill for Shell {
    fn name(&self) -> &str {
        "shell.run"
    }

    fn description(&self) -> &str {
        "Runs a shell command (cleared environment, confined working directory, CPU and memory limits, timeout). Arguments: command, workdir, env."
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
            let mut cmd = shell_command(command, &self.limits);
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
        // Processes the command left running in the background die with it.
        group.kill_now().await;
        let status = status
            .map_err(|e| SkillError::Failed(format!("waiting for the command failed: {e}")))?;
        let stderr = String::from_utf8_lossy(&stderr);

        if self.limits_refused(status, &stderr) {
            return Err(SkillError::Failed(format!(
                "the resource limits (skills.shell cpu_seconds, memory_mb) could not be applied, so the command did not run: {}",
                stderr.trim()
            )));
        }

        let (exit_code, signal) = exit_of(status);
        Ok(json!({
            "exit_code": exit_code,
            "signal": signal,
            "stdout": String::from_utf8_lossy(&stdout),
            "stderr": stderr,
            "timed_out": false,
            "truncated": stdout_cut || stderr_cut,
        }))
    }
}

/// The exit code, and the signal that ended the command if one did. A signal is reported
/// as a shell reports it, 128 + its number, so a post-condition on `exit_code` never takes
/// a killed command for a successful one.
fn exit_of(status: ExitStatus) -> (i64, Option<i32>) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return (128 + i64::from(signal), Some(signal));
        }
    }
    (status.code().map_or(-1, i64::from), None)
}

/// `sh -c COMMAND`; with limits, `sh -c 'PRELUDE exec /bin/sh -c -- "$1"' sh COMMAND`.
#[cfg(not(windows))]
fn shell_command(command: &str, limits: &Limits) -> Command {
    let mut cmd = Command::new("/bin/sh");
    match limits.prelude() {
        None => {
            cmd.arg("-c").arg(command);
        }
        Some(prelude) => {
            // The command travels as the wrapper's `$1`, never inside the wrapper's text, so
            // no quoting in it can reach the prelude. `exec` keeps the wrapper's pid, which
            // leads the process group the timeout kills; `--` keeps a command that starts
            // with `-` from being read as options.
            cmd.arg("-c")
                .arg(format!("{prelude}exec /bin/sh -c -- \"$1\""))
                .arg("sh")
                .arg(command);
        }
    }
    cmd
}

/// `cmd /C COMMAND`, passed as is (cmd does its own parsing). Windows has no `ulimit`; the
/// limits are not applied.
#[cfg(windows)]
fn shell_command(command: &str, _limits: &Limits) -> Command {
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
pub(super) async fn kill_group(pgid: u32) {
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
pub(super) async fn kill_group(_pgid: u32) {}

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
