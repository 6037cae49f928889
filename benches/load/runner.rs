//! The load generator: closed loop (every worker sends its next request when
//! the previous one is answered: peak throughput) and open loop (requests
//! scheduled at a fixed rate on a timer, latency measured from the scheduled
//! time, so a slow answer cannot hide the requests that should have been
//! sent meanwhile: no coordinated omission). Latencies go into HDR
//! histograms (microseconds, 3 significant digits).
use hdrhistogram::Histogram;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One operation: a request (or a fixed sequence of them) and its check.
pub type OpFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// Makes the next operation for worker `w` (connection `w % connections`).
pub type Op = Arc<dyn Fn(usize) -> OpFuture + Send + Sync>;

/// Keep this many error messages per phase for the report.
const ERROR_SAMPLES: usize = 5;
/// Open loop: more requests in flight than this means the server cannot
/// keep up at all; further arrivals are counted as errors, not queued.
const MAX_IN_FLIGHT: usize = 20_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

/// What one measured phase produced.
pub struct Stats {
    /// Completed operations inside the measurement window.
    pub ops: u64,
    pub window: Duration,
    pub hist: Histogram<u64>,
    /// Failed operations in any part of the phase (warm-up included).
    pub errors: u64,
    pub error_samples: Vec<String>,
}

impl Stats {
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.window.as_secs_f64()
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }
}

/// Errors shared by the workers of one phase.
#[derive(Default)]
pub struct Errors {
    count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Errors {
    pub fn record(&self, e: String) {
        self.record_many(1, e);
    }

    /// `n` failures described by one message.
    pub fn record_many(&self, n: u64, e: String) {
        self.count.fetch_add(n, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap();
        if s.len() < ERROR_SAMPLES && !s.contains(&e) {
            s.push(e);
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn samples(&self) -> Vec<String> {
        self.samples.lock().unwrap().clone()
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// `workers` tasks, each sending its next request as soon as the previous
/// one is answered, for `warmup` then `measure`.
pub async fn closed_loop(op: Op, workers: usize, warmup: Duration, measure: Duration) -> Stats {
    let errors = Arc::new(Errors::default());
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + measure);
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let (op, errors) = (op.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut ops = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let result = op(w).await;
                let done = Instant::now();
                match result {
                    Ok(()) if done >= from && done <= until => {
                        ops += 1;
                        hist.saturating_record(micros(done - sent));
                    }
                    Ok(()) => {}
                    Err(e) => errors.record(e),
                }
            }
            (ops, hist)
        }));
    }
    let mut hist = histogram();
    let mut ops = 0;
    for t in tasks {
        let (n, h) = t.await.expect("load worker panicked");
        ops += n;
        hist.add(h).expect("same histogram bounds");
    }
    Stats {
        ops,
        window: measure,
        hist,
        errors: errors.count(),
        error_samples: errors.samples(),
    }
}

/// Requests at a fixed `rate` per second for `warmup` then `measure`, spread
/// over `workers` (connections round-robin), each timed from the moment it
/// was due. The pacer is an OS thread (the runtime's timer has 1 ms
/// resolution); it only hands due times to a dispatcher task, which spawns
/// the requests on the runtime.
pub async fn open_loop(
    op: Op,
    workers: usize,
    rate: f64,
    warmup: Duration,
    measure: Duration,
) -> Stats {
    let rate = rate.max(1.0);
    let errors = Arc::new(Errors::default());
    let hist = Arc::new(Mutex::new(histogram()));
    let ops = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(10);
    let (from, until) = (start + warmup, start + warmup + measure);
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, u64)>();
    let pacer = std::thread::spawn(move || {
        let interval = Duration::from_secs_f64(1.0 / rate);
        for i in 0u64.. {
            let due = start + interval.mul_f64(i as f64);
            if due >= until {
                break;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if due_tx.send((due, i)).is_err() {
                break;
            }
        }
    });
    let mut tasks = tokio::task::JoinSet::new();
    while let Some((due, i)) = due_rx.recv().await {
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            errors.record(format!(
                "load generator: more than {MAX_IN_FLIGHT} requests in flight"
            ));
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let fut = op((i as usize) % workers);
        let (errors, hist, ops, in_flight) =
            (errors.clone(), hist.clone(), ops.clone(), in_flight.clone());
        tasks.spawn(async move {
            let result = fut.await;
            let done = Instant::now();
            match result {
                Ok(()) if due >= from => {
                    ops.fetch_add(1, Ordering::Relaxed);
                    hist.lock().unwrap().saturating_record(micros(done - due));
                }
                Ok(()) => {}
                Err(e) => errors.record(e),
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    pacer.join().expect("pacer thread panicked");
    // The requests still in flight, for at most a minute.
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        errors.record(format!(
            "{} requests still unanswered 60 s after the end",
            in_flight.load(Ordering::Relaxed)
        ));
        tasks.abort_all();
    }
    let hist = hist.lock().unwrap().clone();
    Stats {
        ops: ops.load(Ordering::Relaxed),
        window: measure,
        hist,
        errors: errors.count(),
        error_samples: errors.samples(),
    }
}
