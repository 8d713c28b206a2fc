//! Integration tests of the `file.read`, `file.write` and `file.list` skills against a real
//! temporary workspace, with a directory beside it standing for "outside".

use std::path::{Path, PathBuf};

use openmog::config::FileSkillConfig;
use openmog::skills::{Files, Skill, SkillContext, SkillError};
use serde_json::{Value, json};
use tempfile::TempDir;

fn ctx() -> SkillContext {
    SkillContext::detached("t/1/1")
}

/// A workspace `ws/` and, beside it in the same temporary directory, what lies outside.
struct Fixture {
    _root: TempDir,
    workspace: PathBuf,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> anyhow::Result<Fixture> {
        let root = tempfile::tempdir()?;
        let workspace = root.path().join("ws");
        let outside = root.path().join("outside");
        std::fs::create_dir(&workspace)?;
        std::fs::create_dir(&outside)?;
        std::fs::write(outside.join("secret.txt"), "outside secret")?;
        Ok(Fixture {
            _root: root,
            workspace,
            outside,
        })
    }

    fn config(&self) -> FileSkillConfig {
        FileSkillConfig {
            enabled: true,
            workspace: Some(self.workspace.clone()),
            ..FileSkillConfig::default()
        }
    }

    fn files(&self) -> anyhow::Result<Files> {
        Ok(Files::new(&self.config())?)
    }

    /// The parent of the workspace, where `../x` would land.
    fn parent(&self) -> &Path {
        self.workspace.parent().expect("the workspace has a parent")
    }
}

async fn run(skill: &dyn Skill, args: Value) -> Result<Value, SkillError> {
    skill.run(args, ctx()).await
}

fn paths(listing: &Value) -> Vec<String> {
    listing["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn entry<'a>(listing: &'a Value, path: &str) -> Option<&'a Value> {
    listing["entries"]
        .as_array()?
        .iter()
        .find(|e| e["path"] == path)
}

#[tokio::test]
async fn write_read_and_list_round_trip() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    assert_eq!(files.read.name(), "file.read");
    assert_eq!(files.write.name(), "file.write");
    assert_eq!(files.list.name(), "file.list");

    let out = run(
        &files.write,
        json!({ "path": "notes/today.txt", "content": "héllo\n", "create_dirs": true }),
    )
    .await?;
    assert_eq!(out["path"], "notes/today.txt");
    assert_eq!(out["bytes"], 7);
    assert_eq!(out["mode"], "create");
    assert_eq!(
        std::fs::read_to_string(fx.workspace.join("notes").join("today.txt"))?,
        "héllo\n"
    );

    let out = run(&files.read, json!({ "path": "./notes/today.txt" })).await?;
    assert_eq!(out["path"], "notes/today.txt");
    assert_eq!(out["content"], "héllo\n");
    assert_eq!(out["bytes"], 7);
    assert_eq!(out["size"], 7);
    assert_eq!(out["truncated"], false);

    std::fs::write(fx.workspace.join("top.txt"), "abc")?;
    let flat = run(&files.list, json!({})).await?;
    assert_eq!(flat["path"], ".");
    assert_eq!(paths(&flat), ["notes", "top.txt"]);
    assert_eq!(flat["truncated"], false);

    let deep = run(&files.list, json!({ "recursive": true })).await?;
    assert_eq!(paths(&deep), ["notes", "notes/today.txt", "top.txt"]);
    let today = entry(&deep, "notes/today.txt").expect("listed");
    assert_eq!(today["kind"], "file");
    assert_eq!(today["bytes"], 7);
    assert_eq!(entry(&deep, "notes").expect("listed")["kind"], "dir");

    let sub = run(&files.list, json!({ "path": "notes" })).await?;
    assert_eq!(paths(&sub), ["notes/today.txt"]);
    Ok(())
}

#[tokio::test]
async fn create_mode_refuses_an_existing_file_and_overwrite_replaces_it() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    run(&files.write, json!({ "path": "a.txt", "content": "one" })).await?;

    let again = run(&files.write, json!({ "path": "a.txt", "content": "two" })).await;
    match &again {
        Err(SkillError::Failed(message)) => {
            assert!(message.contains("a.txt"), "{message}");
            assert!(message.contains("already exists"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(fx.workspace.join("a.txt"))?, "one");

    run(
        &files.write,
        json!({ "path": "a.txt", "content": "two", "mode": "overwrite" }),
    )
    .await?;
    assert_eq!(std::fs::read_to_string(fx.workspace.join("a.txt"))?, "two");
    Ok(())
}

#[tokio::test]
async fn append_adds_to_the_end_and_creates_a_missing_file() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    let out = run(
        &files.write,
        json!({ "path": "log.txt", "content": "x", "mode": "append" }),
    )
    .await?;
    assert_eq!(out["mode"], "append");
    run(
        &files.write,
        json!({ "path": "log.txt", "content": "y\n", "mode": "append" }),
    )
    .await?;
    assert_eq!(
        std::fs::read_to_string(fx.workspace.join("log.txt"))?,
        "xy\n"
    );
    Ok(())
}

#[tokio::test]
async fn malformed_arguments_are_invalid() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    let cases: [(&dyn Skill, Value); 8] = [
        (&files.read, json!({})),
        (&files.read, json!({ "path": 3 })),
        (&files.read, json!({ "path": "." })),
        (&files.read, json!({ "path": "a", "max_bytes": -1 })),
        (&files.write, json!({ "path": "a" })),
        (
            &files.write,
            json!({ "path": "a", "content": "x", "mode": "replace" }),
        ),
        (
            &files.write,
            json!({ "path": "a", "content": "x", "create_dirs": "yes" }),
        ),
        (&files.list, json!({ "recursive": "yes" })),
    ];
    for (skill, args) in cases {
        let result = run(skill, args.clone()).await;
        assert!(
            matches!(result, Err(SkillError::InvalidArgs(_))),
            "{} {args}: {result:?}",
            skill.name()
        );
    }
    assert!(!fx.workspace.join("a").exists());
    Ok(())
}

#[tokio::test]
async fn paths_that_leave_the_workspace_are_refused() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    let outside_secret = fx.outside.join("secret.txt");
    let absolute = outside_secret.to_string_lossy().into_owned();
    for path in [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "../outside/secret.txt",
        absolute.as_str(),
    ] {
        let read = run(&files.read, json!({ "path": path })).await;
        assert!(
            matches!(read, Err(SkillError::Refused(_))),
            "read {path}: {read:?}"
        );
        for mode in ["create", "overwrite", "append"] {
            let write = run(
                &files.write,
                json!({ "path": path, "content": "pwned", "mode": mode, "create_dirs": true }),
            )
            .await;
            assert!(
                matches!(write, Err(SkillError::Refused(_))),
                "write {path} ({mode}): {write:?}"
            );
        }
        let list = run(&files.list, json!({ "path": path })).await;
        assert!(
            matches!(list, Err(SkillError::Refused(_))),
            "list {path}: {list:?}"
        );
    }
    assert!(!fx.parent().join("x").exists(), "`../x` was written");
    assert_eq!(std::fs::read_to_string(&outside_secret)?, "outside secret");
    let refused = run(&files.list, json!({ "path": ".." })).await;
    assert!(
        matches!(refused, Err(SkillError::Refused(_))),
        "{refused:?}"
    );
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_to_a_file_outside_is_neither_read_nor_written() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    let outside_secret = fx.outside.join("secret.txt");
    std::os::unix::fs::symlink(&outside_secret, fx.workspace.join("link.txt"))?;

    let read = run(&files.read, json!({ "path": "link.txt" })).await;
    match &read {
        Err(SkillError::Refused(message)) => {
            assert!(message.contains("link.txt"), "{message}");
            assert!(!message.contains("outside secret"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    for mode in ["create", "overwrite", "append"] {
        let write = run(
            &files.write,
            json!({ "path": "link.txt", "content": "pwned", "mode": mode }),
        )
        .await;
        assert!(
            matches!(write, Err(SkillError::Refused(_))),
            "{mode}: {write:?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside_secret)?, "outside secret");
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_directory_is_never_entered() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    std::fs::create_dir(fx.workspace.join("sub"))?;
    std::fs::write(fx.workspace.join("sub").join("real.txt"), "inside")?;
    std::os::unix::fs::symlink(&fx.outside, fx.workspace.join("sub").join("escape"))?;

    let listing = run(&files.list, json!({ "recursive": true })).await?;
    assert_eq!(paths(&listing), ["sub", "sub/escape", "sub/real.txt"]);
    let link = entry(&listing, "sub/escape").expect("listed");
    assert_eq!(link["kind"], "symlink");
    assert_eq!(link["bytes"], 0);

    for path in ["sub/escape", "sub/escape/"] {
        let list = run(&files.list, json!({ "path": path, "recursive": true })).await;
        assert!(
            matches!(list, Err(SkillError::Refused(_))),
            "{path}: {list:?}"
        );
    }
    let read = run(&files.read, json!({ "path": "sub/escape/secret.txt" })).await;
    assert!(matches!(read, Err(SkillError::Refused(_))), "{read:?}");
    let write = run(
        &files.write,
        json!({ "path": "sub/escape/new/planted.txt", "content": "x", "create_dirs": true }),
    )
    .await;
    assert!(matches!(write, Err(SkillError::Refused(_))), "{write:?}");
    assert!(
        !fx.outside.join("new").exists(),
        "a directory was created outside"
    );
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_that_stays_inside_is_refused_too() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    std::fs::write(fx.workspace.join("target.txt"), "inside")?;
    std::os::unix::fs::symlink("target.txt", fx.workspace.join("alias.txt"))?;
    let read = run(&files.read, json!({ "path": "alias.txt" })).await;
    assert!(matches!(read, Err(SkillError::Refused(_))), "{read:?}");
    let read = run(&files.read, json!({ "path": "target.txt" })).await?;
    assert_eq!(read["content"], "inside");
    Ok(())
}

#[tokio::test]
async fn reads_are_cut_at_max_read_bytes() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = Files::new(&FileSkillConfig {
        max_read_bytes: 10,
        ..fx.config()
    })?;
    std::fs::write(fx.workspace.join("big.txt"), "0123456789abcdef")?;
    std::fs::write(fx.workspace.join("small.txt"), "0123456789")?;

    let out = run(&files.read, json!({ "path": "big.txt" })).await?;
    assert_eq!(out["content"], "0123456789");
    assert_eq!(out["bytes"], 10);
    assert_eq!(out["size"], 16);
    assert_eq!(out["truncated"], true);

    // Exactly at the cap is not truncated.
    let out = run(&files.read, json!({ "path": "small.txt" })).await?;
    assert_eq!(out["content"], "0123456789");
    assert_eq!(out["truncated"], false);

    // `max_bytes` can lower the cap but never raise it.
    let out = run(&files.read, json!({ "path": "big.txt", "max_bytes": 4 })).await?;
    assert_eq!(out["content"], "0123");
    assert_eq!(out["truncated"], true);
    let out = run(&files.read, json!({ "path": "big.txt", "max_bytes": 1000 })).await?;
    assert_eq!(out["bytes"], 10);
    assert_eq!(out["truncated"], true);
    Ok(())
}

#[tokio::test]
async fn writes_over_max_write_bytes_are_refused_whole() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = Files::new(&FileSkillConfig {
        max_write_bytes: 10,
        ..fx.config()
    })?;
    let too_big = run(
        &files.write,
        json!({ "path": "big.txt", "content": "0123456789a" }),
    )
    .await;
    assert!(
        matches!(too_big, Err(SkillError::Refused(_))),
        "{too_big:?}"
    );
    assert!(!fx.workspace.join("big.txt").exists());

    run(
        &files.write,
        json!({ "path": "big.txt", "content": "0123456789" }),
    )
    .await?;
    let appended = run(
        &files.write,
        json!({ "path": "big.txt", "content": "0123456789a", "mode": "append" }),
    )
    .await;
    assert!(
        matches!(appended, Err(SkillError::Refused(_))),
        "{appended:?}"
    );
    assert_eq!(
        std::fs::read_to_string(fx.workspace.join("big.txt"))?,
        "0123456789"
    );
    Ok(())
}

#[tokio::test]
async fn listings_stop_at_max_entries() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = Files::new(&FileSkillConfig {
        max_entries: 3,
        ..fx.config()
    })?;
    for name in ["a", "b", "c", "d", "e"] {
        std::fs::write(fx.workspace.join(name), name)?;
    }
    let listing = run(&files.list, json!({})).await?;
    assert_eq!(paths(&listing), ["a", "b", "c"]);
    assert_eq!(listing["truncated"], true);

    std::fs::remove_file(fx.workspace.join("d"))?;
    std::fs::remove_file(fx.workspace.join("e"))?;
    let listing = run(&files.list, json!({})).await?;
    assert_eq!(paths(&listing), ["a", "b", "c"]);
    assert_eq!(listing["truncated"], false);
    Ok(())
}

#[tokio::test]
async fn reading_a_directory_or_a_missing_file_fails_with_its_path() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let files = fx.files()?;
    std::fs::create_dir(fx.workspace.join("dir"))?;
    for path in ["dir", "missing.txt"] {
        match run(&files.read, json!({ "path": path })).await {
            Err(SkillError::Failed(message)) => assert!(message.contains(path), "{message}"),
            other => panic!("{path}: expected a failure, got {other:?}"),
        }
    }
    let write = run(
        &files.write,
        json!({ "path": "no/such/dir.txt", "content": "x" }),
    )
    .await;
    match write {
        Err(SkillError::Failed(message)) => assert!(message.contains("create_dirs"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    Ok(())
}

#[test]
fn the_workspace_must_be_set_and_exist() -> anyhow::Result<()> {
    let fx = Fixture::new()?;
    let unset = Files::new(&FileSkillConfig {
        workspace: None,
        ..fx.config()
    });
    assert!(matches!(unset, Err(SkillError::Failed(_))), "{unset:?}");

    match Files::new(&FileSkillConfig {
        workspace: Some(fx.workspace.join("not-there")),
        ..fx.config()
    }) {
        Err(SkillError::Failed(message)) => {
            assert!(message.contains("not-there"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }

    let a_file = fx.outside.join("secret.txt");
    let not_a_dir = Files::new(&FileSkillConfig {
        workspace: Some(a_file),
        ..fx.config()
    });
    assert!(
        matches!(not_a_dir, Err(SkillError::Failed(_))),
        "{not_a_dir:?}"
    );
    Ok(())
}
