//! Errors readable by people and tools (issue 16): every error carries a
//! `google.rpc.LocalizedMessage` in the language the call's
//! `accept-language` asks for (zh-CN or en, weights honoured), else the
//! server's default (zh-CN unless configured); field violations carry
//! their reason and their own localized text; reflection serves the
//! `google.rpc` descriptors so grpcurl and buf curl decode the details.
mod common;

use common::*;
use fieldops::grpc::language::Language;
use fieldops::grpc::pb;
use fieldops::grpc::pb::ticket_service_client::TicketServiceClient;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

type Desk = TicketServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, WithLanguage>,
>;

/// A dispatcher's client that sends `accept-language: lang`.
async fn desk(app: &TestApp, lang: &str) -> Desk {
    TicketServiceClient::with_interceptor(app.channel().await, WithLanguage::new(lang))
}

/// A missing address: INVALID_ARGUMENT MISSING_FIELD on field `address`.
fn bad_intake() -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        address: String::new(),
        ..create_req("BUILDING_NO_HEAT")
    }
}

/// A ticket id nobody has: NOT_FOUND (or UNAUTHENTICATED without a token).
fn unknown_ticket() -> pb::GetTicketRequest {
    pb::GetTicketRequest {
        ticket_id: uuid::Uuid::now_v7().to_string(),
    }
}

#[tokio::test]
async fn errors_speak_chinese_by_default_and_english_on_request() {
    let app = spawn_app().await;
    // No accept-language: the default, zh-CN.
    let e = app
        .dispatcher()
        .await
        .create_ticket(bad_intake())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let d = e.get_error_details();
    let m = d.localized_message().expect("a LocalizedMessage");
    assert_eq!(m.locale, "zh-CN");
    assert!(m.message.contains("缺少必填字段"), "{}", m.message);
    assert!(
        m.message.contains("address"),
        "names the field: {}",
        m.message
    );
    let v = &d.bad_request().unwrap().field_violations[0];
    assert_eq!(
        (v.field.as_str(), v.reason.as_str()),
        ("address", "MISSING_FIELD")
    );
    assert_eq!(v.localized_message.as_ref().unwrap().locale, "zh-CN");

    for (header, locale) in [
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr, en;q=0.5", "en"),
        ("en;q=0.4, zh-CN;q=0.6", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("fr", "zh-CN"),
    ] {
        let mut c = desk(&app, header).await;
        let e = c.create_ticket(bad_intake()).await.unwrap_err();
        let d = e.get_error_details();
        let m = d.localized_message().unwrap();
        assert_eq!(m.locale, locale, "{header}");
        if locale == "en" {
            // A sentence as the Chinese one: what is wrong, then the field.
            assert_eq!(
                m.message, "address is required (field: address)",
                "{header}: the English message"
            );
        }
    }

    // A refusal that is not bad input: its reason's Chinese text.
    let mut c = desk(&app, "zh-CN").await;
    let e = c.get_ticket(unknown_ticket()).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        e.get_error_details().localized_message().unwrap().message,
        "工单不存在。"
    );
    // Unauthenticated calls are answered in the caller's language too.
    let mut anon =
        TicketServiceClient::with_interceptor(app.channel().await, WithLanguage::anonymous("en"));
    let e = anon.get_ticket(unknown_ticket()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        e.get_error_details().localized_message().unwrap().locale,
        "en"
    );
}

#[tokio::test]
async fn a_server_configured_for_english_answers_in_english() {
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.default_language = Language::En
    })
    .await;
    let e = app
        .dispatcher()
        .await
        .create_ticket(bad_intake())
        .await
        .unwrap_err();
    assert_eq!(
        e.get_error_details().localized_message().unwrap().locale,
        "en"
    );
    let mut zh = desk(&app, "zh-CN,zh;q=0.9").await;
    let e = zh.create_ticket(bad_intake()).await.unwrap_err();
    assert_eq!(
        e.get_error_details().localized_message().unwrap().locale,
        "zh-CN"
    );
}

/// grpcurl and buf curl decode the error details only if reflection serves
/// their descriptors.
#[tokio::test]
async fn reflection_serves_the_google_rpc_error_details() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app().await;
    let mut c = ServerReflectionClient::new(app.channel().await);
    for symbol in [
        "google.rpc.ErrorInfo",
        "google.rpc.BadRequest",
        "google.rpc.PreconditionFailure",
        "google.rpc.LocalizedMessage",
    ] {
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(symbol.into())),
        };
        let mut stream = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        assert!(
            matches!(resp.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "{symbol}: {resp:?}"
        );
    }
}

/// Sends a dispatcher's token (unless anonymous) and an accept-language.
#[derive(Clone)]
struct WithLanguage {
    auth: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    lang: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl WithLanguage {
    fn new(lang: &str) -> WithLanguage {
        let t = token("d1", &[fieldops::domain::Role::Dispatcher], "hq");
        WithLanguage {
            auth: Some(format!("Bearer {t}").parse().unwrap()),
            lang: lang.parse().unwrap(),
        }
    }

    fn anonymous(lang: &str) -> WithLanguage {
        WithLanguage {
            auth: None,
            lang: lang.parse().unwrap(),
        }
    }
}

impl tonic::service::Interceptor for WithLanguage {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(a) = &self.auth {
            req.metadata_mut().insert("authorization", a.clone());
        }
        req.metadata_mut()
            .insert("accept-language", self.lang.clone());
        Ok(req)
    }
}

/// Messages name RPCs, states and fields as the API does: a refused
/// transition names the RPC asked for (RecordRevisit, not an internal
/// action) and the state as the enum spells it.
#[tokio::test]
async fn refusals_name_rpcs_and_states_as_the_api_does() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let e = d
        .record_revisit(pb::RecordRevisitRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            outcome: pb::RevisitOutcome::Satisfied as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "INVALID_TRANSITION", None);
    assert!(
        e.message().contains("RecordRevisit")
            && e.message().contains("TICKET_STATE_NEW")
            && !e.message().contains("RevisitClose"),
        "{}",
        e.message()
    );
    app.stop().await;
}
