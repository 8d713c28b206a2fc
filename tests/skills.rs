//! Integration tests of the built-in `http.get` skill (against a small HTTP server written
//! here) and the `shell.run` skill (against the real `/bin/sh`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openmog::config::{ConfigDuration, HttpSkillConfig};
use openmog::skills::{HttpGet, Skill, SkillContext, SkillError};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn ctx() -> SkillContext {
    SkillContext::detached("test-plan/step/1")
}

// ---------------------------------------------------------------------------------------
// http.get
// ---------------------------------------------------------------------------------------

/// A local HTTP/1.1 server answering fixed responses by path, counting connections.
struct TestServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl TestServer {
    async fn start() -> anyhow::Result<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream));
            }
        });
        Ok(TestServer { addr, connections })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads the request head, answers by path, closes.
async fn serve(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, extra, content_type, body): (&str, &str, &str, Vec<u8>) = match path.as_str() {
        "/json" => (
            "200 OK",
            "",
            "application/json",
            br#"{"ok":true,"n":1}"#.to_vec(),
        ),
        "/down" => (
            "503 Service Unavailable",
            "",
            "text/plain",
            b"unavailable".to_vec(),
        ),
        "/big" => ("200 OK", "", "text/plain", vec![b'a'; 10_000]),
        "/redirect" => (
            "302 Found",
            "Location: http://example.invalid/elsewhere\r\n",
            "text/plain",
            Vec::new(),
        ),
        "/head" => ("200 OK", "", "text/plain", head.into_bytes()),
        _ => ("404 Not Found", "", "text/plain", b"not found".to_vec()),
    };
    let response_head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = stream.write_all(response_head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

fn http_config(allow: &[&str]) -> HttpSkillConfig {
    HttpSkillConfig {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        timeout: ConfigDuration(Duration::from_secs(10)),
        max_body_bytes: 1000,
    }
}

#[tokio::test]
async fn http_get_parses_a_json_body() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    assert_eq!(skill.name(), "http.get");
    let out = skill
        .run(json!({ "url": server.url("/json") }), ctx())
        .await?;
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], json!({ "ok": true, "n": 1 }));
    assert_eq!(out["truncated"], false);
    assert_eq!(out["headers"]["content-type"], "application/json");
    Ok(())
}

#[tokio::test]
async fn http_get_sends_the_given_headers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    let out = skill
        .run(
            json!({ "url": server.url("/head"), "headers": { "X-Test": "yes-please" } }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 200);
    let echoed = out["body"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        echoed.contains("x-test: yes-please"),
        "request head was: {echoed}"
    );
    Ok(())
}

#[tokio::test]
async fn http_get_returns_error_statuses_without_failing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    let out = skill
        .run(json!({ "url": server.url("/down") }), ctx())
        .await?;
    assert_eq!(out["status"], 503);
    assert_eq!(out["body"], "unavailable");
    Ok(())
}

#[tokio::test]
async fn http_get_refuses_hosts_off_the_allowlist_without_connecting() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    let url = format!("http://localhost:{}/json", server.addr.port());
    let result = skill.run(json!({ "url": url }), ctx()).await;
    assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");

    let result = skill
        .run(
            json!({ "url": format!("ftp://127.0.0.1:{}/x", server.addr.port()) }),
            ctx(),
        )
        .await;
    assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");

    let nobody = HttpGet::new(&http_config(&[]))?;
    let result = nobody
        .run(json!({ "url": server.url("/json") }), ctx())
        .await;
    assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.connections(), 0);
    Ok(())
}

#[tokio::test]
async fn http_get_truncates_large_bodies() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    let out = skill
        .run(json!({ "url": server.url("/big") }), ctx())
        .await?;
    assert_eq!(out["status"], 200);
    assert_eq!(out["truncated"], true);
    assert_eq!(out["body"].as_str().map(str::len), Some(1000));
    Ok(())
}

#[tokio::test]
async fn http_get_does_not_follow_redirects() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    let out = skill
        .run(json!({ "url": server.url("/redirect") }), ctx())
        .await?;
    assert_eq!(out["status"], 302);
    assert_eq!(server.connections(), 1);
    Ok(())
}

#[tokio::test]
async fn http_get_connection_errors_fail_without_leaking_headers() -> anyhow::Result<()> {
    // A port that was just free: nothing listens there any more.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let skill = HttpGet::new(&http_config(&["127.0.0.1"]))?;
    let args = json!({
        "url": format!("http://127.0.0.1:{port}/"),
        "headers": { "Authorization": "Bearer hunter2-secret" }
    });
    match skill.run(args, ctx()).await {
        Err(SkillError::Failed(message)) => {
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// shell.run (Unix only: the tests use `sh` syntax, process groups and `ulimit`)
// ---------------------------------------------------------------------------------------

#[cfg(unix)]
mod shell {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use openmog::config::{ConfigDuration, ShellSkillConfig};
    use openmog::skills::{Shell, Skill, SkillError};
    use serde_json::{Value, json};

    use super::ctx;

    fn shell_config(
        env_allow: &[&str],
        timeout: Duration,
        workdir: Option<PathBuf>,
    ) -> ShellSkillConfig {
        ShellSkillConfig {
            enabled: true,
            workdir,
            env_allow: env_allow.iter().map(|v| (*v).to_owned()).collect(),
            timeout: ConfigDuration(timeout),
            max_output_bytes: 64 * 1024,
            cpu_seconds: None,
            memory_mb: None,
        }
    }

    async fn sh(skill: &Shell, command: &str) -> Result<Value, SkillError> {
        skill.run(json!({ "command": command }), ctx()).await
    }

    #[tokio::test]
    async fn shell_runs_a_command() -> anyhow::Result<()> {
        let skill = Shell::new(&shell_config(&["PATH"], Duration::from_secs(20), None));
        assert_eq!(skill.name(), "shell.run");
        let out = sh(&skill, "echo hello").await?;
        assert_eq!(out["exit_code"], 0);
        assert_eq!(out["stdout"], "hello\n");
        assert_eq!(out["stderr"], "");
        assert_eq!(out["timed_out"], false);
        assert_eq!(out["truncated"], false);
        Ok(())
    }

    #[tokio::test]
    async fn shell_nonzero_exit_is_an_output_not_an_error() -> anyhow::Result<()> {
        let skill = Shell::new(&shell_config(&["PATH"], Duration::from_secs(20), None));
        let out = sh(&skill, "echo oops >&2; exit 3").await?;
        assert_eq!(out["exit_code"], 3);
        assert_eq!(out["stderr"], "oops\n");
        Ok(())
    }

    #[tokio::test]
    async fn shell_refuses_env_vars_off_the_allowlist() -> anyhow::Result<()> {
        let skill = Shell::new(&shell_config(&["PATH"], Duration::from_secs(20), None));
        let result = skill
            .run(
                json!({ "command": "true", "env": { "SECRET": "x" } }),
                ctx(),
            )
            .await;
        assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");
        Ok(())
    }

    #[tokio::test]
    async fn shell_sees_only_allowlisted_env_vars() -> anyhow::Result<()> {
        let skill = Shell::new(&shell_config(
            &["PATH", "FOO"],
            Duration::from_secs(20),
            None,
        ));
        let out = skill
            .run(
                json!({
                    "command": "printf '%s\\n' \"$FOO\"; printf '%s\\n' \"$PATH\"; export -p",
                    "env": { "FOO": "bar" }
                }),
                ctx(),
            )
            .await?;
        assert_eq!(out["exit_code"], 0);
        let stdout = out["stdout"].as_str().unwrap_or_default().to_owned();
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some("bar"));
        if let Ok(path) = std::env::var("PATH") {
            assert_eq!(lines.next(), Some(path.as_str()), "PATH is passed through");
        }
        // Variables the shell sets itself are not from this process.
        let shell_own = ["FOO", "PATH", "PWD", "OLDPWD", "SHLVL", "_"];
        for (name, _) in std::env::vars() {
            if shell_own.contains(&name.as_str()) {
                continue;
            }
            assert!(
                !stdout.contains(&format!(" {name}=")),
                "`{name}` leaked into the command:\n{stdout}"
            );
        }
        Ok(())
    }

    #[tokio::test]
    async fn shell_caps_output_without_blocking_the_command() -> anyhow::Result<()> {
        let mut config = shell_config(&["PATH"], Duration::from_secs(20), None);
        config.max_output_bytes = 10;
        let skill = Shell::new(&config);
        // About 82 KB, more than a pipe buffer: the command only finishes if the rest is drained.
        let command = "i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789; \
                       i=$((i+1)); done; echo err >&2";
        let out = sh(&skill, command).await?;
        assert_eq!(out["exit_code"], 0);
        assert_eq!(out["stdout"], "0123456789");
        assert_eq!(out["stderr"], "err\n");
        assert_eq!(out["truncated"], true);
        Ok(())
    }

    /// Whether a process still runs. A killed process whose parent died too may linger as a
    /// zombie until init reaps it (some container inits never do); a zombie counts as dead.
    fn process_alive(pid: u32) -> bool {
        let signalable = std::process::Command::new("kill")
            .arg("-0")
            .arg(pid.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !signalable {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_none_or(|state| state != 'Z' && state != 'X'),
            Err(_) => true,
        }
    }

    #[tokio::test]
    async fn shell_timeout_kills_the_whole_process_group() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let pidfile = dir.path().join("background.pid");
        let skill = Shell::new(&shell_config(&["PATH"], Duration::from_millis(500), None));
        let command = format!(
            "sleep 30 & echo $! > '{}'; sleep 30; echo never",
            pidfile.display()
        );

        let started = Instant::now();
        let result = sh(&skill, &command).await;
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "took {:?}",
            started.elapsed()
        );
        match &result {
            Err(SkillError::Failed(message)) => assert!(message.contains("timed out"), "{message}"),
            other => panic!("expected a timeout, got {other:?}"),
        }

        let pid: u32 = std::fs::read_to_string(&pidfile)?.trim().parse()?;
        let deadline = Instant::now() + Duration::from_secs(2);
        while process_alive(pid) {
            assert!(
                Instant::now() < deadline,
                "background process {pid} survived the timeout"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    #[tokio::test]
    async fn shell_workdir_must_stay_inside_the_configured_one() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        std::fs::create_dir(root.path().join("sub"))?;
        let skill = Shell::new(&shell_config(
            &["PATH"],
            Duration::from_secs(20),
            Some(root.path().to_path_buf()),
        ));

        let outside_dir = outside.path().to_string_lossy().into_owned();
        let result = skill
            .run(json!({ "command": "pwd", "workdir": outside_dir }), ctx())
            .await;
        assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");

        let result = skill
            .run(json!({ "command": "pwd", "workdir": ".." }), ctx())
            .await;
        assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");

        let out = skill
            .run(json!({ "command": "pwd", "workdir": "sub" }), ctx())
            .await?;
        let expected = std::fs::canonicalize(root.path().join("sub"))?;
        assert_eq!(out["stdout"].as_str().map(str::trim_end), expected.to_str());

        let out = sh(&skill, "pwd").await?;
        let expected = std::fs::canonicalize(root.path())?;
        assert_eq!(out["stdout"].as_str().map(str::trim_end), expected.to_str());
        Ok(())
    }

    #[tokio::test]
    async fn shell_cpu_limit_kills_a_busy_loop_long_before_the_timeout() -> anyhow::Result<()> {
        let mut config = shell_config(&["PATH"], Duration::from_secs(60), None);
        config.cpu_seconds = Some(1);
        let skill = Shell::new(&config);

        let started = Instant::now();
        let out = sh(&skill, "while :; do :; done").await?;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(20), "took {took:?}: {out}");
        assert_eq!(out["timed_out"], false, "{out}");
        assert_ne!(out["exit_code"], 0, "{out}");
        // SIGKILL at the hard limit, or SIGXCPU (24 on Linux and macOS) at the soft one.
        let signal = out["signal"].as_i64();
        assert!(matches!(signal, Some(9 | 24)), "{out}");
        assert_eq!(out["exit_code"].as_i64(), signal.map(|s| 128 + s), "{out}");
        Ok(())
    }

    #[tokio::test]
    async fn shell_without_limits_reports_no_signal() -> anyhow::Result<()> {
        let skill = Shell::new(&shell_config(&["PATH"], Duration::from_secs(20), None));
        let out = sh(&skill, "exit 7").await?;
        assert_eq!(out["exit_code"], 7);
        assert_eq!(out["signal"], Value::Null);
        // A command killed by a signal is reported as a shell reports it.
        let out = sh(&skill, "kill -TERM $$").await?;
        assert_eq!(out["signal"], 15, "{out}");
        assert_eq!(out["exit_code"], 128 + 15, "{out}");
        Ok(())
    }

    /// Whether this process may raise a hard limit (root with `CAP_SYS_RESOURCE`), in which
    /// case a command it starts may too.
    #[cfg(target_os = "linux")]
    fn can_raise_hard_limits() -> bool {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("ulimit -t 100 && ulimit -t 200")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn shell_limits_are_in_force_and_cannot_be_raised() -> anyhow::Result<()> {
        let mut config = shell_config(&["PATH"], Duration::from_secs(20), None);
        config.cpu_seconds = Some(7);
        config.memory_mb = Some(512);
        let skill = Shell::new(&config);

        let out = sh(&skill, "ulimit -t; ulimit -v").await?;
        assert_eq!(out["exit_code"], 0, "{out}");
        assert_eq!(out["stdout"], "7\n524288\n", "{out}");

        if can_raise_hard_limits() {
            eprintln!(
                "skipped the raising half: this process may raise hard limits (root with CAP_SYS_RESOURCE), so its commands may too"
            );
            return Ok(());
        }
        for raise in ["ulimit -t unlimited", "ulimit -t 8", "ulimit -v unlimited"] {
            let out = sh(&skill, &format!("{raise} && echo raised")).await?;
            assert_ne!(out["exit_code"], 0, "`{raise}` succeeded: {out}");
            assert_eq!(out["stdout"], "", "`{raise}` succeeded: {out}");
        }
        let out = sh(
            &skill,
            "ulimit -t unlimited; ulimit -v unlimited; ulimit -t; ulimit -v",
        )
        .await?;
        assert_eq!(out["stdout"], "7\n524288\n", "{out}");
        Ok(())
    }

    #[tokio::test]
    async fn shell_limits_keep_the_command_out_of_the_wrapper_text() -> anyhow::Result<()> {
        let mut config = shell_config(&["PATH"], Duration::from_secs(20), None);
        config.cpu_seconds = Some(5);
        let skill = Shell::new(&config);
        // Quotes, `$1`, `;` and a leading `-` are the command's own, not the wrapper's.
        let out = sh(
            &skill,
            r##"printf '%s|' "it's" '$1' "$#"; echo done; exit 3"##,
        )
        .await?;
        assert_eq!(out["stdout"], "it's|$1|0|done\n", "{out}");
        assert_eq!(out["exit_code"], 3, "{out}");
        // `-x` is run as a command (not found), not taken as an option of the shell.
        let out = sh(&skill, "-x").await?;
        assert_eq!(out["exit_code"], 127, "{out}");
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn shell_memory_limit_makes_a_large_allocation_fail() -> anyhow::Result<()> {
        let mut config = shell_config(&["PATH", "HOME"], Duration::from_secs(60), None);
        config.memory_mb = Some(256);
        let skill = Shell::new(&config);

        // The control: a small allocation fits, so a failure below is the limit's doing.
        let small = sh(
            &skill,
            "python3 -c 'x = bytearray(16 * 1024 * 1024); print(len(x))'",
        )
        .await?;
        if small["exit_code"] == 127 {
            eprintln!("skipped: python3 is not on PATH, and nothing else here allocates on demand");
            return Ok(());
        }
        assert_eq!(small["exit_code"], 0, "{small}");
        assert_eq!(small["stdout"], "16777216\n", "{small}");

        let large = sh(
            &skill,
            "python3 -c 'x = bytearray(600 * 1024 * 1024); print(len(x))'",
        )
        .await?;
        assert_eq!(large["timed_out"], false, "{large}");
        assert_ne!(large["exit_code"], 0, "{large}");
        assert_eq!(large["stdout"], "", "{large}");
        assert!(
            large["stderr"]
                .as_str()
                .unwrap_or_default()
                .contains("MemoryError"),
            "{large}"
        );
        Ok(())
    }
}
