//! Results: one row per scenario, database and mode; ratios to the
//! baselines measured in the same run; the targets; a table on
//! stdout and JSON in target/bench/load.json.
use crate::runner::Stats;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Closed loop: peak throughput.
    Closed,
    /// Open loop at 50 % of the closed-loop peak: latency.
    Open,
    /// Watch: commit-to-delivery latency.
    Fanout,
    /// Idle connections: memory.
    Idle,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Closed => "closed",
            Mode::Open => "open",
            Mode::Fanout => "fan-out",
            Mode::Idle => "idle",
        }
    }
}

/// What a row is compared with, and what it must reach.
#[derive(Debug, Clone, Serialize)]
pub enum Target {
    /// ops/s at least this share of the baseline's (closed loop).
    MinRatio(f64),
    /// p99 at most this many milliseconds.
    MaxP99Ms(f64),
    /// The median at most this many milliseconds: a report asked now and
    /// then, not under load.
    MaxP50Ms(f64),
    /// The server's peak resident memory at most this many MiB.
    MaxRssMib(f64),
    /// Only "no errors".
    NoErrors,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub db: String,
    pub mode: Mode,
    pub ops_per_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub samples: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub peak_rss_mib: Option<f64>,
    /// Open loop: the arrival rate asked for.
    pub offered_rate: Option<f64>,
    /// Name of the baseline row (same db, or "-" for the echo server).
    pub baseline: Option<(String, String)>,
    /// Closed: ops/s ÷ baseline ops/s. Open and fan-out: p99 ÷ baseline p99.
    /// Idle: RSS ÷ baseline RSS.
    pub ratio: Option<f64>,
    pub target: Target,
    pub pass: Option<bool>,
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, db: &str, mode: Mode, stats: Option<&Stats>) -> Row {
        let q = |p: f64| stats.filter(|s| !s.hist.is_empty()).map(|s| s.ms(p));
        Row {
            scenario: scenario.into(),
            db: db.into(),
            mode,
            ops_per_s: stats.map(Stats::ops_per_s),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: stats.filter(|s| !s.hist.is_empty()).map(Stats::max_ms),
            samples: stats.map(|s| s.hist.len()).unwrap_or(0),
            errors: stats.map(|s| s.errors).unwrap_or(0),
            error_samples: stats.map(|s| s.error_samples.clone()).unwrap_or_default(),
            peak_rss_mib: None,
            offered_rate: None,
            baseline: None,
            ratio: None,
            target: Target::NoErrors,
            pass: None,
            note: String::new(),
        }
    }

    pub fn rss(mut self, mib: Option<f64>) -> Row {
        self.peak_rss_mib = mib;
        self
    }

    pub fn against(mut self, scenario: &str, db: &str, target: Target) -> Row {
        self.baseline = Some((scenario.into(), db.into()));
        self.target = target;
        self
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = target;
        self
    }
}

/// Fill in ratios and verdicts once every row (baselines too) is known.
pub fn evaluate(rows: &mut [Row]) {
    let snapshot = rows.to_vec();
    for r in rows.iter_mut() {
        if let Some((name, db)) = &r.baseline {
            let base = snapshot
                .iter()
                .find(|b| &b.scenario == name && &b.db == db && b.mode == r.mode);
            r.ratio = base.and_then(|b| match r.mode {
                Mode::Closed => Some(r.ops_per_s? / b.ops_per_s?),
                Mode::Open | Mode::Fanout => Some(r.p99_ms? / b.p99_ms?),
                Mode::Idle => Some(r.peak_rss_mib? / b.peak_rss_mib?),
            });
        }
        let met = match r.target {
            Target::MinRatio(min) => r.ratio.map(|x| x >= min),
            Target::MaxP99Ms(max) => r.p99_ms.map(|p| p <= max),
            Target::MaxP50Ms(max) => r.p50_ms.map(|p| p <= max),
            Target::MaxRssMib(max) => r.peak_rss_mib.map(|m| m <= max),
            Target::NoErrors => Some(true),
        };
        r.pass = met.map(|m| m && r.errors == 0);
    }
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".into(),
    }
}

fn target_text(r: &Row) -> String {
    match r.target {
        Target::MinRatio(m) => format!(">= {m:.2}x"),
        Target::MaxP99Ms(ms) => format!("p99 <= {ms} ms"),
        Target::MaxP50Ms(ms) => format!("p50 <= {ms} ms"),
        Target::MaxRssMib(mib) => format!("RSS <= {mib} MiB"),
        Target::NoErrors => "0 errors".into(),
    }
}

fn baseline_text(r: &Row) -> String {
    match &r.baseline {
        Some((s, db)) if db == "-" || *db == r.db => s.clone(),
        Some((s, db)) => format!("{s} ({db})"),
        None => "-".into(),
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<22} {:<8} {:<7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7}  {:<22} {:>6}  {:<14} {}",
        "scenario",
        "db",
        "mode",
        "ops/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "errors",
        "RSS MiB",
        "baseline",
        "ratio",
        "target",
        "result"
    );
    writeln!(out, "{header}").unwrap();
    writeln!(out, "{}", "-".repeat(header.len())).unwrap();
    for r in rows {
        let result = match r.pass {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "-",
        };
        writeln!(
            out,
            "{:<22} {:<8} {:<7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7}  {:<22} {:>6}  {:<14} {}",
            r.scenario,
            r.db,
            r.mode.label(),
            num(r.ops_per_s, 0),
            num(r.p50_ms, 2),
            num(r.p90_ms, 2),
            num(r.p99_ms, 2),
            num(r.p999_ms, 2),
            num(r.max_ms, 1),
            r.errors,
            num(r.peak_rss_mib, 1),
            baseline_text(r),
            num(r.ratio, 2),
            target_text(r),
            result
        )
        .unwrap();
    }
    out
}
