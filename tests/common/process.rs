//! The server as the release binary runs it (`fieldops serve`), in a child
//! process: for kill -9 and resource-limit tests.
use super::{Bearer, Client, SECRET, Store, token};
use fieldops::grpc::pb;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server binary on `store`, listening on a free port, with `args`
/// added and (when given) RLIMIT_NOFILE set to `nofile` (soft, hard); its
/// address.
pub fn start_binary(
    store: &Store,
    data_dir: &std::path::Path,
    args: &[&str],
    nofile: Option<(u64, u64)>,
) -> (Child, std::net::SocketAddr) {
    let (child, addr, lines) = spawn_binary(store, data_dir, args, nofile);
    // Keep reading (and dropping) its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// As `start_binary`, also serving its metrics on a free port: (server,
/// gRPC address, metrics address).
pub fn start_binary_with_metrics(
    store: &Store,
    data_dir: &std::path::Path,
) -> (Child, std::net::SocketAddr, std::net::SocketAddr) {
    let args = ["--metrics-listen", "127.0.0.1:0"];
    let (child, addr, mut lines) = spawn_binary(store, data_dir, &args, None);
    let metrics = loop {
        let line = lines
            .next()
            .expect("the server printed its metrics address")
            .unwrap();
        if let Some(url) = line.trim().strip_prefix("metrics:") {
            let url = url.trim();
            let host = url
                .trim_start_matches("http://")
                .trim_end_matches("/metrics");
            break host.parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr, metrics)
}

type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

fn spawn_binary(
    store: &Store,
    data_dir: &std::path::Path,
    args: &[&str],
    nofile: Option<(u64, u64)>,
) -> (Child, std::net::SocketAddr, Lines) {
    let url = match &store.pg_schema {
        Some(schema) => format!("{}?options=-c%20search_path%3D{schema}", store.url),
        None => store.url.clone(),
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fieldops"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("FIELDOPS_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some((soft, hard)) = nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; only the child calls it.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("start fieldops");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("fieldops listening on ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    (child, addr, lines)
}

/// A dispatcher's client of the server at `addr`, once it answers.
pub async fn dispatcher_at(addr: std::net::SocketAddr) -> Client {
    let bearer = format!(
        "Bearer {}",
        token("d1", &[fieldops::domain::Role::Dispatcher], "hq")
    );
    for _ in 0..400 {
        if let Ok(ch) = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            return pb::ticket_service_client::TicketServiceClient::with_interceptor(
                ch,
                Bearer(Some(bearer.parse().unwrap())),
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server at {addr} never answered");
}

/// CPU time (user + system) the process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// `fieldops <args>` (a one-shot command such as `backup` or `audit
/// verify`), to its end: (success, stdout, stderr).
pub async fn fieldops(args: Vec<String>) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_fieldops"))
            .args(&args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
