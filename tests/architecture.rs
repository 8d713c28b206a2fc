//! Architecture invariants that a test can check: the core crate imports no platform SDK.

use std::path::Path;

const PLATFORM_SDKS: &[&str] = &[
    "serenity",
    "teloxide",
    "lettre",
    "async_imap",
    "async-imap",
    "mail_parser",
    "mail-parser",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_imports_no_platform_sdk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 10, "found the core's sources");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for sdk in PLATFORM_SDKS {
            for pattern in [
                format!("use {sdk}"),
                format!("{sdk}::"),
                format!("extern crate {sdk}"),
            ] {
                assert!(
                    !text.contains(&pattern),
                    "{} uses the platform SDK `{sdk}`",
                    file.display()
                );
            }
        }
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let core_deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for sdk in PLATFORM_SDKS {
        assert!(
            !core_deps.contains(sdk),
            "the core crate depends on `{sdk}`"
        );
    }
}
