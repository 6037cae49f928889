//! Honest start-up (issue 16): every check (keys, port, database,
//! migrations) happens before "listening" is printed; a failure names the
//! address and says what it is ("Connection refused"), and the process
//! exits non-zero by itself; a database password is never printed.
mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret-word-xyz";

/// Run the binary with `args` to its end (killed after `limit`: a
/// liveness bound, not a speed check).
fn run(args: &[&str], data_dir: &std::path::Path, limit: Duration) -> (Output, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldops"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("FIELDOPS_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fieldops");
    let started = Instant::now();
    let mut killed = false;
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), killed)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fieldops-startup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_unreachable_postgres_is_named_refused_and_its_password_hidden() {
    let dir = temp_dir();
    // Port 1 on loopback: nothing listens there.
    let url = format!("postgres://fo:{PASSWORD}@127.0.0.1:1/fieldops");
    let (out, killed) = run(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &url],
        &dir,
        Duration::from_secs(30),
    );
    let (stdout, stderr) = text(&out);
    assert!(!killed, "it gave up by itself: {stderr}");
    assert!(!out.status.success());
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("127.0.0.1:1"),
        "names the address: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "says what happened: {stderr}"
    );
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_taken_port_is_named_before_listening() {
    let dir = temp_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let url = format!("sqlite:{}", dir.join("fieldops.db").display());
    let (out, killed) = run(
        &["serve", "--listen", &addr, "--database-url", &url],
        &dir,
        Duration::from_secs(30),
    );
    let (stdout, stderr) = text(&out);
    assert!(!killed && !out.status.success(), "{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(stderr.contains(&addr), "names the address: {stderr}");
    std::fs::remove_dir_all(dir).ok();
}

/// On PostgreSQL (CI): `migrate` and `serve` print the database URL with
/// its password masked, and nothing they log holds it.
#[tokio::test]
async fn a_database_password_is_never_printed() {
    if !is_postgres() {
        return; // needs a PostgreSQL URL (trust auth ignores the password)
    }
    let store = fresh_store().await;
    let schema = store.pg_schema.clone().unwrap();
    let (user_at_host, db) = store
        .url
        .split_once("://")
        .unwrap()
        .1
        .split_once('/')
        .unwrap();
    let user_host = user_at_host.replace('@', &format!(":{PASSWORD}@"));
    let url = format!("postgres://{user_host}/{db}?options=-c%20search_path%3D{schema}");
    let dir = temp_dir();
    let (out, killed) = run(
        &["migrate", "--database-url", &url],
        &dir,
        Duration::from_secs(60),
    );
    let (stdout, stderr) = text(&out);
    assert!(!killed && out.status.success(), "{stderr}");
    assert!(stdout.contains(":****@"), "{stdout}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));

    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldops"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .arg("--data-dir")
        .arg(&dir)
        .env("FIELDOPS_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .take_while(|l| !l.starts_with("Stop with"))
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("database:") && l.contains(":****@")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains(PASSWORD)), "{lines:?}");
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(
        !log.is_empty() && !log.contains(PASSWORD),
        "the debug log holds no password"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `--sqlite-synchronous` takes only the pragma's values: a typo is refused
/// by name before anything starts.
#[test]
fn a_bad_sqlite_synchronous_is_refused_with_its_values() {
    let dir = temp_dir();
    let (out, killed) = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sqlite-synchronous",
            "fulll",
        ],
        &dir,
        Duration::from_secs(30),
    );
    let (stdout, stderr) = text(&out);
    assert!(!killed && !out.status.success());
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("fulll") && stderr.contains("normal"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `token` never invents a secret: in a data dir the server has not used,
/// it says where the secret should be and how to get one; once the server
/// has made one there, it signs with it.
#[test]
fn token_signs_only_with_the_servers_secret() {
    let dir = temp_dir();
    let token = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_fieldops"))
            .args([
                "token",
                "--role",
                "dispatcher",
                "--unit",
                "hq",
                "--sub",
                "d1",
            ])
            .arg("--data-dir")
            .arg(dir)
            .env_remove("FIELDOPS_JWT_SECRET")
            .output()
            .unwrap()
    };
    let out = token(&dir);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success() && stdout.is_empty());
    assert!(
        stderr.contains("jwt-secret") && stderr.contains("fieldops serve"),
        "{stderr}"
    );
    assert!(!dir.join("jwt-secret").exists(), "no secret invented");

    // The server's first start makes the secret.
    let url = format!("sqlite:{}", dir.join("fieldops.db").display());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_fieldops"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .arg("--data-dir")
        .arg(&dir)
        .env_remove("FIELDOPS_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listening = BufReader::new(serve.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .any(|l| l.starts_with("fieldops listening on"));
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(listening);
    let out = token(&dir);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(text(&out).0.trim().split('.').count(), 3, "a JWT");
    std::fs::remove_dir_all(dir).ok();
}
