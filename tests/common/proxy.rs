//! A TCP proxy the tests put between the server and its database, to cut
//! the network the way real networks fail:
//! - `reset`: every open connection is closed with a RST at once;
//! - `black_hole`: from now on nothing gets through; bytes sent either way
//!   are dropped (the peers' writes succeed, no answer ever comes, no FIN
//!   or RST is seen); connections opened meanwhile never reach the database;
//! - `black_hole_at(needle)`: the same, starting the moment a client sends
//!   bytes containing `needle`, which are dropped too (e.g. `COMMIT`: the
//!   database is left inside a transaction, holding its locks);
//! - `heal`: new connections work again. A connection that lived through
//!   the black hole stays dead-but-open, as one whose packets were lost for
//!   good would: its peers must time it out themselves.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

struct Shared {
    target: SocketAddr,
    /// True while the network is cut.
    holed: AtomicBool,
    /// Bumped at each black hole: connections born before it are dead.
    epoch: AtomicU64,
    /// Tells every live connection to reset itself.
    reset: broadcast::Sender<()>,
    /// Connections accepted, for the tests' reports.
    accepted: AtomicU64,
    /// Client bytes that start a black hole when they pass.
    trigger: std::sync::Mutex<Option<Vec<u8>>>,
}

impl Shared {
    fn black_hole(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.holed.store(true, Ordering::SeqCst);
    }

    /// Whether `chunk` pulls the trigger (which then is spent).
    fn triggers(&self, chunk: &[u8]) -> bool {
        let mut armed = self.trigger.lock().unwrap();
        let hit = armed
            .as_ref()
            .is_some_and(|n| chunk.windows(n.len()).any(|w| w == n.as_slice()));
        if hit {
            *armed = None;
        }
        hit
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target,
            holed: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            reset: broadcast::channel(4).0,
            accepted: AtomicU64::new(0),
            trigger: std::sync::Mutex::new(None),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((client, _)) => {
                        s.accepted.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(serve(s.clone(), client));
                    }
                    // A client that gave up before the accept (a timed-out
                    // connect): the proxy goes on listening.
                    Err(_) => tokio::task::yield_now().await,
                }
            }
        });
        Proxy {
            addr,
            shared,
            accept,
        }
    }

    pub fn black_hole(&self) {
        self.shared.black_hole();
    }

    /// Black-hole the network when a client next sends `needle`.
    pub fn black_hole_at(&self, needle: &[u8]) {
        *self.shared.trigger.lock().unwrap() = Some(needle.to_vec());
    }

    pub fn is_holed(&self) -> bool {
        self.shared.holed.load(Ordering::SeqCst)
    }

    pub fn heal(&self) {
        self.shared.holed.store(false, Ordering::SeqCst);
    }

    pub fn reset(&self) {
        let _ = self.shared.reset.send(());
    }

    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Closes every connection (dead ones included).
        let _ = self.shared.reset.send(());
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

async fn serve(s: Arc<Shared>, client: TcpStream) {
    let born = s.epoch.load(Ordering::SeqCst);
    let mut reset = s.reset.subscribe();
    if s.holed.load(Ordering::SeqCst) {
        // Never reaches the database; swallows what the client sends.
        return swallow(client, reset).await;
    }
    let Ok(upstream) = TcpStream::connect(s.target).await else {
        return;
    };
    let (mut client, mut upstream) = (client, upstream);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    enum End {
        Closed,
        Dead,
        Reset,
    }
    let end = {
        let (mut cr, mut cw) = client.split();
        let (mut ur, mut uw) = upstream.split();
        let alive = |s: &Shared| s.epoch.load(Ordering::SeqCst) == born;
        let up = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => return alive(&s),
                    Ok(n) => n,
                };
                if alive(&s) && s.triggers(&buf[..n]) {
                    s.black_hole();
                }
                if alive(&s) && uw.write_all(&buf[..n]).await.is_err() {
                    return true;
                }
            }
        };
        let down = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match ur.read(&mut buf).await {
                    Ok(0) | Err(_) => return alive(&s),
                    Ok(n) => n,
                };
                if alive(&s) && cw.write_all(&buf[..n]).await.is_err() {
                    return true;
                }
            }
        };
        tokio::select! {
            // A side closed: pass it on while the network is up.
            up = up => if up { End::Closed } else { End::Dead },
            down = down => if down { End::Closed } else { End::Dead },
            _ = reset.recv() => End::Reset,
        }
    };
    match end {
        End::Closed => {}
        End::Dead => hang(&mut reset).await,
        End::Reset => {
            let _ = client.set_zero_linger();
            let _ = upstream.set_zero_linger();
        }
    }
}

/// A dead connection: its close is never passed on either.
async fn hang(reset: &mut broadcast::Receiver<()>) {
    let _ = reset.recv().await;
}

async fn swallow(mut client: TcpStream, mut reset: broadcast::Receiver<()>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            r = client.read(&mut buf) => match r {
                Ok(0) | Err(_) => return hang(&mut reset).await,
                Ok(_) => {}
            },
            _ = reset.recv() => {
                let _ = client.set_zero_linger();
                return;
            }
        }
    }
}
