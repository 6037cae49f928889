//! R-REC-2: the audit trail's anchors. An anchor file is JSON lines, one
//! `domain::chain::Anchor` per line, appended and synced; each anchor is
//! also logged, so a copy lives wherever the logs are shipped. Anchors are
//! taken periodically by the server (`--audit-anchor-every`) and by
//! `fieldops audit anchor`; `fieldops audit verify` checks them.
use crate::domain::chain::Anchor;
use crate::error::{AppError, AppResult};
use crate::storage::{Db, chain};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct AnchorFile(PathBuf);

impl AnchorFile {
    pub fn new(path: impl Into<PathBuf>) -> AnchorFile {
        AnchorFile(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Every anchor in the file, oldest first; none when there is no file.
    pub fn read(&self) -> AppResult<Vec<Anchor>> {
        let text = match std::fs::read_to_string(&self.0) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.failed("reading", e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    AppError::internal(anyhow::anyhow!(
                        "{} line {}: not an anchor: {e}",
                        self.0.display(),
                        i + 1
                    ))
                })
            })
            .collect()
    }

    fn append(&self, a: &Anchor) -> AppResult<()> {
        if let Some(dir) = self.0.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.failed("creating the folder of", e))?;
        }
        let line =
            serde_json::to_string(a).map_err(|e| AppError::internal(anyhow::Error::from(e)))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .map_err(|e| self.failed("opening", e))?;
        writeln!(f, "{line}")
            .and_then(|_| f.sync_all())
            .map_err(|e| self.failed("writing", e))
    }

    fn failed(&self, doing: &str, e: std::io::Error) -> AppError {
        AppError::internal(anyhow::anyhow!("{doing} {}: {e}", self.0.display()))
    }
}

/// Take an anchor, carried on from the file's last, and append it. Refused
/// while an append-only guard is missing: anchoring a trail that may have
/// been rewritten would vouch for the rewrite.
pub async fn take_anchor(db: &Db, file: &AnchorFile, now: DateTime<Utc>) -> AppResult<Anchor> {
    let missing = chain::missing_guards(db.writer()).await?;
    if !missing.is_empty() {
        return Err(AppError::internal(anyhow::anyhow!(
            "not anchoring: the audit trail's append-only triggers are missing: {}",
            missing.join(", ")
        )));
    }
    let previous = file.read()?.pop();
    let anchor = chain::anchor(db, previous, now).await?;
    file.append(&anchor)?;
    for t in &anchor.tables {
        tracing::info!(
            table = %t.table,
            up_to = t.up_to,
            count = t.count,
            digest = %t.digest,
            "audit anchor"
        );
    }
    Ok(anchor)
}
