//! R-REC-3 in the database: the records due for clearing, oldest first,
//! and their audit trails as an archive holds them.
use super::entities::{audit_events, inspections, ticket_events, tickets};
use super::{db_err, to_micros};
use crate::domain::inspection::Inspection;
use crate::domain::{Ticket, TicketState};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

const FINAL: [TicketState; 2] = [TicketState::Closed, TicketState::Cancelled];

fn tickets_due(cutoff: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(tickets::Column::PersonalDataRemovedAt.is_null())
        .add(tickets::Column::LastEventAt.lt(to_micros(cutoff)))
        .add(tickets::Column::State.is_in(FINAL.map(|s| s.as_str())))
}

fn inspections_due(cutoff: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(inspections::Column::PersonalDataRemovedAt.is_null())
        .add(inspections::Column::FinishedAt.lt(to_micros(cutoff)))
}

/// How many tickets and visits are due at `cutoff`.
pub async fn count_due<C: ConnectionTrait>(db: &C, cutoff: DateTime<Utc>) -> AppResult<(u64, u64)> {
    let t = tickets::Entity::find()
        .filter(tickets_due(cutoff))
        .count(db)
        .await
        .map_err(db_err)?;
    let i = inspections::Entity::find()
        .filter(inspections_due(cutoff))
        .count(db)
        .await
        .map_err(db_err)?;
    Ok((t, i))
}

/// Up to `limit` tickets due, after `after` ((last event, id) order).
pub async fn due_tickets<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    after: Option<(i64, String)>,
    limit: u64,
) -> AppResult<Vec<Ticket>> {
    use tickets::Column as T;
    let mut q = tickets::Entity::find().filter(tickets_due(cutoff));
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any().add(T::LastEventAt.gt(at)).add(
                Condition::all()
                    .add(T::LastEventAt.eq(at))
                    .add(T::Id.gt(id)),
            ),
        );
    }
    q.order_by_asc(T::LastEventAt)
        .order_by_asc(T::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(super::tickets::from_model)
        .collect()
}

/// Ids of up to `limit` visits due, after `after` ((sign-off, id) order).
pub async fn due_inspections<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    after: Option<(i64, String)>,
    limit: u64,
) -> AppResult<Vec<Inspection>> {
    use inspections::Column as I;
    let mut q = inspections::Entity::find().filter(inspections_due(cutoff));
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any()
                .add(I::FinishedAt.gt(at))
                .add(Condition::all().add(I::FinishedAt.eq(at)).add(I::Id.gt(id))),
        );
    }
    let ids: Vec<String> = q
        .order_by_asc(I::FinishedAt)
        .order_by_asc(I::Id)
        .limit(limit)
        .select_only()
        .column(I::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|e| crate::error::AppError::internal(anyhow::Error::from(e)))?;
        if let Some(v) = super::inspections::get_full(db, id).await? {
            out.push(v);
        }
    }
    Ok(out)
}

/// A ticket's events, oldest first, as stored (with their seals).
pub async fn ticket_trail<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> AppResult<Vec<ticket_events::Model>> {
    ticket_events::Entity::find()
        .filter(ticket_events::Column::TicketId.eq(id))
        .order_by_asc(ticket_events::Column::Sequence)
        .all(db)
        .await
        .map_err(db_err)
}

/// An entity's entries of the general trail, oldest first.
pub async fn audit_trail<C: ConnectionTrait>(
    db: &C,
    entity_type: &str,
    id: &str,
) -> AppResult<Vec<audit_events::Model>> {
    audit_events::Entity::find()
        .filter(audit_events::Column::EntityType.eq(entity_type))
        .filter(audit_events::Column::EntityId.eq(id))
        .order_by_asc(audit_events::Column::Sequence)
        .all(db)
        .await
        .map_err(db_err)
}
