//! HTTP handlers: staff API, code resolution, health check, the caseworker page.

use std::net::IpAddr;
use std::sync::Arc;

use crate::conn_guard::ClientAddr;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{get, post};
use samtale_protocol::{
    CreateMeetingRequest, EndReason, IceServer, JoinCode, MAX_LABEL_CHARS, Meeting, MeetingKind,
    MeetingList, MeetingState, PROTOCOL_VERSION, Presence, PresenceRequest, RejoinRequest,
    ResolveRequest, Role, Ticket, UpdateMeetingRequest,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{StaffToken, sha256};
use crate::clock::Clock;
use crate::config::{MAX_MEETING_TTL_MINUTES, MIN_MEETING_TTL_MINUTES};
use crate::db::{Db, DbError};
use crate::db::{MeetingRow, NewMeeting};
use crate::error::AppError;
use crate::ids;
use crate::presence::PresenceBook;
use crate::rate_limit::RateLimiter;
use crate::signalling::{self, Hub};
use crate::web;

/// The address a request is charged to: its TCP peer, or behind a trusted reverse proxy
/// the client the proxy forwarded (`crate::client_ip`).
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(ClientAddr(peer)) = parts
            .extensions
            .get::<ConnectInfo<ClientAddr>>()
            .copied()
            .ok_or(AppError::Internal("the connection has no client address"))?;
        Ok(Self(state.trusted_proxies.client(peer, &parts.headers)))
    }
}

/// Largest accepted HTTP request body. Every body of the API is a tiny JSON object.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shared state of all handlers and socket tasks.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) db: Arc<Db>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) limiter: RateLimiter,
    /// Wrong staff tokens per client address.
    pub(crate) staff_failures: RateLimiter,
    /// Failed code look-ups: per host, per prefix, and the alarm over everyone.
    pub(crate) guesses: crate::guessing::GuessGuard,
    pub(crate) staff: StaffToken,
    pub(crate) clock: Clock,
    pub(crate) default_ttl_minutes: u32,
    /// A standing room closes after this long without a call.
    pub(crate) room_idle_secs: i64,
    /// An ended or expired meeting is deleted this long after it closed.
    pub(crate) closed_retention_secs: i64,
    pub(crate) presence: PresenceBook,
    pub(crate) token_ttl_secs: u64,
    pub(crate) ice_servers: Vec<IceServer>,
    /// TURN relays: fresh credentials go into every ticket.
    pub(crate) turn: Option<crate::turn::TurnConfig>,
    pub(crate) signalling_url: String,
    /// Base URL clients see (the join links on the caseworker page point below it).
    pub(crate) base_url: String,
    /// Whose forwarded header names the client.
    pub(crate) trusted_proxies: crate::TrustedProxies,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

impl AppState {
    /// A meeting as staff see it: with whether staff and the citizen's app are there.
    fn staff_view(&self, m: &MeetingRow, now: i64) -> Meeting {
        let mut wire = m.to_wire(now);
        wire.staff_present = self.hub.staff_present(&m.meeting_id);
        wire.citizen_app_open = self.presence.app_open(&m.meeting_id);
        wire.citizen_check = self.hub.citizen_check(&m.meeting_id);
        wire
    }

    /// Issues a single-use join ticket for a seat in `meeting_id`.
    fn issue_ticket(&self, meeting_id: &str, role: Role) -> Result<Ticket, DbError> {
        let now = self.clock.now_unix();
        let token = ids::join_token();
        let ttl = i64::try_from(self.token_ttl_secs).unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(ttl);
        self.db
            .insert_ticket(&sha256(token.as_bytes()), meeting_id, role, now, expires_at)?;
        tracing::debug!(%meeting_id, role = %crate::db::role_str(role), "ticket issued");
        Ok(Ticket {
            protocol: PROTOCOL_VERSION,
            meeting_id: meeting_id.to_owned(),
            role,
            signalling_url: self.signalling_url.clone(),
            join_token: token,
            token_expires_at: expires_at,
            ice_servers: self.ice_servers_now(now),
            pairing_token: None,
        })
    }

    /// The static ICE servers plus, with TURN configured, freshly minted TURN credentials.
    fn ice_servers_now(&self, now: i64) -> Vec<IceServer> {
        let mut servers = self.ice_servers.clone();
        if let Some(turn) = &self.turn {
            servers.push(turn.mint(u64::try_from(now).unwrap_or(0)));
        }
        servers
    }

    /// Ends or expires an open meeting: stores it and closes every socket of the meeting.
    /// Returns `false` if the meeting was not open.
    pub(crate) fn close_meeting(
        &self,
        meeting_id: &str,
        reason: EndReason,
    ) -> Result<bool, DbError> {
        let state = match reason {
            EndReason::EndedByStaff => MeetingState::Ended,
            EndReason::Expired => MeetingState::Expired,
        };
        let closed = self
            .db
            .close_meeting(meeting_id, state, self.clock.now_unix())?;
        if closed {
            let connected = self.hub.close_room(meeting_id, reason);
            match reason {
                EndReason::EndedByStaff => {
                    tracing::info!(%meeting_id, connected, "meeting ended by staff");
                }
                EndReason::Expired => tracing::info!(%meeting_id, connected, "meeting expired"),
            }
        }
        Ok(closed)
    }

    /// Marks every open meeting whose time has run out as expired. Returns how many.
    pub(crate) fn expire_due(&self) -> Result<usize, DbError> {
        let due = self.db.due_for_expiry(self.clock.now_unix())?;
        let mut expired = 0;
        for meeting_id in due {
            if self.close_meeting(&meeting_id, EndReason::Expired)? {
                expired += 1;
            }
        }
        Ok(expired)
    }
}

/// The application's routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/meetings", post(create_meeting).get(list_meetings))
        .route("/api/v1/stats", get(stats))
        .route(
            "/api/v1/meetings/{meeting_id}",
            get(get_meeting).delete(end_meeting).patch(update_meeting),
        )
        .route("/api/v1/meetings/{meeting_id}/tickets", post(staff_ticket))
        .route("/api/v1/meetings/{meeting_id}/code", post(reissue_code))
        .route("/api/v1/meetings/{meeting_id}/qr.svg", get(meeting_qr))
        .route("/api/v1/join", post(resolve))
        .route("/api/v1/rejoin", post(rejoin))
        .route("/api/v1/presence", post(presence))
        .route("/api/v1/signal", get(signalling::ws_handler))
        .merge(web::routes(web::PageHeaders::new(&state.signalling_url)))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(
            crate::error::documented_error_body,
        ))
        .with_state(state)
}

/// Proof that the request carried the staff token.
struct Staff;

impl FromRequestParts<Arc<AppState>> for Staff {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // Wrong tokens are limited per client address (issue 17, item 5: ~11,000 guesses a
        // second were possible). An address out of tries is refused before its token is even
        // looked at, so that guessing cannot go on behind the 429s.
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        state
            .staff_failures
            .peek(ip)
            .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })?;
        let header = parts.headers.get(AUTHORIZATION).map(|v| v.as_bytes());
        if state.staff.check_header(header) {
            Ok(Staff)
        } else {
            let _ = state.staff_failures.check(ip);
            if let Some(left_out) = STAFF_REFUSED_LOG.allow() {
                tracing::warn!(path = %parts.uri.path(), left_out, "staff request refused: missing or wrong token");
            }
            Err(AppError::Unauthorized)
        }
    }
}

/// Parses a request body that must be a JSON object (serde would also accept an array for a
/// struct).
fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<serde_json::Value>(body).ok()? {
        value @ serde_json::Value::Object(_) => serde_json::from_value(value).ok(),
        _ => None,
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// `GET /api/v1/stats` (staff): counters for monitoring, until `/metrics` exists.
async fn stats(State(state): State<Arc<AppState>>, _staff: Staff) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "guessing": state.guesses.stats() }))
}

async fn fallback() -> AppError {
    AppError::NotFound
}

async fn create_meeting(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    body: Bytes,
) -> Result<(StatusCode, Json<Meeting>), AppError> {
    let request: CreateMeetingRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateMeetingRequest::default()
    } else {
        json_object(&body).ok_or(AppError::BadRequest(
            "the body must be a JSON object like {\"ttl_minutes\": 120}",
        ))?
    };
    let ttl = request.ttl_minutes.unwrap_or(state.default_ttl_minutes);
    if !(MIN_MEETING_TTL_MINUTES..=MAX_MEETING_TTL_MINUTES).contains(&ttl) {
        return Err(AppError::BadRequest("ttl_minutes must be within 1..=10080"));
    }
    for t in [&request.label, &request.display_name, &request.owner] {
        check_label(t.as_deref())?;
    }
    let now = state.clock.now_unix();
    let kind = request.kind.unwrap_or_default();
    let meeting = state.db.create(
        now,
        &NewMeeting {
            kind,
            ttl_minutes: ttl,
            room_idle_secs: state.room_idle_secs,
            label: request.label,
            display_name: request.display_name,
            owner: request.owner,
        },
    )?;
    // Never the label, name or owner in a log line.
    tracing::info!(
        meeting_id = %meeting.meeting_id,
        kind = ?kind,
        ttl_minutes = ttl,
        expires_at = meeting.expires_at,
        "meeting created"
    );
    Ok((StatusCode::CREATED, Json(state.staff_view(&meeting, now))))
}

/// A label, display name or owner: short, one line.
fn check_label(t: Option<&str>) -> Result<(), AppError> {
    match t {
        Some(t) if t.chars().count() > MAX_LABEL_CHARS => Err(AppError::BadRequest(
            "label, display_name and owner are at most 60 characters",
        )),
        Some(t) if t.chars().any(char::is_control) => Err(AppError::BadRequest(
            "label, display_name and owner are one line of text",
        )),
        _ => Ok(()),
    }
}

/// `PATCH /api/v1/meetings/{id}`: label, display name, owner (handing a room to a colleague).
async fn update_meeting(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    Path(meeting_id): Path<String>,
    body: Bytes,
) -> Result<Json<Meeting>, AppError> {
    let request: UpdateMeetingRequest = json_object(&body).ok_or(AppError::BadRequest(
        "the body must be a JSON object like {\"owner\": \"MJ\"}",
    ))?;
    for t in [&request.label, &request.display_name, &request.owner] {
        check_label(t.as_deref())?;
    }
    let now = state.clock.now_unix();
    state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    if !state.db.update_meeting(
        &meeting_id,
        request.label.as_deref(),
        request.display_name.as_deref(),
        request.owner.as_deref(),
        now,
    )? {
        return Err(AppError::Gone);
    }
    tracing::info!(
        %meeting_id,
        label = request.label.is_some(),
        display_name = request.display_name.is_some(),
        owner = request.owner.is_some(),
        "meeting updated"
    );
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    Ok(Json(state.staff_view(&meeting, now)))
}

/// `POST /api/v1/meetings/{id}/code`: a new code for a standing room (a new phone). The old
/// code stops working; devices paired with it stay paired.
async fn reissue_code(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    Path(meeting_id): Path<String>,
    body: Bytes,
) -> Result<Json<Meeting>, AppError> {
    let request: CreateMeetingRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateMeetingRequest::default()
    } else {
        json_object(&body).ok_or(AppError::BadRequest(
            "the body must be empty or a JSON object like {\"ttl_minutes\": 120}",
        ))?
    };
    let ttl = request.ttl_minutes.unwrap_or(state.default_ttl_minutes);
    if !(MIN_MEETING_TTL_MINUTES..=MAX_MEETING_TTL_MINUTES).contains(&ttl) {
        return Err(AppError::BadRequest("ttl_minutes must be within 1..=10080"));
    }
    let now = state.clock.now_unix();
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    if meeting.kind != MeetingKind::Room {
        return Err(AppError::BadRequest(
            "only a standing room gets a new code; create a new meeting instead",
        ));
    }
    let meeting = state
        .db
        .reissue_code(&meeting_id, ttl, now)?
        .ok_or(AppError::Gone)?;
    tracing::info!(%meeting_id, ttl_minutes = ttl, "room code issued again");
    Ok(Json(state.staff_view(&meeting, now)))
}

async fn list_meetings(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
) -> Result<Json<MeetingList>, AppError> {
    let now = state.clock.now_unix();
    let meetings = state
        .db
        .list_open(now)?
        .iter()
        .map(|m| state.staff_view(m, now))
        .collect();
    Ok(Json(MeetingList { meetings }))
}

async fn get_meeting(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    Path(meeting_id): Path<String>,
) -> Result<Json<Meeting>, AppError> {
    let now = state.clock.now_unix();
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    Ok(Json(state.staff_view(&meeting, now)))
}

/// `GET /api/v1/meetings/{id}/qr.svg` (staff): the QR code of the meeting's join link
/// `<public URL>/j/#<code>`. By meeting id, so that the code is in no URL (access logs).
async fn meeting_qr(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    Path(meeting_id): Path<String>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    let now = state.clock.now_unix();
    // A closed meeting, or a room whose code no longer pairs (it needs a new code first).
    if meeting.effective_state(now) != MeetingState::Open || meeting.code_expires_at <= now {
        return Err(AppError::Gone);
    }
    let svg = web::join_qr_svg(&state.base_url, &meeting.code)
        .ok_or(AppError::Internal("a join link too long for a QR code"))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

async fn end_meeting(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    Path(meeting_id): Path<String>,
) -> Result<Json<Meeting>, AppError> {
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    match meeting.effective_state(state.clock.now_unix()) {
        MeetingState::Open => {}
        MeetingState::Expired => {
            // Its time ran out but the sweeper has not caught up yet: expire it now.
            state.close_meeting(&meeting_id, EndReason::Expired)?;
            return Err(AppError::Gone);
        }
        MeetingState::Ended => return Err(AppError::Gone),
    }
    if !state.close_meeting(&meeting_id, EndReason::EndedByStaff)? {
        return Err(AppError::Gone);
    }
    state.presence.app_gone(&meeting_id);
    let now = state.clock.now_unix();
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    Ok(Json(state.staff_view(&meeting, now)))
}

async fn staff_ticket(
    State(state): State<Arc<AppState>>,
    _staff: Staff,
    Path(meeting_id): Path<String>,
) -> Result<Json<Ticket>, AppError> {
    let meeting = state.db.meeting(&meeting_id)?.ok_or(AppError::NotFound)?;
    if meeting.effective_state(state.clock.now_unix()) != MeetingState::Open {
        return Err(AppError::Gone);
    }
    Ok(Json(state.issue_ticket(&meeting_id, Role::Staff)?))
}

async fn resolve(
    State(state): State<Arc<AppState>>,
    ClientIp(peer): ClientIp,
    body: Bytes,
) -> Result<Json<Ticket>, AppError> {
    // Every look-up costs a token, before anything about it is examined; a client that has
    // failed too often (a guesser) is refused before its code is looked up.
    charge_look_up(&state, peer)?;
    let request: ResolveRequest = json_object(&body).ok_or(AppError::BadRequest(
        "the body must be a JSON object like {\"code\": \"...\"}",
    ))?;
    let code = JoinCode::parse(&request.code)?;
    state.guesses.admit(peer).map_err(|retry_after_secs| {
        if let Some(left_out) = RATE_LIMITED_LOG.allow() {
            tracing::warn!(
                retry_after_secs,
                left_out,
                client_group = %state.guesses.client_group(peer),
                "look-up refused: too many look-ups that found no meeting"
            );
        }
        AppError::RateLimited { retry_after_secs }
    })?;
    let now = state.clock.now_unix();
    let found = state.db.open_meeting_by_code(code.digits(), now);
    if matches!(found, Ok(None)) {
        tracing::debug!("code look-up: no open meeting");
        state.guesses.failed(peer);
    } else {
        state.guesses.found(peer);
    }
    let meeting_id = found?.ok_or(AppError::CodeUnavailable)?;
    let mut ticket = state.issue_ticket(&meeting_id, Role::Citizen)?;
    let pairing = ids::join_token();
    state
        .db
        .insert_pairing(&sha256(pairing.as_bytes()), &meeting_id, now)?;
    ticket.pairing_token = Some(pairing);
    tracing::info!(meeting_id = %meeting_id, "code resolved");
    Ok(Json(ticket))
}

/// Lines about refused staff requests and rate-limited look-ups: clients decide how many
/// there are, so at most a few a minute are written (the rest counted in `left_out`).
static STAFF_REFUSED_LOG: crate::log_budget::LogBudget = crate::log_budget::LogBudget::new(10, 60);
static RATE_LIMITED_LOG: crate::log_budget::LogBudget = crate::log_budget::LogBudget::new(10, 60);

/// Takes a token from the client address' look-up bucket (code look-ups and rejoins share it).
fn charge_look_up(state: &AppState, peer: IpAddr) -> Result<(), AppError> {
    state.limiter.check(peer).map_err(|retry_after_secs| {
        if let Some(left_out) = RATE_LIMITED_LOG.allow() {
            tracing::warn!(
                retry_after_secs,
                left_out,
                client_group = %state.guesses.client_group(peer),
                "look-up rate limited"
            );
        }
        AppError::RateLimited { retry_after_secs }
    })
}

/// One-tap rejoin with the pairing token of an earlier citizen ticket. Same answers as a code
/// look-up: a ticket, or the same 404 for unknown, ended and expired; rate-limited alike.
async fn rejoin(
    State(state): State<Arc<AppState>>,
    ClientIp(peer): ClientIp,
    body: Bytes,
) -> Result<Json<Ticket>, AppError> {
    charge_look_up(&state, peer)?;
    let request: RejoinRequest = json_object(&body).ok_or(AppError::BadRequest(
        "the body must be a JSON object like {\"pairing_token\": \"...\"}",
    ))?;
    let now = state.clock.now_unix();
    let hash = sha256(request.pairing_token.as_bytes());
    let meeting_id = state
        .db
        .open_meeting_by_pairing(&hash, now)?
        .ok_or_else(|| {
            tracing::debug!("rejoin: no open meeting");
            AppError::CodeUnavailable
        })?;
    let mut ticket = state.issue_ticket(&meeting_id, Role::Citizen)?;
    ticket.pairing_token = Some(request.pairing_token);
    tracing::info!(meeting_id = %meeting_id, "rejoined with a pairing token");
    Ok(Json(ticket))
}

/// `POST /api/v1/presence`: is someone from the municipality in my room? Held while the
/// answer is the one the app already shows (`known`), up to the hold time. The same 404 as a
/// code look-up for an unknown or revoked pairing (which also costs a look-up token, so that
/// guessing is limited like codes are).
async fn presence(
    State(state): State<Arc<AppState>>,
    ClientIp(peer): ClientIp,
    body: Bytes,
) -> Result<Json<Presence>, AppError> {
    let request: PresenceRequest = json_object(&body).ok_or(AppError::BadRequest(
        "the body must be a JSON object like {\"pairing_token\": \"...\"}",
    ))?;
    let asked = tokio::time::Instant::now();
    let hash = sha256(request.pairing_token.as_bytes());
    let now = state.clock.now_unix();
    let Some(meeting_id) = state.db.open_meeting_by_pairing(&hash, now)? else {
        charge_look_up(&state, peer)?;
        return Err(AppError::CodeUnavailable);
    };
    // A closing is answered at once and changes only this app's own mark: not limited (an
    // app going to the background must always be able to say so).
    if !request.closing {
        state
            .presence
            .charge(&hash)
            .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })?;
    }
    // Subscribe before looking, so that no change slips between the look and the wait.
    let mut seats = state.hub.watch_seats();
    let mut present = state.hub.staff_present(&meeting_id);
    if request.closing {
        state.presence.app_gone(&meeting_id);
    } else {
        state.presence.app_seen(&meeting_id, asked);
        if request.known == Some(present) {
            let deadline = tokio::time::Instant::now() + state.presence.hold;
            loop {
                tokio::select! {
                    changed = seats.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        present = state.hub.staff_present(&meeting_id);
                        if Some(present) != request.known {
                            break;
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => break,
                    () = state.cancel.cancelled() => break,
                }
            }
            state.presence.app_seen(&meeting_id, asked);
        }
    }
    let display_name = state.db.meeting(&meeting_id)?.and_then(|m| m.display_name);
    Ok(Json(Presence {
        staff_present: present,
        display_name,
    }))
}
