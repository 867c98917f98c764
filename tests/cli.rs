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

fn hotline_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hotline");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn migrate_creates_the_embedded_database_and_is_idempotent() {
    let dir = common::tempdir::TempDir::new("hotline-migrate");
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for _ in 0..2 {
        let out = hotline_with_stdin(&["migrate", "--data", data], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrated"));
    }
    assert!(dir.path().join("data/hotline.db").is_file());
}

#[test]
fn admin_create_reads_the_password_from_stdin_and_refuses_bad_input() {
    let dir = common::tempdir::TempDir::new("hotline-admin");
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let create = [
        "admin",
        "create",
        "--tenant",
        "clinic",
        "--username",
        "root",
    ];
    let with_data = |extra: &str| {
        let mut args = create.to_vec();
        args.extend(["--password-stdin", "--data", data]);
        hotline_with_stdin(&args, extra)
    };
    // No password: refused, nothing created.
    let out = with_data("");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no password"),
        "{out:?}"
    );
    // A password: created.
    let out = with_data("correct horse battery staple\n");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin root"));
    // The same user again: a clear error, not a second account.
    let out = with_data("another password\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{out:?}"
    );
}
