"""The Python bindings against a real meeting: a real samtale-server and a samtale-sim caseworker
(both started here), the real core through the generated module.

Run via ./scripts/test (which generates the bindings and sets SAMTALE_BIN_DIR), or:
  ./scripts/gen-bindings && SAMTALE_BIN_DIR=target/release \
    PYTHONPATH=bindings/generated/python python3 -m pytest bindings/tests/python
"""
import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import samtale_ffi as s

BIN = os.environ.get("SAMTALE_BIN_DIR", "target/release")
BRAND = open(os.path.join(os.path.dirname(__file__), "../../../brands/eksempel/brand.toml"), encoding="utf-8").read()
DEADLINE = 30.0


class Recorder(s.CallObserver):
    """Records states and counts remote pictures; waits on them with deadlines."""

    def __init__(self):
        self.states = []
        self.screens = []
        self.frames = 0
        self.last_frame = None
        self.cond = threading.Condition()

    def on_screen(self, screen):
        with self.cond:
            self.screens.append(screen)
            if not self.states or self.states[-1] != screen.state:
                self.states.append(screen.state)
            self.cond.notify_all()

    def on_remote_video(self, frame):
        with self.cond:
            self.frames += 1
            self.last_frame = frame
            self.cond.notify_all()

    def wait(self, what, pred, timeout=DEADLINE):
        start = time.time()
        with self.cond:
            ok = self.cond.wait_for(pred, timeout)
            if time.time() - start > 5:
                print(f"slow wait: {what} took {time.time() - start:.1f} s; states: {self.states}")
            if not ok:
                raise AssertionError(f"timed out waiting for {what}; states: {self.states}")

    def saw(self, cls):
        return any(isinstance(x, cls) for x in self.states)


@pytest.fixture(scope="module")
def meeting():
    """A server and a caseworker (samtale-sim host) in a meeting; yields (url, code)."""
    tmp = tempfile.mkdtemp(prefix="samtale-py-")
    token = secrets.token_urlsafe(24)
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as f:
        f.write(token)
    server = subprocess.Popen(
        [f"{BIN}/samtale-server", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "db.sqlite"),
         "--staff-token-file", token_file],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "info"},
    )
    url = None
    end = time.time() + 15
    while url is None and time.time() < end:
        line = server.stderr.readline()
        if "public URL" in line:
            url = line.split("public URL ")[1].split(")")[0]
    assert url, "the server did not start"
    host = subprocess.Popen(
        [f"{BIN}/samtale-sim", "host", "--server", url, "--token", token, "--loopback", "--json",
         "--seconds", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    code = None
    while code is None:
        line = host.stdout.readline()
        assert line, "the caseworker sim exited"
        event = json.loads(line)
        if event.get("event") == "meeting created":
            code = event["code"]
    yield url, code, host
    host.terminate()
    host.wait(10)
    server.terminate()
    server.wait(10)


def config(url, tmp):
    return s.AppConfig(server_url=url, brand_id="test-kommune", storage_dir=tmp, log_level=s.LogLevel.WARN,
                       brand_toml=BRAND)


def test_offline_code_check_and_bad_code_fail_without_network(tmp_path):
    obs = Recorder()
    # A server that does not exist: a mistyped code must fail before any network call.
    core = s.Samtale(config("http://127.0.0.1:9", str(tmp_path)), obs)
    assert core.check_code("482 193 775") == s.CodeProblem.TOO_FEW_DIGITS(got=9, expected=10)
    assert core.check_code("abc") == s.CodeProblem.NOT_A_DIGIT()
    core.join("123 456 7890")
    obs.wait("a failed state", lambda: obs.saw(s.UiState.FAILED))
    failed = next(x for x in obs.states if isinstance(x, s.UiState.FAILED))
    assert isinstance(failed.error, s.ErrorKind.BAD_CODE), failed
    assert isinstance(obs.states[0], s.UiState.IDLE)
    core.shutdown()
    assert core.is_shut_down()


class MemoryStore(s.SecureStore):
    """The shell's secure storage, in memory (a phone uses Keystore/Keychain)."""

    def __init__(self):
        self.values = {}
        self.cond = threading.Condition()

    def load(self, key):
        with self.cond:
            return self.values.get(key)

    def save(self, key, value):
        with self.cond:
            self.values[key] = value
            self.cond.notify_all()
        return True

    def delete(self, key):
        with self.cond:
            self.values.pop(key, None)


def test_a_secure_store_keeps_the_pairing_token_instead_of_a_file(meeting, tmp_path):
    url, code, _ = meeting
    store = MemoryStore()
    obs = Recorder()
    core = s.Samtale(config(url, str(tmp_path)), obs, store)
    core.join(code)
    obs.wait("in call", lambda: obs.saw(s.UiState.IN_CALL))
    key = "test-kommune/remembered-meeting"
    with store.cond:
        assert store.cond.wait_for(lambda: key in store.values, DEADLINE), store.values
    assert code.replace(" ", "") not in store.values[key]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "no token file"
    core.leave()
    obs.wait("ended", lambda: obs.saw(s.UiState.ENDED))
    assert core.has_remembered_meeting()
    core.forget_meeting()
    assert store.values == {}
    core.shutdown()


def test_join_see_and_hear_the_caseworker_mute_and_leave(meeting, tmp_path):
    url, code, host = meeting
    obs = Recorder()
    core = s.Samtale(config(url, str(tmp_path)), obs)
    core.join(code)
    obs.wait("in call", lambda: obs.saw(s.UiState.IN_CALL))
    assert obs.saw(s.UiState.JOINING)
    # Wi-Fi to cellular, say: the call goes on (pictures keep coming, checked below).
    core.network_changed()

    # Play the part of the phone: camera and microphone in, speaker out, for a while.
    w, h = 320, 180
    heard = 0
    frame_no = 0
    end = time.time() + DEADLINE
    while (obs.frames < 10 or heard < 50) and time.time() < end:
        y = bytes(((x + frame_no * 4) % 220 + 16) for x in range(w)) * h
        core.push_video(s.VideoFrameIn(width=w, height=h, i420=y + bytes([128]) * (w * h // 2),
                                       rotation=s.Rotation.NONE))
        for _ in range(7):
            core.push_audio([int(8000 * ((i % 48) / 24 - 1)) for i in range(480)])
            pcm = core.pull_audio()
            assert len(pcm) == 480
            if max(abs(v) for v in pcm) > 300:
                heard += 1
            time.sleep(0.01)
        frame_no += 1
    assert obs.frames >= 10, f"only {obs.frames} remote pictures"
    assert heard >= 50, f"only {heard} audible 10 ms frames"
    f = obs.last_frame
    assert len(f.i420) == f.width * f.height * 3 // 2 and f.participant_id

    # A wrong frame is refused, clearly.
    with pytest.raises(s.SamtaleError.BadFrame):
        core.push_video(s.VideoFrameIn(width=4, height=4, i420=b"\x00" * 3, rotation=s.Rotation.NONE))

    core.set_microphone_muted(True)
    core.set_camera_enabled(False)
    core.set_camera_enabled(True)
    core.set_microphone_muted(False)
    core.leave()
    obs.wait("ended", lambda: any(isinstance(x, s.UiState.ENDED) for x in obs.states))
    ended = next(x for x in obs.states if isinstance(x, s.UiState.ENDED))
    assert ended.reason == s.EndKind.YOU_LEFT

    # One tap: the meeting was remembered (by a pairing token, not the code).
    assert core.has_remembered_meeting()
    stored = (tmp_path / "test-kommune" / "remembered-meeting").read_text()
    assert code.replace(" ", "") not in stored
    in_calls = sum(isinstance(x, s.UiState.IN_CALL) for x in obs.states)
    core.rejoin()
    obs.wait("in call again", lambda: sum(isinstance(x, s.UiState.IN_CALL) for x in obs.states) > in_calls)
    # The caseworker leaves (Ctrl-C: the sim says goodbye): the citizen waits in the meeting.
    host.send_signal(signal.SIGINT)
    obs.wait("waiting", lambda: isinstance(obs.states[-1], s.UiState.WAITING))
    core.leave()
    core.forget_meeting()
    assert not core.has_remembered_meeting()
    core.rejoin()
    obs.wait("no remembered meeting", lambda: isinstance(obs.states[-1], s.UiState.FAILED)
             and isinstance(obs.states[-1].error, s.ErrorKind.NO_REMEMBERED_MEETING))
    core.shutdown()
    core.shutdown()  # idempotent
    assert core.pull_audio() == [0] * 480


def test_a_panic_in_the_core_is_not_a_crash(tmp_path):
    """Test builds export inject_panic(entry): the next call of that entry point panics inside
    the core. The app must get a safe value or state, never an exception it did not ask for."""
    obs = Recorder()
    core = s.Samtale(config("http://127.0.0.1:9", str(tmp_path)), obs)
    s.inject_panic("check_code")
    assert core.check_code("abc") is None  # the safe answer; the join will tell
    assert core.check_code("abc") == s.CodeProblem.NOT_A_DIGIT()  # and the next call works
    # A panic while starting a call, with the core's runtime lock held.
    s.inject_panic("start")
    core.join("123 456 7890")
    obs.wait("a failed state", lambda: obs.saw(s.UiState.FAILED))
    assert obs.states[-1] == s.UiState.FAILED(error=s.ErrorKind.SERVER_ERROR()), obs.states
    # The core goes on: the same join now fails for its real reason (a wrong digit).
    core.join("123 456 7890")
    obs.wait("bad code", lambda: isinstance(obs.states[-1], s.UiState.FAILED)
             and isinstance(obs.states[-1].error, s.ErrorKind.BAD_CODE))
    s.inject_panic("pull_audio")
    assert core.pull_audio() == [0] * 480
    s.inject_panic("push_audio")
    core.push_audio([0] * 480)
    s.inject_panic("leave")
    core.leave()
    s.inject_panic("shutdown")
    core.shutdown()
    core.shutdown()
    assert core.is_shut_down()
    s.inject_panic("new")
    with pytest.raises(s.SamtaleError.Internal):
        s.Samtale(config("http://127.0.0.1:9", str(tmp_path)), Recorder())


def test_camera_frames_in_the_platforms_layouts_are_accepted_and_bad_ones_refused(tmp_path):
    core = s.Samtale(config("http://127.0.0.1:9", str(tmp_path)), Recorder())
    w, h, stride = 64, 36, 128
    y = bytes(stride * h)
    nv12 = s.CameraFrame(width=w, height=h, y=y, y_row_stride=stride,
                         chroma=s.Chroma.NV12(uv=bytes(stride * h // 2), row_stride=stride),
                         rotation=s.Rotation.CW90)
    core.push_camera_frame(nv12)
    # Android YUV_420_888 with pixel stride 2: each buffer ends at its own last sample.
    c = bytes((h // 2 - 1) * stride + 2 * (w // 2 - 1) + 1)
    planar = s.CameraFrame(width=w, height=h, y=y, y_row_stride=stride,
                           chroma=s.Chroma.PLANAR(u=c, v=c, row_stride=stride, pixel_stride=2),
                           rotation=s.Rotation.NONE)
    core.push_camera_frame(planar)
    short = s.CameraFrame(width=w, height=h, y=y[:100], y_row_stride=stride,
                          chroma=s.Chroma.NV21(vu=bytes(stride * h // 2), row_stride=stride),
                          rotation=s.Rotation.NONE)
    with pytest.raises(s.SamtaleError.BadFrame) as e:
        core.push_camera_frame(short)
    assert "Y plane" in str(e.value)
    core.shutdown()


def test_the_screens_walk_a_citizen_through_a_call(meeting, tmp_path):
    """The screen model as a shell sees it: code entry with the app's keypad, one primary
    action, the help line everywhere, Danish by default and English on request."""
    url, code, _ = meeting
    obs = Recorder()
    core = s.Samtale(config(url, str(tmp_path)), obs)
    obs.wait("first screen", lambda: obs.screens)  # delivered on the observer's thread
    first = obs.screens[0]
    assert first.id == "code-entry" and first.layout == s.Layout.CODE_ENTRY
    assert first.headline.id == "code-headline" and first.headline.text == "Skriv din kode"
    assert first.help.dial == "+4570123456" and first.primary.kind == s.ActionKind.JOIN_WITH_CODE
    assert not first.primary.enabled
    digits = code.replace(" ", "")
    for d in digits[:4]:
        core.press_digit(int(d))
    obs.wait("grouped digits", lambda: obs.screens and obs.screens[-1].code.grouped == digits[:3] + " " + digits[3])
    core.delete_digit()
    core.paste_code(code)
    obs.wait("a whole code", lambda: obs.screens[-1].primary.enabled)
    assert obs.screens[-1].code.problem is None
    core.act(s.ActionKind.JOIN_WITH_CODE)
    # Seated: waiting for the caseworker, or talking if the module's caseworker is still there.
    obs.wait("seated", lambda: obs.screens[-1].id in ("waiting", "in-call"))
    call = obs.screens[-1]
    if call.id == "waiting":
        assert call.body.text == "Din kontaktperson kommer snart. Du skal ikke gøre noget."
    assert call.layout == s.Layout.CALL and call.show_self_view
    assert call.show_remote_video == (call.id == "in-call")
    assert [t.id for t in call.toggles] == ["microphone", "camera"]
    assert call.primary.kind == s.ActionKind.LEAVE and call.primary.label.text == "Læg på"
    assert all(sc.help.call.text == "Ring +45\u00a070\u00a012\u00a034\u00a056" for sc in obs.screens)
    assert all(sc.announce for sc in obs.screens)
    core.set_microphone_muted(True)
    obs.wait("mic off", lambda: not obs.screens[-1].toggles[0].on)
    assert obs.screens[-1].toggles[0].label.text == "Tænd mikrofon"
    core.act(s.ActionKind.LEAVE)
    obs.wait("ended", lambda: obs.screens[-1].id == "ended")
    assert obs.screens[-1].primary.kind == s.ActionKind.REJOIN  # a remembered meeting
    core.act(s.ActionKind.BACK_TO_START)
    obs.wait("home", lambda: obs.screens[-1].id == "home")
    home = obs.screens[-1]
    assert home.layout == s.Layout.BIG_BUTTON
    # The big button's words follow what the server says about the caseworker, who may have
    # left in an earlier test: not known yet, there, or not there.
    label = home.primary.label.text
    assert label in ("Ring til Eksempel Kommune", "Gå ind nu", "Gå ind og vent"), label
    assert home.lit == (label == "Gå ind nu")
    core.shutdown()
    # English, and a join link that fills the code in.
    obs = Recorder()
    cfg = config(url, str(tmp_path / "en"))
    cfg.language = "en"
    core = s.Samtale(cfg, obs)
    assert core.current_screen().headline.text == "Type your code"
    assert core.open_link("https://samtale.eksempel-kommune.dk/j/" + digits)
    obs.wait("filled in", lambda: obs.screens and obs.screens[-1].body.id == "code-link-body")
    assert obs.screens[-1].code.digits == 10 and obs.screens[-1].primary.enabled
    assert not core.open_link("https://samtale.eksempel-kommune.dk/j/123")
    core.shutdown()


def test_a_broken_brand_is_refused_with_what_to_fix(tmp_path):
    cfg = config("http://127.0.0.1:9", str(tmp_path))
    cfg.brand_toml = BRAND.replace('text = "#1A1A1A"', 'text = "#EEEEEE"')
    with pytest.raises(s.SamtaleError.BadBrand) as e:
        s.Samtale(cfg, Recorder())
    assert "colors.text: contrast with colors.background" in str(e.value)
