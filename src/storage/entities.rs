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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod ticket_events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
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
