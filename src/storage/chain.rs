//! R-REC-2 in the database: sealing each audit event in its writing
//! transaction, verifying every chain and anchor, taking anchors, and the
//! append-only guards. What a seal and an anchor are is `domain::chain`.
//!
//! A chain's order is its events' sequence numbers. Its writers take turns
//! on the audited thing's own row: every ticket event follows the ticket's
//! version-checked update (or its insert), and the general trail takes an
//! advisory lock on the entity (PostgreSQL; SQLite has one writer), so the
//! previous hash read here is the chain's head until COMMIT.
use super::entities::{audit_events, ticket_events};
use super::{Db, db_err};
use crate::domain::chain::{self, Anchor, Break, Rolling, TableAnchor, Walk};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

pub const TICKET_EVENTS: &str = "ticket_events";
pub const AUDIT_EVENTS: &str = "audit_events";

/// Rows read per query while verifying or anchoring.
const BATCH: u64 = 5_000;

/// A ticket event's canonical content: every stored column but the
/// sequence number (given by the database after sealing) and the seal.
pub fn ticket_event_content(m: &ticket_events::Model) -> String {
    serde_json::json!([
        m.ticket_id,
        m.ticket_version,
        m.kind,
        m.actor_sub,
        m.actor_role,
        m.actor_unit,
        m.device_id,
        m.request_id,
        m.occurred_at,
        m.effective_at,
        m.received_at,
        m.time_untrusted,
        m.from_state,
        m.to_state,
        m.details,
    ])
    .to_string()
}

/// An audit event's canonical content (as for ticket events).
pub fn audit_event_content(m: &audit_events::Model) -> String {
    serde_json::json!([
        m.entity_type,
        m.entity_id,
        m.entity_version,
        m.kind,
        m.actor_sub,
        m.actor_role,
        m.actor_unit,
        m.device_id,
        m.request_id,
        m.received_at,
        m.details,
    ])
    .to_string()
}

/// Where a ticket's chain stands: the hash of its last event, the previous
/// hash of the next event to seal (None: no event, or one from before
/// sealing); or, with `up_to`, the hash of its last *sealed* event up to
/// that sequence number, where a listed page of the trail starts checking
/// (a walk over the whole trail carries the last seal over unsealed
/// events, so a page must too, or stripped seals would pass for events from
/// before sealing).
pub async fn ticket_head<C: ConnectionTrait>(
    db: &C,
    ticket_id: &str,
    up_to: Option<i64>,
) -> AppResult<Option<String>> {
    let mut q = ticket_events::Entity::find()
        .select_only()
        .column(ticket_events::Column::Hash)
        .filter(ticket_events::Column::TicketId.eq(ticket_id));
    if let Some(up_to) = up_to {
        q = q
            .filter(ticket_events::Column::Sequence.lte(up_to))
            .filter(ticket_events::Column::Hash.is_not_null());
    }
    Ok(q.order_by_desc(ticket_events::Column::Sequence)
        .limit(1)
        .into_tuple::<Option<String>>()
        .one(db)
        .await
        .map_err(db_err)?
        .flatten())
}

/// Seal a new ticket event: set its previous hash and its hash.
pub async fn seal_ticket_event<C: ConnectionTrait>(
    db: &C,
    m: &mut ticket_events::Model,
) -> AppResult<()> {
    m.prev_hash = ticket_head(db, &m.ticket_id, None).await?;
    m.hash = Some(chain::seal(
        m.prev_hash.as_deref(),
        &ticket_event_content(m),
    ));
    Ok(())
}

/// Seal a new entry of the general trail.
pub async fn seal_audit_event<C: ConnectionTrait>(
    db: &C,
    m: &mut audit_events::Model,
) -> AppResult<()> {
    super::advisory_lock(db, &format!("audit:{}:{}", m.entity_type, m.entity_id)).await?;
    let prev = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::Hash)
        .filter(audit_events::Column::EntityType.eq(&m.entity_type))
        .filter(audit_events::Column::EntityId.eq(&m.entity_id))
        .order_by_desc(audit_events::Column::Sequence)
        .limit(1)
        .into_tuple::<Option<String>>()
        .one(db)
        .await
        .map_err(db_err)?
        .flatten();
    m.prev_hash = prev;
    m.hash = Some(chain::seal(m.prev_hash.as_deref(), &audit_event_content(m)));
    Ok(())
}

/// One stored event, as verification sees it.
struct Row {
    sequence: i64,
    chain: String,
    prev_hash: Option<String>,
    hash: Option<String>,
    content: String,
}

impl From<ticket_events::Model> for Row {
    fn from(m: ticket_events::Model) -> Row {
        Row {
            sequence: m.sequence,
            chain: format!("ticket {}", m.ticket_id),
            content: ticket_event_content(&m),
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

impl From<audit_events::Model> for Row {
    fn from(m: audit_events::Model) -> Row {
        Row {
            sequence: m.sequence,
            chain: format!("{} {}", m.entity_type, m.entity_id),
            content: audit_event_content(&m),
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// Where a table is read from: the next batch of rows after a position,
/// in chain order (chain, sequence) or in sequence order.
#[derive(Clone, Copy)]
enum Table {
    TicketEvents,
    AuditEvents,
}

impl Table {
    const ALL: [Table; 2] = [Table::TicketEvents, Table::AuditEvents];

    fn name(self) -> &'static str {
        match self {
            Table::TicketEvents => TICKET_EVENTS,
            Table::AuditEvents => AUDIT_EVENTS,
        }
    }

    /// Rows after `after` (the last row's chain key and sequence), ordered
    /// by chain then sequence.
    async fn by_chain<C: ConnectionTrait>(
        self,
        db: &C,
        after: Option<(&[String], i64)>,
    ) -> AppResult<(Vec<Row>, Option<(Vec<String>, i64)>)> {
        match self {
            Table::TicketEvents => {
                use ticket_events::Column as C;
                let mut q = ticket_events::Entity::find()
                    .order_by_asc(C::TicketId)
                    .order_by_asc(C::Sequence);
                if let Some((key, seq)) = after {
                    q = q.filter(
                        Condition::any().add(C::TicketId.gt(&key[0])).add(
                            Condition::all()
                                .add(C::TicketId.eq(&key[0]))
                                .add(C::Sequence.gt(seq)),
                        ),
                    );
                }
                let rows = q.limit(BATCH).all(db).await.map_err(db_err)?;
                let last = rows.last().map(|m| (vec![m.ticket_id.clone()], m.sequence));
                Ok((rows.into_iter().map(Row::from).collect(), last))
            }
            Table::AuditEvents => {
                use audit_events::Column as C;
                let mut q = audit_events::Entity::find()
                    .order_by_asc(C::EntityType)
                    .order_by_asc(C::EntityId)
                    .order_by_asc(C::Sequence);
                if let Some((key, seq)) = after {
                    q = q.filter(
                        Condition::any()
                            .add(C::EntityType.gt(&key[0]))
                            .add(
                                Condition::all()
                                    .add(C::EntityType.eq(&key[0]))
                                    .add(C::EntityId.gt(&key[1])),
                            )
                            .add(
                                Condition::all()
                                    .add(C::EntityType.eq(&key[0]))
                                    .add(C::EntityId.eq(&key[1]))
                                    .add(C::Sequence.gt(seq)),
                            ),
                    );
                }
                let rows = q.limit(BATCH).all(db).await.map_err(db_err)?;
                let last = rows
                    .last()
                    .map(|m| (vec![m.entity_type.clone(), m.entity_id.clone()], m.sequence));
                Ok((rows.into_iter().map(Row::from).collect(), last))
            }
        }
    }

    /// Rows with a sequence number in (`after`, `up_to`], in sequence order.
    async fn by_sequence<C: ConnectionTrait>(
        self,
        db: &C,
        after: i64,
        up_to: i64,
    ) -> AppResult<Vec<Row>> {
        // The same query on either table: its sequence range, in order.
        macro_rules! range {
            ($entity:ident) => {
                $entity::Entity::find()
                    .filter($entity::Column::Sequence.gt(after))
                    .filter($entity::Column::Sequence.lte(up_to))
                    .order_by_asc($entity::Column::Sequence)
                    .limit(BATCH)
                    .all(db)
                    .await
                    .map_err(db_err)?
                    .into_iter()
                    .map(Row::from)
                    .collect()
            };
        }
        Ok(match self {
            Table::TicketEvents => range!(ticket_events),
            Table::AuditEvents => range!(audit_events),
        })
    }

    /// Fold the rows in (`after`, `up_to`] into `rolling`; the last
    /// sequence number folded.
    async fn fold<C: ConnectionTrait>(
        self,
        db: &C,
        rolling: &mut Rolling,
        mut after: i64,
        up_to: i64,
    ) -> AppResult<i64> {
        loop {
            let rows = self.by_sequence(db, after, up_to).await?;
            let Some(last) = rows.last().map(|r| r.sequence) else {
                return Ok(after);
            };
            for r in &rows {
                rolling.push(&chain::anchored_hash(r.hash.as_deref(), &r.content));
            }
            after = last;
        }
    }
}

/// The first broken link of one chain, or a failed anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub table: &'static str,
    /// "ticket <id>", "<entity type> <id>", or "anchor <time>".
    pub chain: String,
    /// The first event where verification failed (for an anchor: the
    /// sequence number it covers).
    pub sequence: i64,
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: event {}: {}",
            self.table, self.chain, self.sequence, self.problem
        )
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Append-only guards missing or disabled.
    pub missing_guards: Vec<String>,
    pub events: u64,
    pub chains: u64,
    /// Events from before the chain existed (no seal).
    pub unsealed: u64,
    pub anchors_checked: usize,
    /// At most one per chain, in table and chain order, then the anchors'.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn clean(&self) -> bool {
        self.missing_guards.is_empty() && self.findings.is_empty()
    }
}

/// Verify every chain of both tables, and each anchor in `anchors`.
pub async fn verify(db: &Db, anchors: &[Anchor]) -> AppResult<Report> {
    let conn = db.reader();
    let mut report = Report {
        missing_guards: missing_guards(conn).await?,
        ..Report::default()
    };
    for table in Table::ALL {
        verify_chains(conn, table, &mut report).await?;
        verify_anchors(conn, table, anchors, &mut report).await?;
    }
    Ok(report)
}

async fn verify_chains<C: ConnectionTrait>(
    db: &C,
    table: Table,
    report: &mut Report,
) -> AppResult<()> {
    // The chain being walked, and whether it already broke (one finding
    // per chain).
    let mut current: Option<String> = None;
    let (mut walk, mut broken) = (Walk::default(), false);
    let mut after: Option<(Vec<String>, i64)> = None;
    loop {
        let (rows, last) = table
            .by_chain(db, after.as_ref().map(|(k, s)| (k.as_slice(), *s)))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for r in rows {
            if current.as_deref() != Some(r.chain.as_str()) {
                current = Some(r.chain.clone());
                (walk, broken) = (Walk::default(), false);
                report.chains += 1;
            }
            report.events += 1;
            if r.hash.is_none() && !walk.sealed() {
                report.unsealed += 1;
            }
            let checked = walk.step(r.prev_hash.as_deref(), r.hash.as_deref(), &r.content);
            if !broken && let Err(b) = checked {
                broken = true;
                report.findings.push(Finding {
                    table: table.name(),
                    chain: r.chain.clone(),
                    sequence: r.sequence,
                    problem: match b {
                        Break::Altered => "its content does not match its seal (altered)".into(),
                        Break::Unlinked { .. } => {
                            "it does not follow the event before it in its chain \
                             (an event was removed or moved)"
                                .into()
                        }
                        Break::Unsealed => "it has no seal after sealed events".into(),
                    },
                });
            }
        }
        after = last;
    }
}

async fn verify_anchors<C: ConnectionTrait>(
    db: &C,
    table: Table,
    anchors: &[Anchor],
    report: &mut Report,
) -> AppResult<()> {
    let mut points: Vec<(&str, &TableAnchor)> = anchors
        .iter()
        .flat_map(|a| {
            a.tables
                .iter()
                .filter(|t| t.table == table.name())
                .map(move |t| (a.at.as_str(), t))
        })
        .collect();
    points.sort_by_key(|(_, t)| t.up_to);
    let (mut rolling, mut after) = (Rolling::default(), 0);
    for (at, point) in points {
        after = table.fold(db, &mut rolling, after, point.up_to).await?;
        after = after.max(point.up_to);
        report.anchors_checked += 1;
        if rolling.count != point.count || rolling.digest != point.digest {
            report.findings.push(Finding {
                table: table.name(),
                chain: format!("anchor {at}"),
                sequence: point.up_to,
                problem: format!(
                    "the events up to it are not the ones anchored \
                     ({} now, {} anchored): events were removed, altered or added",
                    rolling.count, point.count
                ),
            });
            // Later anchors include this one's events: one finding says it.
            return Ok(());
        }
    }
    Ok(())
}

/// Take an anchor now: each table's digest up to its last event, carried
/// on from `previous` (the last anchor taken by this anchor file), or from
/// the first event. On PostgreSQL a short SHARE lock on one table at a time
/// lets its open writers commit first, so no event can appear later below
/// the maximum read under it; the fold then runs with no lock held (the
/// events below the maximum never change). One table at a time: writers
/// lock the two tables in either order, a lock on both could deadlock.
pub async fn anchor(db: &Db, previous: Option<Anchor>, now: DateTime<Utc>) -> AppResult<Anchor> {
    let mut tables = Vec::new();
    for table in Table::ALL {
        let name = table.name();
        let max: i64 = db
            .write(move |tx| {
                Box::pin(async move {
                    let backend = tx.get_database_backend();
                    if backend == DbBackend::Postgres {
                        tx.execute_unprepared(&format!("LOCK TABLE {name} IN SHARE MODE"))
                            .await
                            .map_err(db_err)?;
                    }
                    let sql = format!("SELECT COALESCE(MAX(sequence), 0) AS m FROM {name}");
                    let row = tx
                        .query_one_raw(Statement::from_string(backend, sql))
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| {
                            AppError::internal(anyhow::anyhow!("no maximum of {name}"))
                        })?;
                    row.try_get::<i64>("", "m").map_err(db_err)
                })
            })
            .await?;
        let from = previous
            .as_ref()
            .and_then(|p| p.tables.iter().find(|t| t.table == name));
        let (mut rolling, after) = match from {
            Some(t) => (
                Rolling {
                    count: t.count,
                    digest: t.digest.clone(),
                },
                t.up_to,
            ),
            None => (Rolling::default(), 0),
        };
        let up_to = table.fold(db.reader(), &mut rolling, after, max).await?;
        tables.push(TableAnchor {
            table: name.to_string(),
            up_to,
            count: rolling.count,
            digest: rolling.digest,
        });
    }
    Ok(Anchor {
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tables,
    })
}

/// The append-only guards missing or disabled (see `migration::append_only`).
pub async fn missing_guards<C: ConnectionTrait>(db: &C) -> AppResult<Vec<String>> {
    migration::append_only::missing(db).await.map_err(db_err)
}

/// Re-create the missing guards, on an operator's word; the names.
pub async fn reinstate_guards(db: &Db) -> AppResult<Vec<String>> {
    let missing = missing_guards(db.writer()).await?;
    if !missing.is_empty() {
        migration::append_only::install(db.writer(), Some(&missing))
            .await
            .map_err(db_err)?;
    }
    let still = missing_guards(db.writer()).await?;
    if !still.is_empty() {
        return Err(AppError::internal(anyhow::anyhow!(
            "guards still missing after reinstating: {}",
            still.join(", ")
        )));
    }
    Ok(missing)
}
