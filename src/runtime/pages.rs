//! Transitional: the hosted pages moved to `runtime::http::pages` (and their rules to
//! `runtime::domain`). These re-exports keep `oidc.rs` and `mod.rs` building until their
//! imports point at the new paths; then this file goes.

pub use super::http::pages::{
    ErrorPage, LogoutConfirmation, Templates, cookie, current_session, end_session,
    form_error_page, logout_confirmation_page, logout_csrf_valid, no_user_flow_page, read_cookie,
    router, signed_out_page,
};
