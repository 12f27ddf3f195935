//! SQLite persistence: meetings, join tickets and seats.
//!
//! One connection behind a mutex; every statement is short. Secrets are never stored: tickets
//! and seats keep the SHA-256 of the join token and of the resume secret.

use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use samtale_protocol::{JoinCode, Meeting, MeetingKind, MeetingState, Role};

use crate::ids;

/// Database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The server was shut down and the connection closed.
    #[error("the database is closed")]
    Closed,
    /// A stored value could not be interpreted.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// No free code or id was found after several attempts.
    #[error("could not allocate a unique code")]
    NoFreeCode,
    /// The database was written by a newer server.
    #[error("the database has schema version {0}; this server knows version 2: use a newer server")]
    NewerSchema(i64),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meetings (
    meeting_id TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('open', 'ended', 'expired')),
    ended_at   INTEGER
);
CREATE INDEX IF NOT EXISTS meetings_by_state ON meetings (state, expires_at);
CREATE TABLE IF NOT EXISTS tickets (
    token_hash BLOB PRIMARY KEY,
    meeting_id TEXT NOT NULL REFERENCES meetings (meeting_id),
    role       TEXT NOT NULL CHECK (role IN ('citizen', 'staff')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX IF NOT EXISTS tickets_by_expiry ON tickets (expires_at);
CREATE TABLE IF NOT EXISTS pairings (
    token_hash BLOB PRIMARY KEY,
    meeting_id TEXT NOT NULL REFERENCES meetings (meeting_id),
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pairings_by_meeting ON pairings (meeting_id);
CREATE TABLE IF NOT EXISTS seats (
    participant_id TEXT PRIMARY KEY,
    meeting_id     TEXT NOT NULL REFERENCES meetings (meeting_id),
    role           TEXT NOT NULL CHECK (role IN ('citizen', 'staff')),
    secret_hash    BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    left_at        INTEGER
);
CREATE INDEX IF NOT EXISTS seats_by_meeting ON seats (meeting_id, left_at);
";

/// Schema version 2 (issue 14): standing rooms, staff labels, the code's own expiry. The
/// columns a version-1 database lacks are added, data kept. Column by column, so that a
/// database a version-1 server opened again after a downgrade (which resets `user_version`
/// to 1 on every start) migrates too.
const COLUMNS_2: &[(&str, &str)] = &[
    (
        "kind",
        "kind TEXT NOT NULL DEFAULT 'meeting' CHECK (kind IN ('meeting', 'room'))",
    ),
    ("code_expires_at", "code_expires_at INTEGER"),
    ("idle_secs", "idle_secs INTEGER"),
    ("last_call_at", "last_call_at INTEGER"),
    ("label", "label TEXT"),
    ("display_name", "display_name TEXT"),
    ("owner", "owner TEXT"),
];

/// The schema version this server writes.
const SCHEMA_VERSION: i64 = 2;

/// What a new meeting or room is.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewMeeting {
    pub(crate) kind: MeetingKind,
    /// The code's lifetime (for a one-off meeting also the meeting's), in minutes.
    pub(crate) ttl_minutes: u32,
    /// A room closes after this long without a call.
    pub(crate) room_idle_secs: i64,
    pub(crate) label: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) owner: Option<String>,
}

/// A stored meeting.
#[derive(Debug, Clone)]
pub(crate) struct MeetingRow {
    pub(crate) meeting_id: String,
    pub(crate) code: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    /// Stored state; an open meeting past `expires_at` is reported as expired.
    pub(crate) state: MeetingState,
    /// Seats not left.
    pub(crate) participants: u32,
    pub(crate) kind: MeetingKind,
    /// When the code stops pairing new devices.
    pub(crate) code_expires_at: i64,
    pub(crate) last_call_at: Option<i64>,
    /// Staff only; never in a citizen-facing answer or a log line.
    pub(crate) label: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) owner: Option<String>,
}

impl MeetingRow {
    /// The state as of `now`: an open meeting whose time ran out counts as expired even before
    /// the sweeper has marked it.
    pub(crate) fn effective_state(&self, now: i64) -> MeetingState {
        match self.state {
            MeetingState::Open if self.expires_at <= now => MeetingState::Expired,
            s => s,
        }
    }

    /// The staff API view (`citizen_app_open` and `staff_present` are the hub's to fill in).
    pub(crate) fn to_wire(&self, now: i64) -> Meeting {
        let code_display = JoinCode::parse(&self.code)
            .map(|c| c.display())
            .unwrap_or_else(|_| self.code.clone());
        Meeting {
            meeting_id: self.meeting_id.clone(),
            code: self.code.clone(),
            code_display,
            created_at: self.created_at,
            expires_at: self.expires_at,
            state: self.effective_state(now),
            participants: self.participants,
            kind: self.kind,
            code_expires_at: self.code_expires_at,
            label: self.label.clone(),
            display_name: self.display_name.clone(),
            owner: self.owner.clone(),
            last_call_at: self.last_call_at,
            citizen_app_open: false,
            staff_present: false,
            citizen_check: None,
        }
    }
}

/// A stored join ticket.
#[derive(Debug, Clone)]
pub(crate) struct TicketRow {
    pub(crate) meeting_id: String,
    pub(crate) role: Role,
    pub(crate) expires_at: i64,
    pub(crate) used: bool,
}

/// Outcome of [`Db::take_seat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeSeat {
    /// The ticket was consumed and the seat stored.
    Taken,
    /// The ticket was already used or has expired.
    TokenUsed,
    /// The meeting is no longer open.
    MeetingClosed,
}

/// A stored seat.
#[derive(Debug, Clone)]
pub(crate) struct SeatRow {
    pub(crate) participant_id: String,
    pub(crate) meeting_id: String,
    pub(crate) role: Role,
    pub(crate) secret_hash: Vec<u8>,
}

fn state_str(s: MeetingState) -> &'static str {
    match s {
        MeetingState::Open => "open",
        MeetingState::Ended => "ended",
        MeetingState::Expired => "expired",
    }
}

fn parse_state(s: &str) -> Result<MeetingState, DbError> {
    match s {
        "open" => Ok(MeetingState::Open),
        "ended" => Ok(MeetingState::Ended),
        "expired" => Ok(MeetingState::Expired),
        _ => Err(DbError::Corrupt("meeting state")),
    }
}

pub(crate) fn role_str(r: Role) -> &'static str {
    match r {
        Role::Citizen => "citizen",
        Role::Staff => "staff",
    }
}

fn parse_role(s: &str) -> Result<Role, DbError> {
    match s {
        "citizen" => Ok(Role::Citizen),
        "staff" => Ok(Role::Staff),
        _ => Err(DbError::Corrupt("role")),
    }
}

const MEETING_COLUMNS: &str = "m.meeting_id, m.code, m.created_at, m.expires_at, m.state,
    (SELECT COUNT(*) FROM seats s WHERE s.meeting_id = m.meeting_id AND s.left_at IS NULL),
    m.kind, COALESCE(m.code_expires_at, m.expires_at), m.last_call_at, m.label, m.display_name,
    m.owner";

struct RawMeeting {
    row: MeetingRow,
    state: String,
    kind: String,
}

fn raw_meeting(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawMeeting> {
    let participants: i64 = row.get(5)?;
    Ok(RawMeeting {
        row: MeetingRow {
            meeting_id: row.get(0)?,
            code: row.get(1)?,
            created_at: row.get(2)?,
            expires_at: row.get(3)?,
            state: MeetingState::Open,
            participants: u32::try_from(participants).unwrap_or(u32::MAX),
            kind: MeetingKind::Meeting,
            code_expires_at: row.get(7)?,
            last_call_at: row.get(8)?,
            label: row.get(9)?,
            display_name: row.get(10)?,
            owner: row.get(11)?,
        },
        state: row.get(4)?,
        kind: row.get(6)?,
    })
}

fn meeting_from_raw(raw: RawMeeting) -> Result<MeetingRow, DbError> {
    let mut row = raw.row;
    row.state = parse_state(&raw.state)?;
    row.kind = match raw.kind.as_str() {
        "room" => MeetingKind::Room,
        "meeting" => MeetingKind::Meeting,
        _ => return Err(DbError::Corrupt("meeting kind")),
    };
    Ok(row)
}

fn kind_str(k: MeetingKind) -> &'static str {
    match k {
        MeetingKind::Meeting => "meeting",
        MeetingKind::Room => "room",
    }
}

/// A field to change: `Some(None)` clears it (an empty text).
fn clean(t: Option<&str>) -> Option<Option<&str>> {
    t.map(|t| Some(t.trim()).filter(|t| !t.is_empty()))
}

/// An empty text is no text.
fn text(t: &Option<String>) -> Option<&str> {
    t.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// The database handle.
#[derive(Debug)]
pub(crate) struct Db {
    conn: Mutex<Option<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, or an in-memory one for `":memory:"`.
    pub(crate) fn open(path: &str) -> Result<Self, DbError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            let conn = Connection::open(path)?;
            // WAL keeps readers and the writer apart and survives a process crash.
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < 2 {
            let tx = conn.unchecked_transaction()?;
            let have: Vec<String> = tx
                .prepare("SELECT name FROM pragma_table_info('meetings')")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for (name, definition) in COLUMNS_2 {
                if !have.iter().any(|h| h == name) {
                    tx.execute_batch(&format!("ALTER TABLE meetings ADD COLUMN {definition};"))?;
                }
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
            if version > 0 {
                tracing::info!(
                    from = version,
                    to = SCHEMA_VERSION,
                    "database schema migrated"
                );
            }
        } else if version > SCHEMA_VERSION {
            return Err(DbError::NewerSchema(version));
        }
        Ok(Self {
            conn: Mutex::new(Some(conn)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, DbError>) -> Result<T, DbError> {
        let guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(conn) => f(conn),
            None => Err(DbError::Closed),
        }
    }

    /// Closes the connection; every later call fails with [`DbError::Closed`].
    pub(crate) fn close(&self) {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(conn) = conn
            && let Err((_conn, e)) = conn.close()
        {
            tracing::warn!(error = %e, "closing the database failed");
        }
    }

    /// Creates an open meeting with a fresh, unique code.
    #[cfg(test)]
    pub(crate) fn create_meeting(&self, now: i64, ttl_minutes: u32) -> Result<MeetingRow, DbError> {
        self.create(
            now,
            &NewMeeting {
                ttl_minutes,
                ..NewMeeting::default()
            },
        )
    }

    /// Creates an open meeting or standing room with a fresh, unique code. A room expires
    /// after `room_idle_secs` without a call; its code after `ttl_minutes`.
    pub(crate) fn create(&self, now: i64, new: &NewMeeting) -> Result<MeetingRow, DbError> {
        let code_expires_at = now.saturating_add(i64::from(new.ttl_minutes) * 60);
        let (expires_at, idle_secs) = match new.kind {
            MeetingKind::Meeting => (code_expires_at, None),
            MeetingKind::Room => (
                now.saturating_add(new.room_idle_secs),
                Some(new.room_idle_secs),
            ),
        };
        self.with(|conn| {
            for _ in 0..16 {
                let meeting_id = ids::meeting_id();
                let code = JoinCode::generate();
                let inserted = conn.execute(
                    "INSERT INTO meetings (meeting_id, code, created_at, expires_at, state, kind,
                         code_expires_at, idle_secs, label, display_name, owner)
                     VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        meeting_id,
                        code.digits(),
                        now,
                        expires_at,
                        kind_str(new.kind),
                        code_expires_at,
                        idle_secs,
                        text(&new.label),
                        text(&new.display_name),
                        text(&new.owner),
                    ],
                );
                match inserted {
                    Ok(_) => {
                        return Ok(MeetingRow {
                            meeting_id,
                            code: code.digits().to_owned(),
                            created_at: now,
                            expires_at,
                            state: MeetingState::Open,
                            participants: 0,
                            kind: new.kind,
                            code_expires_at,
                            last_call_at: None,
                            label: text(&new.label).map(str::to_owned),
                            display_name: text(&new.display_name).map(str::to_owned),
                            owner: text(&new.owner).map(str::to_owned),
                        });
                    }
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == ErrorCode::ConstraintViolation =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(DbError::NoFreeCode)
        })
    }

    /// Open meetings (not yet past their expiry), newest first.
    pub(crate) fn list_open(&self, now: i64) -> Result<Vec<MeetingRow>, DbError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MEETING_COLUMNS} FROM meetings m
                 WHERE m.state = 'open' AND m.expires_at > ?1
                 ORDER BY m.created_at DESC, m.rowid DESC"
            ))?;
            let raws = stmt
                .query_map(params![now], raw_meeting)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(meeting_from_raw).collect()
        })
    }

    /// One meeting in any state.
    pub(crate) fn meeting(&self, meeting_id: &str) -> Result<Option<MeetingRow>, DbError> {
        self.with(|conn| {
            let raw = conn
                .prepare_cached(&format!(
                    "SELECT {MEETING_COLUMNS} FROM meetings m WHERE m.meeting_id = ?1"
                ))?
                .query_row(params![meeting_id], raw_meeting)
                .optional()?;
            raw.map(meeting_from_raw).transpose()
        })
    }

    /// The id of the open, unexpired meeting with this code, if any.
    pub(crate) fn open_meeting_by_code(
        &self,
        code: &str,
        now: i64,
    ) -> Result<Option<String>, DbError> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT meeting_id FROM meetings
                     WHERE code = ?1 AND state = 'open' AND expires_at > ?2
                       AND COALESCE(code_expires_at, expires_at) > ?2",
                )?
                .query_row(params![code, now], |r| r.get(0))
                .optional()?)
        })
    }

    /// Changes a meeting's staff fields (`Some("")` clears one). `false` if it is not open.
    pub(crate) fn update_meeting(
        &self,
        meeting_id: &str,
        label: Option<&str>,
        display_name: Option<&str>,
        owner: Option<&str>,
        now: i64,
    ) -> Result<bool, DbError> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            let open: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM meetings
                     WHERE meeting_id = ?1 AND state = 'open' AND expires_at > ?2)",
                )?
                .query_row(params![meeting_id, now], |r| r.get(0))?;
            if !open {
                return Ok(false);
            }
            for (column, value) in [
                ("label", clean(label)),
                ("display_name", clean(display_name)),
                ("owner", clean(owner)),
            ] {
                if let Some(value) = value {
                    tx.execute(
                        &format!("UPDATE meetings SET {column} = ?2 WHERE meeting_id = ?1"),
                        params![meeting_id, value],
                    )?;
                }
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// A new code for an open room (the citizen's new phone), valid `ttl_minutes`; the old code
    /// stops working, pairings made with it stay valid. `None` if it is not an open room.
    pub(crate) fn reissue_code(
        &self,
        meeting_id: &str,
        ttl_minutes: u32,
        now: i64,
    ) -> Result<Option<MeetingRow>, DbError> {
        let code_expires_at = now.saturating_add(i64::from(ttl_minutes) * 60);
        let done = self.with(|conn| {
            for _ in 0..16 {
                let code = JoinCode::generate();
                let changed = conn.execute(
                    "UPDATE meetings SET code = ?2, code_expires_at = ?3
                     WHERE meeting_id = ?1 AND kind = 'room' AND state = 'open' AND expires_at > ?4",
                    params![meeting_id, code.digits(), code_expires_at, now],
                );
                match changed {
                    Ok(n) => return Ok(n > 0),
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == ErrorCode::ConstraintViolation =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(DbError::NoFreeCode)
        })?;
        if done {
            self.meeting(meeting_id)
        } else {
            Ok(None)
        }
    }

    /// Stores a pairing token (hashed) for one-tap rejoin of `meeting_id`.
    pub(crate) fn insert_pairing(
        &self,
        token_hash: &[u8],
        meeting_id: &str,
        now: i64,
    ) -> Result<(), DbError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO pairings (token_hash, meeting_id, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![token_hash, meeting_id, now])?;
            Ok(())
        })
    }

    /// The open meeting a pairing token belongs to, if any.
    pub(crate) fn open_meeting_by_pairing(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<String>, DbError> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT m.meeting_id FROM pairings p JOIN meetings m USING (meeting_id)
                     WHERE p.token_hash = ?1 AND m.state = 'open' AND m.expires_at > ?2",
                )?
                .query_row(params![token_hash, now], |r| r.get(0))
                .optional()?)
        })
    }

    /// Marks an open meeting ended or expired and frees its seats. Returns `false` if it was
    /// not open (or does not exist).
    pub(crate) fn close_meeting(
        &self,
        meeting_id: &str,
        state: MeetingState,
        now: i64,
    ) -> Result<bool, DbError> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            let changed = tx.execute(
                "UPDATE meetings SET state = ?2, ended_at = ?3
                 WHERE meeting_id = ?1 AND state = 'open'",
                params![meeting_id, state_str(state), now],
            )?;
            if changed > 0 {
                tx.execute(
                    "UPDATE seats SET left_at = ?2 WHERE meeting_id = ?1 AND left_at IS NULL",
                    params![meeting_id, now],
                )?;
                // Ending or expiring a meeting revokes its pairing tokens.
                tx.execute(
                    "DELETE FROM pairings WHERE meeting_id = ?1",
                    params![meeting_id],
                )?;
            }
            tx.commit()?;
            Ok(changed > 0)
        })
    }

    /// Ids of open meetings whose expiry time has passed.
    pub(crate) fn due_for_expiry(&self, now: i64) -> Result<Vec<String>, DbError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT meeting_id FROM meetings WHERE state = 'open' AND expires_at <= ?1",
            )?;
            let ids = stmt
                .query_map(params![now], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
    }

    /// Stores a join ticket (by the token's digest).
    pub(crate) fn insert_ticket(
        &self,
        token_hash: &[u8; 32],
        meeting_id: &str,
        role: Role,
        now: i64,
        expires_at: i64,
    ) -> Result<(), DbError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO tickets (token_hash, meeting_id, role, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &token_hash[..],
                meeting_id,
                role_str(role),
                now,
                expires_at
            ])?;
            Ok(())
        })
    }

    /// Looks a ticket up by the token's digest.
    pub(crate) fn ticket(&self, token_hash: &[u8; 32]) -> Result<Option<TicketRow>, DbError> {
        self.with(|conn| {
            let raw = conn
                .prepare_cached(
                    "SELECT meeting_id, role, expires_at, used_at IS NOT NULL
                     FROM tickets WHERE token_hash = ?1",
                )?
                .query_row(params![&token_hash[..]], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                })
                .optional()?;
            raw.map(|(meeting_id, role, expires_at, used)| {
                Ok(TicketRow {
                    meeting_id,
                    role: parse_role(&role)?,
                    expires_at,
                    used,
                })
            })
            .transpose()
        })
    }

    /// Marks a ticket used and stores the seat it buys, atomically, provided the meeting is
    /// still open at `now`. Nothing is stored unless the outcome is [`TakeSeat::Taken`].
    pub(crate) fn take_seat(
        &self,
        token_hash: &[u8; 32],
        seat: &SeatRow,
        now: i64,
    ) -> Result<TakeSeat, DbError> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            let open: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM meetings
                     WHERE meeting_id = ?1 AND state = 'open' AND expires_at > ?2)",
                )?
                .query_row(params![seat.meeting_id, now], |r| r.get(0))?;
            if !open {
                return Ok(TakeSeat::MeetingClosed);
            }
            let used = tx.execute(
                "UPDATE tickets SET used_at = ?2
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![&token_hash[..], now],
            )?;
            if used == 0 {
                return Ok(TakeSeat::TokenUsed);
            }
            // The citizen in a room (a call): it stays open for another idle period from now.
            // A caseworker alone in it does not keep it alive.
            if seat.role == Role::Citizen {
                tx.execute(
                    "UPDATE meetings SET last_call_at = ?2,
                         expires_at = CASE WHEN kind = 'room' AND idle_secs IS NOT NULL
                             THEN MAX(expires_at, ?2 + idle_secs) ELSE expires_at END
                     WHERE meeting_id = ?1",
                    params![seat.meeting_id, now],
                )?;
            }
            tx.execute(
                "INSERT INTO seats (participant_id, meeting_id, role, secret_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    seat.participant_id,
                    seat.meeting_id,
                    role_str(seat.role),
                    seat.secret_hash,
                    now
                ],
            )?;
            tx.commit()?;
            Ok(TakeSeat::Taken)
        })
    }

    /// One seat by participant id.
    pub(crate) fn seat(&self, participant_id: &str) -> Result<Option<SeatRow>, DbError> {
        self.with(|conn| {
            let raw = conn
                .prepare_cached(
                    "SELECT participant_id, meeting_id, role, secret_hash
                     FROM seats WHERE participant_id = ?1",
                )?
                .query_row(params![participant_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })
                .optional()?;
            raw.map(seat_from_raw).transpose()
        })
    }

    /// Frees a seat.
    pub(crate) fn leave_seat(&self, participant_id: &str, now: i64) -> Result<(), DbError> {
        self.with(|conn| {
            conn.prepare_cached(
                "UPDATE seats SET left_at = ?2 WHERE participant_id = ?1 AND left_at IS NULL",
            )?
            .execute(params![participant_id, now])?;
            Ok(())
        })
    }

    /// Every held seat of every open meeting, in the order the seats were taken.
    pub(crate) fn held_seats(&self) -> Result<Vec<SeatRow>, DbError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.participant_id, s.meeting_id, s.role, s.secret_hash
                 FROM seats s JOIN meetings m ON m.meeting_id = s.meeting_id
                 WHERE m.state = 'open' AND s.left_at IS NULL
                 ORDER BY s.created_at, s.rowid",
            )?;
            let raws = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(seat_from_raw).collect()
        })
    }

    /// Deletes every trace of meetings that ended or expired before `before`: the meeting
    /// (its code with it), its seats, tickets and pairings. Returns how many meetings went.
    pub(crate) fn purge_closed(&self, before: i64) -> Result<usize, DbError> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            let closed = "SELECT meeting_id FROM meetings
                          WHERE state != 'open' AND ended_at IS NOT NULL AND ended_at < ?1";
            for table in ["seats", "tickets", "pairings"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE meeting_id IN ({closed})"),
                    params![before],
                )?;
            }
            let meetings = tx.execute(
                "DELETE FROM meetings
                 WHERE state != 'open' AND ended_at IS NOT NULL AND ended_at < ?1",
                params![before],
            )?;
            tx.commit()?;
            Ok(meetings)
        })
    }

    /// Deletes tickets that expired before `before`.
    pub(crate) fn purge_tickets(&self, before: i64) -> Result<usize, DbError> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached("DELETE FROM tickets WHERE expires_at < ?1")?
                .execute(params![before])?)
        })
    }
}

fn seat_from_raw(raw: (String, String, String, Vec<u8>)) -> Result<SeatRow, DbError> {
    let (participant_id, meeting_id, role, secret_hash) = raw;
    Ok(SeatRow {
        participant_id,
        meeting_id,
        role: parse_role(&role)?,
        secret_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sha256;

    #[test]
    fn meeting_ticket_seat_lifecycle() {
        let db = Db::open(":memory:").expect("open");
        let m = db.create_meeting(1_000, 10).expect("create");
        assert_eq!(m.expires_at, 1_600);
        assert!(JoinCode::parse(&m.code).is_ok());
        assert_eq!(
            db.open_meeting_by_code(&m.code, 1_000).expect("q"),
            Some(m.meeting_id.clone())
        );
        assert_eq!(db.open_meeting_by_code(&m.code, 1_600).expect("q"), None);
        let th = sha256(b"t_x");
        db.insert_ticket(&th, &m.meeting_id, Role::Citizen, 1_000, 1_300)
            .expect("ticket");
        let t = db.ticket(&th).expect("q").expect("some");
        assert!(!t.used);
        let seat = SeatRow {
            participant_id: "p_1".into(),
            meeting_id: m.meeting_id.clone(),
            role: Role::Citizen,
            secret_hash: sha256(b"s").to_vec(),
        };
        assert_eq!(
            db.take_seat(&th, &seat, 1_001).expect("take"),
            TakeSeat::Taken
        );
        assert_eq!(
            db.take_seat(&th, &seat, 1_002).expect("take twice"),
            TakeSeat::TokenUsed
        );
        assert_eq!(db.held_seats().expect("q").len(), 1);
        assert_eq!(
            db.meeting(&m.meeting_id)
                .expect("q")
                .expect("some")
                .participants,
            1
        );
        assert!(
            db.close_meeting(&m.meeting_id, MeetingState::Ended, 1_100)
                .expect("end")
        );
        assert!(
            !db.close_meeting(&m.meeting_id, MeetingState::Ended, 1_100)
                .expect("end twice")
        );
        assert!(db.held_seats().expect("q").is_empty());
        assert!(db.seat("p_1").expect("q").is_some());
        assert_eq!(
            db.meeting(&m.meeting_id)
                .expect("q")
                .expect("some")
                .participants,
            0
        );
        db.close();
        assert!(matches!(db.list_open(0), Err(DbError::Closed)));
    }

    #[test]
    fn closed_meetings_are_purged_after_the_retention_period_open_ones_never() {
        let db = Db::open(":memory:").expect("open");
        let ended = db.create_meeting(1_000, 10).expect("create");
        let open = db.create_meeting(1_000, 10_000).expect("create");
        for (i, m) in [&ended, &open].into_iter().enumerate() {
            let th = sha256(format!("t_{i}").as_bytes());
            db.insert_ticket(&th, &m.meeting_id, Role::Citizen, 1_000, 1_300)
                .expect("ticket");
            let seat = SeatRow {
                participant_id: format!("p_{i}"),
                meeting_id: m.meeting_id.clone(),
                role: Role::Citizen,
                secret_hash: sha256(b"s").to_vec(),
            };
            assert_eq!(
                db.take_seat(&th, &seat, 1_001).expect("take"),
                TakeSeat::Taken
            );
        }
        assert!(
            db.close_meeting(&ended.meeting_id, MeetingState::Ended, 1_100)
                .expect("end")
        );
        // Still inside the retention period: kept (what the support desk may ask about).
        assert_eq!(db.purge_closed(1_100).expect("purge"), 0);
        assert!(db.meeting(&ended.meeting_id).expect("q").is_some());
        // After it: the meeting, its code, its seat and ticket are gone; the open one stays.
        assert_eq!(db.purge_closed(1_101).expect("purge"), 1);
        assert!(db.meeting(&ended.meeting_id).expect("q").is_none());
        assert!(db.seat("p_0").expect("q").is_none());
        assert!(db.ticket(&sha256(b"t_0")).expect("q").is_none());
        assert_eq!(
            db.open_meeting_by_code(&ended.code, 1_200).expect("q"),
            None
        );
        assert!(db.meeting(&open.meeting_id).expect("q").is_some());
        assert!(db.seat("p_1").expect("q").is_some());
        assert_eq!(
            db.purge_closed(i64::MAX).expect("purge"),
            0,
            "open meetings are never purged"
        );
    }
}
