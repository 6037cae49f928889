//! The change feed: one row per changed entity, written in the same
//! transaction as the change and stamped with a commit-ordered sequence
//! number (see the sync migration for why the counter gives commit order).
use super::entities::{change_log, feed_state_sql};
use super::{db_err, to_micros};
use crate::domain::Ticket;
use crate::domain::assessment::AssessmentItem;
use crate::domain::inspection::{Inspection, RoomReading};
use crate::domain::meter::{MeterExchange, MeterReading};
use crate::domain::outage::Outage;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, IntoColumnRef, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};
use serde::Serialize;

pub const TICKET: &str = "ticket";
pub const INSPECTION: &str = "inspection";
pub const ROOM_READING: &str = "room_reading";
pub const METER_READING: &str = "meter_reading";
pub const METER_EXCHANGE: &str = "meter_exchange";
pub const OUTAGE: &str = "outage";
pub const ASSESSMENT_ITEM: &str = "assessment_item";

/// Entities a crew sees by unit.
const UNIT_SCOPED: [&str; 2] = [TICKET, OUTAGE];

/// What happened: the trail event that made a change (its kind, who did
/// it in which role, and where it stands in the trail). Every change logged
/// names one, so a back-office reader needs no second call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cause {
    pub kind: String,
    pub actor: String,
    pub actor_role: String,
    /// `ticket-events/{sequence}` (ListTicketEvents' sequence) or
    /// `audit-events/{sequence}` (the general trail).
    pub event: String,
}

impl Cause {
    pub fn ticket_event(sequence: i64, kind: &str, actor: &str, role: &str) -> Cause {
        Cause::new(format!("ticket-events/{sequence}"), kind, actor, role)
    }

    pub fn audit_event(sequence: i64, kind: &str, actor: &str, role: &str) -> Cause {
        Cause::new(format!("audit-events/{sequence}"), kind, actor, role)
    }

    /// The same event, told as another kind: what an event did to an
    /// entity that has no event of its own (an assessment item it raised).
    pub fn as_kind(&self, kind: &str) -> Cause {
        Cause {
            kind: kind.to_string(),
            ..self.clone()
        }
    }

    fn new(event: String, kind: &str, actor: &str, role: &str) -> Cause {
        Cause {
            kind: kind.to_string(),
            actor: actor.to_string(),
            actor_role: role.to_string(),
            event,
        }
    }
}

/// A change about to be logged: the entity's new state and who may see it.
#[derive(Debug, Clone)]
pub struct ChangeDraft {
    pub entity_type: &'static str,
    pub entity_id: String,
    pub entity_version: i64,
    /// The unit a ticket belongs to now, and belonged to before this change.
    pub unit: Option<String>,
    pub prev_unit: Option<String>,
    /// The inspector whose record it is.
    pub owner: Option<String>,
    /// R-TKT-13: the staff members a ticket is kept away from (see [`hidden_from`]).
    pub hidden_from: Option<String>,
    /// ... and those of them this change added (a recusal): the one change
    /// of the ticket they still get, as its tombstone.
    pub newly_hidden: Option<String>,
    pub payload: String,
    pub cause: Cause,
}

/// Separates staff ids in a `hidden_from` value of several members.
const HIDDEN_SEP: char = '\u{1f}';

/// R-TKT-13: the staff members a change (or ticket row) is hidden from, as
/// stored: one id as it is (what older rows hold), several each wrapped in
/// the unit separator (`\x1fa\x1fb\x1f`); None for nobody.
pub fn hidden_from<'a>(staff: impl Iterator<Item = &'a str>) -> Option<String> {
    let staff: Vec<&str> = staff.collect();
    match staff.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        many => Some(format!(
            "{HIDDEN_SEP}{}{HIDDEN_SEP}",
            many.join(&HIDDEN_SEP.to_string())
        )),
    }
}

/// Is `sub` among the members a stored `hidden_from` value names?
pub fn hides(hidden: &str, sub: &str) -> bool {
    hidden == sub || hidden.split(HIDDEN_SEP).any(|s| s == sub)
}

/// The SQL of [`hides`]: the value in `col` names `sub`.
fn hides_sql(col: impl IntoColumnRef + Clone, sub: &str) -> Condition {
    let pattern = super::contains_pattern(&format!("{HIDDEN_SEP}{sub}{HIDDEN_SEP}"));
    Condition::any()
        .add(Expr::col(col.clone()).eq(sub))
        .add(Expr::col(col).like(LikeExpr::new(pattern).escape('\\')))
}

/// The SQL of [`hides`], negated: rows of `col` not hidden from `sub`.
pub fn not_hidden_from(col: impl ColumnTrait, sub: &str) -> Condition {
    Condition::any()
        .add(col.is_null())
        .add(hides_sql(col, sub).not())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializable")
}

impl ChangeDraft {
    /// A ticket's new state `t`, written over `before` (None: a new ticket,
    /// which hides itself from nobody who ever saw it).
    pub fn ticket(t: &Ticket, before: Option<&Ticket>, cause: &Cause) -> ChangeDraft {
        let newly_hidden = before.and_then(|b| {
            hidden_from(
                t.recused_staff()
                    .filter(|s| !b.recused_staff().any(|was| was == *s)),
            )
        });
        ChangeDraft {
            entity_type: TICKET,
            entity_id: t.id.to_string(),
            entity_version: t.version,
            unit: t.unit.clone(),
            prev_unit: before.and_then(|b| b.unit.clone()),
            // R-TKT-1: whoever recorded the call follows it on his feed.
            owner: Some(t.received_by.clone()),
            hidden_from: hidden_from(t.recused_staff()),
            newly_hidden,
            payload: json(t),
            cause: cause.clone(),
        }
    }

    pub fn inspection(i: &Inspection, cause: &Cause) -> ChangeDraft {
        let mut without_readings = i.clone();
        without_readings.readings.clear();
        ChangeDraft {
            entity_type: INSPECTION,
            entity_id: i.id.to_string(),
            entity_version: i.version,
            unit: Some(i.unit.clone()),
            prev_unit: None,
            owner: Some(i.inspector.clone()),
            hidden_from: None,
            newly_hidden: None,
            payload: json(&without_readings),
            cause: cause.clone(),
        }
    }

    pub fn room_reading(r: &RoomReading, visit: &Inspection, cause: &Cause) -> ChangeDraft {
        ChangeDraft {
            entity_type: ROOM_READING,
            entity_id: r.id.to_string(),
            entity_version: 1,
            unit: Some(visit.unit.clone()),
            prev_unit: None,
            owner: Some(visit.inspector.clone()),
            hidden_from: None,
            newly_hidden: None,
            payload: json(r),
            cause: cause.clone(),
        }
    }

    pub fn meter_reading(r: &MeterReading, cause: &Cause) -> ChangeDraft {
        ChangeDraft {
            entity_type: METER_READING,
            entity_id: r.id.to_string(),
            entity_version: r.version,
            unit: None,
            prev_unit: None,
            owner: Some(r.inspector.clone()),
            hidden_from: None,
            newly_hidden: None,
            payload: json(r),
            cause: cause.clone(),
        }
    }

    pub fn outage(o: &Outage, cause: &Cause) -> ChangeDraft {
        ChangeDraft {
            entity_type: OUTAGE,
            entity_id: o.id.to_string(),
            entity_version: o.version,
            unit: Some(o.unit.clone()),
            prev_unit: None,
            owner: None,
            hidden_from: None,
            newly_hidden: None,
            payload: json(o),
            cause: cause.clone(),
        }
    }

    /// R-ASM-1: an item, owned by the person it names.
    pub fn assessment_item(i: &AssessmentItem, cause: &Cause) -> ChangeDraft {
        ChangeDraft {
            entity_type: ASSESSMENT_ITEM,
            entity_id: i.id.to_string(),
            entity_version: i.version,
            unit: Some(i.unit.clone()),
            prev_unit: None,
            owner: i.person.clone(),
            hidden_from: hidden_from(i.hidden_from.iter().map(String::as_str)),
            newly_hidden: None,
            payload: json(i),
            cause: cause.clone(),
        }
    }

    pub fn meter_exchange(x: &MeterExchange, cause: &Cause) -> ChangeDraft {
        ChangeDraft {
            entity_type: METER_EXCHANGE,
            entity_id: x.id.to_string(),
            entity_version: 1,
            unit: None,
            prev_unit: None,
            owner: Some(x.inspector.clone()),
            hidden_from: None,
            newly_hidden: None,
            payload: json(x),
            cause: cause.clone(),
        }
    }
}

/// Log `drafts` with the next sequence number. Call as the transaction's last
/// statement: the counter row stays locked until COMMIT, which is what makes
/// sequence order equal commit order.
pub async fn append<C: ConnectionTrait>(
    db: &C,
    drafts: Vec<ChangeDraft>,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            feed_state_sql::bump(backend),
        ))
        .await
        .map_err(db_err)?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("feed_state row missing")))?;
    let seq: i64 = row.try_get("", "last_seq").map_err(db_err)?;
    let rows: Vec<_> = drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            change_log::Model {
                seq,
                ordinal: i as i32,
                entity_type: d.entity_type.to_string(),
                entity_id: d.entity_id,
                entity_version: d.entity_version,
                unit: d.unit,
                prev_unit: d.prev_unit,
                owner: d.owner,
                hidden_from: d.hidden_from,
                newly_hidden: d.newly_hidden,
                payload: d.payload,
                committed_at: to_micros(now),
                kind: Some(d.cause.kind),
                actor: Some(d.cause.actor),
                actor_role: Some(d.cause.actor_role),
                event: Some(d.cause.event),
            }
            .into_active_model()
        })
        .collect();
    change_log::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(seq)
}

/// Who sees which changes (Pull and Watch scopes). The rule is written
/// twice, as SQL for reads from the database (`condition`) and in memory for
/// the feed window (`admits`); `tests/feed_visibility.rs` proves they agree.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Dispatch, supervisors, back office, admin: everything.
    pub all: bool,
    /// Crew: tickets and outages of this unit (tickets: now or before the change).
    pub crew_unit: Option<String>,
    /// Inspectors: their own visits, readings and meter records; inspectors
    /// and crews: the tickets they recorded (R-TKT-1).
    pub owner: Option<String>,
    /// The caller, for recusal.
    pub sub: String,
    /// R-ASM-1: every assessment item, not only those naming `sub`.
    pub all_items: bool,
}

/// What decides who may see a change, besides its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMeta {
    pub entity_type: String,
    pub unit: Option<String>,
    pub prev_unit: Option<String>,
    pub owner: Option<String>,
    pub hidden_from: Option<String>,
    pub newly_hidden: Option<String>,
}

impl Visibility {
    fn condition(&self) -> Condition {
        // R-TKT-13: a complaint is never shown to the staff member it concerns, in any role.
        // ... nor any earlier change of a ticket that a later recusal hid
        // from him: a ticket's hidden set only grows, so any change of the
        // entity that hides it from him hides every one.
        let h = Alias::new("h");
        let hidden_later = Query::select()
            .expr(Expr::val(1))
            .from_as(change_log::Entity, h.clone())
            .and_where(
                Expr::col((h.clone(), change_log::Column::EntityId))
                    .equals((change_log::Entity, change_log::Column::EntityId)),
            )
            .and_where(
                Expr::col((h.clone(), change_log::Column::EntityType))
                    .equals((change_log::Entity, change_log::Column::EntityType)),
            )
            // Implied by what follows; said outright so both databases
            // search only the changes that hide someone (the partial
            // `idx_change_log_hidden`, migration 26).
            .and_where(Expr::col((h.clone(), change_log::Column::HiddenFrom)).is_not_null())
            .cond_where(
                Condition::any().add(hides_sql((h, change_log::Column::HiddenFrom), &self.sub)),
            )
            .to_owned();
        let not_recused = Condition::all()
            .add(not_hidden_from(change_log::Column::HiddenFrom, &self.sub))
            .add(
                Condition::any()
                    .add(change_log::Column::EntityType.ne(TICKET))
                    .add(Expr::exists(hidden_later).not()),
            );
        // ... but the change that hid it from him comes through, as its tombstone.
        let permitted = Condition::all().add(
            Condition::any()
                .add(not_recused)
                .add(hides_sql(change_log::Column::NewlyHidden, &self.sub)),
        );
        if self.all {
            if self.all_items {
                return permitted;
            }
            // Dispatch sees everything but other people's assessment items.
            return permitted.add(
                Condition::any()
                    .add(change_log::Column::EntityType.ne(ASSESSMENT_ITEM))
                    .add(change_log::Column::Owner.eq(self.sub.as_str())),
            );
        }
        let mut any = Condition::any();
        if let Some(u) = &self.crew_unit {
            any = any.add(
                Condition::all()
                    .add(change_log::Column::EntityType.is_in(UNIT_SCOPED))
                    .add(
                        Condition::any()
                            .add(change_log::Column::Unit.eq(u.as_str()))
                            .add(change_log::Column::PrevUnit.eq(u.as_str())),
                    ),
            );
        }
        if let Some(o) = &self.owner {
            any = any.add(change_log::Column::Owner.eq(o.as_str()));
        }
        // Nothing granted: match nothing.
        if self.crew_unit.is_none() && self.owner.is_none() {
            any = any.add(change_log::Column::Seq.lt(0));
        }
        Condition::all().add(permitted).add(any)
    }

    /// R-TKT-13: does a ticket's (latest) hidden set keep it from this reader?
    pub fn hidden_by(&self, hidden: &str) -> bool {
        hides(hidden, &self.sub)
    }

    /// R-TKT-13: is this the change that hid its ticket from the reader
    /// (which he gets as a tombstone, whatever hides the ticket later)?
    pub fn told_gone(&self, c: &ChangeMeta) -> bool {
        c.newly_hidden
            .as_deref()
            .is_some_and(|h| hides(h, &self.sub))
    }

    /// The same rule as `condition`, for a change held in memory (the
    /// window also asks `hidden_by` with the entity's latest hidden set,
    /// unless `told_gone`).
    pub fn admits(&self, c: &ChangeMeta) -> bool {
        if !self.told_gone(c)
            && c.hidden_from
                .as_deref()
                .is_some_and(|h| hides(h, &self.sub))
        {
            return false;
        }
        if self.all {
            return self.all_items
                || c.entity_type != ASSESSMENT_ITEM
                || c.owner.as_deref() == Some(self.sub.as_str());
        }
        let crew = self.crew_unit.as_deref().is_some_and(|u| {
            UNIT_SCOPED.contains(&c.entity_type.as_str())
                && (c.unit.as_deref() == Some(u) || c.prev_unit.as_deref() == Some(u))
        });
        let own = self.owner.is_some() && c.owner == self.owner;
        crew || own
    }
}

/// A position in the feed: after change (seq, ordinal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub seq: i64,
    pub ordinal: i32,
}

impl Position {
    /// Past every change of sequence `seq`: where a snapshot that saw
    /// `last_seq == seq` has looked at everything.
    pub fn end_of(seq: i64) -> Position {
        Position {
            seq,
            ordinal: i32::MAX,
        }
    }

    /// The position whose "after" starts with this change.
    pub fn just_before(self) -> Position {
        Position {
            seq: self.seq,
            ordinal: self.ordinal - 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoredChange {
    pub position: Position,
    pub meta: ChangeMeta,
    pub payload: String,
    pub committed_at: DateTime<Utc>,
    /// None for changes logged before causes were.
    pub cause: Option<Cause>,
}

impl From<change_log::Model> for StoredChange {
    fn from(m: change_log::Model) -> StoredChange {
        StoredChange {
            position: Position {
                seq: m.seq,
                ordinal: m.ordinal,
            },
            meta: ChangeMeta {
                entity_type: m.entity_type,
                unit: m.unit,
                prev_unit: m.prev_unit,
                owner: m.owner,
                hidden_from: m.hidden_from,
                newly_hidden: m.newly_hidden,
            },
            payload: m.payload,
            committed_at: super::from_micros(m.committed_at),
            cause: match (m.kind, m.actor, m.actor_role, m.event) {
                (Some(kind), Some(actor), Some(actor_role), Some(event)) => Some(Cause {
                    kind,
                    actor,
                    actor_role,
                    event,
                }),
                _ => None,
            },
        }
    }
}

/// Changes after `after` in commit order: those `vis` admits, or all (None).
pub async fn read_after<C: ConnectionTrait>(
    db: &C,
    after: Position,
    vis: Option<&Visibility>,
    limit: u64,
) -> AppResult<Vec<StoredChange>> {
    Ok(after_query(after, vis)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(StoredChange::from)
        .collect())
}

/// The positions of the changes `read_after` would return, without them.
/// One row for the whole page, the positions joined in SQL: a Pull whose
/// changes are already held decoded (`FeedWindow::held`) reads no payload
/// and crosses the driver once, not once per change (issue 19: on SQLite
/// each row is handed across threads and every column copied).
pub async fn positions_after<C: ConnectionTrait>(
    db: &C,
    after: Position,
    vis: &Visibility,
    limit: u64,
) -> AppResult<Vec<Position>> {
    let backend = db.get_database_backend();
    let page = after_query(after, Some(vis))
        .select_only()
        .column(change_log::Column::Seq)
        .column(change_log::Column::Ordinal)
        .limit(limit)
        .into_query();
    let joined = match backend {
        DbBackend::Postgres => "string_agg(page.seq || ':' || page.ordinal, ',')",
        _ => "group_concat(page.seq || ':' || page.ordinal, ',')",
    };
    let q = Query::select()
        .expr_as(Expr::cust(joined), Alias::new("positions"))
        .from_subquery(page, Alias::new("page"))
        .to_owned();
    let row = db.query_one_raw(backend.build(&q)).await.map_err(db_err)?;
    let joined: Option<String> = match row {
        Some(row) => row.try_get("", "positions").map_err(db_err)?,
        None => None,
    };
    let mut positions = parse_positions(joined.as_deref().unwrap_or(""))?;
    // An aggregate's order is the database's to choose.
    positions.sort_unstable();
    Ok(positions)
}

/// `seq:ordinal` pairs joined by commas (`positions_after`).
fn parse_positions(joined: &str) -> AppResult<Vec<Position>> {
    let bad = || {
        AppError::internal(anyhow::anyhow!(
            "malformed feed positions from the database"
        ))
    };
    joined
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (seq, ordinal) = p.split_once(':').ok_or_else(bad)?;
            Ok(Position {
                seq: seq.parse().map_err(|_| bad())?,
                ordinal: ordinal.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// Changes after `after` (that `vis` admits), in commit order.
fn after_query(after: Position, vis: Option<&Visibility>) -> Select<change_log::Entity> {
    // A row-value comparison, so the database walks the primary key from the
    // cursor (an OR of two conditions made SQLite scan and sort).
    let pk = Expr::tuple([
        Expr::col(change_log::Column::Seq),
        Expr::col(change_log::Column::Ordinal),
    ]);
    let mut q = change_log::Entity::find()
        .filter(pk.gt(Expr::tuple([after.seq.into(), after.ordinal.into()])));
    if let Some(vis) = vis {
        q = q.filter(vis.condition());
    }
    q.order_by_asc(change_log::Column::Seq)
        .order_by_asc(change_log::Column::Ordinal)
}

/// The latest `n` changes, in commit order.
pub async fn read_latest<C: ConnectionTrait>(db: &C, n: u64) -> AppResult<Vec<StoredChange>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut rows: Vec<StoredChange> = change_log::Entity::find()
        .order_by_desc(change_log::Column::Seq)
        .order_by_desc(change_log::Column::Ordinal)
        .limit(n)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(StoredChange::from)
        .collect();
    rows.reverse();
    Ok(rows)
}

/// (last sequence handed out, highest sequence removed by compaction).
pub async fn state<C: ConnectionTrait>(db: &C) -> AppResult<(i64, i64)> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, feed_state_sql::READ))
        .await
        .map_err(db_err)?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("feed_state row missing")))?;
    Ok((
        row.try_get("", "last_seq").map_err(db_err)?,
        row.try_get("", "purged_seq").map_err(db_err)?,
    ))
}

/// Retention: remove changes older than `before` that a later change of the
/// same entity supersedes. The latest state of every entity stays, so an
/// empty cursor still yields a complete snapshot; cursors older than the
/// removed range get CURSOR_EXPIRED.
pub async fn compact<C: ConnectionTrait>(db: &C, before: DateTime<Utc>) -> AppResult<u64> {
    let backend = db.get_database_backend();
    let cutoff = to_micros(before);
    let max_row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            feed_state_sql::max_superseded(backend),
            [cutoff.into()],
        ))
        .await
        .map_err(db_err)?;
    let max: Option<i64> = match max_row {
        Some(r) => r.try_get("", "m").map_err(db_err)?,
        None => None,
    };
    let Some(max) = max else { return Ok(0) };
    let deleted = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            feed_state_sql::delete_superseded(backend),
            [cutoff.into()],
        ))
        .await
        .map_err(db_err)?
        .rows_affected();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        feed_state_sql::set_purged(backend),
        [max.into()],
    ))
    .await
    .map_err(db_err)?;
    Ok(deleted)
}
