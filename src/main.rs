use anyhow::Context;
use clap::Parser;
use fieldops::config::{AuditArgs, AuditCommand, Cli, Command, RetentionCommand};
use fieldops::{app, auth, storage, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Flushes the exported traces when main returns.
    let _telemetry = match telemetry::init(cli.log_json, cli.otlp_endpoint.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            // Every check before "listening": policy and keys (config), the
            // port, the database and its migrations (build).
            let config = args.config()?;
            let wanted = config.net.max_client_connections as u64 + OTHER_FILES;
            match raise_open_files_limit() {
                Ok(open) if open < wanted => tracing::warn!(
                    open_files = open,
                    max_client_connections = config.net.max_client_connections,
                    "the open-files limit caps connections below --max-client-connections; \
                     raise the hard limit (ulimit -Hn, or LimitNOFILE in a systemd unit)"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-files limit"),
            }
            let shutdown = shutdown_signal()?;
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            let addr = listener.local_addr()?;
            let db_url = storage::redact_url(&config.db.url);
            let (policy, timezone, units) = (
                config.policy.profile.clone(),
                config.timezone,
                config.units.join(", "),
            );
            let (transport, scheme) = if config.edge.tls.is_some() {
                ("TLS", "https")
            } else {
                ("plaintext", "http")
            };
            let console = config.edge.console;
            let server = app::App::build(config).await?;
            println!("fieldops listening on {addr} (gRPC and grpc-web, {transport})");
            println!("  database: {db_url}");
            println!("  policy:   {policy} (time zone {timezone})");
            println!("  units:    {units}");
            if console {
                println!("  console:  {scheme}://{addr}/ (sign in with a token)");
            }
            if let Some(m) = server.handles().metrics_addr {
                println!("  metrics:  http://{m}/metrics");
            }
            println!("Get a token (in another terminal, same directory):");
            println!("  cargo run --release -- token --role dispatcher --unit north --sub d1");
            println!("Stop with Ctrl-C.");
            server.serve(listener, shutdown).await
        }
        Command::Migrate(store) => {
            let settings = store.db_settings()?;
            let db = storage::Db::connect(&settings).await?;
            storage::migrate(&db, &settings).await?;
            db.close().await;
            println!(
                "migrations applied to {}",
                storage::redact_url(&settings.url)
            );
            Ok(())
        }
        Command::Backup(args) => {
            let url = args.store.db_settings()?.url;
            let held = storage::backup::backup(&url, &args.to).await?;
            println!("backup written to {} (integrity ok)", args.to.display());
            println!("  {held}");
            Ok(())
        }
        Command::Restore(args) => {
            let url = args.store.db_settings()?.url;
            let held = storage::backup::restore(&args.from, &url).await?;
            println!(
                "{} restored to {} (integrity ok)",
                args.from.display(),
                storage::redact_url(&url)
            );
            println!("  {held}");
            Ok(())
        }
        Command::Audit(command) => audit(command).await,
        Command::Retention(command) => retention(command).await,
        Command::Token(args) => {
            anyhow::ensure!(
                args.jwt.jwt_public_key.is_none() && args.jwt.jwt_jwks.is_none(),
                "the server checks tokens with a public key: get tokens from your identity provider"
            );
            let secret = args.jwt.existing_secret(&args.data_dir)?;
            let issuer = auth::Issuer::new(&secret, &args.jwt.jwt_issuer, &args.jwt.jwt_audience);
            let ttl = chrono::Duration::from_std(args.ttl)?;
            println!("{}", issuer.issue(&args.sub, &args.roles, &args.unit, ttl)?);
            Ok(())
        }
    }
}

/// `fieldops audit ...` (R-REC-2). Verification may read every event of
/// five years: no request-sized bound on its reads.
async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    use fieldops::service::trail::{AnchorFile, take_anchor};
    let open = |args: &AuditArgs| -> anyhow::Result<_> {
        let mut settings = args.store.db_settings()?;
        let hour = std::time::Duration::from_secs(3600);
        settings.timeouts.transaction = hour;
        Ok((settings, AnchorFile::new(args.anchor_file())))
    };
    match command {
        AuditCommand::Verify(args) => {
            let (settings, file) = open(&args)?;
            let anchors = file.read()?;
            let db = storage::Db::connect(&settings).await?;
            let report = storage::chain::verify(&db, &anchors).await;
            db.close().await;
            let report = report?;
            println!(
                "{} events in {} chains ({} from before the chain existed); {} anchor checks from {}",
                report.events,
                report.chains,
                report.unsealed,
                report.anchors_checked,
                file.path().display()
            );
            if anchors.is_empty() {
                println!("  no anchors: a removed tail or a whole removed chain cannot be seen");
            }
            for g in &report.missing_guards {
                println!("  MISSING append-only trigger: {g}");
            }
            for f in &report.findings {
                println!("  BROKEN {f}");
            }
            anyhow::ensure!(
                report.clean(),
                "the audit trail does not verify: {} broken, {} triggers missing",
                report.findings.len(),
                report.missing_guards.len()
            );
            println!("audit trail verified");
            Ok(())
        }
        AuditCommand::Anchor(args) => {
            let (settings, file) = open(&args)?;
            let db = storage::Db::connect(&settings).await?;
            let anchor = take_anchor(&db, &file, chrono::Utc::now()).await;
            db.close().await;
            let anchor = anchor?;
            for t in &anchor.tables {
                println!(
                    "{}: {} events up to {}, digest {}",
                    t.table, t.count, t.up_to, t.digest
                );
            }
            println!("anchor appended to {}", file.path().display());
            Ok(())
        }
        AuditCommand::ReinstateTriggers(args) => {
            let (settings, _) = open(&args)?;
            let db = storage::Db::connect(&settings).await?;
            let done = storage::chain::reinstate_guards(&db).await;
            db.close().await;
            let done = done?;
            if done.is_empty() {
                println!("every append-only trigger is in place");
            } else {
                tracing::warn!(triggers = %done.join(", "), "append-only triggers reinstated");
                println!("reinstated: {}", done.join(", "));
            }
            Ok(())
        }
    }
}

/// `fieldops retention ...` (R-REC-3).
async fn retention(command: RetentionCommand) -> anyhow::Result<()> {
    use fieldops::service::retention::{Retention, verify_archive};
    let args = match command {
        RetentionCommand::VerifyArchive { archive } => {
            let c = verify_archive(&archive)?;
            println!(
                "{}: {} tickets and {} visits, {} sealed events, every chain intact",
                archive.display(),
                c.tickets,
                c.inspections,
                c.events
            );
            println!(
                "  sha256 {} (compare with the run's RETENTION_RUN audit entry)",
                c.sha256
            );
            return Ok(());
        }
        RetentionCommand::Run(args) => args,
    };
    let policy = std::sync::Arc::new(args.policy()?);
    let mut settings = args.store.db_settings()?;
    settings.timeouts.transaction = std::time::Duration::from_secs(600);
    let db = storage::Db::connect(&settings).await?;
    storage::migrate(&db, &settings).await?;
    let run = Retention::new(
        db.clone(),
        policy,
        std::sync::Arc::new(fieldops::service::SystemClock),
    );
    let result = if args.dry_run {
        run.due().await.map(|due| {
            println!(
                "dry run: {} tickets and {} visits finished before {} would be archived and cleared",
                due.tickets, due.inspections, due.cutoff
            );
        })
    } else {
        let archive = match &args.archive {
            Some(a) => a.clone(),
            None => {
                let dir = args.store.data_dir.join("archive");
                std::fs::create_dir_all(&dir)?;
                dir.join(format!(
                    "retention-{}.jsonl",
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                ))
            }
        };
        run.run(&archive, args.batch.max(1)).await.map(|out| {
            println!(
                "{} tickets and {} visits finished before {} archived to {} and cleared",
                out.tickets,
                out.inspections,
                out.cutoff,
                archive.display()
            );
            println!(
                "  archive sha256 {}",
                out.archive_sha256.unwrap_or_default()
            );
        })
    };
    db.close().await;
    Ok(result?)
}

/// Descriptors a server needs beside its client connections: the listener,
/// database connections and files, the metrics listener, the runtime's own.
const OTHER_FILES: u64 = 64;

/// Raises the soft RLIMIT_NOFILE to the hard limit, as most servers do:
/// each connection holds a descriptor, and the common soft default of 1,024
/// would cap the default 10,000 connections (--max-client-connections) at
/// about a thousand handhelds. Returns the soft limit now in force. Linux
/// only: there the hard limit never exceeds what the kernel allows, so the
/// raise cannot be refused; elsewhere (macOS: an unlimited hard limit that
/// a soft limit may not take) the limit is left as the operator set it.
#[cfg(unix)]
fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if cfg!(target_os = "linux") && limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    #[allow(clippy::useless_conversion)] // rlim_t is 32 bits on some targets
    Ok(u64::from(limit.rlim_cur))
}

#[cfg(not(unix))]
fn raise_open_files_limit() -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed now,
/// before the server starts, so a signal during start-up is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutdown requested; finishing in-flight calls");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown requested; finishing in-flight calls");
        })
    }
}
