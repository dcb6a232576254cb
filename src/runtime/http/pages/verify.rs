//! The passcode page: shows a challenge, emails its code, and runs `domain::verify` (or a
//! resend) on submit.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::error::{OrServerError, PageError, csrf_failure};
use super::form::{FormPage, form_status, render_form, sign_in_page};
use super::pending::{ClientIp, PendingRequest, hosted, submitted_request, throttles};
use super::render::minutes_text;
use super::{read_form, refusal_text, start_session_and_redirect};
use crate::contract::StoredSmtp;
use crate::runtime::domain::passcodes::{self, Issued, Purpose};
use crate::runtime::domain::verify::{self, Verified, VerifyForm};
use crate::runtime::http::form::{FormError, PageForm};
use crate::runtime::store::{ChallengeRecord, Kind};
use crate::runtime::{AppState, Tenant, email, i18n, store};

/// The key of the passcode page's title for `purpose`.
fn title_key(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::SignUp => "verify_title_sign_up",
        Purpose::SignIn => "verify_title_sign_in",
        Purpose::Mfa => "verify_title_mfa",
        Purpose::Reset => "verify_title_reset",
    }
}

/// Emails the code of a new challenge (none for a decoy) and shows the passcode page, which
/// is the same either way.
pub(super) fn show_challenge(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    pending: &PendingRequest,
    issued: Issued,
) -> Response {
    if let Some(passcode) = issued.passcode {
        send_passcode(state, pending, &issued.challenge.email, passcode);
    }
    verify_page(state, headers, pending, &issued.challenge, None, None)
}

/// The tenant's SMTP settings.
async fn smtp_settings(state: &AppState, tenant: &Tenant) -> Result<StoredSmtp, email::EmailError> {
    state
        .store
        .document(Kind::Smtp, &tenant.id, &tenant.id)
        .await
        .ok()
        .flatten()
        .and_then(|document| serde_json::from_str(&document.spec).ok())
        .ok_or(email::EmailError::NotConfigured("SMTP server"))
}

/// Sends a passcode in the background, so known and unknown accounts answer alike and as
/// fast; a failure is logged (without the code).
fn send_passcode(state: &Arc<AppState>, pending: &PendingRequest, to: &str, passcode: String) {
    let state = state.clone();
    let tenant = pending.tenant.clone();
    let to = to.to_string();
    let duration = minutes_text(&pending.strings, state.settings.passcode_lifetime_seconds);
    let subject = i18n::fill(
        &pending.text("email_subject"),
        &[("tenant", &tenant.spec.display_name)],
    );
    let body = i18n::fill(
        &pending.text("email_body"),
        &[
            ("code", &passcode),
            ("duration", &duration),
            ("tenant", &tenant.spec.display_name),
        ],
    );
    tokio::spawn(async move {
        let result = async {
            let sender = tenant
                .spec
                .email
                .as_ref()
                .ok_or(email::EmailError::NotConfigured("email sender"))?;
            let smtp = smtp_settings(&state, &tenant).await?;
            let message = email::OutgoingEmail {
                from_address: &sender.from_address,
                from_name: sender.from_name.as_deref(),
                to: &to,
                subject: &subject,
                body,
            };
            email::send(&state.keys.kek, &tenant.id, &smtp, message).await
        }
        .await;
        match result {
            Ok(()) => tracing::info!(tenant = %tenant.subdomain, "passcode email sent"),
            Err(error) => {
                tracing::error!(tenant = %tenant.subdomain, error = %error, "failed to send a passcode email");
            }
        }
    });
}

fn verify_page(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    challenge: &ChallengeRecord,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let purpose = Purpose::parse(&challenge.purpose).unwrap_or(Purpose::SignIn);
    let duration = minutes_text(&pending.strings, state.settings.passcode_lifetime_seconds);
    render_form(
        state,
        headers,
        FormPage {
            template: "verify.html",
            pending,
            status: form_status(error.is_some()),
            values: context! {
                title => pending.text(title_key(purpose)),
                sent_text => i18n::fill(
                    &pending.text("verify_sent"),
                    &[("email", &challenge.email), ("duration", &duration)],
                ),
                challenge_id => challenge.id,
                new_password => purpose == Purpose::Reset,
                error => error,
                notice => notice,
            },
        },
    )
}

pub(super) async fn submit_verify(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Result<Response, PageError> {
    let form = read_form(&state, &headers, form)?;
    let pending = submitted_request(&state, &subdomain, &headers, &form).await?;
    let challenge_id = form.get("challenge").unwrap_or_default();
    let found = passcodes::find(
        hosted(&state),
        &pending.tenant.id,
        challenge_id,
        &pending.id,
    )
    .await
    .or_server_error(&state, &headers)?;
    let Some((challenge, purpose)) = found else {
        return Err(csrf_failure(&state, &headers));
    };
    let (hosted, throttles) = (hosted(&state), throttles(&state, &pending, &ip));
    let now = store::now();
    let show = |error: Option<&str>, notice: Option<&str>| {
        verify_page(&state, &headers, &pending, &challenge, error, notice)
    };
    if form.get("action") == Some("resend") {
        let resent = passcodes::resend(hosted, throttles, &challenge, now)
            .await
            .or_server_error(&state, &headers)?;
        return Ok(match resent {
            Ok(passcode) => {
                if let Some(passcode) = passcode {
                    send_passcode(&state, &pending, &challenge.email, passcode);
                }
                show(None, Some(&pending.text("notice_code_resent")))
            }
            Err(refusal) => show(Some(&refusal_text(&pending, refusal)), None),
        });
    }
    let submitted = VerifyForm {
        code: form.get("code").unwrap_or_default(),
        new_password: form.get("new_password").unwrap_or_default().to_string(),
    };
    let verified = verify::submit(hosted, throttles, &challenge, purpose, submitted, now)
        .await
        .or_server_error(&state, &headers)?;
    match verified {
        Err(refusal) => Ok(show(Some(&refusal_text(&pending, refusal)), None)),
        Ok(Verified::AccountExists { email }) => {
            let message = pending.text("error_account_exists");
            Ok(sign_in_page(
                &state,
                &headers,
                &pending,
                &email,
                Some(&message),
            ))
        }
        Ok(Verified::SignedIn { user_id }) => {
            start_session_and_redirect(&state, &headers, &pending, &user_id).await
        }
    }
}
