//! Baseline (a): a bare tonic server with fieldops's server settings
//! (4 MiB messages, TCP_NODELAY, per-call timeout, health service), whose
//! replies are as large as the real ones. It runs as a child process (this
//! bench binary re-executed with FIELDOPS_BENCH_ECHO_ADDR) so that, like the
//! real server, it has its own runtime and its own peak RSS.
use crate::runner::{Op, OpFuture};
use crate::server::ServerProcess;
use pb::echo_service_client::EchoServiceClient;
use pb::echo_service_server::{EchoService, EchoServiceServer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

pub mod pb {
    tonic::include_proto!("fieldops.bench.v1");
}

/// Set in the child: serve the echo baseline on this address.
pub const ADDR_ENV: &str = "FIELDOPS_BENCH_ECHO_ADDR";
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

struct Echo {
    events: broadcast::Sender<pb::Event>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, req: Request<pb::EchoRequest>) -> Result<Response<pb::EchoReply>, Status> {
        let size = req.get_ref().reply_size as usize;
        Ok(Response::new(pb::EchoReply {
            payload: vec![7u8; size],
        }))
    }

    type SubscribeStream = EventStream;

    /// Like fieldops's Watch: one task per subscriber feeding a bounded
    /// channel; a first empty event says "subscribed".
    async fn subscribe(
        &self,
        _req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let mut events = self.events.subscribe();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            if tx.send(Ok(pb::Event::default())).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    e = events.recv() => match e {
                        Ok(e) => if tx.send(Ok(e)).await.is_err() { return },
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn publish(&self, req: Request<pb::Event>) -> Result<Response<pb::PublishReply>, Status> {
        let _ = self.events.send(req.into_inner());
        Ok(Response::new(pb::PublishReply {}))
    }
}

/// The child's main: serve until killed.
pub fn serve_forever(addr: &str) -> anyhow::Result<()> {
    let addr: SocketAddr = addr.parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let (health, health_service) = tonic_health::server::health_reporter();
            health.set_serving::<EchoServiceServer<Echo>>().await;
            let echo = EchoServiceServer::new(Echo {
                events: broadcast::channel(4096).0,
            })
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            Server::builder()
                .timeout(Duration::from_secs(30))
                .add_service(health_service)
                .add_service(echo)
                .serve_with_incoming(incoming)
                .await?;
            Ok(())
        })
}

/// Start the echo child.
pub async fn start(dir: &std::path::Path) -> anyhow::Result<ServerProcess> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.env(ADDR_ENV, addr.to_string());
    ServerProcess::spawn(
        cmd,
        addr,
        dir.join("echo.log"),
        "fieldops.bench.v1.EchoService",
    )
    .await
}

fn client(ch: &Channel) -> EchoServiceClient<Channel> {
    EchoServiceClient::new(ch.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// Padding that makes an EchoRequest `size` bytes long on the wire
/// (field tags, lengths and `reply_size` take about 6 bytes).
fn pad(size: usize) -> Vec<u8> {
    vec![1u8; size.saturating_sub(6)]
}

/// One echo: a request of `request_bytes`, a reply of `reply_bytes`.
pub fn echo_op(channels: Arc<Vec<Channel>>, request_bytes: usize, reply_bytes: usize) -> Op {
    Arc::new(move |w| -> OpFuture {
        let mut c = client(&channels[w % channels.len()]);
        let req = pb::EchoRequest {
            payload: pad(request_bytes),
            reply_size: reply_bytes.saturating_sub(4) as u32,
        };
        Box::pin(async move {
            c.echo(req).await.map_err(|s| format!("echo: {s}"))?;
            Ok(())
        })
    })
}

/// The Pull baseline: the same number of round trips with the same reply
/// sizes as pulling the whole feed page by page.
pub fn paged_op(channels: Arc<Vec<Channel>>, request_bytes: usize, pages: Arc<Vec<usize>>) -> Op {
    Arc::new(move |w| -> OpFuture {
        let mut c = client(&channels[w % channels.len()]);
        let pages = pages.clone();
        Box::pin(async move {
            for &reply in pages.iter() {
                let req = pb::EchoRequest {
                    payload: pad(request_bytes),
                    reply_size: reply.saturating_sub(5) as u32,
                };
                c.echo(req).await.map_err(|s| format!("echo page: {s}"))?;
            }
            Ok(())
        })
    })
}

pub fn subscribe(
    ch: &Channel,
) -> impl std::future::Future<Output = Result<tonic::Streaming<pb::Event>, Status>> + use<> {
    let mut c = client(ch);
    async move { Ok(c.subscribe(pb::SubscribeRequest {}).await?.into_inner()) }
}

pub async fn publish(ch: &Channel, sent_unix_micros: i64, bytes: usize) -> Result<(), Status> {
    client(ch)
        .publish(pb::Event {
            sent_unix_micros,
            payload: vec![3u8; bytes.saturating_sub(12)],
        })
        .await?;
    Ok(())
}
