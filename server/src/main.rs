//! `samtale-server`: the Samtale reference meeting server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use samtale_protocol::IceServer;
use samtale_server::{ServerConfig, start};
use tracing_subscriber::EnvFilter;

/// Environment variable that may carry the staff token.
const STAFF_TOKEN_ENV: &str = "SAMTALE_STAFF_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Samtale reference meeting server: join codes, tickets and WebSocket signalling.
///
/// The staff token comes from --staff-token, --staff-token-file or the SAMTALE_STAFF_TOKEN
/// environment variable (prefer the file or the variable: command lines are visible to other
/// users). Log verbosity follows RUST_LOG (default "info").
#[derive(Debug, Parser)]
#[command(name = "samtale-server", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite database file (":memory:" for a throw-away database).
    #[arg(long, default_value = "samtale.sqlite")]
    db: String,
    /// Open connections one client address (IPv6: its /64) may hold; more are closed at once.
    /// 0: no limit. Trusted proxies (--trusted-proxy) are not counted.
    #[arg(long, default_value_t = 1000)]
    max_connections_per_address: usize,
    /// A reverse proxy (address or network, e.g. 10.0.0.5 or 10.0.0.0/24; repeatable or
    /// comma-separated) whose --forwarded-header names the client. Only then are look-ups
    /// limited per citizen instead of per proxy. Never list a network clients can send from.
    #[arg(
        long = "trusted-proxy",
        value_name = "ADDR[/BITS]",
        env = "SAMTALE_TRUSTED_PROXIES"
    )]
    trusted_proxies: Vec<String>,
    /// Header the trusted proxies write the client's address into: x-forwarded-for (nginx
    /// `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`) or forwarded (RFC 7239).
    #[arg(long, default_value = "x-forwarded-for", value_name = "HEADER")]
    forwarded_header: samtale_server::ForwardedHeader,
    /// Staff API bearer token.
    #[arg(long, conflicts_with = "staff_token_file")]
    staff_token: Option<String>,
    /// File holding the staff API bearer token (surrounding whitespace is ignored).
    #[arg(long)]
    staff_token_file: Option<PathBuf>,
    /// Public base URL, e.g. https://samtale.example.dk; tickets' signalling URL derives from it.
    /// Default: http://<listen address>.
    #[arg(long)]
    public_url: Option<String>,
    /// Default meeting lifetime in minutes (1..=10080).
    #[arg(long, default_value_t = 240)]
    meeting_ttl_minutes: u32,
    /// Join token lifetime in seconds.
    #[arg(long, default_value_t = 300)]
    token_ttl_secs: u64,
    /// How long a dropped seat is kept for resume, in seconds.
    #[arg(long, default_value_t = 30)]
    resume_grace_secs: u64,
    /// Keep-alive interval announced to clients, in seconds.
    #[arg(long, default_value_t = 10)]
    keepalive_secs: u64,
    /// A standing room closes after this many days without a call (1..=3650), and its
    /// pairings with it.
    #[arg(long, default_value_t = 90)]
    room_idle_days: u32,
    /// How long a presence question is held while nothing changes, in seconds (1..=60).
    #[arg(long, default_value_t = 25)]
    presence_hold_secs: u64,
    /// Code look-ups one client address may make in a burst.
    #[arg(long, default_value_t = 10)]
    lookup_burst: u32,
    /// Seconds until one more look-up is allowed.
    #[arg(long, default_value_t = 2.0)]
    lookup_refill_secs: f64,
    /// Failed code look-ups a minute, over all clients, above which an alarm is logged and
    /// every failure costs ten times as much (someone may be guessing codes).
    #[arg(long, default_value_t = 30)]
    guess_alarm_per_minute: u32,
    /// Days an ended or expired meeting is kept before every trace of it (code, seats,
    /// tickets) is deleted (1..=3650).
    #[arg(long, default_value_t = 30)]
    closed_retention_days: u32,
    /// STUN server URL for tickets, e.g. stun:stun.example.dk:3478 (repeatable).
    #[arg(long = "stun", value_name = "URL")]
    stun: Vec<String>,
    /// TURN server URL for tickets, e.g. turn:turn.example.dk:3478?transport=udp and
    /// turn:turn.example.dk:3478?transport=tcp (repeatable). Needs a TURN secret.
    #[arg(long = "turn-url", value_name = "URL")]
    turn_urls: Vec<String>,
    /// File holding coturn's static-auth-secret (or set SAMTALE_TURN_SECRET). Never passed on the
    /// command line, where other users could read it.
    #[arg(long, value_name = "PATH")]
    turn_secret_file: Option<std::path::PathBuf>,
    /// Lifetime of the TURN credentials in each ticket, in seconds.
    #[arg(long, default_value_t = 86_400)]
    turn_ttl_secs: u64,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn init_logging(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Dependencies trace SDP and client addresses at their most verbose levels; keep them
    // quiet whatever RUST_LOG says.
    for directive in samtale_server::PRIVACY_LOG_DIRECTIVES {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The staff token from the flag, the file or the environment, if any.
fn staff_token(args: &Args) -> Result<Option<String>, String> {
    if let Some(token) = &args.staff_token {
        return Ok(Some(token.trim().to_owned()).filter(|t| !t.is_empty()));
    }
    if let Some(path) = &args.staff_token_file {
        let content = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --staff-token-file {}: {e}", path.display()))?;
        return Ok(Some(content.trim().to_owned()).filter(|t| !t.is_empty()));
    }
    Ok(std::env::var(STAFF_TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty()))
}

const TURN_SECRET_ENV: &str = "SAMTALE_TURN_SECRET";

/// The TURN configuration from the flags, if any.
fn turn_config(args: &Args) -> Result<Option<samtale_server::TurnConfig>, String> {
    if args.turn_urls.is_empty() {
        if args.turn_secret_file.is_some() {
            return Err("--turn-secret-file given without --turn-url".into());
        }
        return Ok(None);
    }
    let secret = match &args.turn_secret_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --turn-secret-file {}: {e}", path.display()))?,
        None => std::env::var(TURN_SECRET_ENV).map_err(|_| {
            format!(
                "--turn-url needs a secret: pass --turn-secret-file <PATH> or set {TURN_SECRET_ENV}"
            )
        })?,
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        return Err("the TURN secret is empty".into());
    }
    Ok(Some(samtale_server::TurnConfig {
        urls: args.turn_urls.iter().map(|u| u.trim().to_owned()).collect(),
        secret,
        ttl_secs: args.turn_ttl_secs,
    }))
}

fn stun_server(url: &str) -> IceServer {
    let url = url.trim();
    let url = if url.starts_with("stun:") || url.starts_with("stuns:") {
        url.to_owned()
    } else {
        format!("stun:{url}")
    };
    IceServer {
        urls: vec![url],
        username: None,
        credential: None,
    }
}

/// Every signalling socket is a file descriptor: at the common soft limit of 1024 the server
/// is full at ~500 meetings. Raise the soft limit to the hard one (what an operator allows).
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "open-file limit"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let token = match staff_token(&args) {
        Ok(Some(token)) => token,
        Ok(None) => {
            eprintln!(
                "samtale-server: no staff token given. Pass --staff-token <TOKEN>, \
                 --staff-token-file <PATH>, or set {STAFF_TOKEN_ENV}."
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("samtale-server: {e}");
            return ExitCode::from(2);
        }
    };
    let turn = match turn_config(&args) {
        Ok(turn) => turn,
        Err(e) => {
            eprintln!("samtale-server: {e}");
            return ExitCode::from(2);
        }
    };
    let trusted_proxies = match samtale_server::TrustedProxies::parse(
        args.trusted_proxies.iter().map(String::as_str),
        args.forwarded_header,
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("samtale-server: --trusted-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(args.log_format);
    raise_open_file_limit();

    let config = ServerConfig {
        listen: args.listen,
        db_path: args.db.clone(),
        staff_token: token,
        public_url: args.public_url.clone(),
        meeting_ttl_minutes: args.meeting_ttl_minutes,
        token_ttl_secs: args.token_ttl_secs,
        resume_grace_secs: args.resume_grace_secs,
        keepalive_secs: args.keepalive_secs,
        lookup_burst: args.lookup_burst,
        lookup_refill_secs: args.lookup_refill_secs,
        guess_alarm_per_minute: args.guess_alarm_per_minute,
        closed_retention_days: args.closed_retention_days,
        ice_servers: args.stun.iter().map(|u| stun_server(u)).collect(),
        turn,
        room_idle_days: args.room_idle_days,
        presence_hold_secs: args.presence_hold_secs,
        max_connections_per_address: args.max_connections_per_address,
        trusted_proxies,
        ..ServerConfig::default()
    };
    if config.public_url.is_none() && config.listen.ip().is_unspecified() {
        tracing::warn!(
            "listening on an unspecified address without --public-url: tickets will carry a \
             signalling URL clients cannot reach"
        );
    }
    let server = match start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("samtale-server: {e}");
            return ExitCode::from(match e {
                samtale_server::ServerError::Config(_) => 2,
                _ => 1,
            });
        }
    };
    eprintln!(
        "samtale-server listening on {} (public URL {})",
        server.addr(),
        server.base_url()
    );
    match server.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samtale-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        let args = Args::try_parse_from([
            "samtale-server",
            "--listen",
            "0.0.0.0:9000",
            "--stun",
            "stun.example.dk:3478",
            "--stun",
            "stun:b.example.dk",
            "--log-format",
            "json",
            "--staff-token",
            " x ",
        ])
        .expect("parse");
        assert_eq!(args.stun.len(), 2);
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(staff_token(&args).expect("token").as_deref(), Some("x"));
        assert_eq!(
            stun_server(&args.stun[0]).urls,
            ["stun:stun.example.dk:3478"]
        );
        assert_eq!(stun_server(&args.stun[1]).urls, ["stun:b.example.dk"]);
        let args = Args::try_parse_from([
            "samtale-server",
            "--trusted-proxy",
            "10.0.0.5",
            "--trusted-proxy",
            "10.1.0.0/16,::1",
            "--forwarded-header",
            "Forwarded",
        ])
        .expect("parse");
        assert_eq!(
            args.forwarded_header,
            samtale_server::ForwardedHeader::Forwarded
        );
        let t = samtale_server::TrustedProxies::parse(
            args.trusted_proxies.iter().map(String::as_str),
            args.forwarded_header,
        )
        .expect("proxies");
        assert!(
            t.contains("10.1.2.3".parse().expect("ip")) && t.contains("::1".parse().expect("ip"))
        );
        assert!(Args::try_parse_from(["samtale-server", "--forwarded-header", "via"]).is_err());
        assert!(
            Args::try_parse_from([
                "samtale-server",
                "--staff-token",
                "a",
                "--staff-token-file",
                "f"
            ])
            .is_err()
        );
    }
}
