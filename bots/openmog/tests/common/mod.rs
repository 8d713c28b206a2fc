//! Running the `openmog` binary in tests: one-shot commands, `openmog run` in the
//! background with its log in a file, and stopping it as a service manager does.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs `openmog --config bot.toml ARGS` in `dir` to completion with `env` set and `stdin`
/// fed; returns whether it succeeded and its stdout followed by its stderr.
pub fn openmog(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_openmog"))
        .current_dir(dir)
        .args(["--config", "bot.toml"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `openmog --config bot.toml run` in `dir`, its output going to `log`.
pub fn run(dir: &Path, log: &Path, env: &[(&str, &str)]) -> Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_openmog"))
        .current_dir(dir)
        .args(["--config", "bot.toml", "run"])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// Sends SIGTERM (where there is one) and waits up to `patience` for the exit; kills it
/// after that. Returns whether it exited successfully on its own.
pub fn terminate(child: &mut Child, patience: Duration) -> bool {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
