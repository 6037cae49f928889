//! Backups (issue 17): `fieldops backup --to FILE` copies the embedded
//! SQLite store while the server writes; `fieldops restore --from FILE`
//! puts the copy where a store is missing. The copy holds every write
//! acknowledged before the backup began, each whole, and serves; its audit
//! trail verifies against an anchor taken before the backup (R-REC-2). Both
//! commands run as an operator types them (the binary). The store here is
//! always SQLite, in both suites: the commands copy the embedded store
//! (PostgreSQL is backed up with pg_dump).
mod common;

use common::process::fieldops;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn sqlite_store(dir: &std::path::Path) -> Store {
    std::fs::create_dir_all(dir).unwrap();
    Store {
        url: format!("sqlite:{}", dir.join("fieldops.db").display()),
        pg_schema: None,
        dir: Some(dir.to_path_buf()),
    }
}

fn s(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_restores_whole() {
    let root = std::env::temp_dir().join(format!("fieldops-backup-{}", uuid::Uuid::new_v4()));
    let (live, restored_dir) = (root.join("live"), root.join("restored"));
    let file = root.join("fieldops-backup.db");
    let app = spawn_with("heating", sqlite_store(&live)).await;

    // Four writers create tickets until told to stop.
    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (stop, acked, mut d) = (stop.clone(), acked.clone(), app.dispatcher().await);
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                d.create_ticket(create_req("BUILDING_NO_HEAT"))
                    .await
                    .unwrap();
                acked.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while acked.load(Ordering::SeqCst) < 20 {
        tokio::task::yield_now().await;
    }
    // R-REC-2: an anchor taken during the writes, before the backup.
    let anchors = live.join("audit-anchors.jsonl");
    let (ok, out, err) = fieldops(vec![
        "audit".into(),
        "anchor".into(),
        "--data-dir".into(),
        s(&live),
    ])
    .await;
    assert!(ok, "anchor failed: {out}{err}");
    let before = acked.load(Ordering::SeqCst);
    let backup: Vec<String> = vec![
        "backup".into(),
        "--data-dir".into(),
        s(&live),
        "--to".into(),
        s(&file),
    ];
    let (ok, out, err) = fieldops(backup.clone()).await;
    assert!(ok, "backup failed: {out}{err}");
    assert!(out.contains("integrity ok"), "{out}");
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let total = acked.load(Ordering::SeqCst);
    // A backup never overwrites.
    let (ok, _, err) = fieldops(backup.clone()).await;
    assert!(!ok && err.contains("exists"), "{err}");
    app.stop().await;

    // Restore where no store is, and serve it.
    let restore = |dir: &std::path::Path| {
        vec![
            "restore".to_string(),
            "--data-dir".into(),
            s(dir),
            "--from".into(),
            s(&file),
        ]
    };
    let (ok, out, err) = fieldops(restore(&restored_dir)).await;
    assert!(ok, "restore failed: {out}{err}");
    // Never over a store that is there.
    let (ok, _, err) = fieldops(restore(&restored_dir)).await;
    assert!(!ok && err.contains("move it aside"), "{err}");
    // The restored trail verifies: every chain, and the live store's anchor.
    let (ok, out, err) = fieldops(vec![
        "audit".into(),
        "verify".into(),
        "--data-dir".into(),
        s(&restored_dir),
        "--anchors".into(),
        s(&anchors),
    ])
    .await;
    assert!(ok && out.contains("audit trail verified"), "{out}{err}");
    assert!(out.contains("2 anchor checks"), "{out}");

    let back = spawn_with("heating", sqlite_store(&restored_dir)).await;
    let (tickets, _) = all_tickets(&mut back.dispatcher().await).await;
    assert!(
        tickets.len() >= before && tickets.len() <= total,
        "{} tickets restored; {before} acknowledged before the backup, {total} in all",
        tickets.len()
    );
    // Each whole: the ticket and its intake event.
    for t in &tickets {
        let trail = events(&back, &t.id).await;
        assert_eq!(trail.len() as i64, t.version, "ticket {}", t.id);
    }
    // The restored store takes writes.
    back.dispatcher()
        .await
        .create_ticket(create_req("BUILDING_NO_HEAT"))
        .await
        .unwrap();
    back.stop().await;

    // PostgreSQL is pointed at its own tool.
    let (ok, _, err) = fieldops(vec![
        "backup".into(),
        "--database-url".into(),
        "postgres://postgres@127.0.0.1:5432/none".into(),
        "--to".into(),
        s(&root.join("pg.db")),
    ])
    .await;
    assert!(!ok && err.contains("pg_dump"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
