//! Schema migrations, the same for SQLite and PostgreSQL.
//! Times are stored as i64 microseconds since the Unix epoch (UTC): exact,
//! portable across both databases, and cheap to index and compare.
pub use sea_orm_migration::prelude::*;

pub mod append_only;
mod columns;
mod m20261122_000001_foundation;
mod m20261122_000002_inspections;
mod m20261122_000003_sync;
mod m20261122_000004_deadlines;
mod m20261122_000005_repeat_repair;
mod m20261122_000006_clocks_report;
mod m20261122_000007_list_indexes;
mod m20261122_000008_feed_entity_index;
mod m20261202_000009_store_probe_secrets;
mod m20261203_000010_outages;
mod m20261203_000011_first_responsible;
mod m20261203_000012_ticket_type;
mod m20261203_000013_ticket_search;
mod m20261203_000014_follow_through;
mod m20261203_000015_suspension_district;
mod m20261203_000016_recusal;
mod m20261203_000017_major;
mod m20261203_000018_report_and_search;
mod m20261203_000019_long_matter;
mod m20261203_000020_assessment;
mod m20261206_000021_audit_chain;
mod m20261206_000022_attachments;
mod m20261206_000023_retention;
mod m20261206_000024_feed_cause;
mod m20261207_000025_report_counts;
mod m20261207_000026_feed_page_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_inspections::Migration),
            Box::new(m20261122_000003_sync::Migration),
            Box::new(m20261122_000004_deadlines::Migration),
            Box::new(m20261122_000005_repeat_repair::Migration),
            Box::new(m20261122_000006_clocks_report::Migration),
            Box::new(m20261122_000007_list_indexes::Migration),
            Box::new(m20261122_000008_feed_entity_index::Migration),
            Box::new(m20261202_000009_store_probe_secrets::Migration),
            Box::new(m20261203_000010_outages::Migration),
            Box::new(m20261203_000011_first_responsible::Migration),
            Box::new(m20261203_000012_ticket_type::Migration),
            Box::new(m20261203_000013_ticket_search::Migration),
            Box::new(m20261203_000014_follow_through::Migration),
            Box::new(m20261203_000015_suspension_district::Migration),
            Box::new(m20261203_000016_recusal::Migration),
            Box::new(m20261203_000017_major::Migration),
            Box::new(m20261203_000018_report_and_search::Migration),
            Box::new(m20261203_000019_long_matter::Migration),
            Box::new(m20261203_000020_assessment::Migration),
            Box::new(m20261206_000021_audit_chain::Migration),
            Box::new(m20261206_000022_attachments::Migration),
            Box::new(m20261206_000023_retention::Migration),
            Box::new(m20261206_000024_feed_cause::Migration),
            Box::new(m20261207_000025_report_counts::Migration),
            Box::new(m20261207_000026_feed_page_index::Migration),
        ]
    }
}
