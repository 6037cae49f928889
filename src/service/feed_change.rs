//! A change of the feed as the service holds it: decoded once from its
//! stored form, encoded once per R-TKT-13 view by the first reader. Pull,
//! Watch and the in-memory feed window share it.
use crate::domain::Ticket;
use crate::domain::access::FeedSight;
use crate::domain::assessment::AssessmentItem;
use crate::domain::inspection::{Inspection, RoomReading};
use crate::domain::meter::{MeterExchange, MeterReading};
use crate::domain::outage::Outage;
use crate::error::{AppError, AppResult};
use crate::storage::feed::{self, Cause, Position, StoredChange};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

/// An entity as it stands after a change.
#[derive(Debug, Clone)]
pub enum FeedEntity {
    /// Shared with the latest versions held in memory (`LatestTickets`).
    Ticket(Arc<Ticket>),
    Inspection(Box<Inspection>),
    RoomReading(Box<RoomReading>),
    MeterReading(Box<MeterReading>),
    MeterExchange(Box<MeterExchange>),
    Outage(Box<Outage>),
    AssessmentItem(Box<AssessmentItem>),
}

#[derive(Debug, Clone)]
pub struct FeedChange {
    pub position: Position,
    pub committed_at: DateTime<Utc>,
    pub entity: FeedEntity,
    /// What happened (None for changes logged before causes were).
    pub cause: Option<Cause>,
    /// Bytes of its stored form (JSON), more than its encoded form: what a
    /// page and the window count it as.
    pub size: usize,
    /// The change as the API encodes it, once per sight (R-TKT-13 view or
    /// tombstone), filled in by the first reader with that sight (every
    /// later one copies it).
    pub rendered: [OnceLock<Bytes>; FeedSight::COUNT],
}

pub fn decode(c: StoredChange) -> AppResult<FeedChange> {
    fn parse<T: serde::de::DeserializeOwned>(s: &str) -> AppResult<Box<T>> {
        serde_json::from_str(s)
            .map(Box::new)
            .map_err(AppError::internal)
    }
    let size = c.payload.len();
    let entity = match c.meta.entity_type.as_str() {
        feed::TICKET => FeedEntity::Ticket(Arc::from(parse::<Ticket>(&c.payload)?)),
        feed::INSPECTION => FeedEntity::Inspection(parse(&c.payload)?),
        feed::ROOM_READING => FeedEntity::RoomReading(parse(&c.payload)?),
        feed::METER_READING => FeedEntity::MeterReading(parse(&c.payload)?),
        feed::METER_EXCHANGE => FeedEntity::MeterExchange(parse(&c.payload)?),
        feed::OUTAGE => FeedEntity::Outage(parse(&c.payload)?),
        feed::ASSESSMENT_ITEM => FeedEntity::AssessmentItem(parse(&c.payload)?),
        other => {
            return Err(AppError::internal(anyhow::anyhow!(
                "unknown feed entity {other:?}"
            )));
        }
    };
    Ok(FeedChange {
        position: c.position,
        committed_at: c.committed_at,
        entity,
        cause: c.cause,
        size,
        rendered: Default::default(),
    })
}
