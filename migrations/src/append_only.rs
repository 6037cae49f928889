//! The append-only guards of the audit trail (R-TKT-12, R-REC-2): the
//! triggers that refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE on
//! `ticket_events` and `audit_events`. Written once here, for the migrations
//! that install them and for the server, which refuses to start while one is
//! missing or disabled and never re-creates one by itself
//! (`fieldops audit reinstate-triggers` does, when an operator says so).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The audit tables.
pub const TABLES: [&str; 2] = ["ticket_events", "audit_events"];

/// One guard: its trigger's name, table, and creating statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub table: &'static str,
    pub name: String,
    create: String,
}

/// Every guard the trail needs on `backend`.
pub fn guards(backend: DbBackend) -> Vec<Guard> {
    let mut out = Vec::new();
    for table in TABLES {
        match backend {
            DbBackend::Sqlite => {
                for op in ["UPDATE", "DELETE"] {
                    let name = format!("{table}_no_{}", op.to_lowercase());
                    out.push(Guard {
                        table,
                        create: format!(
                            "CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table} \
                             BEGIN SELECT RAISE(ABORT, '{table} is append-only (R-TKT-12)'); END;"
                        ),
                        name,
                    });
                }
            }
            DbBackend::Postgres => {
                // ticket_events_append_only is the foundation migration's name.
                let row = format!("{table}_append_only");
                out.push(Guard {
                    table,
                    create: format!(
                        "CREATE OR REPLACE TRIGGER {row} BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION fieldops_append_only()"
                    ),
                    name: row,
                });
                // Row triggers do not fire on TRUNCATE; a statement trigger does.
                let truncate = format!("{table}_no_truncate");
                out.push(Guard {
                    table,
                    create: format!(
                        "CREATE OR REPLACE TRIGGER {truncate} BEFORE TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION fieldops_append_only()"
                    ),
                    name: truncate,
                });
            }
            _ => {}
        }
    }
    out
}

/// Names of the guards that are missing or disabled.
pub async fn missing<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let present: Vec<String> = match backend {
        DbBackend::Sqlite => {
            let rows = db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'",
                ))
                .await?;
            rows.iter()
                .map(|r| r.try_get::<String>("", "name"))
                .collect::<Result<_, _>>()?
        }
        DbBackend::Postgres => {
            // tgenabled 'D': ALTER TABLE ... DISABLE TRIGGER, as good as gone.
            let rows = db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT t.tgname::text AS name FROM pg_trigger t \
                     JOIN pg_class c ON c.oid = t.tgrelid \
                     WHERE c.oid IN (to_regclass('ticket_events'), to_regclass('audit_events')) \
                     AND NOT t.tgisinternal AND t.tgenabled <> 'D'",
                ))
                .await?;
            rows.iter()
                .map(|r| r.try_get::<String>("", "name"))
                .collect::<Result<_, _>>()?
        }
        _ => Vec::new(),
    };
    Ok(guards(backend)
        .into_iter()
        // SQLite's names are case-insensitive (the inspections migration
        // spelled audit_events_no_UPDATE).
        .filter(|g| !present.iter().any(|p| p.eq_ignore_ascii_case(&g.name)))
        .map(|g| g.name)
        .collect())
}

/// Install `names` (all guards when None). PostgreSQL's trigger function
/// is (re)defined first.
pub async fn install<C: ConnectionTrait>(db: &C, names: Option<&[String]>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION fieldops_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION '% is append-only (R-TKT-12)', TG_TABLE_NAME; END $$;",
        )
        .await?;
    }
    for g in guards(backend) {
        if names.is_none_or(|n| n.contains(&g.name)) {
            if backend == DbBackend::Postgres {
                // A disabled trigger is re-enabled by dropping and creating it.
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {} ON {}", g.name, g.table))
                    .await?;
            }
            db.execute_unprepared(&g.create).await?;
        }
    }
    Ok(())
}
