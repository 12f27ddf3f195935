package dk.samtale.app

import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.ImageFormat
import android.media.Image
import android.os.Looper
import android.view.View
import android.view.ViewGroup
import org.junit.Assert.fail
import org.robolectric.Shadows.shadowOf
import java.io.BufferedReader
import java.io.File
import java.nio.ByteBuffer
import java.util.concurrent.TimeUnit

/** Where the tests find things (set by scripts/test-android through android/pom.xml). */
object Paths {
    val bin = File(System.getProperty("samtale.bin") ?: "target/release")
    val screenshots = File(System.getProperty("samtale.screenshots") ?: "target/android/screenshots")
    val brandToml: String = File(System.getProperty("samtale.brand.toml") ?: "brands/eksempel/brand.toml").readText()
}

/**
 * What a failed wait says besides its own words: each source (the app's screen, the server's and
 * the caseworker's last lines of output) describes itself, so that a timeout in CI can be read
 * without re-running it.
 */
object Witness {
    private val sources = LinkedHashMap<String, () -> String>()

    fun watch(name: String, describe: () -> String) = synchronized(sources) { sources[name] = describe }

    fun forget(name: String) = synchronized(sources) { sources.remove(name) }

    fun report(): String = synchronized(sources) { sources.toList() }
        .joinToString("") { (name, describe) ->
            val text = try { describe() } catch (e: RuntimeException) { "(could not describe: $e)" }
            "\n--- $name ---\n$text"
        }
}

/** The last [capacity] lines of a child's output, for [Witness]. */
class Tail(private val capacity: Int = 30) {
    private val lines = ArrayDeque<String>()

    fun add(line: String) = synchronized(lines) {
        lines.addLast(line)
        if (lines.size > capacity) lines.removeFirst()
    }

    override fun toString(): String = synchronized(lines) { lines.joinToString("\n").ifEmpty { "(nothing)" } }
}

/**
 * Runs the main looper until [pred] holds (the core delivers screens from its own threads to the
 * main looper, which Robolectric runs only when a test idles it). Fails after [timeoutMs], with
 * what [Witness] knows.
 */
fun until(what: String, timeoutMs: Long = 30_000, pred: () -> Boolean) {
    val start = System.currentTimeMillis()
    val end = start + timeoutMs
    while (true) {
        shadowOf(Looper.getMainLooper()).idle()
        if (pred()) return
        if (System.currentTimeMillis() > end) {
            fail("timed out waiting for $what (${System.currentTimeMillis() - start} ms)${Witness.report()}")
        }
        // Polling a condition with a deadline: the core's threads post to the main looper.
        Thread.sleep(10)
    }
}

/** A real samtale-server on loopback, with a staff token; one per test class. */
class Server : AutoCloseable {
    private val dir = kotlin.io.path.createTempDirectory("samtale-android-").toFile()
    val token = "android-" + java.util.UUID.randomUUID()
    private val process: Process
    private val tail = Tail()
    val url: String

    init {
        File(dir, "token").writeText(token)
        process = ProcessBuilder(
            File(Paths.bin, "samtale-server").path, "--listen", "127.0.0.1:0",
            "--db", File(dir, "db.sqlite").path, "--staff-token-file", File(dir, "token").path,
        ).redirectErrorStream(true).start()
        val out = process.inputStream.bufferedReader()
        var found: String? = null
        while (found == null) {
            val line = out.readLine() ?: break
            tail.add(line)
            val i = line.indexOf("public URL ")
            if (i >= 0) found = line.substring(i + 11).substringBefore(")")
        }
        url = found ?: error("the server did not start")
        drain(out, tail)
        Witness.watch("server (last lines)") { tail.toString() }
    }

    override fun close() {
        Witness.forget("server (last lines)")
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
        dir.deleteRecursively()
    }
}

/** A caseworker (`samtale-sim host`): creates a meeting, sends a test picture and tone, reports
 * what it receives every second. */
class Caseworker(server: Server) : AutoCloseable {
    private val process = ProcessBuilder(
        File(Paths.bin, "samtale-sim").path, "host", "--server", server.url, "--token", server.token,
        "--loopback", "--json", "--seconds", "0",
    ).apply {
        // Its core's log (states, recoveries, failures) on stderr, for a timed-out wait to show;
        // core log lines carry no codes, tokens or names.
        environment()["RUST_LOG"] = "samtale_core=info"
    }.start()
    private val lock = Object()
    private var lastMedia = mapOf<String, Double>()
    private var lastMediaLine = "(none)"
    val code: String

    private val said = Tail()
    private val name = "caseworker ${process.pid()}"

    init {
        val out = process.inputStream.bufferedReader()
        var c: String? = null
        while (c == null) {
            val line = out.readLine() ?: break
            said.add(line)
            if (line.contains("\"meeting created\"")) c = Regex("\"code\":\"([0-9 ]+)\"").find(line)?.groupValues?.get(1)
        }
        code = c ?: error("the caseworker could not create a meeting:\n$said")
        Thread {
            try {
                out.forEachLine { line ->
                    if (line.contains("\"event\":\"media\"")) {
                        val m = Regex("\"([a-z_]+)\":(-?[0-9.]+)").findAll(line)
                            .associate { it.groupValues[1] to it.groupValues[2].toDouble() }
                        synchronized(lock) {
                            lastMedia = m
                            lastMediaLine = line
                            lock.notifyAll()
                        }
                    } else {
                        said.add(line)
                    }
                }
            } catch (_: java.io.IOException) {
            }
        }.apply { isDaemon = true }.start()
        drain(process.errorStream.bufferedReader(), said)
        Witness.watch(name) {
            val alive = if (process.isAlive) "running" else "exited with ${process.exitValue()}"
            "$alive; newest media report: ${synchronized(lock) { lastMediaLine }}\n$said"
        }
    }

    /** The newest per-second media report (`video_frames_decoded`, `audible_frames`, ...). */
    fun media(): Map<String, Double> = synchronized(lock) { lastMedia }

    override fun close() {
        Witness.forget(name)
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
    }
}

/** Reads a child's output on a thread of its own (a full pipe would stall the child). */
fun drain(r: BufferedReader, tail: Tail? = null) =
    Thread { try { r.forEachLine { tail?.add(it) } } catch (_: java.io.IOException) { } }.apply { isDaemon = true }.start()

/** The rendered pixels of a view (NATIVE graphics: real Skia drawing). */
fun pixels(v: View): Bitmap {
    val b = Bitmap.createBitmap(maxOf(1, v.width), maxOf(1, v.height), Bitmap.Config.ARGB_8888)
    v.draw(Canvas(b))
    return b
}

fun png(b: Bitmap, name: String) {
    Paths.screenshots.mkdirs()
    File(Paths.screenshots, "$name.png").outputStream().use { b.compress(Bitmap.CompressFormat.PNG, 100, it) }
}

/** Every view under [v], depth first. */
fun descendants(v: View): List<View> =
    listOf(v) + if (v is ViewGroup) (0 until v.childCount).flatMap { descendants(v.getChildAt(it)) } else emptyList()

/**
 * A camera picture as Camera2 delivers it (Robolectric's camera produces none; see
 * android-toolchain.md): YUV_420_888 with Y row padding and interleaved chroma (pixel stride 2),
 * as many phones do. A moving gradient so that the encoder has something to send.
 */
class FakeYuvImage(private val w: Int, private val h: Int, n: Int) : Image() {
    private val rowStride = w + 32
    private val planes: Array<Image.Plane>

    init {
        mIsImageValid = true
        val y = ByteBuffer.allocateDirect(rowStride * h)
        for (r in 0 until h) for (c in 0 until w) y.put(r * rowStride + c, (((c + n * 8) % 200) + 30).toByte())
        // Interleaved V/U like NV21 memory, exposed as two planes with pixel stride 2.
        val cw = w / 2
        val ch = h / 2
        val vu = ByteBuffer.allocateDirect(rowStride * ch)
        for (r in 0 until ch) for (c in 0 until cw) {
            vu.put(r * rowStride + 2 * c, 160.toByte())
            vu.put(r * rowStride + 2 * c + 1, 90.toByte())
        }
        val v = vu.duplicate().apply { limit(rowStride * (ch - 1) + 2 * (cw - 1) + 1) }.slice()
        val u = vu.duplicate().apply { position(1); limit(rowStride * (ch - 1) + 2 * (cw - 1) + 2) }.slice()
        planes = arrayOf(FakePlane(y, rowStride, 1), FakePlane(u, rowStride, 2), FakePlane(v, rowStride, 2))
    }

    override fun getFormat() = ImageFormat.YUV_420_888
    override fun getWidth() = w
    override fun getHeight() = h
    override fun getTimestamp() = System.nanoTime()
    override fun getTransform() = 0
    override fun getScalingMode() = 0
    override fun getPlanes() = planes
    override fun close() {
        mIsImageValid = false
    }
}

class FakePlane(private val b: ByteBuffer, private val row: Int, private val px: Int) : Image.Plane() {
    override fun getBuffer(): ByteBuffer = b
    override fun getRowStride() = row
    override fun getPixelStride() = px
}

/** The view with [id] on the activity's screen now (fails the test if there is none). */
fun android.app.Activity.v(id: Int): View =
    findViewById<View>(id) ?: throw AssertionError("no view ${resources.getResourceEntryName(id)} on this screen")

/** The app's side for [Witness]: its screen and state, the pictures, the camera. */
fun watchApp(a: MainActivity) = Witness.watch("app") {
    val s = a.calls.screen
    "screen ${s.id}, state ${s.state::class.simpleName}, remote picture ${a.renderer.remoteVideo.hasPicture}, " +
        "camera ${if (a.calls.devices.camera != null) "running" else "off"}"
}
