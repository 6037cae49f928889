//! Issue 6: ticket lists page newest first (`ORDER BY id DESC`), filtered by
//! unit (every crew list), state, or both. Indexes that end in `id` let the
//! database walk them in page order and stop at the page size; the old
//! `(unit, state)` and `(state)` indexes made it sort the whole unit or
//! state for every page (the mixed-load benchmark's slowest request).
use crate::columns::{drop_index, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Id,
    Unit,
    State,
}

fn new_indexes() -> [(&'static str, Vec<DynIden>); 3] {
    [
        (
            "idx_tickets_unit_id",
            vec![Tickets::Unit.into_iden(), Tickets::Id.into_iden()],
        ),
        (
            "idx_tickets_unit_state_id",
            vec![
                Tickets::Unit.into_iden(),
                Tickets::State.into_iden(),
                Tickets::Id.into_iden(),
            ],
        ),
        (
            "idx_tickets_state_id",
            vec![Tickets::State.into_iden(), Tickets::Id.into_iden()],
        ),
    ]
}

/// The indexes the new ones replace, with their columns (for `down`).
fn old_indexes() -> [(&'static str, Vec<DynIden>); 2] {
    [
        (
            "idx_tickets_unit_state",
            vec![Tickets::Unit.into_iden(), Tickets::State.into_iden()],
        ),
        ("idx_tickets_state", vec![Tickets::State.into_iden()]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, cols) in new_indexes() {
            index(m, name, Tickets::Table, cols).await?;
        }
        for (name, _) in old_indexes() {
            drop_index(m, name, Tickets::Table).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, cols) in old_indexes() {
            index(m, name, Tickets::Table, cols).await?;
        }
        for (name, _) in new_indexes() {
            drop_index(m, name, Tickets::Table).await?;
        }
        Ok(())
    }
}
