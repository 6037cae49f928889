//! R-REC-3: the retention run. Records due (see `domain::retention`) are
//! written to an archive file, then cleared in the live store, in batches:
//! each batch is archived and synced before its transaction clears it, so a
//! run stopped anywhere is resumed by running again (a record archived but
//! not cleared is archived again by the next run; one cleared is never
//! due again). Each cleared record gets its own event on its trail; the
//! run ends with an audit entry naming the archive by its SHA-256, which
//! is how an archive is later shown to be the one the run wrote.
//!
//! Archive lines (JSON): `{"type":"ticket","record":{...},"events":[...]}`
//! and `{"type":"inspection","record":{...},"events":[...]}`, the events
//! as stored, with their seals (R-REC-2), so the archive verifies on its own.
use crate::domain::retention::{self, clear_inspection};
use crate::domain::ticket::Ctx;
use crate::domain::{Caller, Policy, Role};
use crate::error::{AppError, AppResult};
use crate::service::Clock;
use crate::service::tickets::{EventActor, stored_event};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::entities::{audit_events, ticket_events};
use crate::storage::feed::{self, ChangeDraft};
use crate::storage::{Db, chain, inspections, retention as store, tickets, to_micros};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// The actor of a retention run on the trails.
pub const ACTOR: &str = "system:retention";

pub struct Retention {
    db: Db,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
}

/// What is due, or what a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub cutoff: DateTime<Utc>,
    pub tickets: u64,
    pub inspections: u64,
    /// The archive's SHA-256 (a run that wrote one).
    pub archive_sha256: Option<String>,
}

fn system() -> Caller {
    Caller {
        sub: ACTOR.into(),
        roles: vec![Role::Admin],
        unit: String::new(),
    }
}

fn io(path: &Path, e: std::io::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("{}: {e}", path.display()))
}

fn json<T: serde::Serialize>(x: &T) -> AppResult<serde_json::Value> {
    serde_json::to_value(x).map_err(|e| AppError::internal(anyhow::Error::from(e)))
}

fn line(kind: &str, record: serde_json::Value, events: serde_json::Value) -> String {
    serde_json::json!({ "type": kind, "record": record, "events": events }).to_string()
}

impl Retention {
    pub fn new(db: Db, policy: Arc<Policy>, clock: Arc<dyn Clock>) -> Retention {
        Retention { db, policy, clock }
    }

    fn cutoff(&self) -> DateTime<Utc> {
        retention::cutoff(self.clock.now(), self.policy.record_retention)
    }

    /// The dry run: what a run now would archive and clear.
    pub async fn due(&self) -> AppResult<Outcome> {
        let cutoff = self.cutoff();
        let (tickets, inspections) = store::count_due(self.db.reader(), cutoff).await?;
        Ok(Outcome {
            cutoff,
            tickets,
            inspections,
            archive_sha256: None,
        })
    }

    /// Archive to `archive` (a new file) and clear what is due, `batch`
    /// records per transaction.
    pub async fn run(&self, archive: &Path, batch: u64) -> AppResult<Outcome> {
        let cutoff = self.cutoff();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(archive)
            .map_err(|e| io(archive, e))?;
        let mut out = Outcome {
            cutoff,
            tickets: 0,
            inspections: 0,
            archive_sha256: None,
        };
        let mut after = None;
        loop {
            let due = store::due_tickets(self.db.reader(), cutoff, after.clone(), batch).await?;
            let Some(last) = due.last() else { break };
            after = Some((to_micros(last.last_event_at), last.id.to_string()));
            for t in &due {
                let events = store::ticket_trail(self.db.reader(), &t.id.to_string()).await?;
                let record = json(t)?;
                let events = json(&events)?;
                writeln!(file, "{}", line("ticket", record, events)).map_err(|e| io(archive, e))?;
            }
            file.sync_all().map_err(|e| io(archive, e))?;
            out.tickets += self
                .clear_tickets(due.iter().map(|t| t.id).collect())
                .await?;
        }
        let mut after = None;
        loop {
            let due =
                store::due_inspections(self.db.reader(), cutoff, after.clone(), batch).await?;
            let Some(last) = due.last() else { break };
            after = Some((
                last.finished_at.map(to_micros).unwrap_or_default(),
                last.id.to_string(),
            ));
            for v in &due {
                let events =
                    store::audit_trail(self.db.reader(), "inspection", &v.id.to_string()).await?;
                let record = json(v)?;
                let events = json(&events)?;
                writeln!(file, "{}", line("inspection", record, events))
                    .map_err(|e| io(archive, e))?;
            }
            file.sync_all().map_err(|e| io(archive, e))?;
            out.inspections += self
                .clear_inspections(due.iter().map(|v| v.id).collect())
                .await?;
        }
        drop(file);
        let bytes = std::fs::read(archive).map_err(|e| io(archive, e))?;
        let sha = format!("{:x}", Sha256::digest(&bytes));
        out.archive_sha256 = Some(sha.clone());
        self.audit_run(&out, archive).await?;
        Ok(out)
    }

    async fn clear_tickets(&self, ids: Vec<Uuid>) -> AppResult<u64> {
        let (policy, now) = (self.policy.clone(), self.clock.now());
        let cutoff = retention::cutoff(now, policy.record_retention);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let caller = system();
                    let ctx = Ctx {
                        policy: &policy,
                        caller: &caller,
                        now,
                    };
                    let (mut cleared, mut drafts) = (0, Vec::new());
                    for id in ids {
                        // Still due inside the transaction (not reopened meanwhile).
                        let Some(t) = tickets::get(tx, id).await? else {
                            continue;
                        };
                        if !retention::ticket_due(&t, cutoff) {
                            continue;
                        }
                        let change = t.without_personal_data(&ctx);
                        if !tickets::update_if_version(tx, &t, &change.ticket).await? {
                            continue;
                        }
                        let actor = EventActor {
                            sub: ACTOR.into(),
                            unit: String::new(),
                            device_id: None,
                            request_id: None,
                        };
                        let cause =
                            tickets::insert_event(tx, &stored_event(&change, actor, now)).await?;
                        drafts.push(ChangeDraft::ticket(&change.ticket, Some(&t), &cause));
                        cleared += 1;
                    }
                    Self::settle_feed(tx, drafts, now, policy.sync_retention).await?;
                    Ok(cleared)
                })
            })
            .await
    }

    async fn clear_inspections(&self, ids: Vec<Uuid>) -> AppResult<u64> {
        let (policy, now) = (self.policy.clone(), self.clock.now());
        let cutoff = retention::cutoff(now, policy.record_retention);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let caller = system();
                    let (mut cleared, mut drafts) = (0, Vec::new());
                    for id in ids {
                        let Some(v) = inspections::get(tx, id).await? else {
                            continue;
                        };
                        if !retention::inspection_due(&v, cutoff) {
                            continue;
                        }
                        let next = clear_inspection(&v, now);
                        if !inspections::update_if_version(tx, &next, v.version).await? {
                            continue;
                        }
                        let cause = audit::append(
                            tx,
                            AuditEntry {
                                entity_type: "inspection",
                                entity_id: id.to_string(),
                                entity_version: next.version,
                                kind: "PERSONAL_DATA_REMOVED",
                                caller: &caller,
                                role: Role::Admin.as_str(),
                                request_id: id,
                                device_id: None,
                                at: now,
                                details: serde_json::json!({ "retention": "R-REC-3" }),
                            },
                        )
                        .await?;
                        drafts.push(ChangeDraft::inspection(&next, &cause));
                        cleared += 1;
                    }
                    Self::settle_feed(tx, drafts, now, policy.sync_retention).await?;
                    Ok(cleared)
                })
            })
            .await
    }

    /// The cleared records' new states on the feed; the feed's older
    /// states of them (which hold the personal data) are superseded and
    /// long past the feed's retention, so compaction removes them now.
    async fn settle_feed(
        tx: &sea_orm::DatabaseTransaction,
        drafts: Vec<ChangeDraft>,
        now: DateTime<Utc>,
        sync_retention: chrono::Duration,
    ) -> AppResult<()> {
        if drafts.is_empty() {
            return Ok(());
        }
        feed::append(tx, drafts, now).await?;
        // After the append: the new states are what supersede the old.
        feed::compact(tx, now - sync_retention).await?;
        Ok(())
    }

    async fn audit_run(&self, out: &Outcome, archive: &Path) -> AppResult<()> {
        let (out, now) = (out.clone(), self.clock.now());
        let name = archive
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let caller = system();
                    let run = Uuid::new_v4();
                    audit::append(
                        tx,
                        AuditEntry {
                            entity_type: "retention_run",
                            entity_id: run.to_string(),
                            entity_version: 1,
                            kind: "RETENTION_RUN",
                            caller: &caller,
                            role: Role::Admin.as_str(),
                            request_id: run,
                            device_id: None,
                            at: now,
                            details: serde_json::json!({
                                "cutoff": out.cutoff,
                                "tickets": out.tickets,
                                "inspections": out.inspections,
                                "archive": name,
                                "archive_sha256": out.archive_sha256,
                            }),
                        },
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}

type Link = (Option<String>, Option<String>, String);

/// An archived trail's events as chain links.
fn links_of<M: serde::de::DeserializeOwned>(
    events: &serde_json::Value,
    link: impl Fn(&M) -> Link,
) -> Result<Vec<Link>, serde_json::Error> {
    let events: Vec<M> = serde_json::from_value(events.clone())?;
    Ok(events.iter().map(link).collect())
}

/// What an archive holds, once verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveCheck {
    pub tickets: u64,
    pub inspections: u64,
    pub events: u64,
    pub sha256: String,
}

/// Verify an archive on its own: every line parses, and every record's
/// archived events form an unbroken sealed chain (R-REC-2). Its SHA-256 is
/// returned, to compare with the run's audit entry.
pub fn verify_archive(path: &Path) -> AppResult<ArchiveCheck> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let mut check = ArchiveCheck {
        sha256: format!("{:x}", Sha256::digest(&bytes)),
        ..ArchiveCheck::default()
    };
    let bad = |n: usize, what: String| {
        AppError::internal(anyhow::anyhow!("{} line {n}: {what}", path.display()))
    };
    for (i, text) in String::from_utf8_lossy(&bytes).lines().enumerate() {
        let n = i + 1;
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(n, format!("not JSON: {e}")))?;
        // Each event as (prev, hash, content).
        let links = match v["type"].as_str() {
            Some("ticket") => {
                check.tickets += 1;
                links_of(&v["events"], |m: &ticket_events::Model| {
                    (
                        m.prev_hash.clone(),
                        m.hash.clone(),
                        chain::ticket_event_content(m),
                    )
                })
            }
            Some("inspection") => {
                check.inspections += 1;
                links_of(&v["events"], |m: &audit_events::Model| {
                    (
                        m.prev_hash.clone(),
                        m.hash.clone(),
                        chain::audit_event_content(m),
                    )
                })
            }
            other => return Err(bad(n, format!("unknown record type {other:?}"))),
        }
        .map_err(|e| bad(n, e.to_string()))?;
        // The same walk as `audit verify` and a listed trail.
        let mut walk = crate::domain::chain::Walk::default();
        for (prev, hash, content) in links {
            walk.step(prev.as_deref(), hash.as_deref(), &content)
                .map_err(|b| bad(n, format!("event chain broken: {b:?}")))?;
            check.events += 1;
        }
    }
    Ok(check)
}
