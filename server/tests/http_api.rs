//! HTTP API: staff endpoints, code resolution, rate limiting.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use samtale_protocol::{JoinCode, Meeting, MeetingList, MeetingState, Role};
use samtale_server::{Clock, ServerConfig};
use serde_json::{Value, json};

#[tokio::test]
async fn staff_endpoints_need_the_token() {
    let server = start(config()).await;
    let base = server.base_url();
    let http = http();
    // Each request from an address of its own: an address has ten wrong tries (see
    // `wrong_staff_tokens_are_limited_per_address`).
    let from = |i: u8| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 10 + i]))
            .build()
            .unwrap()
    };
    let requests = |c: &reqwest::Client| {
        [
            c.post(format!("{base}/api/v1/meetings")).json(&json!({})),
            c.get(format!("{base}/api/v1/meetings")),
            c.get(format!("{base}/api/v1/meetings/m_0000000000000000")),
            c.delete(format!("{base}/api/v1/meetings/m_0000000000000000")),
            c.post(format!("{base}/api/v1/meetings/m_0000000000000000/tickets")),
        ]
    };
    for i in 0..5u8 {
        let client = from(i);
        let request = requests(&client).into_iter().nth(usize::from(i)).unwrap();
        for auth in [
            None,
            Some("wrong"),
            Some(""),
            Some("test-staff-token-0123456789-but-longer"),
        ] {
            let request = request.try_clone().unwrap();
            let request = match auth {
                Some(t) => request.bearer_auth(t),
                None => request,
            };
            let resp = request.send().await.unwrap();
            assert_eq!(resp.status(), 401, "request {i} with {auth:?}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
            assert!(body.get("retry_after_secs").is_none());
        }
    }
    // Basic auth with the right secret is still not a bearer token.
    let resp = http
        .get(format!("{base}/api/v1/meetings"))
        .basic_auth(STAFF_TOKEN, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn create_list_get_end() {
    let clock = Clock::manual(1_800_000_000);
    let server = start(ServerConfig {
        clock: clock.clone(),
        ..config()
    })
    .await;
    let staff = Staff::new(&server);

    let a = staff.create(json!({"ttl_minutes": 120})).await;
    assert!(a.meeting_id.starts_with("m_") && a.meeting_id.len() == 18);
    assert_eq!(a.created_at, 1_800_000_000);
    assert_eq!(a.expires_at, 1_800_000_000 + 120 * 60);
    assert_eq!(a.state, MeetingState::Open);
    assert_eq!(a.participants, 0);
    let code = JoinCode::parse(&a.code).expect("valid code");
    assert_eq!(a.code_display, code.display());

    clock.advance(5);
    // Empty body and `{}` both take the default lifetime (240 minutes).
    let resp = staff
        .http
        .post(format!("{}/api/v1/meetings", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let b: Meeting = resp.json().await.unwrap();
    assert_eq!(b.expires_at - b.created_at, 240 * 60);
    assert_ne!(a.code, b.code);

    for bad in [
        json!({"ttl_minutes": 0}),
        json!({"ttl_minutes": 10081}),
        json!([1]),
    ] {
        let resp = staff
            .http
            .post(format!("{}/api/v1/meetings", staff.base))
            .bearer_auth(STAFF_TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "bad_request");
    }
    let resp = staff
        .http
        .post(format!("{}/api/v1/meetings", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Newest first.
    let list: MeetingList = staff
        .http
        .get(format!("{}/api/v1/meetings", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<_> = list
        .meetings
        .iter()
        .map(|m| m.meeting_id.as_str())
        .collect();
    assert_eq!(ids, [b.meeting_id.as_str(), a.meeting_id.as_str()]);

    let resp = staff.get(&a.meeting_id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Meeting>().await.unwrap(), a);
    let resp = staff.get("m_does_not_exist").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "not_found");

    // End: 200 with state ended, then 410; the list no longer has it.
    let resp = staff.end(&a.meeting_id).await;
    assert_eq!(resp.status(), 200);
    let ended: Meeting = resp.json().await.unwrap();
    assert_eq!(ended.state, MeetingState::Ended);
    let resp = staff.end(&a.meeting_id).await;
    assert_eq!(resp.status(), 410);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "gone");
    assert_eq!(staff.end("m_does_not_exist").await.status(), 404);
    let resp = staff
        .http
        .post(format!(
            "{}/api/v1/meetings/{}/tickets",
            staff.base, a.meeting_id
        ))
        .bearer_auth(STAFF_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 410);
    let get: Meeting = staff.get(&a.meeting_id).await.json().await.unwrap();
    assert_eq!(get.state, MeetingState::Ended);
    let list: MeetingList = staff
        .http
        .get(format!("{}/api/v1/meetings", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.meetings.len(), 1);

    // Expiry shows in the state, and the staff API says gone.
    clock.advance(240 * 60);
    let get: Meeting = staff.get(&b.meeting_id).await.json().await.unwrap();
    assert_eq!(get.state, MeetingState::Expired);
    assert_eq!(staff.end(&b.meeting_id).await.status(), 410);
    server.shutdown().await;
}

#[tokio::test]
async fn resolve_issues_citizen_ticket() {
    let server = start(ServerConfig {
        public_url: Some("http://127.0.0.1:9/prefix/".into()),
        ice_servers: vec![samtale_protocol::IceServer {
            urls: vec!["stun:stun.example.dk:3478".into()],
            username: None,
            credential: None,
        }],
        ..config()
    })
    .await;
    assert_eq!(server.base_url(), "http://127.0.0.1:9/prefix");
    // The public URL does not point at the test server; talk to the bound address directly.
    let staff = Staff {
        base: format!("http://{}", server.addr()),
        http: http(),
    };
    let m = staff.meeting().await;
    let code = JoinCode::parse(&m.code).unwrap();
    // Every way of typing the code resolves.
    for typed in [
        m.code.clone(),
        m.code_display.clone(),
        format!(" {}-{}-{} ", &m.code[..3], &m.code[3..6], &m.code[6..]),
    ] {
        let t = staff.resolve(&typed).await;
        assert_eq!(t.protocol, 1);
        assert_eq!(t.meeting_id, m.meeting_id);
        assert_eq!(t.role, Role::Citizen);
        assert_eq!(t.signalling_url, "ws://127.0.0.1:9/prefix/api/v1/signal");
        assert!(t.join_token.starts_with("t_") && t.join_token.len() == 45);
        assert_eq!(t.ice_servers.len(), 1);
        assert!(t.token_expires_at > m.created_at);
    }
    let t = staff.ticket(&m.meeting_id).await;
    assert_eq!(t.role, Role::Staff);
    assert_eq!(t.token_expires_at - m.created_at, 300);
    let _ = code;

    // healthz and unknown routes.
    let resp = staff
        .http
        .get(format!("{}/healthz", staff.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    let resp = staff
        .http
        .get(format!("{}/api/v1/nothing", staff.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");

    // Every error answer has the documented body, also those the framework writes: a method
    // a path does not take (405, with Allow), a body over the limit (413), a plain GET on the
    // WebSocket path.
    let resp = staff
        .http
        .delete(format!("{}/api/v1/join", staff.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert!(
        resp.headers().get("allow").is_some(),
        "{:?}",
        resp.headers()
    );
    assert_eq!(error_code(resp).await, "bad_request");
    let resp = staff
        .http
        .post(format!("{}/api/v1/join", staff.base))
        .header("content-type", "application/json")
        .body(format!(r#"{{"code":"{}"}}"#, "1".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(error_code(resp).await, "bad_request");
    let resp = staff
        .http
        .get(format!("{}/api/v1/signal", staff.base))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(error_code(resp).await, "bad_request");
    server.shutdown().await;
}

/// The `error` of a documented error body (`application/json`, `{"error", "message"}`).
async fn error_code(resp: reqwest::Response) -> String {
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/json", "an error body is JSON");
    let body: samtale_protocol::ApiError = resp.json().await.unwrap();
    assert!(!body.message.is_empty());
    serde_json::to_value(body.error)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn pairing_token_rejoins_while_the_meeting_is_open_and_is_revoked_when_it_ends() {
    let server = start(config()).await;
    let staff = Staff {
        base: server.base_url(),
        http: http(),
    };
    let m = staff.meeting().await;
    let first = staff.resolve(&m.code).await;
    let token = first
        .pairing_token
        .clone()
        .expect("a citizen ticket carries a pairing token");
    assert!(token.len() >= 40, "long and random");
    assert!(!token.contains(&m.code), "the code is not in it");
    // Staff tickets do not carry one.
    assert_eq!(staff.ticket(&m.meeting_id).await.pairing_token, None);

    let rejoin = |token: String| {
        let http = staff.http.clone();
        let url = format!("{}/api/v1/rejoin", staff.base);
        async move {
            http.post(url)
                .json(&json!({ "pairing_token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    let resp = rejoin(token.clone()).await;
    assert_eq!(resp.status(), 200);
    let t: samtale_protocol::Ticket = resp.json().await.unwrap();
    assert_eq!(t.meeting_id, m.meeting_id);
    assert_eq!(t.role, Role::Citizen);
    assert_ne!(
        t.join_token, first.join_token,
        "a fresh single-use join token"
    );
    assert_eq!(t.pairing_token.as_deref(), Some(token.as_str()));

    // Unknown tokens get exactly the answer an unknown code gets.
    let unknown = rejoin("t_not-a-real-token".into()).await;
    assert_eq!(unknown.status(), 404);
    let unknown_body = unknown.text().await.unwrap();
    let other = JoinCode::generate();
    let no_code = staff
        .resolve_raw(other.digits())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(unknown_body, no_code);

    // Ending the meeting revokes the token.
    assert!(staff.end(&m.meeting_id).await.status().is_success());
    let ended = rejoin(token).await;
    assert_eq!(ended.status(), 404);
    assert_eq!(ended.text().await.unwrap(), no_code);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_code_and_bad_body() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut typo: Vec<u8> = m.code.bytes().collect();
    typo.swap(3, 4);
    if typo[3] == typo[4] {
        typo[3] = if typo[3] == b'9' { b'0' } else { typo[3] + 1 };
    }
    let typo = String::from_utf8(typo).unwrap();
    for bad in ["", "123", "12345678901", "abcdefghij", typo.as_str()] {
        let resp = staff.resolve_raw(bad).await;
        assert_eq!(resp.status(), 400, "{bad:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "bad_code", "{bad:?}");
    }
    for body in ["", "{}", "not json", r#"{"code": 5}"#] {
        let resp = staff
            .http
            .post(format!("{}/api/v1/join", staff.base))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "bad_request");
    }
    server.shutdown().await;
}

async fn unavailable_body(staff: &Staff, code: &str) -> (u16, Option<String>, Vec<u8>) {
    let resp = staff.resolve_raw(code).await;
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ctype, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn code_unavailable_is_identical_for_unknown_ended_and_expired() {
    let clock = Clock::manual(1_800_000_000);
    let server = start(ServerConfig {
        clock: clock.clone(),
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let ended = staff.create(json!({"ttl_minutes": 600})).await;
    let expired = staff.create(json!({"ttl_minutes": 1})).await;
    staff.resolve(&ended.code).await;
    staff.resolve(&expired.code).await;
    assert_eq!(staff.end(&ended.meeting_id).await.status(), 200);
    clock.advance(60);

    let mut unknown = JoinCode::generate();
    while unknown.digits() == ended.code || unknown.digits() == expired.code {
        unknown = JoinCode::generate();
    }
    let a = unavailable_body(&staff, unknown.digits()).await;
    let b = unavailable_body(&staff, &ended.code).await;
    let c = unavailable_body(&staff, &expired.code).await;
    assert_eq!(a.0, 404);
    let body: Value = serde_json::from_slice(&a.2).unwrap();
    assert_eq!(body["error"], "code_unavailable");
    assert_eq!(a, b, "unknown vs ended");
    assert_eq!(a, c, "unknown vs expired");

    // Still identical once the meeting is marked expired in the database.
    let m: Meeting = staff.get(&expired.meeting_id).await.json().await.unwrap();
    assert_eq!(m.state, MeetingState::Expired);
    assert_eq!(staff.end(&expired.meeting_id).await.status(), 410);
    assert_eq!(a, unavailable_body(&staff, &expired.code).await);
    server.shutdown().await;
}

#[tokio::test]
async fn lookups_are_rate_limited_per_address() {
    let server = start(ServerConfig {
        lookup_burst: 5,
        lookup_refill_secs: 0.5,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    // Successful, failed and malformed look-ups all cost a token.
    assert_eq!(staff.resolve_raw(&m.code).await.status(), 200);
    assert_eq!(staff.resolve_raw("123").await.status(), 400);
    assert_eq!(
        staff
            .resolve_raw(JoinCode::generate().digits())
            .await
            .status(),
        404
    );
    let mut limited = None;
    for _ in 0..20 {
        let resp = staff.resolve_raw(&m.code).await;
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = limited.expect("the flood was limited");
    let header: u64 = resp
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(header >= 1);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after_secs"], json!(header));
    // Even a valid code is refused while limited; the staff API is not affected.
    assert_eq!(staff.resolve_raw(&m.code).await.status(), 429);
    assert_eq!(staff.get(&m.meeting_id).await.status(), 200);

    // After Retry-After, look-ups work again.
    tokio::time::sleep(Duration::from_secs(header)).await;
    assert_eq!(staff.resolve_raw(&m.code).await.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn serves_the_caseworker_page() {
    let server = start(config()).await;
    let base = server.base_url();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .unwrap();

    let resp = http.get(format!("{base}/staff/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    // The page may open the WebSocket of its tickets: exactly the signalling origin.
    let ws_origin = base.replacen("http://", "ws://", 1);
    assert!(
        csp.contains(&format!("connect-src 'self' {ws_origin};")),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js">"#));
    // No inline scripts: everything the page runs comes from its own files.
    assert_eq!(html.matches("<script").count(), 1);

    for (file, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("call.js", "text/javascript; charset=utf-8"),
        ("status.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let resp = http
            .get(format!("{base}/staff/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{file}");
        assert_eq!(resp.headers()["content-type"], content_type, "{file}");
    }

    let resp = http.get(format!("{base}/staff")).send().await.unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], "staff/");

    for missing in [
        "/staff/nope.js",
        "/staff/../api/v1/meetings",
        "/staff/app.js/x",
        // The QR code is no longer asked for by code (the code would be in access logs).
        "/j/4821937750/qr.svg",
    ] {
        let resp = http.get(format!("{base}{missing}")).send().await.unwrap();
        assert_ne!(resp.status(), 200, "{missing}");
    }

    // The join link `/j/#<code>`: one page for every code (the server never sees it), its
    // script from the page's own files, no inline script; `/j` keeps the fragment.
    let resp = http.get(format!("{base}/j/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="../staff/join.js">"#),
        "{html}"
    );
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("data-code") && html.contains("Linket ser forkert ud"));
    let resp = http
        .get(format!("{base}/staff/join.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http.get(format!("{base}/j")).send().await.unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], "j/");

    // The QR code by meeting id (staff): the link inside has the code in its fragment.
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let qr = |id: String, token: &'static str| {
        http.get(format!("{base}/api/v1/meetings/{id}/qr.svg"))
            .bearer_auth(token)
            .send()
    };
    let resp = qr(m.meeting_id.clone(), STAFF_TOKEN).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert!(resp.text().await.unwrap().starts_with("<?xml"));
    assert_eq!(
        qr(m.meeting_id.clone(), "wrong-token-0123456789")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        qr("m_nope".into(), STAFF_TOKEN).await.unwrap().status(),
        404
    );
    assert_eq!(staff.end(&m.meeting_id).await.status(), 200);
    assert_eq!(
        qr(m.meeting_id.clone(), STAFF_TOKEN)
            .await
            .unwrap()
            .status(),
        410
    );
    server.shutdown().await;
}

/// Issue 17, item 5: wrong staff tokens were not limited (~11,000 guesses a second). An
/// address gets ten wrong tries, then one a 6 s; while it has none even the right token is
/// refused (so guessing cannot go on behind the 429s); other addresses are not affected.
#[tokio::test]
async fn wrong_staff_tokens_are_limited_per_address() {
    let server = start(config()).await;
    let base = server.base_url();
    let client = |last: u8| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .build()
            .unwrap()
    };
    let list = |c: &reqwest::Client, token: &str| {
        c.get(format!("{base}/api/v1/meetings"))
            .bearer_auth(token)
            .send()
    };
    let guesser = client(20);
    let mut answers = Vec::new();
    for i in 0..15 {
        let resp = list(&guesser, &format!("guess-{i:020}")).await.unwrap();
        answers.push(resp.status().as_u16());
    }
    assert_eq!(&answers[..10], &[401; 10], "{answers:?}");
    assert_eq!(&answers[10..], &[429; 5], "{answers:?}");
    let resp = list(&guesser, STAFF_TOKEN).await.unwrap();
    assert_eq!(resp.status(), 429, "the right token behind the limit");
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // A caseworker elsewhere signs in as usual.
    assert_eq!(list(&client(21), STAFF_TOKEN).await.unwrap().status(), 200);
    server.shutdown().await;
}
