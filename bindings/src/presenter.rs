//! Turns the call's state and what the citizen typed into [`Screen`]s, delivered to the
//! shell's observer (current screen first, then every change, on the `call-notify` thread).

use crate::convert::{EndKind, ErrorKind, UiState};
use crate::screens::{self, ActionKind, Permission, Screen, ShellTexts};
use samtale_core::brand::Brand;
use samtale_core::code::CODE_DIGITS;
use samtale_core::device_watch::DeviceProblem;
use samtale_core::hearing::Hearing;
use samtale_core::observer::{Observable, Subscription};
use samtale_core::precheck::NetworkCheck;
use samtale_core::remember::TokenStore;
use samtale_core::screen::catalog::Catalog;
use samtale_core::screen::{self as core, BrandView, Overlay, PresenceView, ScreenInput};
use std::sync::{Arc, Mutex};

/// What the citizen did last, for "try again".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Code(String),
    Rejoin,
}

#[derive(Debug)]
struct View {
    state: UiState,
    remembered: bool,
    typed: String,
    from_link: bool,
    microphone_on: bool,
    camera_on: bool,
    last: Option<Attempt>,
    overlay: Option<Overlay>,
    microphone: Permission,
    camera: Permission,
    /// The action waiting behind the permission question.
    pending: Option<ActionKind>,
    /// What the server last said about the remembered room.
    presence: Option<PresenceView>,
    /// A device that gives nothing during this call (the device watch).
    device_problem: Option<DeviceProblem>,
    /// What the others' statuses say during this call.
    hearing: Hearing,
    /// What the pre-call check found about the network during this call.
    network: NetworkCheck,
    /// The presence question could not reach the server (the home screen says so).
    server_unreachable: bool,
}

/// The screens of one `Samtale`.
pub(crate) struct Presenter {
    brand: BrandView,
    catalog: Catalog,
    remember: Arc<dyn TokenStore>,
    view: Mutex<View>,
    screens: Observable<Screen>,
    /// Wakes the presence watcher when a call starts or ends or the meeting is forgotten.
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Presenter {
    /// A presenter for `brand` in `lang` (the brand's default when `None` or unknown).
    pub(crate) fn new(
        brand: &Brand,
        lang: Option<&str>,
        remember: Arc<dyn TokenStore>,
    ) -> Result<Arc<Self>, String> {
        let lang = match lang {
            Some(l)
                if samtale_core::screen::catalog::LOCALES
                    .iter()
                    .any(|(k, _)| *k == l) =>
            {
                l
            }
            _ => brand.default_language.as_str(),
        };
        let catalog = brand.catalog(lang).map_err(|e| e.to_string())?;
        let remembered = remember.load().is_some();
        let view = View {
            state: UiState::Idle,
            remembered,
            typed: String::new(),
            from_link: false,
            microphone_on: true,
            camera_on: true,
            last: None,
            overlay: None,
            // Until a shell says otherwise (desktops and scripts have no permissions).
            microphone: Permission::Granted,
            camera: Permission::Granted,
            pending: None,
            presence: None,
            device_problem: None,
            hearing: Hearing::default(),
            network: NetworkCheck::Untested,
            server_unreachable: false,
        };
        let brand = brand.view(lang);
        let first = Self::render(&brand, &catalog, &view);
        Ok(Arc::new(Self {
            brand,
            catalog,
            remember,
            view: Mutex::new(view),
            screens: Observable::new(first),
            wake: Arc::new(tokio::sync::Notify::new()),
        }))
    }

    fn render(brand: &BrandView, catalog: &Catalog, v: &View) -> Screen {
        let input = ScreenInput {
            situation: screens::situation(&v.state),
            remembered: v.remembered,
            typed: v.typed.clone(),
            from_link: v.from_link,
            microphone_on: v.microphone_on,
            camera_on: v.camera_on,
            overlay: v.overlay,
            presence: v.presence.clone(),
            device_problem: v.device_problem,
            hearing: v.hearing,
            network: v.network,
            server_unreachable: v.server_unreachable,
        };
        screens::screen(core::screen(&input, brand, catalog), v.state.clone())
    }

    /// Calls `f` with every screen (the current one first) until the subscription is dropped.
    pub(crate) fn subscribe(&self, f: impl Fn(&Screen) + Send + Sync + 'static) -> Subscription {
        self.screens.subscribe(f)
    }

    /// The words outside the screens.
    pub(crate) fn shell_texts(&self) -> ShellTexts {
        screens::shell_texts(core::shell_texts(&self.brand, &self.catalog))
    }

    /// Whether to ask about presence now: a remembered meeting and no call being made or held.
    pub(crate) fn wants_presence(&self) -> bool {
        let v = lock(&self.view);
        v.remembered
            && !matches!(
                v.state,
                UiState::Joining | UiState::Waiting | UiState::InCall | UiState::Reconnecting
            )
    }

    /// What the server said about the remembered room (`None`: cannot tell now).
    pub(crate) fn set_presence(&self, p: Option<PresenceView>) {
        {
            let v = lock(&self.view);
            if v.presence == p && !v.server_unreachable {
                return;
            }
        }
        self.update(|v| {
            v.0.presence = p;
            v.0.server_unreachable = false;
        });
    }

    /// The presence question could not reach the server: nothing is known about the room, and
    /// the home screen says the app cannot connect (until an answer comes again).
    pub(crate) fn set_unreachable(&self) {
        {
            let v = lock(&self.view);
            if v.presence.is_none() && v.server_unreachable {
                return;
            }
        }
        self.update(|v| {
            v.0.presence = None;
            v.0.server_unreachable = true;
        });
    }

    /// Which devices should be delivering now: (microphone, camera), each in a call, switched
    /// on by the citizen and allowed by the phone.
    pub(crate) fn expected_devices(&self) -> (bool, bool) {
        let v = lock(&self.view);
        let live = matches!(
            v.state,
            UiState::Joining | UiState::Waiting | UiState::InCall | UiState::Reconnecting
        );
        (
            live && v.microphone_on && v.microphone == Permission::Granted,
            live && v.camera_on && v.camera == Permission::Granted,
        )
    }

    /// What the device watch says now (shown only when it changes).
    pub(crate) fn set_device_problem(&self, p: Option<DeviceProblem>) {
        if lock(&self.view).device_problem == p {
            return;
        }
        self.update(|v| v.0.device_problem = p);
    }

    /// What the pre-call check says about the network now (shown only when it changes).
    pub(crate) fn set_network(&self, n: NetworkCheck) {
        if lock(&self.view).network == n {
            return;
        }
        self.update(|v| v.0.network = n);
    }

    /// What the others' statuses say now (shown only when it changes, and only during a call).
    pub(crate) fn set_hearing(&self, h: Hearing) {
        let v = lock(&self.view);
        let calling = matches!(
            v.state,
            UiState::Joining | UiState::Waiting | UiState::InCall | UiState::Reconnecting
        );
        let h = if calling { h } else { Hearing::default() };
        if v.hearing == h {
            return;
        }
        drop(v);
        self.update(|v| v.0.hearing = h);
    }

    /// Whether a permission question is shown.
    pub(crate) fn has_question(&self) -> bool {
        matches!(
            lock(&self.view).overlay,
            Some(Overlay::Permissions | Overlay::MicrophoneOff)
        )
    }

    /// The screen now.
    pub(crate) fn current(&self) -> Screen {
        self.screens.get()
    }

    /// Changes the view and shows the new screen.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ViewMut<'_>)) {
        let mut v = lock(&self.view);
        f(&mut ViewMut(&mut v));
        self.screens
            .set(Self::render(&self.brand, &self.catalog, &v));
    }

    /// A new call state.
    pub(crate) fn show_state(&self, state: UiState) {
        let mut forget = false;
        self.update(|v| {
            let v = &mut *v.0;
            match &state {
                // Seated in the meeting: the core has remembered it.
                UiState::Waiting | UiState::InCall => {
                    v.remembered = true;
                    v.from_link = false;
                }
                // The server revokes the token of a meeting that is over (the one this call
                // was in: joining replaced the remembered one).
                UiState::Ended {
                    reason: EndKind::MeetingEnded | EndKind::MeetingExpired,
                }
                | UiState::Failed {
                    error: ErrorKind::NoRememberedMeeting,
                } => {
                    forget = v.remembered;
                    v.remembered = false;
                    v.presence = None;
                }
                // A code that no longer works says nothing about the remembered meeting (an
                // old link tapped again: a standing room's code expires long before the
                // room); only a failed rejoin means the pairing is gone.
                UiState::Failed {
                    error: ErrorKind::CodeNotFoundOrExpired,
                } if v.last == Some(Attempt::Rejoin) => {
                    forget = v.remembered;
                    v.remembered = false;
                    v.presence = None;
                }
                _ => {}
            }
            // "Hang up?" is about a call: when the call is over, so is the question.
            let calling = matches!(
                state,
                UiState::Joining | UiState::Waiting | UiState::InCall | UiState::Reconnecting
            );
            if v.overlay == Some(Overlay::ConfirmLeave) && !calling {
                v.overlay = None;
            }
            // A device problem belongs to the call it was noticed in.
            if !calling {
                v.device_problem = None;
                v.hearing = Hearing::default();
                v.network = NetworkCheck::Untested;
            }
            v.state = state;
        });
        if forget {
            self.remember.forget();
        }
        self.wake.notify_one();
    }

    /// What was tried last.
    pub(crate) fn last_attempt(&self) -> Option<Attempt> {
        lock(&self.view).last.clone()
    }

    /// The digits typed.
    pub(crate) fn typed(&self) -> String {
        lock(&self.view).typed.clone()
    }
}

/// Mutable access to the view for [`Presenter::update`].
pub(crate) struct ViewMut<'a>(&'a mut View);

impl ViewMut<'_> {
    pub(crate) fn press_digit(&mut self, digit: u8) {
        if digit <= 9 && self.0.typed.len() < CODE_DIGITS {
            self.0.typed.push(char::from(b'0' + digit));
        }
    }
    pub(crate) fn delete_digit(&mut self) {
        self.0.typed.pop();
        self.0.from_link = false;
    }
    pub(crate) fn set_typed(&mut self, digits: &str, from_link: bool) {
        self.0.typed = digits
            .chars()
            .filter(char::is_ascii_digit)
            .take(CODE_DIGITS)
            .collect();
        self.0.from_link = from_link;
    }
    pub(crate) fn clear_typed(&mut self) {
        self.0.typed.clear();
        self.0.from_link = false;
    }
    pub(crate) fn set_state(&mut self, state: UiState) {
        self.0.state = state;
    }
    pub(crate) fn state(&self) -> &UiState {
        &self.0.state
    }
    pub(crate) fn set_attempt(&mut self, a: Attempt) {
        self.0.last = Some(a);
    }
    pub(crate) fn set_remembered(&mut self, r: bool) {
        self.0.remembered = r;
        if !r {
            self.0.presence = None;
        }
    }
    pub(crate) fn set_microphone_on(&mut self, on: bool) {
        self.0.microphone_on = on;
    }
    pub(crate) fn set_camera_on(&mut self, on: bool) {
        self.0.camera_on = on;
    }
    pub(crate) fn microphone_on(&self) -> bool {
        self.0.microphone_on
    }
    pub(crate) fn camera_on(&self) -> bool {
        self.0.camera_on
    }
    pub(crate) fn overlay(&self) -> Option<Overlay> {
        self.0.overlay
    }
    pub(crate) fn set_overlay(&mut self, o: Option<Overlay>) {
        self.0.overlay = o;
    }
    pub(crate) fn permissions(&self) -> (Permission, Permission) {
        (self.0.microphone, self.0.camera)
    }
    pub(crate) fn set_permissions(&mut self, microphone: Permission, camera: Permission) {
        (self.0.microphone, self.0.camera) = (microphone, camera);
    }
    pub(crate) fn set_pending(&mut self, a: Option<ActionKind>) {
        self.0.pending = a;
    }
    pub(crate) fn take_pending(&mut self) -> Option<ActionKind> {
        self.0.pending.take()
    }
}

/// The code in a join link: `https://<server>/j/#<code>` (the code in the fragment, which no
/// server sees), the older `https://<server>/j/<code>`, or the app's own scheme
/// `<application id>://j/<code>` or `<application id>://j/#<code>` (digits, spaces or dashes
/// allowed).
pub(crate) fn code_from_link(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let mut segments = parsed.path_segments()?;
    let custom = !matches!(parsed.scheme(), "https" | "http") && parsed.host_str() == Some("j");
    let in_path = if custom {
        segments.next()
    } else {
        match (segments.next(), segments.next()) {
            (Some("j"), code) => code,
            _ => None,
        }
    };
    let code = match (in_path, parsed.fragment()) {
        // `/j/#<code>`, `/j#<code>`, `<scheme>://j/#<code>`: nothing in the path.
        (None | Some(""), Some(fragment))
            if matches!(parsed.path(), "/j/" | "/j") || (custom && parsed.path().len() <= 1) =>
        {
            fragment
        }
        (Some(code), _) if !code.is_empty() => code,
        _ => return None,
    };
    let code = percent_decode(code);
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    let only_code_chars = code
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    (only_code_chars && digits.len() == CODE_DIGITS).then_some(digits)
}

fn percent_decode(s: &str) -> String {
    s.replace("%20", " ")
}

#[cfg(test)]
mod tests {
    use super::code_from_link;

    #[test]
    fn links_carry_a_whole_code_or_nothing() {
        assert_eq!(
            code_from_link("https://samtale.eksempel.dk/j/4821937750").as_deref(),
            Some("4821937750")
        );
        assert_eq!(
            code_from_link("https://x.dk/j/482%20193%207750").as_deref(),
            Some("4821937750")
        );
        assert_eq!(
            code_from_link("dk.eksempel.samtale://j/482-193-7750").as_deref(),
            Some("4821937750")
        );
        // The code in the fragment (no server sees it).
        assert_eq!(
            code_from_link("https://samtale.eksempel.dk/j/#4821937750").as_deref(),
            Some("4821937750")
        );
        assert_eq!(
            code_from_link("https://samtale.eksempel.dk/kommune/j/#482%20193%207750"),
            None,
            "a path prefix in front of /j/ is the server's business: only /j/ is a join link"
        );
        assert_eq!(
            code_from_link("https://samtale.eksempel.dk/j#482-193-7750").as_deref(),
            Some("4821937750")
        );
        assert_eq!(
            code_from_link("dk.eksempel.samtale://j/#4821937750").as_deref(),
            Some("4821937750")
        );
        assert_eq!(code_from_link("https://x.dk/j/#48219"), None);
        assert_eq!(code_from_link("https://x.dk/j/"), None);
        assert_eq!(code_from_link("https://x.dk/k/#4821937750"), None);
        assert_eq!(code_from_link("https://x.dk/jx/#4821937750"), None);
        assert_eq!(code_from_link("dk.eksempel.samtale://k/4821937750"), None);
        assert_eq!(code_from_link("https://j/4821937750"), None);
        assert_eq!(code_from_link("https://x.dk/j/48219"), None);
        assert_eq!(code_from_link("https://x.dk/k/4821937750"), None);
        assert_eq!(code_from_link("not a url"), None);
    }
}
