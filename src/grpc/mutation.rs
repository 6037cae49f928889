//! The one seam of every mutating RPC: a request message decodes into its
//! request meta (AIP-155 request id, expected version, device) and a
//! service `Command`; the command runs through `Commands::execute`; the
//! outcome encodes into the RPC's answer. A unary handler is one call to
//! [`run`]; Push decodes each queued request with [`queued`] and hands the
//! batch to `SyncService::push`.
use super::assessment::item_pb;
use super::auth::caller;
use super::convert as cv;
use super::inspections::{inspection_pb, reading_pb as room_reading_pb};
use super::outages::outage_pb;
use super::pb::{self, mutation_result::Result as R};
use super::readings::{exchange_pb, reading_pb as meter_reading_pb};
use crate::domain::{Caller, Method};
use crate::error::{AppError, AppResult};
use crate::service::RequestMeta;
use crate::service::command::{Command, Commands, Outcome};
use crate::service::sync::Queued;
use prost::Message;
use tonic::{Request, Response, Status};

/// A request message of a mutating RPC.
pub trait MutationRequest: Message {
    /// The RPC it is the request of.
    const METHOD: Method;
    /// Its `request_id`, `expected_version` (0: none; messages without one
    /// answer 0) and `device_id` ("" when not sent from a handheld).
    fn meta_fields(&self) -> (&str, i64, &str);
    /// Its body as a command: form checks only (ids, times, enums, ranges).
    fn command(&self) -> AppResult<Command>;
}

/// The meta and the command of a request, bad input refused field by field.
pub fn decode<M: MutationRequest>(m: &M) -> AppResult<(RequestMeta, Command)> {
    let (request_id, expected_version, device_id) = m.meta_fields();
    let meta = cv::meta(M::METHOD.name(), m, request_id, expected_version, device_id)?;
    Ok((meta, m.command()?))
}

/// A queued request of a Push, decoded (or refused) on its own.
pub fn queued<M: MutationRequest>(mutation_id: i64, m: &M) -> Queued {
    let command = decode(m);
    let fingerprint = match &command {
        Ok((meta, _)) => meta.fingerprint.clone(),
        Err(_) => cv::fingerprint(M::METHOD.name(), m),
    };
    Queued {
        mutation_id,
        fingerprint,
        command,
    }
}

/// The answer message of a mutating RPC, as `caller` may see it.
pub trait Answer: Sized {
    fn from_outcome(outcome: Outcome, caller: &Caller) -> Option<Self>;
}

impl Answer for pb::Ticket {
    fn from_outcome(outcome: Outcome, caller: &Caller) -> Option<Self> {
        match outcome {
            Outcome::Ticket(t) => Some(cv::ticket(&t, caller)),
            _ => None,
        }
    }
}

impl Answer for pb::Inspection {
    fn from_outcome(outcome: Outcome, _: &Caller) -> Option<Self> {
        match outcome {
            Outcome::Inspection(i) => Some(inspection_pb(&i)),
            _ => None,
        }
    }
}

impl Answer for pb::RoomReading {
    fn from_outcome(outcome: Outcome, _: &Caller) -> Option<Self> {
        match outcome {
            Outcome::RoomReading(r) => Some(room_reading_pb(&r)),
            _ => None,
        }
    }
}

impl Answer for pb::MeterReading {
    fn from_outcome(outcome: Outcome, _: &Caller) -> Option<Self> {
        match outcome {
            Outcome::MeterReading(r) => Some(meter_reading_pb(&r)),
            _ => None,
        }
    }
}

impl Answer for pb::MeterExchange {
    fn from_outcome(outcome: Outcome, _: &Caller) -> Option<Self> {
        match outcome {
            Outcome::MeterExchange(x) => Some(exchange_pb(&x)),
            _ => None,
        }
    }
}

impl Answer for pb::Outage {
    fn from_outcome(outcome: Outcome, _: &Caller) -> Option<Self> {
        match outcome {
            Outcome::Outage(o) => Some(outage_pb(&o)),
            _ => None,
        }
    }
}

impl Answer for pb::AssessmentItem {
    fn from_outcome(outcome: Outcome, _: &Caller) -> Option<Self> {
        match outcome {
            Outcome::AssessmentItem(i) => Some(item_pb(&i)),
            _ => None,
        }
    }
}

/// A Push result's answer: the record the mutation's unary RPC answers with.
pub fn result_pb(outcome: Outcome, caller: &Caller) -> R {
    match outcome {
        Outcome::Ticket(t) => R::Ticket(cv::ticket(&t, caller)),
        Outcome::Inspection(i) => R::Inspection(inspection_pb(&i)),
        Outcome::RoomReading(r) => R::RoomReading(room_reading_pb(&r)),
        Outcome::MeterReading(r) => R::MeterReading(meter_reading_pb(&r)),
        Outcome::MeterExchange(x) => R::MeterExchange(exchange_pb(&x)),
        Outcome::Outage(o) => R::Outage(outage_pb(&o)),
        Outcome::AssessmentItem(i) => R::AssessmentItem(item_pb(&i)),
    }
}

/// A mutating RPC: caller → decode → execute → encode.
pub async fn run<M, A>(commands: &Commands, req: Request<M>) -> Result<Response<A>, Status>
where
    M: MutationRequest,
    A: Answer,
{
    let who = caller(&req)?;
    let (meta, command) = decode(req.get_ref())?;
    let method = command.method();
    let outcome = commands.execute(&who, meta, command).await?;
    let answer = A::from_outcome(outcome, &who).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("{method} answered with another record"))
    })?;
    Ok(Response::new(answer))
}
