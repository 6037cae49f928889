//! Watch fan-out: many long-lived streams, commits at a modest rate, and the
//! time from each commit to its delivery on every stream (wall clock: the
//! server and the watchers share this machine's clock). Also used, with the
//! echo server's Subscribe/Publish, for baseline (a).
use crate::runner::{Errors, Stats, histogram};
use hdrhistogram::Histogram;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_stream::{Stream, StreamExt};

/// A watcher's stream: `None` for "nothing new" (checkpoint, subscribed),
/// `Some(t)` for a delivery committed at `t` (µs since the Unix epoch).
pub type Deliveries = Pin<Box<dyn Stream<Item = Result<Option<i64>, String>> + Send>>;
pub type StartWatcher = Arc<
    dyn Fn(usize) -> Pin<Box<dyn Future<Output = Result<Deliveries, String>> + Send>> + Send + Sync,
>;
/// One commit (a mutation or a publish) stamped `sent` (µs since the epoch).
pub type Commit = Arc<
    dyn Fn(usize, i64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

pub fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64
}

pub struct Fanout {
    pub stats: Stats,
    pub commits: u64,
    pub watchers: usize,
    /// How long the watchers took to open and catch up.
    pub ready_after: Duration,
    /// From the last commit until every delivery had arrived (or gave up).
    pub drained_after: Duration,
}

/// Start `watchers` streams, wait until each is caught up, commit at `rate`
/// for `warmup` (not counted) and `measure`, then wait until every watcher
/// has every measured commit (missing deliveries are errors).
pub async fn measure(
    start: StartWatcher,
    commit: Commit,
    watchers: usize,
    rate: f64,
    warmup: Duration,
    measure: Duration,
) -> Fanout {
    let errors = Arc::new(Errors::default());
    let hist = Arc::new(Mutex::new(histogram()));
    // Deliveries stamped before this are warm-up (i64::MAX: not yet measuring).
    let from = Arc::new(AtomicI64::new(i64::MAX));
    let ready = Arc::new(AtomicUsize::new(0));
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..watchers).map(|_| AtomicU64::new(0)).collect());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(watchers);
    for i in 0..watchers {
        let (start, errors, hist, from, ready, counts, mut stop) = (
            start.clone(),
            errors.clone(),
            hist.clone(),
            from.clone(),
            ready.clone(),
            counts.clone(),
            stop_rx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut stream = match start(i).await {
                Ok(s) => s,
                Err(e) => return errors.record(e),
            };
            let mut is_ready = false;
            let mut local: Vec<u64> = Vec::new();
            loop {
                let item = tokio::select! {
                    item = stream.next() => item,
                    _ = stop.wait_for(|s| *s) => break,
                };
                match item {
                    Some(Ok(None)) => {}
                    Some(Ok(Some(stamp))) => {
                        let now = unix_micros();
                        if stamp >= from.load(Ordering::Relaxed) {
                            local.push((now - stamp).max(1) as u64);
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Err(e)) => {
                        errors.record(e);
                        break;
                    }
                    None => {
                        errors.record("watch stream ended".into());
                        break;
                    }
                }
                if !is_ready {
                    is_ready = true;
                    ready.fetch_add(1, Ordering::Relaxed);
                }
                if local.len() >= 64 {
                    flush(&hist, &mut local);
                }
            }
            flush(&hist, &mut local);
        }));
    }
    let wait_from = Instant::now();
    while ready.load(Ordering::Relaxed) + (errors.count() as usize) < watchers
        && wait_from.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = wait_from.elapsed();
    let caught_up = ready.load(Ordering::Relaxed);
    if caught_up < watchers {
        errors.record(format!("only {caught_up} of {watchers} watchers caught up"));
    }
    // Warm-up commits, a pause so none of them is stamped late, then the measured ones.
    commit_at(&commit, rate, warmup, &errors).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    from.store(unix_micros(), Ordering::Relaxed);
    let commits = commit_at(&commit, rate, measure, &errors).await;
    let last_commit = Instant::now();
    let deadline = last_commit + Duration::from_secs(10);
    while Instant::now() < deadline && counts.iter().any(|c| c.load(Ordering::Relaxed) < commits) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained_after = last_commit.elapsed();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let delivered: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let missing: u64 = counts
        .iter()
        .map(|c| commits.saturating_sub(c.load(Ordering::Relaxed)))
        .sum();
    if missing > 0 {
        errors.record_many(
            missing,
            format!(
                "{missing} of {} deliveries missing 10 s after the last commit",
                commits * watchers as u64
            ),
        );
    }
    let hist = hist.lock().unwrap().clone();
    Fanout {
        stats: Stats {
            ops: delivered,
            window: measure,
            hist,
            errors: errors.count(),
            error_samples: errors.samples(),
        },
        commits,
        watchers,
        ready_after,
        drained_after,
    }
}

fn flush(hist: &Mutex<Histogram<u64>>, local: &mut Vec<u64>) {
    if local.is_empty() {
        return;
    }
    let mut h = hist.lock().unwrap();
    for v in local.drain(..) {
        h.saturating_record(v);
    }
}

/// Commit at `rate` for `span` (open loop: a slow commit does not delay the
/// next one); returns the successes once all have answered.
async fn commit_at(commit: &Commit, rate: f64, span: Duration, errors: &Errors) -> u64 {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut running = tokio::task::JoinSet::new();
    for i in 0u32.. {
        let due = start + interval * i;
        if due >= start + span {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        running.spawn(commit(i as usize, unix_micros()));
    }
    let mut ok = 0;
    while let Some(r) = running.join_next().await {
        match r {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => errors.record(e),
            Err(e) => errors.record(format!("commit task: {e}")),
        }
    }
    ok
}
