//! Serves the hosted sign-in, sign-up, verify and reset pages: thin handlers that read the
//! form, call the flow in `runtime::domain` and render its outcome.
//!
//! Forms are server-rendered and CSRF-protected; errors the client cannot be redirected to
//! are shown as pages.
//!
//! ```text
//!  /authorize ──(no session)──▶ /{subdomain}/signin?request=ID ◀──▶ /{subdomain}/signup?request=ID
//!       └──(prompt=create)─────────────────────────────────────────────────────▲
//!                                        │ POST ok: new session cookie
//!                                        ▼
//!                               redirect_uri?code=…&state=…&iss=…
//!                               (or, for response_mode=form_post, form_post.rs's page)
//! ```

mod cookies;
mod error;
mod fields;
mod form;
pub(crate) mod form_post;
mod logout;
mod pending;
mod render;
mod reset;
mod sign_in;
mod sign_up;
mod verify;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};

pub use cookies::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_token, current_session, end_session,
    logout_csrf_valid, read_cookie,
};
pub use error::{
    ErrorPage, OrServerError, PageError, form_error_page, no_user_flow_page, signed_out_page,
};
pub use logout::{LogoutConfirmation, logout_confirmation_page};
pub use pending::sign_up_offered;
pub use render::{Templates, minutes_text, request_language};

use self::pending::{PendingRequest, SubmittedForm};
use crate::runtime::domain::hosted::Refusal;
use crate::runtime::domain::passwords::PasswordRules;
use crate::runtime::domain::sessions::SESSION_LIFETIME_SECONDS;
use crate::runtime::domain::sign_in::finish;
use crate::runtime::http::form::{BoundedForm, FormError, PageForm};
use crate::runtime::http::redirect::complete_authorization;
use crate::runtime::store::StoreError;
use crate::runtime::{AppState, i18n, store};

/// The hosted pages' routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/{tenant}/signin",
            get(sign_in::show_sign_in).post(sign_in::submit_sign_in),
        )
        .route(
            "/{tenant}/signup",
            get(sign_up::show_sign_up).post(sign_up::submit_sign_up),
        )
        .route("/{tenant}/verify", post(verify::submit_verify))
        .route(
            "/{tenant}/reset",
            get(reset::show_reset).post(reset::submit_reset),
        )
}

/// The submitted fields, or the page of a body over the form limits.
fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<PageForm, FormError>,
) -> Result<SubmittedForm, PageError> {
    match form {
        Ok(BoundedForm(fields)) => Ok(SubmittedForm(fields.into_pairs())),
        Err(error) => Err(PageError::shown(form_error_page(state, headers, error))),
    }
}

/// The message of a refusal in the page language.
fn refusal_text(pending: &PendingRequest, refusal: Refusal) -> String {
    let key = match refusal {
        Refusal::EmailImplausible => "error_email",
        Refusal::CredentialsMissing => "error_credentials_missing",
        Refusal::CredentialsWrong => "error_credentials_wrong",
        Refusal::Locked => "error_locked",
        Refusal::SendLimit => "error_send_limit",
        Refusal::CodeExpired => "error_code_expired",
        Refusal::CodeAttempts => "error_code_attempts",
        Refusal::CodeWrong => "error_code_wrong",
        Refusal::ResendTooSoon { seconds } => {
            return i18n::fill(
                &pending.text("error_resend_wait"),
                &[("seconds", &seconds.to_string())],
            );
        }
        Refusal::PasswordRules => {
            return format!(
                "{} {}",
                pending.text("error_password_rules"),
                PasswordRules::of(&pending.tenant).describe(&pending.strings)
            );
        }
    };
    pending.text(key)
}

/// Starts the browser session of a signed-in `user_id` and sends the browser back to the app
/// with its authorization code.
async fn start_session_and_redirect(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    user_id: &str,
) -> Result<Response, PageError> {
    let result: Result<Response, StoreError> = async {
        let tenant = &pending.tenant;
        let started = finish(&state.store, &tenant.id, &pending.id, user_id, store::now()).await?;
        let mut response = complete_authorization(
            state,
            tenant,
            &pending.request,
            &started.record,
            pending.language,
        )
        .await?;
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie(
                state,
                tenant,
                SESSION_COOKIE,
                &started.secret,
                SESSION_LIFETIME_SECONDS,
            ),
        );
        Ok(response)
    }
    .await;
    result.or_server_error(state, headers)
}
