//! The command-line contract: `hotline --version`, `hotline check FILE...`.

mod common;

use std::process::Command;

fn hotline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .output()
        .expect("run hotline")
}

#[test]
fn version_prints_the_crate_version() {
    let out = hotline(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("hotline {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_accepts_the_shipped_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/hotline.yaml");
    let out = hotline(&["check", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn check_reports_file_line_column_and_exits_1() {
    let dir = common::tempdir::TempDir::new("hotline-check");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, common::TEST_CONFIG).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "sip:\n  listen: 127.0.0.1:5060\nhttp:\n  listen: not-an-address\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "numbers:\n  echo: [unclosed\n").unwrap();
    let out = hotline(&[
        "check",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("{}:4:11: http.listen", bad.display())),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:", broken.display())),
        "{text}"
    );
    let missing = dir.path().join("missing.yaml");
    let out = hotline(&["check", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read file"));
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = common::tempdir::TempDir::new("hotline-bad-serve");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "nonsense: 1\n").unwrap();
    let out = hotline(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));
}
