//! The employees' pages: the list with the plan's seats (ADMINs add,
//! change roles, deactivate and reactivate; a MANAGER reads its team), and
//! one employee's page to edit, to reset a password, to place a legal hold
//! and to erase (or, once erased, the receipt; `privacy` draws those parts).

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::response::Response;
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use tracker_core::protocol::{NewUser, UserChanges};
use tracker_core::{Role, UserId};

use super::company::{all, parse, refused_unless_staff};
use super::{csrf_field, see_other};
use crate::State;
use crate::format::{self, tz_of};
use crate::page::{PageError, page};
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/company/employees", get(employees).post(create_employee))
        .route(
            "/company/employees/{id}",
            get(employee).post(update_employee),
        )
        .route("/company/employees/{id}/role", post(change_role))
        .route("/company/employees/{id}/{action}", post(person_action))
}

const ROLES: [Role; 3] = [Role::Employee, Role::Manager, Role::Admin];

async fn employees(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let users = match shared.tracker.list_users(&s.principal, None, &all()).await {
        Ok(p) => p.items,
        Err(e) => return s.error(e),
    };
    let admin = s.principal.role() == Role::Admin;
    let seats = if admin {
        match shared.tracker.seat_usage(&s.principal).await {
            Ok(seats) => Some(seats),
            Err(e) => return s.error(e),
        }
    } else {
        None
    };
    let tz = tz_of(&s.principal);
    let body = html! {
        @if let Some((used, limit)) = seats {
            section {
                h2 { "Add an employee" }
                p { b { (used) " of " (limit) } " seats of the plan are taken."
                    @if used >= limit { " " span.status.bad { "The plan is full: deactivate someone, or ask the operator for more seats." } } }
                form.stack method="post" action=(s.base.at("/company/employees")) {
                    (csrf_field(&s.csrf))
                    label { "Username" input type="text" name="username" required autocomplete="off"; }
                    label { "Display name" input type="text" name="display_name" maxlength="200"; }
                    label { "Email" input type="email" name="email"; }
                    label { "Password" span.hint { "At least 8 characters; the employee can change it." }
                        input type="password" name="password" required minlength="8" autocomplete="new-password"; }
                    label { "Role" select name="role" { @for r in ROLES { option value=(r.to_string()) { (r.to_string()) } } } }
                    button type="submit" { "Add" }
                }
                p.hint { "Each active employee holds a seat of the plan; adding past the plan's seats is refused." }
            }
        }
        div.table-wrap { table {
            thead { tr { th { "Username" } th { "Name" } th { "Role" } th { "Active" } th { "Last sync" } @if admin { th { "Actions" } } } }
            tbody {
                @for u in &users {
                    tr {
                        td { @if admin { a href=(s.base.at(&format!("/company/employees/{}", u.id))) { (u.username) } } @else { (u.username) } }
                        td { (u.display_name) }
                        td { (u.role.to_string()) }
                        td {
                            @if u.privacy.erased_at.is_some() { span.status.bad { "erased" } }
                            @else if u.active { "yes" } @else { span.status.bad { "deactivated" } }
                            @if u.privacy.legal_hold.is_some() { " " span.status.warn { "legal hold" } }
                        }
                        td { (u.last_agent_sync_at.map_or("never".to_owned(), |t| format::date_time(tz, t))) }
                        @if admin {
                            td {
                                @if u.id != s.principal.user_id() && u.privacy.erased_at.is_none() {
                                    form.inline method="post" action=(s.base.at(&format!("/company/employees/{}/role", u.id))) {
                                        (csrf_field(&s.csrf))
                                        label { span.hint { "Role" }
                                            select name="role" { @for r in ROLES { option value=(r.to_string()) selected[r == u.role] { (r.to_string()) } } }
                                        }
                                        button.secondary type="submit" { "Change" }
                                    }
                                    @let action = if u.active { "deactivate" } else { "reactivate" };
                                    form.inline method="post" action=(s.base.at(&format!("/company/employees/{}/{action}", u.id))) {
                                        (csrf_field(&s.csrf))
                                        button.secondary type="submit" { (if u.active { "Deactivate" } else { "Reactivate" }) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } }
    };
    page(&s.base, &s, "Employees", body)
}

#[derive(Deserialize)]
struct EmployeeForm {
    csrf: String,
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    password: String,
    role: String,
}

fn role_of(text: &str) -> Result<Role, PageError> {
    ROLES
        .into_iter()
        .find(|r| r.to_string() == text)
        .ok_or_else(|| PageError::BadForm("The role is not EMPLOYEE, MANAGER or ADMIN.".into()))
}

async fn create_employee(
    Extract(shared): Extract<State>,
    s: Session,
    Form(form): Form<EmployeeForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let role = match role_of(&form.role) {
        Ok(r) => r,
        Err(e) => return s.error(e),
    };
    let nonempty = |v: String| {
        let v = v.trim().to_owned();
        (!v.is_empty()).then_some(v)
    };
    let new = NewUser {
        username: form.username,
        password: form.password,
        email: nonempty(form.email),
        display_name: nonempty(form.display_name),
        role: Some(role),
    };
    match shared.tracker.create_user(&s.principal, new).await {
        Ok(_) => see_other(&s, "/company/employees"),
        Err(e) => s.error(e),
    }
}

#[derive(Deserialize)]
struct RoleForm {
    csrf: String,
    role: String,
}

async fn change_role(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let (id, role) = match (parse::<UserId>(&id, "user"), role_of(&form.role)) {
        (Ok(id), Ok(role)) => (id, role),
        (Err(e), _) | (_, Err(e)) => return s.error(e),
    };
    let changes = UserChanges {
        role: Some(role),
        ..UserChanges::default()
    };
    match shared.tracker.update_user(&s.principal, id, changes).await {
        Ok(_) => see_other(&s, "/company/employees"),
        Err(e) => s.error(e),
    }
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    /// A legal hold's reason.
    #[serde(default)]
    reason: String,
    /// Erasure's box "I understand this deletes … and cannot be undone".
    #[serde(default)]
    understood: Option<String>,
}

/// An action on a person (`action` is the path's last part): deactivate
/// or reactivate (back to the list), place or release a legal hold, or
/// erase (back to their page).
async fn person_action(
    Extract(shared): Extract<State>,
    s: Session,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match parse::<UserId>(&id, "user") {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    let (t, p) = (&shared.tracker, &s.principal);
    let page = format!("/company/employees/{id}");
    let list = || "/company/employees".to_owned();
    let result = match action.as_str() {
        "deactivate" => t.deactivate_user(p, id).await.map(|_| list()),
        "reactivate" => t.reactivate_user(p, id).await.map(|_| list()),
        "legal-hold" => t.place_legal_hold(p, id, &form.reason).await.map(|_| page),
        "release-hold" => t.release_legal_hold(p, id).await.map(|_| page),
        "erase" if form.understood.is_none() => {
            return s.error(PageError::BadForm(
                "Erasing needs the box “I understand this deletes … and cannot be undone” \
                 ticked. Nothing was deleted."
                    .into(),
            ));
        }
        "erase" => t
            .erase_person(p, id)
            .await
            .map(|_| format!("{page}?erased=1")),
        _ => return s.error(tracker_core::Error::not_found("page")),
    };
    match result {
        Ok(to) => see_other(&s, &to),
        Err(e) => s.error(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct EmployeeQuery {
    #[serde(default)]
    erased: Option<String>,
}

/// One employee's page (ADMIN): name, email and role to edit, a new
/// password to set for someone who lost theirs, the legal hold and the
/// erasure; an erased person's page is its tombstone and receipt.
async fn employee(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<EmployeeQuery>,
) -> Response {
    let body = async {
        let id = parse::<UserId>(&id, "user")?;
        let u = shared.tracker.get_user(&s.principal, id).await?;
        if s.principal.role() != Role::Admin {
            return Err(PageError::Core(tracker_core::Error::Forbidden {
                action: "manage_users",
            }));
        }
        let action = s.base.at(&format!("/company/employees/{}", u.id));
        let tz = tz_of(&s.principal);
        let privacy =
            super::privacy::employee_sections(&shared, &s, &u, q.erased.is_some()).await?;
        let erased = u.privacy.erased_at.is_some();
        Ok(html! {
            p.hint {
                (u.username) " · " (u.role.to_string()) " · "
                @if erased { "erased" } @else if u.active { "active" } @else { "deactivated" }
                " · last sync " (u.last_agent_sync_at.map_or("never".to_owned(), |t| format::date_time(tz, t)))
            }
            @if !erased { (editing(&s, &u, &action)) }
            (privacy)
            p { a href=(s.base.at("/company/employees")) { "All employees" } }
        })
    }
    .await;
    super::render(&s, "Employee", body)
}

/// The forms of a person's details and password.
fn editing(s: &Session, u: &tracker_core::User, action: &str) -> maud::Markup {
    html! {
        section {
            h2 { "Details" }
            form.stack method="post" action=(action) {
                (csrf_field(&s.csrf))
                label { "Display name" input type="text" name="display_name" value=(u.display_name) maxlength="200" required; }
                label { "Email" input type="email" name="email" value=(u.email.as_deref().unwrap_or("")); }
                @if u.id != s.principal.user_id() {
                    label { "Role" select name="role" { @for r in ROLES { option value=(r.to_string()) selected[r == u.role] { (r.to_string()) } } } }
                }
                button type="submit" { "Save" }
            }
        }
        section {
            h2 { "Reset the password" }
            p.hint { "For someone who lost theirs: their sessions and agents are signed out, and they sign in with this one." }
            form.stack method="post" action=(action) data-confirm="Set a new password and sign this person out everywhere?" {
                (csrf_field(&s.csrf))
                label { "New password" span.hint { "At least 8 characters." }
                    input type="password" name="password" required minlength="8" autocomplete="new-password"; }
                button.danger type="submit" { "Set the new password" }
            }
        }
    }
}

#[derive(Deserialize)]
struct EmployeeChanges {
    csrf: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

async fn update_employee(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<EmployeeChanges>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let changes = async {
        let id = parse::<UserId>(&id, "user")?;
        let role = form.role.as_deref().map(role_of).transpose()?;
        let trimmed = |v: Option<String>| v.map(|v| v.trim().to_owned());
        let changes = UserChanges {
            display_name: trimmed(form.display_name),
            email: trimmed(form.email).filter(|e| !e.is_empty()),
            role,
            password: form.password,
        };
        Ok::<_, PageError>((id, changes))
    }
    .await;
    let (id, changes) = match changes {
        Ok(c) => c,
        Err(e) => return s.error(e),
    };
    match shared.tracker.update_user(&s.principal, id, changes).await {
        Ok(_) => see_other(&s, &format!("/company/employees/{id}")),
        Err(e) => s.error(e),
    }
}
