//! The sign-up page: renders the flow's attributes as a form, runs `domain::sign_up` on
//! submit and renders its outcome.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::error::{OrServerError, PageError};
use super::form::{FormPage, form_status, render_form};
use super::pending::{
    ClientIp, PendingRequest, RequestQuery, SubmittedForm, hosted, pending_request,
    submitted_request, throttles,
};
use super::verify::show_challenge;
use super::{fields, read_form};
use crate::runtime::domain::sign_up::{self, SignUpOutcome};
use crate::runtime::domain::{branding, flows};
use crate::runtime::http::form::{FormError, PageForm};
use crate::runtime::i18n::Strings;
use crate::runtime::{AppState, store};

/// Labels of built-in attributes in the page language; custom attributes show their name.
fn attribute_label(strings: &Strings, name: &str) -> String {
    strings
        .get(&format!("attribute_{name}"))
        .cloned()
        .unwrap_or_else(|| flows::default_label(name))
}

/// The messages a refused sign-up shows.
#[derive(Default)]
struct SignUpErrors {
    fields: BTreeMap<String, String>,
    password: Option<String>,
    form: Option<String>,
}

/// One entry of a form's error summary: the field's element ID and the message.
#[derive(serde::Serialize)]
struct SummaryItem {
    id: String,
    message: String,
}

/// The values the form starts with: what was submitted, else the email from `login_hint`
/// and the other attributes' defaults.
fn initial_values(
    pending: &PendingRequest,
    submitted: Option<&SubmittedForm>,
) -> Option<Vec<(String, String)>> {
    if let Some(form) = submitted {
        return Some(form.0.clone());
    }
    let hint = pending.request.login_hint.as_ref()?;
    let mut pairs = vec![("email".to_string(), hint.clone())];
    for attribute in pending
        .flow
        .sign_up_attributes()
        .iter()
        .filter(|attribute| attribute.name != "email")
    {
        if let Some(default) = &attribute.default_value {
            pairs.push((flows::field_name(&attribute.name), default.clone()));
        }
    }
    Some(pairs)
}

/// The error summary in form order; the password sits after the email.
fn summary(
    pending: &PendingRequest,
    fields: &[fields::FieldView],
    password_error: Option<&String>,
) -> Vec<SummaryItem> {
    let mut summary = Vec::new();
    for field in fields {
        if let Some(message) = &field.error {
            summary.push(SummaryItem {
                id: field.id.clone(),
                message: format!("{}: {message}", field.label_text),
            });
        }
        if field.name == "email"
            && let Some(message) = password_error
        {
            summary.push(SummaryItem {
                id: "field-password".to_string(),
                message: format!("{}: {message}", pending.text("new_password_label")),
            });
        }
    }
    summary
}

fn sign_up_page(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    submitted: Option<&SubmittedForm>,
    errors: SignUpErrors,
) -> Response {
    let values = initial_values(pending, submitted);
    let fields = fields::field_views(
        &pending.flow.sign_up_attributes(),
        values.as_deref(),
        &errors.fields,
        &pending.text("optional_suffix"),
        &fields::FieldLabels {
            translated: &|name| {
                branding::attribute_label_override(&pending.branding, pending.language, name)
            },
            built_in: &|name| attribute_label(&pending.strings, name),
        },
    );
    let summary = summary(pending, &fields, errors.password.as_ref());
    render_form(
        state,
        headers,
        FormPage {
            template: "signup.html",
            pending,
            status: form_status(!summary.is_empty() || errors.form.is_some()),
            values: context! {
                fields => fields,
                summary => summary,
                error => errors.form,
                password_error => errors.password,
                collect_password => pending.flow.offers(flows::METHOD_EMAIL_PASSWORD),
            },
        },
    )
}

pub(super) async fn show_sign_up(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Result<Response, PageError> {
    let pending = pending_request(&state, &subdomain, query.request.as_deref(), &headers).await?;
    Ok(sign_up_page(
        &state,
        &headers,
        &pending,
        None,
        SignUpErrors::default(),
    ))
}

pub(super) async fn submit_sign_up(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Result<Response, PageError> {
    let form = read_form(&state, &headers, form)?;
    let pending = submitted_request(&state, &subdomain, &headers, &form).await?;
    let outcome = sign_up::submit(
        hosted(&state),
        throttles(&state, &pending, &ip),
        &pending.flow,
        &pending.id,
        &form.0,
        store::now(),
    )
    .await
    .or_server_error(&state, &headers)?;
    let errors = match outcome {
        SignUpOutcome::PasscodeSent(issued) => {
            return Ok(show_challenge(&state, &headers, &pending, issued));
        }
        SignUpOutcome::Invalid {
            fields,
            password_refused,
        } => SignUpErrors {
            fields: fields
                .into_iter()
                .map(|(name, problem)| (name, pending.text(problem.message_key())))
                .collect(),
            password: password_refused.then(|| pending.text("error_password_rules")),
            form: None,
        },
        SignUpOutcome::SendLimit => SignUpErrors {
            form: Some(pending.text("error_send_limit")),
            ..SignUpErrors::default()
        },
    };
    Ok(sign_up_page(
        &state,
        &headers,
        &pending,
        Some(&form),
        errors,
    ))
}
