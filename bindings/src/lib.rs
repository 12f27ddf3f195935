//! `samtale-ffi`: the Samtale core for the native shells (Kotlin, Swift) and testers' scripts
//! (Python), through uniffi.
//!
//! Type conversions and task plumbing only: every decision about a call is made in
//! `samtale-core`. One [`Samtale`] object per app; it owns a small Tokio runtime (threads named
//! `samtale-core`) on which the call runs.
//!
//! Threads: [`CallObserver::on_state`] is called on one delivery thread per `Samtale`
//! (`call-notify`), [`CallObserver::on_remote_video`] on one per call (`call-video`); never on
//! the caller's thread, never while the core holds a lock, and never on the call's own threads,
//! so a callback may call any method here (`leave()`, `join()`, `shutdown()`) and a slow one
//! holds up nothing but its own later callbacks. States arrive in order, the current one first;
//! an observer that falls 16 states behind skips the oldest, and a renderer that falls behind
//! by two pictures skips to the newest. Shells still hop to their UI thread.
//! `push_audio` and `pull_audio` are meant for the platform's real-time audio callbacks: they
//! never wait for a lock and the core allocates nothing in them (uniffi itself copies the
//! samples across the boundary once per call).

#[cfg(target_os = "android")]
mod android;
mod convert;
#[cfg(feature = "emulator")]
pub mod emulator;
mod fault;
mod logging;
mod presenter;
mod screens;

use convert::ui_state;
pub use convert::{CodeProblem, EndKind, ErrorKind, UiState};
use presenter::{Attempt, Presenter};
use samtale_core::media::FRAME_SAMPLES;
use samtale_core::remember::{FileStore, TokenStore};
use samtale_core::screen::Overlay;
use samtale_core::{Call, CallConfig, Subscription, VideoFrame};
pub use screens::{
    Action, ActionKind, CodeEntry, Help, Layout, Permission, Pictogram, Screen, ShellTexts, Text,
    Toggle,
};
use std::sync::{Arc, Mutex};

uniffi::setup_scaffolding!();

/// How much the core logs (to logcat on Android, the unified log on iOS, stderr elsewhere).
/// Log lines never contain codes, tokens or names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Call progress.
    Info,
    /// Everything useful for debugging.
    Debug,
}

/// What the app is (one per brand).
#[derive(Debug, Clone, uniffi::Record)]
pub struct AppConfig {
    /// Base URL of the municipality's Samtale server, e.g. `https://samtale.kommune.dk`.
    pub server_url: String,
    /// The brand (white-label) id.
    pub brand_id: String,
    /// A directory the app owns (for what the core remembers between runs).
    pub storage_dir: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// The brand file's text (`brand.toml`, shipped by `samtale-brand build` as
    /// `res/raw/brand.toml` / `brand.toml` in the bundle): the municipality, the help line,
    /// wording and switches of every screen.
    pub brand_toml: String,
    /// `da` or `en` (the phone's language); `None` or another language: the brand's default.
    #[uniffi(default = None)]
    pub language: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the platform's, for HTTPS and WSS alike:
    /// a municipality that runs its own CA ships it here (the brand file's `ca.pem`). Ignored
    /// on Android, where the CA belongs in the app's `network_security_config`.
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
}

/// Clockwise rotation that makes a captured frame upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Rotation {
    /// Already upright.
    None,
    /// 90° clockwise.
    Cw90,
    /// 180°.
    Cw180,
    /// 270° clockwise.
    Cw270,
}

/// A captured picture: I420 (Y plane, then U, then V, tightly packed), even sizes.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VideoFrameIn {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3 / 2` bytes.
    pub i420: Vec<u8>,
    /// Rotation to apply before sending.
    pub rotation: Rotation,
}

/// The chroma of a camera frame, as the platform delivers it.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum Chroma {
    /// Separate U and V buffers: Android `YUV_420_888` planes 1 and 2 as they are, whatever
    /// their pixel stride (1: I420; 2: interleaved, each buffer starting at its own sample).
    Planar {
        /// Cb samples.
        u: Vec<u8>,
        /// Cr samples.
        v: Vec<u8>,
        /// Bytes from one chroma row to the next.
        row_stride: u32,
        /// Bytes from one chroma sample to the next (1 or 2).
        pixel_stride: u32,
    },
    /// One interleaved plane, U first: iOS bi-planar `CVPixelBuffer` plane 1
    /// (`kCVPixelFormatType_420YpCbCr8BiPlanar...`).
    Nv12 {
        /// Cb, Cr, Cb, Cr, ...
        uv: Vec<u8>,
        /// `CVPixelBufferGetBytesPerRowOfPlane(buffer, 1)`.
        row_stride: u32,
    },
    /// One interleaved plane, V first (Android's NV21).
    Nv21 {
        /// Cr, Cb, Cr, Cb, ...
        vu: Vec<u8>,
        /// Bytes from one chroma row to the next.
        row_stride: u32,
    },
}

/// A captured camera picture as the platform delivers it: YUV 4:2:0 with row (and pixel)
/// strides, and the rotation that makes it upright. Even sizes.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CameraFrame {
    /// Width in pixels (of the buffer, before rotation).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma samples.
    pub y: Vec<u8>,
    /// Bytes from one luma row to the next (`rowStride`, `BytesPerRowOfPlane(0)`).
    pub y_row_stride: u32,
    /// Chroma, in the platform's layout.
    pub chroma: Chroma,
    /// Clockwise rotation to apply before sending.
    pub rotation: Rotation,
}

/// A decoded picture from another participant (I420, upright).
#[derive(Debug, Clone, uniffi::Record)]
pub struct RemoteVideoFrame {
    /// Which participant it comes from.
    pub participant_id: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// I420 bytes (Y, U, V planes, tightly packed).
    pub i420: Vec<u8>,
}

/// Errors of calls that return one.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SamtaleError {
    /// `shutdown()` was called.
    #[error("the Samtale object is shut down")]
    Closed,
    /// A video frame that is not what it claims.
    #[error("bad video frame: {detail}")]
    BadFrame {
        /// Why.
        detail: String,
    },
    /// The async runtime could not be started.
    #[error("runtime: {detail}")]
    Runtime {
        /// Why.
        detail: String,
    },
    /// The brand file is not valid (`samtale-brand check` says the same, before the build).
    #[error("brand: {detail}")]
    BadBrand {
        /// Every problem, `field: what to do`, one per line.
        detail: String,
    },
    /// The core failed unexpectedly (a bug, logged); the app goes on and may try again.
    #[error("internal error in the core")]
    Internal,
}

/// Implemented by the shell: receives the screens to draw and remote pictures.
#[uniffi::export(foreign)]
pub trait CallObserver: Send + Sync {
    /// What to show: the current screen at once, then one with every change (of the call's
    /// state, the typed code, the microphone or camera). `screen.state` is the call state.
    fn on_screen(&self, screen: Screen);
    /// A decoded picture from another participant.
    fn on_remote_video(&self, frame: RemoteVideoFrame);
}

/// Implemented by the shell: secure storage for the one secret the core keeps, the pairing
/// token of the remembered meeting (Android: Keystore-encrypted storage; iOS: Keychain,
/// `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`). Without one the token is kept in a
/// file under `storage_dir`, which the app must exclude from backups. `save` is called on a
/// core thread after a successful look-up, `load`/`delete` on the thread that calls
/// `hasRememberedMeeting()`, `rejoin()` or `forgetMeeting()` (and on a core thread when the
/// server no longer knows the token); never while a lock of the core is held.
#[uniffi::export(foreign)]
pub trait SecureStore: Send + Sync {
    /// The value stored under `key`, if any.
    fn load(&self, key: String) -> Option<String>;
    /// Stores `value` under `key`, replacing any; `false` if it could not be stored.
    fn save(&self, key: String, value: String) -> bool;
    /// Deletes `key` (no error if absent).
    fn delete(&self, key: String);
}

/// The shell's [`SecureStore`] as the core's token store, under one key per brand. A store
/// that throws is treated as empty (and logged), never as a crash.
struct ForeignStore {
    store: Arc<dyn SecureStore>,
    key: String,
}

impl samtale_core::remember::TokenStore for ForeignStore {
    fn load(&self) -> Option<String> {
        let run = std::panic::AssertUnwindSafe(|| self.store.load(self.key.clone()));
        std::panic::catch_unwind(run).unwrap_or_else(|_| {
            log::error!("the secure store failed to load");
            None
        })
    }
    fn save(&self, token: &str) -> Result<(), String> {
        let run =
            std::panic::AssertUnwindSafe(|| self.store.save(self.key.clone(), token.to_owned()));
        match std::panic::catch_unwind(run) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the secure store refused it".into()),
            Err(_) => Err("the secure store failed".into()),
        }
    }
    fn forget(&self) {
        let run = std::panic::AssertUnwindSafe(|| self.store.delete(self.key.clone()));
        if std::panic::catch_unwind(run).is_err() {
            log::error!("the secure store failed to delete");
        }
    }
}

struct Current {
    call: Call,
    _subscriptions: Vec<Subscription>,
    /// The device watch of this call (ends with it).
    watch: tokio::task::JoinHandle<()>,
}

/// The core, for one app. Create one with `Samtale(config, observer)`, call `shutdown()` when
/// the app no longer needs it (dropping the object shuts it down too).
#[derive(uniffi::Object)]
pub struct Samtale {
    config: AppConfig,
    observer: Arc<dyn CallObserver>,
    /// Where the remembered meeting's pairing token is kept.
    remember: Arc<dyn TokenStore>,
    /// What the app is shown; its one subscription calls `observer.on_screen` off-thread.
    presenter: Arc<Presenter>,
    /// Dropped by `shutdown()`: no callback into the app after it (one already running
    /// finishes). A host language that tears its threads down at exit (Python) must not be
    /// called from ours then.
    screen_subscription: Mutex<Option<Subscription>>,
    /// Bumped for every call started or left: a finished call's late states are not shown.
    /// Checked and shown under this lock, so no late state slips in after a newer one.
    generation: Arc<Mutex<u64>>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    current: Mutex<Option<Current>>,
    /// Changes every call's configuration (Rust embedders only: the emulator binds media
    /// where its network lab says).
    tune: Option<Tune>,
    /// The app is in front (`set_app_visible`): presence is asked about only then.
    visible: std::sync::atomic::AtomicBool,
    /// The presence watcher while the app is in front.
    presence: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// See [`Samtale::new_tuned`].
pub type Tune = Arc<dyn Fn(&mut CallConfig) + Send + Sync>;

impl std::fmt::Debug for Samtale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samtale").finish_non_exhaustive()
    }
}

/// Runs an exported entry point so that no panic crosses into the app: a panic (a bug in the
/// core) is logged and `fallback` is returned instead, a safe value or state. uniffi would
/// turn it into an exception in Kotlin and Python but a crash in Swift (`try!`).
fn guarded<T>(entry: &'static str, fallback: impl FnOnce() -> T, f: impl FnOnce() -> T) -> T {
    let run = std::panic::AssertUnwindSafe(|| {
        fault::hit(entry);
        f()
    });
    match std::panic::catch_unwind(run) {
        Ok(value) => value,
        Err(_) => {
            // Not the panic's message: it could carry anything, and log lines carry no codes.
            log::error!("{entry}: the core failed unexpectedly; the app goes on");
            fallback()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The guard if nobody holds the lock; for the audio callbacks, which must never wait.
fn try_lock<T>(m: &Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

#[uniffi::export]
impl Samtale {
    /// Starts the core. The observer gets `Idle` first (on its delivery thread). Phones pass
    /// their `SecureStore` for the pairing token; without one it is kept in a file under
    /// `storage_dir`.
    #[uniffi::constructor(default(secure_store = None))]
    pub fn new(
        config: AppConfig,
        observer: Arc<dyn CallObserver>,
        secure_store: Option<Arc<dyn SecureStore>>,
    ) -> Result<Arc<Self>, SamtaleError> {
        guarded(
            "new",
            || Err(SamtaleError::Internal),
            || {
                logging::init(config.log_level);
                Self::build(config, observer, secure_store, None)
            },
        )
    }

    /// Checks a code as typed, offline. `None` means it looks right.
    pub fn check_code(&self, code: String) -> Option<CodeProblem> {
        guarded(
            "check_code",
            || None,
            || {
                samtale_core::code::JoinCode::parse(&code)
                    .err()
                    .map(|e| CodeProblem::from(&e))
            },
        )
    }

    /// Joins the meeting with this code (leaving a call in progress first). The outcome arrives
    /// as states on the observer; a mistyped code fails at once without a network call.
    pub fn join(&self, code: String) {
        guarded(
            "join",
            || self.show_internal_failure(),
            || {
                self.presenter.update(|v| {
                    v.set_typed(&code, false);
                    v.set_attempt(Attempt::Code(code.clone()));
                });
                self.start(|config| Call::join(config, &code));
            },
        )
    }

    /// Whether a meeting is remembered for one-tap rejoin (after a successful join, until the
    /// meeting ends or `forget_meeting()`).
    pub fn has_remembered_meeting(&self) -> bool {
        guarded(
            "has_remembered_meeting",
            || false,
            || self.remember.load().is_some(),
        )
    }

    /// Rejoins the remembered meeting without the code. Without one, the observer gets
    /// `Failed(NoRememberedMeeting)`; if the meeting has ended meanwhile,
    /// `Failed(CodeNotFoundOrExpired)` and the meeting is forgotten.
    pub fn rejoin(&self) {
        guarded(
            "rejoin",
            || self.show_internal_failure(),
            || {
                self.presenter.update(|v| v.set_attempt(Attempt::Rejoin));
                match self.remember.load() {
                    Some(token) => self.start(|config| Call::rejoin(config, token)),
                    None => {
                        self.leave_current();
                        let _current = lock(&self.generation);
                        self.presenter.show_state(UiState::Failed {
                            error: ErrorKind::NoRememberedMeeting,
                        });
                    }
                }
            },
        )
    }

    /// Forgets the remembered meeting.
    pub fn forget_meeting(&self) {
        guarded(
            "forget_meeting",
            || (),
            || {
                self.remember.forget();
                self.presenter.update(|v| v.set_remembered(false));
            },
        )
    }

    /// The platform saw the network change (Wi-Fi to cellular, a new address): the core
    /// replaces its signalling connection at once and restarts ICE on new sockets instead of
    /// waiting for time-outs. Call it from the platform's network callback.
    pub fn network_changed(&self) {
        guarded(
            "network_changed",
            || (),
            || {
                if let Some(c) = lock(&self.current).as_ref() {
                    c.call.network_changed();
                }
            },
        )
    }

    /// Leaves the call (the observer sees `Ended(YouLeft)`).
    pub fn leave(&self) {
        guarded(
            "leave",
            || (),
            || {
                self.presenter.update(|v| v.set_overlay(None));
                if let Some(c) = lock(&self.current).as_ref() {
                    c.call.leave();
                }
            },
        )
    }

    /// Mutes or unmutes the microphone.
    pub fn set_microphone_muted(&self, muted: bool) {
        guarded(
            "set_microphone_muted",
            || (),
            || {
                if let Some(c) = lock(&self.current).as_ref() {
                    c.call.set_microphone_muted(muted);
                }
                self.presenter.update(|v| v.set_microphone_on(!muted));
            },
        )
    }

    /// Turns the camera on or off.
    pub fn set_camera_enabled(&self, enabled: bool) {
        guarded(
            "set_camera_enabled",
            || (),
            || {
                if let Some(c) = lock(&self.current).as_ref() {
                    c.call.set_camera_enabled(enabled);
                }
                self.presenter.update(|v| v.set_camera_on(enabled));
            },
        )
    }

    /// 10 ms of captured audio: 480 samples, 48 kHz mono (other lengths are re-chunked).
    /// Real-time safe: never waits (while a call is being started or left it drops the
    /// samples rather than wait for that); the core copies into a lock-free ring.
    pub fn push_audio(&self, pcm: Vec<i16>) {
        guarded(
            "push_audio",
            || (),
            || {
                if let Some(current) = try_lock(&self.current)
                    && let Some(c) = current.as_ref()
                {
                    c.call.push_audio(&pcm);
                }
            },
        )
    }

    /// A captured picture.
    pub fn push_video(&self, frame: VideoFrameIn) -> Result<(), SamtaleError> {
        guarded(
            "push_video",
            || Ok(()),
            || {
                let picture = VideoFrame::from_i420(frame.width, frame.height, frame.i420)
                    .map_err(|e| SamtaleError::BadFrame {
                        detail: e.to_string(),
                    })?;
                if let Some(c) = lock(&self.current).as_ref() {
                    c.call
                        .push_video(&picture, convert::rotation(frame.rotation));
                }
                Ok(())
            },
        )
    }

    /// A camera picture in the platform's layout (Android `YUV_420_888`, iOS bi-planar
    /// `CVPixelBuffer`): converted to upright I420 by the core. A buffer too short for its
    /// size and strides throws `BadFrame` naming the plane.
    pub fn push_camera_frame(&self, frame: CameraFrame) -> Result<(), SamtaleError> {
        guarded(
            "push_camera_frame",
            || Ok(()),
            || {
                let picture =
                    convert::camera_frame(&frame).map_err(|e| SamtaleError::BadFrame {
                        detail: e.to_string(),
                    })?;
                if let Some(c) = lock(&self.current).as_ref() {
                    c.call.push_video(&picture, samtale_core::Rotation::None);
                }
                Ok(())
            },
        )
    }

    /// Exactly 10 ms (480 samples, 48 kHz mono) of the other participants, mixed. Silence when
    /// there is no call, and while a call is being started or left (never waits for that).
    pub fn pull_audio(&self) -> Vec<i16> {
        guarded(
            "pull_audio",
            || vec![0; FRAME_SAMPLES],
            || {
                let mut out = [0i16; FRAME_SAMPLES];
                if let Some(current) = try_lock(&self.current)
                    && let Some(c) = current.as_ref()
                {
                    c.call.pull_audio(&mut out);
                }
                out.to_vec()
            },
        )
    }

    /// The screen to draw now (the observer gets the same with every change).
    pub fn current_screen(&self) -> Screen {
        guarded(
            "current_screen",
            || self.presenter.current(),
            || self.presenter.current(),
        )
    }

    /// A digit on the app's keypad (0-9; more than a code's digits are ignored).
    pub fn press_digit(&self, digit: u8) {
        guarded(
            "press_digit",
            || (),
            || self.presenter.update(|v| v.press_digit(digit)),
        )
    }

    /// The keypad's delete key.
    pub fn delete_digit(&self) {
        guarded(
            "delete_digit",
            || (),
            || self.presenter.update(|v| v.delete_digit()),
        )
    }

    /// Pasted text: its digits become the code (spaces and dashes dropped).
    pub fn paste_code(&self, text: String) {
        guarded(
            "paste_code",
            || (),
            || self.presenter.update(|v| v.set_typed(&text, false)),
        )
    }

    /// A join link (`https://<server>/j/<code>`) opened the app: the code is filled in and
    /// waits for one tap. `false` (and nothing changes) if the link holds no whole code, or
    /// a call is going on.
    pub fn open_link(&self, url: String) -> bool {
        guarded(
            "open_link",
            || false,
            || {
                let Some(code) = presenter::code_from_link(&url) else {
                    return false;
                };
                let mut opened = false;
                self.presenter.update(|v| {
                    let idle = matches!(
                        v.state(),
                        UiState::Idle | UiState::Ended { .. } | UiState::Failed { .. }
                    );
                    if idle {
                        v.set_typed(&code, true);
                        v.set_state(UiState::Idle);
                        opened = true;
                    }
                });
                opened
            },
        )
    }

    /// Does what a screen's action says. `CallHelp`, `AskPermissions` and `OpenSettings` are
    /// the shell's (dial `screen.help.dial`; show the system dialog; open the app's settings);
    /// here they do nothing. Starting a call (`JoinWithCode`, `Rejoin`, `Retry`) first asks
    /// for what the phone has not allowed yet (see `set_permissions`).
    pub fn act(&self, action: ActionKind) {
        guarded(
            "act",
            || self.show_internal_failure(),
            || {
                let starts = matches!(
                    action,
                    ActionKind::JoinWithCode | ActionKind::Rejoin | ActionKind::Retry
                );
                if !(starts && self.waits_for_permission(action)) {
                    self.perform(action);
                }
            },
        )
    }

    /// What the phone allows: the shell calls it at start, after the system dialog, and when
    /// the app comes back to the front (the citizen may have changed the settings). Until then
    /// both count as granted. Starting a call with either not asked yet shows `permissions`
    /// (then the shell asks, on `AskPermissions`); with the microphone refused,
    /// `microphone-off`. A refused camera does not stop a call: it starts with the camera off.
    /// When the microphone is allowed while a question is shown, the call it waited for starts.
    pub fn set_permissions(&self, microphone: Permission, camera: Permission) {
        guarded(
            "set_permissions",
            || (),
            || {
                let mut run = None;
                self.presenter.update(|v| {
                    v.set_permissions(microphone, camera);
                    if matches!(
                        v.overlay(),
                        Some(Overlay::Permissions | Overlay::MicrophoneOff)
                    ) {
                        match microphone {
                            Permission::Granted => {
                                v.set_overlay(None);
                                run = v.take_pending();
                                if camera != Permission::Granted {
                                    v.set_camera_on(false);
                                }
                            }
                            Permission::Denied => v.set_overlay(Some(Overlay::MicrophoneOff)),
                            // The dialog was dismissed: the question stays.
                            Permission::NotAsked => {}
                        }
                    }
                });
                if let Some(action) = run {
                    self.perform(action);
                }
            },
        )
    }

    /// The platform's back button (Android's back gesture; an iOS back control). `true`: the
    /// core handled it: during a call it asks "hang up?" (`confirm-leave`; back again stays),
    /// on a question it closes the question, after a call it goes back to the start. `false`
    /// on the start screens: the shell does the platform's default (close the app).
    pub fn back(&self) -> bool {
        guarded(
            "back",
            || false,
            || {
                let (mut handled, mut to_start) = (true, false);
                self.presenter.update(|v| match v.overlay() {
                    Some(Overlay::ConfirmLeave) => v.set_overlay(None),
                    Some(_) => {
                        v.set_overlay(None);
                        v.set_pending(None);
                    }
                    None => match v.state() {
                        UiState::Joining
                        | UiState::Waiting
                        | UiState::InCall
                        | UiState::Reconnecting => v.set_overlay(Some(Overlay::ConfirmLeave)),
                        UiState::Ended { .. } | UiState::Failed { .. } => to_start = true,
                        UiState::Idle => handled = false,
                    },
                });
                if to_start {
                    self.back_to_start(true);
                }
                handled
            },
        )
    }

    /// The app came to the front (`true`) or went to the background or closed (`false`):
    /// Android `onStart`/`onStop`, iOS `scenePhase`. While in front and no call is on, the core
    /// asks the server whether the contact person is in the remembered room and shows it on
    /// the home screen (its button lights up); the caseworker's list shows the app as open.
    /// In front until told otherwise.
    pub fn set_app_visible(&self, visible: bool) {
        guarded(
            "set_app_visible",
            || (),
            || {
                let was = self
                    .visible
                    .swap(visible, std::sync::atomic::Ordering::SeqCst);
                if visible {
                    self.start_presence();
                } else if was {
                    self.stop_presence(true);
                }
            },
        )
    }

    /// Words the shell shows outside the screens (the ongoing-call notification, what a
    /// screen reader says about the pictures), in the screens' language.
    pub fn shell_texts(&self) -> ShellTexts {
        guarded(
            "shell_texts",
            || self.presenter.shell_texts(),
            || self.presenter.shell_texts(),
        )
    }
}

/// Every screen the apps can show for this brand in `language` (`da`, `en`), each with its
/// call state, for previews and screenshot tests: the same screens a running `Samtale` sends.
#[uniffi::export]
pub fn preview_screens(brand_toml: String, language: String) -> Result<Vec<Screen>, SamtaleError> {
    guarded(
        "preview_screens",
        || Err(SamtaleError::Internal),
        || {
            let brand =
                samtale_core::brand::parse(&brand_toml).map_err(|p| SamtaleError::BadBrand {
                    detail: p.to_string(),
                })?;
            screens::every_screen(&brand, &language)
                .map_err(|detail| SamtaleError::BadBrand { detail })
        },
    )
}

impl Samtale {
    /// Before a call starts: shows the permission question when the phone has not allowed
    /// the microphone (or not been asked about the camera); `true` if `action` waits for it.
    fn waits_for_permission(&self, action: ActionKind) -> bool {
        let mut waits = false;
        self.presenter.update(|v| {
            let (microphone, camera) = v.permissions();
            let question = match (microphone, camera) {
                (Permission::Denied, _) => Some(Overlay::MicrophoneOff),
                (Permission::NotAsked, _) | (_, Permission::NotAsked) => Some(Overlay::Permissions),
                _ => None,
            };
            if let Some(q) = question {
                v.set_overlay(Some(q));
                v.set_pending(Some(action));
                waits = true;
            } else if camera == Permission::Denied {
                v.set_camera_on(false);
            }
        });
        waits
    }

    /// Does `action` (no permission check).
    fn perform(&self, action: ActionKind) {
        match action {
            ActionKind::JoinWithCode => {
                let typed = self.presenter.typed();
                if samtale_core::code::JoinCode::parse(&typed).is_ok() {
                    self.join(typed);
                }
            }
            ActionKind::Rejoin => self.rejoin(),
            ActionKind::Leave => self.leave(),
            ActionKind::Retry => match self.presenter.last_attempt() {
                Some(Attempt::Code(code)) => self.join(code),
                Some(Attempt::Rejoin) => self.rejoin(),
                None => self.back_to_start(false),
            },
            // From a permission question: back to where it was asked, the code kept.
            ActionKind::BackToStart if self.presenter.has_question() => {
                self.presenter.update(|v| {
                    v.set_overlay(None);
                    v.set_pending(None);
                });
            }
            ActionKind::BackToStart => self.back_to_start(false),
            ActionKind::FixCode => self.back_to_start(true),
            ActionKind::StayInCall => self.presenter.update(|v| v.set_overlay(None)),
            ActionKind::CallHelp | ActionKind::AskPermissions | ActionKind::OpenSettings => {}
        }
    }
}

#[uniffi::export]
impl Samtale {
    /// Leaves any call and stops the core's threads. Idempotent; afterwards every call is a
    /// no-op and the observer gets no more screens (call it before a host language exits).
    /// (Named `shutdown`, not `close`: Kotlin's `AutoCloseable.close()` and Swift's
    /// `deinit` already free the object itself; dropping it also shuts down.)
    pub fn shutdown(&self) {
        guarded(
            "shutdown",
            || (),
            || {
                // Tell the server the app is gone (below, before the runtime stops: its tasks
                // are dropped at once then).
                let closing = self.presence_api().map(|api| {
                    let remember = Arc::clone(&self.remember);
                    async move { samtale_core::presence::closing(&api, &*remember).await }
                });
                self.stop_presence(false);
                self.leave_current();
                drop(lock(&self.screen_subscription).take());
                let runtime = lock(&self.runtime).take();
                if let Some(runtime) = runtime {
                    // Give the leave and the closing a moment to reach the server, without
                    // blocking a UI thread long.
                    let stop = move || {
                        if let Some(closing) = closing {
                            let wait = std::time::Duration::from_millis(500);
                            let _ = runtime
                                .block_on(async { tokio::time::timeout(wait, closing).await });
                        }
                        runtime.shutdown_timeout(std::time::Duration::from_millis(500));
                    };
                    if tokio::runtime::Handle::try_current().is_ok() {
                        // Called from one of our own threads (e.g. an observer): a runtime cannot be
                        // shut down from inside itself.
                        std::thread::spawn(stop);
                    } else {
                        stop();
                    }
                }
            },
        )
    }

    /// Whether `shutdown()` was called.
    pub fn is_shut_down(&self) -> bool {
        guarded("is_shut_down", || false, || lock(&self.runtime).is_none())
    }
}

impl Samtale {
    /// For Rust embedders (the emulator): as `set_app_visible(false)`, and waits (at most 2 s,
    /// on the caller's runtime) until the server has been told that the app closed.
    pub async fn app_closed(&self) {
        self.visible
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.stop_presence(false);
        if let Some(api) = self.presence_api() {
            let closing = samtale_core::presence::closing(&api, &*self.remember);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closing).await;
        }
    }

    /// For Rust embedders (the emulator): as `new`, without installing a logger (the
    /// embedder has its own), and with `tune` applied to every call's configuration.
    pub fn new_tuned(
        config: AppConfig,
        observer: Arc<dyn CallObserver>,
        secure_store: Option<Arc<dyn SecureStore>>,
        tune: Tune,
    ) -> Result<Arc<Self>, SamtaleError> {
        guarded(
            "new",
            || Err(SamtaleError::Internal),
            || Self::build(config, observer, secure_store, Some(tune)),
        )
    }

    /// The call in progress, for diagnostics (the emulator's statistics).
    pub fn current_call(&self) -> Option<Call> {
        lock(&self.current).as_ref().map(|c| c.call.clone())
    }

    fn build(
        config: AppConfig,
        observer: Arc<dyn CallObserver>,
        secure_store: Option<Arc<dyn SecureStore>>,
        tune: Option<Tune>,
    ) -> Result<Arc<Self>, SamtaleError> {
        let remember: Arc<dyn TokenStore> = match secure_store {
            Some(store) => Arc::new(ForeignStore {
                store,
                key: format!("{}/remembered-meeting", config.brand_id),
            }),
            None => Arc::new(FileStore::new(remember_path(&config))),
        };
        let brand =
            samtale_core::brand::parse(&config.brand_toml).map_err(|p| SamtaleError::BadBrand {
                detail: p.to_string(),
            })?;
        let problems = brand.problems();
        if !problems.is_empty() {
            let detail: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(SamtaleError::BadBrand {
                detail: detail.join("\n"),
            });
        }
        let presenter = Presenter::new(&brand, config.language.as_deref(), Arc::clone(&remember))
            .map_err(|detail| SamtaleError::BadBrand { detail })?;
        // Last: no error return after it (a runtime must not be dropped on a caller's async
        // thread, where a shell or a test may well create the core).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("samtale-core")
            .enable_all()
            .build()
            .map_err(|e| SamtaleError::Runtime {
                detail: e.to_string(),
            })?;
        let notify = Arc::clone(&observer);
        let screen_subscription =
            presenter.subscribe(move |screen| notify.on_screen(screen.clone()));
        let samtale = Arc::new(Self {
            config,
            observer,
            remember,
            presenter,
            screen_subscription: Mutex::new(Some(screen_subscription)),
            generation: Arc::new(Mutex::new(0)),
            runtime: Mutex::new(Some(runtime)),
            current: Mutex::new(None),
            tune,
            visible: std::sync::atomic::AtomicBool::new(true),
            presence: Mutex::new(None),
        });
        samtale.start_presence();
        Ok(samtale)
    }

    /// A client for presence questions (a timeout longer than the server's hold time).
    fn presence_api(&self) -> Option<samtale_core::api::ApiClient> {
        let timeout = samtale_core::presence::PRESENCE_HTTP_TIMEOUT;
        let url = &self.config.server_url;
        let api = match samtale_core::tls::client_config(self.config.extra_ca_pem.as_deref()) {
            Ok(tls) => samtale_core::api::ApiClient::with_tls(url, timeout, tls),
            Err(_) if url.starts_with("http://") => {
                samtale_core::api::ApiClient::plain(url, timeout)
            }
            Err(e) => Err(e),
        };
        api.map_err(|e| log::warn!("presence: no client ({})", e.kind()))
            .ok()
    }

    /// Starts the presence watcher if the app is in front and it is not running.
    fn start_presence(&self) {
        if !self.visible.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut task = lock(&self.presence);
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let runtime = lock(&self.runtime);
        let (Some(runtime), Some(api)) = (runtime.as_ref(), self.presence_api()) else {
            return;
        };
        let (active, report) = (Arc::clone(&self.presenter), Arc::clone(&self.presenter));
        let wake = Arc::clone(&self.presenter.wake);
        let remember = Arc::clone(&self.remember);
        *task = Some(runtime.spawn(samtale_core::presence::watch(
            api,
            remember,
            move || active.wants_presence(),
            wake,
            move |event| match event {
                samtale_core::presence::PresenceEvent::Known(p) => report.set_presence(Some(p)),
                samtale_core::presence::PresenceEvent::Unknown => report.set_presence(None),
                samtale_core::presence::PresenceEvent::Unreachable => report.set_unreachable(),
                samtale_core::presence::PresenceEvent::Revoked => {
                    report.update(|v| v.set_remembered(false));
                }
            },
        )));
    }

    /// Stops the presence watcher; with `closing`, tells the server the app is gone.
    fn stop_presence(&self, closing: bool) {
        if let Some(task) = lock(&self.presence).take() {
            task.abort();
        }
        self.presenter.set_presence(None);
        if closing
            && let Some(runtime) = lock(&self.runtime).as_ref()
            && let Some(api) = self.presence_api()
        {
            let remember = Arc::clone(&self.remember);
            runtime.spawn(async move { samtale_core::presence::closing(&api, &*remember).await });
        }
    }
}

impl Samtale {
    /// No call; the code entry (with the typed digits if `keep_code`) or the home button.
    fn back_to_start(&self, keep_code: bool) {
        self.leave_current();
        let _current = lock(&self.generation);
        self.presenter.update(|v| {
            if !keep_code {
                v.clear_typed();
            }
            v.set_overlay(None);
            v.set_pending(None);
            v.set_state(UiState::Idle);
        });
    }

    /// After a panic while starting a call: whatever was started is left, and the app shows
    /// "something went wrong, try again" (`ServerError`: the citizen cannot fix it either).
    fn show_internal_failure(&self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.leave_current()));
        let _current = lock(&self.generation);
        self.presenter.show_state(UiState::Failed {
            error: ErrorKind::ServerError,
        });
    }

    /// Starts a call (leaving a running one first) and wires it to the observer.
    fn start(&self, make: impl FnOnce(CallConfig) -> Call) {
        let runtime = lock(&self.runtime);
        let Some(runtime) = runtime.as_ref() else {
            return;
        };
        let _enter = runtime.enter();
        // Test builds: a panic here, with the runtime's lock held (see `fault`).
        fault::hit("start");
        self.leave_current();
        let mut config = CallConfig::new(self.config.server_url.clone());
        config.remember = Some(Arc::clone(&self.remember));
        config.extra_ca_pem = self.config.extra_ca_pem.clone();
        if let Some(tune) = &self.tune {
            tune(&mut config);
        }
        let call = make(config);
        // The citizen's choices carry over to the next call.
        let (mut microphone_on, mut camera_on) = (true, true);
        self.presenter.update(|v| {
            (microphone_on, camera_on) = (v.microphone_on(), v.camera_on());
            v.set_overlay(None);
        });
        call.set_microphone_muted(!microphone_on);
        call.set_camera_enabled(camera_on);
        let generation = {
            let mut g = lock(&self.generation);
            *g += 1;
            *g
        };
        let (presenter, current) = (Arc::clone(&self.presenter), Arc::clone(&self.generation));
        let states = call.subscribe(move |s| {
            let current = lock(&current);
            if *current == generation {
                presenter.show_state(ui_state(s));
            }
        });
        let observer = Arc::clone(&self.observer);
        let frames = call.subscribe_video(move |d| {
            observer.on_remote_video(RemoteVideoFrame {
                participant_id: d.peer.clone(),
                width: d.frame.width(),
                height: d.frame.height(),
                i420: d.frame.data().to_vec(),
            })
        });
        let watch = runtime.spawn(watch_devices(
            call.clone(),
            Arc::clone(&self.presenter),
            Arc::clone(&self.generation),
            generation,
        ));
        *lock(&self.current) = Some(Current {
            call,
            _subscriptions: vec![states, frames],
            watch,
        });
    }

    fn leave_current(&self) {
        let left = lock(&self.current).take();
        // Whatever the left call still reports is not shown.
        *lock(&self.generation) += 1;
        if let Some(c) = left {
            c.watch.abort();
            c.call.leave();
        }
    }
}

/// Once a second while this call is current: are the microphone and camera delivering what
/// they should (`device_watch`)? The screen says so when not (and again when they are), and
/// the others are told in our status. What their statuses say (`hearing`) is shown too.
async fn watch_devices(
    call: Call,
    presenter: Arc<Presenter>,
    current: Arc<Mutex<u64>>,
    generation: u64,
) {
    let start = tokio::time::Instant::now();
    let mut watch = samtale_core::device_watch::DeviceWatch::default();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if *lock(&current) != generation {
            return;
        }
        let (microphone, camera) = presenter.expected_devices();
        let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let problem = watch.observe(now, call.device_counters(), microphone, camera);
        presenter.set_device_problem(problem);
        call.set_device_problem(problem);
        presenter.set_hearing(call.hearing());
        presenter.set_network(call.network_check());
    }
}

/// `<storage_dir>/<brand_id>/remembered-meeting`: the file fallback.
fn remember_path(config: &AppConfig) -> std::path::PathBuf {
    std::path::Path::new(&config.storage_dir)
        .join(&config.brand_id)
        .join("remembered-meeting")
}

impl Drop for Samtale {
    fn drop(&mut self) {
        self.shutdown();
    }
}
