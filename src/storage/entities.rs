//! sea-orm entities, one module per table. Times are i64 UTC microseconds.

pub mod units {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "units")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tickets {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "tickets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub version: i64,
        pub state: String,
        pub category: String,
        pub priority: String,
        pub profile: String,
        pub source: String,
        pub caller_name: String,
        pub caller_phone: String,
        pub address: String,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub content: String,
        pub received_by: String,
        pub received_at: i64,
        pub subject_staff_id: Option<String>,
        pub unit: Option<String>,
        pub assignee: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub dispatched_at: Option<i64>,
        pub claimed_at: Option<i64>,
        pub arrived_at: Option<i64>,
        pub resolved_at: Option<i64>,
        pub closed_at: Option<i64>,
        pub accept_by: Option<i64>,
        pub arrive_by: Option<i64>,
        pub resolve_by: Option<i64>,
        pub revisit_by: Option<i64>,
        pub appointment_at: Option<i64>,
        pub escalation_level: i32,
        pub return_count: i32,
        pub supervision_count: i32,
        pub breached: bool,
        pub arrival: Option<String>,
        pub resolution: Option<String>,
        pub revisit_outcome: Option<String>,
        pub extension: Option<String>,
        pub extended_by_secs: i64,
        pub last_event_at: i64,
        pub personal_data_removed_at: Option<i64>,
        pub breaches: Option<String>,
        pub next_deadline_at: Option<i64>,
        pub address_key: Option<String>,
        pub repeat_of: Option<String>,
        pub feedback_by: Option<i64>,
        pub supervise_by: Option<i64>,
        pub promised_resolve_by: Option<i64>,
        pub redo_count: i32,
        pub pipe_diameter_mm: Option<i32>,
        pub complex: bool,
        pub supervision: Option<String>,
        pub clock_stops: Option<String>,
        pub caller_key: Option<String>,
        pub accept_on_time: Option<bool>,
        pub arrive_on_time: Option<bool>,
        pub resolve_on_time: Option<bool>,
        pub revisit_on_time: Option<bool>,
        pub feedback_on_time: Option<bool>,
        pub supervision_on_time: Option<bool>,
        pub outage_id: Option<String>,
        pub caller_organisation: Option<String>,
        pub feedback_method: Option<String>,
        pub forward_by: Option<i64>,
        pub forward_on_time: Option<bool>,
        pub ticket_type: Option<String>,
        pub platform_reference: Option<String>,
        pub follow_up: Option<String>,
        pub callback_on_time: Option<bool>,
        pub unit_report_on_time: Option<bool>,
        pub result_on_time: Option<bool>,
        pub caller_update_on_time: Option<bool>,
        pub referrer_update_on_time: Option<bool>,
        pub reply_on_time: Option<bool>,
        pub suspensions: i32,
        pub district: Option<String>,
        pub hidden_from: Option<String>,
        pub leadership_on_time: Option<bool>,
        pub instruction_on_time: Option<bool>,
        pub major: bool,
        pub long_matter_on_time: Option<bool>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod ticket_events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "ticket_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub sequence: i64,
        pub ticket_id: String,
        pub ticket_version: i64,
        pub kind: String,
        pub actor_sub: String,
        pub actor_role: String,
        pub actor_unit: String,
        pub device_id: Option<String>,
        pub request_id: Option<String>,
        pub occurred_at: Option<i64>,
        pub effective_at: i64,
        pub received_at: i64,
        pub time_untrusted: bool,
        pub from_state: Option<String>,
        pub to_state: String,
        pub details: String,
        /// R-REC-2: the chain's previous hash and this event's seal.
        pub prev_hash: Option<String>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod idempotency_records {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_records")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub caller_sub: String,
        pub method: String,
        pub fingerprint: String,
        pub response: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod inspections {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "inspections")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub version: i64,
        pub state: String,
        pub household_id: Option<String>,
        pub address: Option<String>,
        pub dwelling_key: String,
        pub ticket_id: Option<String>,
        pub inspector: String,
        pub unit: String,
        pub facts: String,
        pub resident_name: String,
        pub resident_phone: String,
        pub verdict: String,
        pub result: String,
        pub sign_off: Option<String>,
        pub objection_ticket_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub finished_at: Option<i64>,
        pub personal_data_removed_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod room_readings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "room_readings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub inspection_id: String,
        pub room_name: String,
        pub room_type: String,
        pub measurement: String,
        pub verdict: String,
        pub result: String,
        pub received_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod cold_households {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cold_households")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub dwelling_key: String,
        pub household_id: Option<String>,
        pub address: Option<String>,
        pub unit: String,
        pub active: bool,
        pub last_verdict: String,
        pub last_inspection_id: String,
        pub last_visit_at: i64,
        pub first_non_compliant_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod meter_readings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "meter_readings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub version: i64,
        pub meter_id: String,
        pub value: f64,
        pub unit: String,
        pub read_at: i64,
        pub inspector: String,
        pub rollback: bool,
        pub received_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod meter_exchanges {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "meter_exchanges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub meter_id: String,
        pub old_serial: String,
        pub new_serial: String,
        pub old_final_value: f64,
        pub new_initial_value: f64,
        pub unit: String,
        pub exchanged_at: i64,
        pub reader_present: bool,
        pub customer_present: bool,
        pub flagged: bool,
        pub inspector: String,
        pub received_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub sequence: i64,
        pub entity_type: String,
        pub entity_id: String,
        pub entity_version: i64,
        pub kind: String,
        pub actor_sub: String,
        pub actor_role: String,
        pub actor_unit: String,
        pub device_id: Option<String>,
        pub request_id: Option<String>,
        pub received_at: i64,
        pub details: String,
        /// R-REC-2: the chain's previous hash and this event's seal.
        pub prev_hash: Option<String>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod change_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ordinal: i32,
        pub entity_type: String,
        pub entity_id: String,
        pub entity_version: i64,
        pub unit: Option<String>,
        pub prev_unit: Option<String>,
        pub owner: Option<String>,
        pub hidden_from: Option<String>,
        pub payload: String,
        pub committed_at: i64,
        /// The trail event that made this state (see `feed::Cause`).
        pub kind: Option<String>,
        pub actor: Option<String>,
        pub actor_role: Option<String>,
        pub event: Option<String>,
        /// R-TKT-13: the staff members this change newly hides the entity
        /// from (the `hidden_from` format): they get its tombstone.
        pub newly_hidden: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sync_clients {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub owner_sub: String,
        pub last_mutation_id: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod client_mutations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "client_mutations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub mutation_id: i64,
        pub fingerprint: String,
        pub outcome: String,
        pub response: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Hand-written SQL for the feed counter (same text on both databases except placeholders).
pub mod feed_state_sql {
    use sea_orm::DbBackend;

    /// Bump and read the counter in one statement (the row lock lasts until
    /// COMMIT). On PostgreSQL the same statement announces the commit to
    /// other instances (`storage::notify`): NOTIFY is delivered only if the
    /// transaction commits.
    pub fn bump(b: DbBackend) -> &'static str {
        if b == DbBackend::Postgres {
            "UPDATE feed_state SET last_seq = last_seq + 1 WHERE id = 1 \
             RETURNING last_seq, pg_notify('fieldops_feed', current_schema()::text) IS NULL AS announced"
        } else {
            "UPDATE feed_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
        }
    }
    pub const READ: &str = "SELECT last_seq, purged_seq FROM feed_state WHERE id = 1";

    fn p(b: DbBackend) -> &'static str {
        if b == DbBackend::Postgres { "$1" } else { "?1" }
    }

    const SUPERSEDED: &str = "committed_at < {p} AND EXISTS (SELECT 1 FROM change_log later \
         WHERE later.entity_type = change_log.entity_type AND later.entity_id = change_log.entity_id \
         AND later.seq > change_log.seq)";

    pub fn max_superseded(b: DbBackend) -> String {
        format!(
            "SELECT MAX(seq) AS m FROM change_log WHERE {}",
            SUPERSEDED.replace("{p}", p(b))
        )
    }

    pub fn delete_superseded(b: DbBackend) -> String {
        format!(
            "DELETE FROM change_log WHERE {}",
            SUPERSEDED.replace("{p}", p(b))
        )
    }

    pub fn set_purged(b: DbBackend) -> String {
        format!(
            "UPDATE feed_state SET purged_seq = {} WHERE id = 1 AND purged_seq < {}",
            p(b),
            p(b)
        )
    }
}

/// R-OUT-*: supply interruptions (the record as JSON, the queried facts as columns).
pub mod outages {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "outages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub version: i64,
        pub kind: String,
        pub state: String,
        pub unit: String,
        pub households: i64,
        pub started_at: Option<i64>,
        pub restored_at: Option<i64>,
        pub in_force_from: Option<i64>,
        pub in_force_until: Option<i64>,
        pub next_deadline_at: Option<i64>,
        pub reported_at: i64,
        pub updated_at: i64,
        pub escalation_level: i32,
        pub reports_on_time: i32,
        pub reports_late: i32,
        pub notices_on_time: i32,
        pub notices_late: i32,
        pub estimates_kept: i32,
        pub estimates_missed: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod assessment_items {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "assessment_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub version: i64,
        pub cause_key: String,
        pub kind: String,
        pub reward: bool,
        pub unit: String,
        pub person: Option<String>,
        pub hidden_from: Option<String>,
        pub ticket_id: Option<String>,
        pub outage_id: Option<String>,
        pub cause_version: i64,
        pub occurred_at: i64,
        pub raised_at: i64,
        pub points: i32,
        pub unit_yuan: i64,
        pub person_yuan: i64,
        pub status: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attachments {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "attachments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub subject_type: String,
        pub subject_id: String,
        pub kind: String,
        pub media_type: String,
        pub size_bytes: i64,
        pub sha256: String,
        pub file_name: String,
        pub caption: String,
        pub taken_at: Option<i64>,
        pub device_id: Option<String>,
        pub uploaded_by: String,
        pub uploader_role: String,
        pub received_bytes: i64,
        pub created_at: i64,
        pub completed_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attachment_parts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "attachment_parts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub attachment_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub offset: i64,
        pub length: i64,
        pub object_key: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
