//! An app's observers never hold up the call (issue 12): a state observer and a video
//! renderer that are stuck inside their callbacks for the whole call, and the call still
//! joins, media flows, and a network change is recovered on time. Before, state callbacks
//! ran on the call's actor thread, so the first stuck callback stopped the call itself.

use samtale_core::{Call, CallState};
use samtale_e2e::{TestServer, media_keeps_flowing, wait_media_from, wait_stats, with_devices};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);
/// An observer stays stuck at most this long (then the test has failed anyway).
const STUCK: Duration = Duration::from_secs(60);

/// A callback that blocks until `release` is dropped, counting how often it was entered.
fn stuck<T>() -> (
    impl Fn(&T) + Send + Sync + 'static,
    mpsc::Sender<()>,
    Arc<Mutex<u32>>,
) {
    let (release, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let entered = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&entered);
    let f = move |_: &T| {
        *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        // Returns at once when released (or the test is over and the sender dropped).
        let _ = wait
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(STUCK);
    };
    (f, release, entered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_observers_hold_up_nothing() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let citizen = with_devices(Call::join(server.config(), &meeting.code));
    let (on_state, release_state, states_entered) = stuck::<CallState>();
    let (on_frame, release_video, frames_entered) = stuck();
    let _states = citizen.subscribe(on_state);
    let _video = citizen.subscribe_video(on_frame);

    // The call joins and media flows while both callbacks are stuck in their first call.
    let s = citizen.wait_for(LONG, |s| *s == CallState::InCall).await;
    assert_eq!(s, CallState::InCall);
    let staff_id = staff.participant_id().expect("seated");
    let before = wait_media_from(&citizen, &staff_id, "media with stuck observers").await;
    let before = media_keeps_flowing(&citizen, &before, 50, "media keeps flowing").await;
    // A recovery still happens: the network change restarts ICE and media comes back.
    citizen.network_changed();
    wait_stats(&citizen, LONG, "an ICE restart with stuck observers", |s| {
        s.ice_restarts >= 1
    })
    .await;
    media_keeps_flowing(&citizen, &before, 50, "media after the restart").await;
    assert_eq!(
        *states_entered.lock().expect("count"),
        1,
        "one callback, still stuck"
    );
    assert_eq!(
        *frames_entered.lock().expect("count"),
        1,
        "one picture, still drawing"
    );

    // Released, the state observer catches up with the current state.
    drop(release_state);
    drop(release_video);
    citizen.leave();
    citizen.closed().await;
    staff.leave();
    staff.closed().await;
}
