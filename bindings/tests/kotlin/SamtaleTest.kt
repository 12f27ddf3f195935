// The Kotlin bindings against a real meeting, on the JVM (JNA loads the core's cdylib):
// a real samtale-server and a samtale-sim caseworker are started here; the test joins by code,
// sees Waiting/InCall and remote pictures, pushes camera and microphone, pulls audio, mutes,
// leaves, and checks that a mistyped code fails offline. Exits non-zero on the first failure.
//
// Run via ./scripts/test, or see scripts/test-kotlin.

import dk.samtale.core.*
import java.io.File
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess

val bin: String = System.getenv("SAMTALE_BIN_DIR") ?: "target/release"

fun check(ok: Boolean, what: String) {
    if (!ok) {
        System.err.println("kotlin: FAIL $what")
        exitProcess(1)
    }
    println("kotlin: ok   $what")
}

/** Records what the core reports; waits with deadlines (no sleeping as synchronisation). */
class Recorder : CallObserver {
    private val lock = Object()
    val states = mutableListOf<UiState>()
    val screens = mutableListOf<Screen>()
    var frames = 0
    var lastFrame: RemoteVideoFrame? = null

    override fun onScreen(screen: Screen) = synchronized(lock) {
        screens.add(screen)
        if (states.lastOrNull() != screen.state) states.add(screen.state)
        lock.notifyAll()
    }

    override fun onRemoteVideo(frame: RemoteVideoFrame) = synchronized(lock) {
        frames += 1
        lastFrame = frame
        lock.notifyAll()
    }

    fun await(what: String, timeoutMs: Long = 30_000, pred: () -> Boolean) = synchronized(lock) {
        val end = System.currentTimeMillis() + timeoutMs
        while (!pred()) {
            val left = end - System.currentTimeMillis()
            if (left <= 0) check(false, "timed out waiting for $what (states: $states)")
            lock.wait(left)
        }
    }
}

/** The shell's secure storage, in memory (a phone uses Keystore/Keychain). */
class MemoryStore : SecureStore {
    private val lock = Object()
    val values = mutableMapOf<String, String>()

    override fun load(key: String): String? = synchronized(lock) { values[key] }

    override fun save(key: String, value: String): Boolean = synchronized(lock) {
        values[key] = value
        lock.notifyAll()
        true
    }

    override fun delete(key: String) = synchronized(lock) { values.remove(key); Unit }

    fun awaitKey(key: String, timeoutMs: Long = 30_000) = synchronized(lock) {
        val end = System.currentTimeMillis() + timeoutMs
        while (key !in values) {
            val left = end - System.currentTimeMillis()
            if (left <= 0) check(false, "timed out waiting for $key in the secure store")
            lock.wait(left)
        }
    }
}

/** Keeps a child's output pipe from filling up; ends quietly when the child is gone. */
fun drain(r: java.io.BufferedReader) =
    Thread { try { r.forEachLine { } } catch (_: java.io.IOException) { } }.apply { isDaemon = true }.start()

val brandToml: String = File("brands/eksempel/brand.toml").readText()

fun config(url: String, dir: File) =
    AppConfig(serverUrl = url, brandId = "test-kommune", storageDir = dir.path, logLevel = LogLevel.WARN,
        brandToml = brandToml)

fun main() {
    val tmp = kotlin.io.path.createTempDirectory("samtale-kt-").toFile()

    // A mistyped code fails at once, without the network (the server address is unreachable).
    run {
        val obs = Recorder()
        val core = Samtale(config("http://127.0.0.1:9", tmp), obs)
        check(core.checkCode("482 193 775") == CodeProblem.TooFewDigits(9u, 10u), "offline check: too few digits")
        check(core.checkCode("482 193 7750") == null || core.checkCode("482 193 7750") == CodeProblem.WrongDigit, "a whole code parses")
        core.join("123 456 7890")
        obs.await("a failed state") { obs.states.any { it is UiState.Failed } }
        val failed = obs.states.first { it is UiState.Failed } as UiState.Failed
        check(failed.error is ErrorKind.BadCode, "a wrong digit fails with BadCode (${failed.error})")
        check(obs.states.first() is UiState.Idle, "the observer gets the current state first")
        val first = obs.screens.first()
        check(first.id == "code-entry" && first.headline.text == "Skriv din kode",
            "the first screen is the code entry, in Danish (${first.id}: ${first.headline.text})")
        check(first.help.dial == "+4570123456" && first.primary?.kind == ActionKind.JOIN_WITH_CODE,
            "help line and one primary action on the first screen")
        val failedScreen = obs.screens.last()
        check(failedScreen.id == "failed-bad-code" && failedScreen.primary?.kind == ActionKind.FIX_CODE,
            "a wrong code shows failed-bad-code with FixCode (${failedScreen.id})")
        core.act(ActionKind.FIX_CODE)
        obs.await("the code again") { obs.screens.last().id == "code-entry" }
        check(obs.screens.last().code?.grouped == "123 456 7890", "the typed code is kept (${obs.screens.last().code?.grouped})")
        core.shutdown()
        check(core.isShutDown(), "shutdown() shuts down")
    }

    // No panic in the core reaches the app (test builds export injectPanic(entry)).
    run {
        val obs = Recorder()
        val core = Samtale(config("http://127.0.0.1:9", tmp), obs)
        injectPanic("check_code")
        check(core.checkCode("abc") == null, "a panic in checkCode gives the safe answer, no exception")
        check(core.checkCode("abc") == CodeProblem.NotADigit, "checkCode works again after a panic")
        injectPanic("start")
        core.join("123 456 7890")
        obs.await("a failed state") { obs.states.any { it is UiState.Failed } }
        check(obs.states.last() == UiState.Failed(ErrorKind.ServerError),
            "a panic while joining shows Failed(ServerError) (${obs.states.last()})")
        core.join("123 456 7890")
        obs.await("bad code") { (obs.states.last() as? UiState.Failed)?.error is ErrorKind.BadCode }
        check(true, "the core goes on after a panic: the next join fails for its real reason")
        injectPanic("pull_audio")
        check(core.pullAudio().size == 480 && core.pullAudio().all { it == 0.toShort() },
            "a panic in pullAudio plays silence")
        injectPanic("leave")
        core.leave()
        injectPanic("shutdown")
        core.shutdown()
        core.shutdown()
        check(core.isShutDown(), "a panic in shutdown does not crash; the next one shuts down")
        injectPanic("new")
        val refused = try {
            Samtale(config("http://127.0.0.1:9", tmp), Recorder()); false
        } catch (e: SamtaleException.Internal) { true }
        check(refused, "a panic while starting the core is SamtaleException.Internal")
    }

    // A real meeting.
    val token = "kt-" + java.util.UUID.randomUUID()
    File(tmp, "token").writeText(token)
    val server = ProcessBuilder("$bin/samtale-server", "--listen", "127.0.0.1:0",
        "--db", File(tmp, "db.sqlite").path, "--staff-token-file", File(tmp, "token").path)
        .redirectErrorStream(true).start()
    val serverOut = server.inputStream.bufferedReader()
    var url: String? = null
    while (url == null) {
        val line = serverOut.readLine() ?: break
        val i = line.indexOf("public URL ")
        if (i >= 0) url = line.substring(i + 11).substringBefore(")")
    }
    check(url != null, "the server started")
    drain(serverOut)
    val host = ProcessBuilder("$bin/samtale-sim", "host", "--server", url!!, "--token", token,
        "--loopback", "--json", "--seconds", "0").start()
    val hostOut = host.inputStream.bufferedReader()
    var code: String? = null
    while (code == null) {
        val line = hostOut.readLine() ?: break
        if (line.contains("\"meeting created\"")) code = Regex("\"code\":\"([0-9 ]+)\"").find(line)?.groupValues?.get(1)
    }
    check(code != null, "the caseworker created a meeting")
    drain(hostOut)

    try {
        val obs = Recorder()
        val core = Samtale(config(url, tmp), obs)
        core.join(code!!)
        obs.await("in call") { obs.states.any { it is UiState.InCall } }
        check(obs.states.any { it is UiState.Joining }, "saw Joining before InCall")
        core.networkChanged() // Wi-Fi to cellular, say: the call goes on (checked below)

        val w = 320u
        val h = 180u
        var heard = 0
        var n = 0
        val end = System.currentTimeMillis() + 30_000
        while ((obs.frames < 10 || heard < 50) && System.currentTimeMillis() < end) {
            val y = ByteArray((w * h).toInt()) { i -> (((i % w.toInt()) + n * 4) % 220 + 16).toByte() }
            val uv = ByteArray((w * h / 2u).toInt()) { 128.toByte() }
            core.pushVideo(VideoFrameIn(w, h, y + uv, Rotation.NONE))
            repeat(7) {
                core.pushAudio(List(480) { i -> (8000 * ((i % 48) / 24.0 - 1)).toInt().toShort() })
                val pcm = core.pullAudio()
                check(pcm.size == 480, "pull_audio gives 480 samples")
                if (pcm.maxOf { kotlin.math.abs(it.toInt()) } > 300) heard++
                Thread.sleep(10) // the pace of an audio device, not synchronisation
            }
            n++
        }
        check(obs.frames >= 10, "remote pictures arrive (${obs.frames})")
        check(heard >= 50, "remote audio is heard ($heard x 10 ms)")
        val f = obs.lastFrame!!
        check(f.i420.size.toUInt() == f.width * f.height * 3u / 2u, "a remote picture is I420 ${f.width}x${f.height}")

        try {
            core.pushVideo(VideoFrameIn(4u, 4u, ByteArray(3), Rotation.NONE))
            check(false, "a bad frame is refused")
        } catch (e: SamtaleException.BadFrame) {
            check(true, "a bad frame is refused with BadFrame")
        }

        core.setMicrophoneMuted(true)
        core.setCameraEnabled(false)
        core.setCameraEnabled(true)
        core.setMicrophoneMuted(false)
        core.leave()
        obs.await("ended") { obs.states.any { it is UiState.Ended } }
        val ended = obs.states.first { it is UiState.Ended } as UiState.Ended
        check(ended.reason == EndKind.YOU_LEFT, "leave ends the call as YouLeft")

        // One tap: the meeting was remembered (by a pairing token, not the code).
        check(core.hasRememberedMeeting(), "the meeting is remembered")
        val stored = File(File(tmp, "test-kommune"), "remembered-meeting").readText()
        check(!stored.contains(code.replace(" ", "")), "the code itself is not stored")
        val inCalls = obs.states.count { it is UiState.InCall }
        core.rejoin()
        obs.await("in call again") { obs.states.count { it is UiState.InCall } > inCalls }
        check(true, "rejoin with one tap")
        // The caseworker leaves (SIGINT: the sim says goodbye): the citizen waits in the meeting.
        ProcessBuilder("kill", "-INT", host.pid().toString()).start().waitFor()
        obs.await("waiting") { obs.states.last() is UiState.Waiting }
        check(true, "the caseworker left: Waiting")
        core.leave()
        core.forgetMeeting()
        check(!core.hasRememberedMeeting(), "forgotten")
        core.rejoin()
        obs.await("no remembered meeting") {
            (obs.states.last() as? UiState.Failed)?.error == ErrorKind.NoRememberedMeeting
        }
        check(true, "rejoin without a remembered meeting fails with NoRememberedMeeting")
        core.shutdown()

        // With the shell's secure storage, the pairing token goes there and to no file.
        val store = MemoryStore()
        val dir2 = kotlin.io.path.createTempDirectory("samtale-kt-store-").toFile()
        val obs2 = Recorder()
        val core2 = Samtale(config(url, dir2), obs2, store)
        core2.join(code)
        obs2.await("waiting") { obs2.states.any { it is UiState.Waiting } }
        store.awaitKey("test-kommune/remembered-meeting")
        check(dir2.walk().none { it.isFile }, "no token file when a SecureStore is given")
        core2.leave()
        check(core2.hasRememberedMeeting(), "remembered through the SecureStore")
        core2.forgetMeeting()
        check(store.values.isEmpty(), "forgetMeeting deletes it from the SecureStore")
        core2.shutdown()
        core.shutdown()
        check(core.pullAudio() == List<Short>(480) { 0 }, "after shutdown, silence")
    } finally {
        host.destroy()
        server.destroy()
        host.waitFor(10, TimeUnit.SECONDS)
        server.waitFor(10, TimeUnit.SECONDS)
    }
    println("kotlin: all passed")
    exitProcess(0)
}
