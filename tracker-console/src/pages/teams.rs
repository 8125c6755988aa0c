//! Teams: an ADMIN creates them and chooses their managers and members;
//! a MANAGER sees the people of the teams it manages.

use axum::Form;
use axum::Router;
use axum::extract::{Path, State as Extract};
use axum::response::Response;
use axum::routing::{get, post};
use maud::html;
use tracker_core::protocol::{NewTeam, TeamChanges};
use tracker_core::{Role, Team, TeamId, User, UserId};

use super::company::{all, parse, refused_unless_staff};
use super::{CsrfForm, csrf_field, see_other};
use crate::State;
use crate::page::{PageError, page};
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/company/teams", get(teams).post(create_team))
        .route("/company/teams/{id}", post(update_team))
        .route("/company/teams/{id}/delete", post(delete_team))
}

/// The form fields of a team: its name and a checkbox per person as a
/// manager (`manager:<id>`) or a member (`member:<id>`).
fn team_fields(s: &Session, people: &[User], team: Option<&Team>) -> maud::Markup {
    let has = |list: Option<&Vec<UserId>>, id: UserId| list.is_some_and(|l| l.contains(&id));
    html! {
        (csrf_field(&s.csrf))
        label { "Name" input type="text" name="name" required maxlength="200" value=(team.map_or("", |t| t.name.as_str())); }
        fieldset {
            legend { "People" }
            div.table-wrap { table {
                thead { tr { th { "Person" } th { "Manager" } th { "Member" } } }
                tbody {
                    @for u in people {
                        tr {
                            td { (u.username) }
                            td { input type="checkbox" name=(format!("manager:{}", u.id)) value="on"
                                aria-label=(format!("{} manages", u.username))
                                checked[has(team.map(|t| &t.managers), u.id)]; }
                            td { input type="checkbox" name=(format!("member:{}", u.id)) value="on"
                                aria-label=(format!("{} is a member", u.username))
                                checked[has(team.map(|t| &t.members), u.id)]; }
                        }
                    }
                }
            } }
        }
    }
}

async fn teams(Extract(shared): Extract<State>, s: Session) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let t = &shared.tracker;
    let p = &s.principal;
    let list = match t.list_teams(p, &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let people = match t.list_users(p, Some(true), &all()).await {
        Ok(page) => page.items,
        Err(e) => return s.error(e),
    };
    let name = |id: &UserId| {
        people
            .iter()
            .find(|u| u.id == *id)
            .map_or_else(|| id.to_string(), |u| u.username.clone())
    };
    let admin = p.role() == Role::Admin;
    let body = html! {
        @if list.is_empty() { p { "No team yet." } }
        @for team in &list {
            section {
                h2 { (team.name) }
                p { "Managers: " (team.managers.iter().map(name).collect::<Vec<_>>().join(", ")) }
                p { "Members: " (team.members.iter().map(name).collect::<Vec<_>>().join(", ")) }
                @if admin {
                    details {
                        summary { "Change " (team.name) }
                        form.stack method="post" action=(s.base.at(&format!("/company/teams/{}", team.id))) {
                            (team_fields(&s, &people, Some(team)))
                            button type="submit" { "Save" }
                        }
                    }
                    form.inline method="post" action=(s.base.at(&format!("/company/teams/{}/delete", team.id)))
                        data-confirm="Delete this team? Its manager no longer sees its members." {
                        (csrf_field(&s.csrf))
                        button.danger type="submit" { "Delete " (team.name) }
                    }
                }
            }
        }
        @if admin {
            section {
                h2 { "New team" }
                form.stack method="post" action=(s.base.at("/company/teams")) {
                    (team_fields(&s, &people, None))
                    button type="submit" { "Create the team" }
                }
            }
        }
    };
    page(&s.base, &s, "Teams", body)
}

/// A team form: its CSRF token, name, managers and members.
struct TeamForm {
    csrf: String,
    name: String,
    managers: Vec<UserId>,
    members: Vec<UserId>,
}

fn team_form(fields: Vec<(String, String)>) -> Result<TeamForm, PageError> {
    let mut form = TeamForm {
        csrf: String::new(),
        name: String::new(),
        managers: Vec::new(),
        members: Vec::new(),
    };
    for (key, value) in fields {
        match key.split_once(':') {
            Some(("manager", id)) => form.managers.push(parse(id, "user")?),
            Some(("member", id)) => form.members.push(parse(id, "user")?),
            _ if key == "csrf" => form.csrf = value,
            _ if key == "name" => form.name = value,
            _ => {}
        }
    }
    Ok(form)
}

async fn create_team(
    Extract(shared): Extract<State>,
    s: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let form = match team_form(fields) {
        Ok(f) => f,
        Err(e) => return s.error(e),
    };
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let new = NewTeam {
        name: form.name,
        managers: form.managers,
        members: form.members,
    };
    match shared.tracker.create_team(&s.principal, new).await {
        Ok(_) => see_other(&s, "/company/teams"),
        Err(e) => s.error(e),
    }
}

async fn update_team(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (form, id) = match (team_form(fields), parse::<TeamId>(&id, "team")) {
        (Ok(f), Ok(id)) => (f, id),
        (Err(e), _) | (_, Err(e)) => return s.error(e),
    };
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let changes = TeamChanges {
        name: Some(form.name),
        managers: Some(form.managers),
        members: Some(form.members),
    };
    match shared.tracker.update_team(&s.principal, id, changes).await {
        Ok(_) => see_other(&s, "/company/teams"),
        Err(e) => s.error(e),
    }
}

async fn delete_team(
    Extract(shared): Extract<State>,
    s: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = s.check(&shared, &form.csrf) {
        return s.error(e);
    }
    let id = match parse::<TeamId>(&id, "team") {
        Ok(id) => id,
        Err(e) => return s.error(e),
    };
    match shared.tracker.delete_team(&s.principal, id).await {
        Ok(()) => see_other(&s, "/company/teams"),
        Err(e) => s.error(e),
    }
}
