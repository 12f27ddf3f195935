package dk.samtale.app

import android.Manifest
import android.content.pm.PackageManager
import android.hardware.camera2.CameraCharacteristics
import android.hardware.camera2.CameraManager
import android.media.AudioRecord
import android.net.ConnectivityManager
import android.view.View
import android.widget.TextView
import org.junit.After
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import org.robolectric.shadows.ShadowAudioRecord
import org.robolectric.shadows.ShadowCameraCharacteristics
import org.robolectric.shadows.ShadowNetwork
import kotlin.math.PI
import kotlin.math.sin

/**
 * A real meeting on loopback, through the app: a real samtale-server and a samtale-sim
 * caseworker (separate processes), the real core in the app (JNA). The test types the code on
 * the app's keypad, answers the permission question, and sees the caseworker's picture drawn;
 * the camera's pictures and the microphone's tone reach the caseworker (it decodes and hears
 * them) and the caseworker's sound reaches the app's AudioTrack; a network change keeps the call; back asks before hanging up; after hanging up, the
 * one big button calls again.
 */
@RunWith(RobolectricTestRunner::class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
@Config(qualifiers = "da-w411dp-h891dp-port-hdpi", shadows = [NoBluetoothDeviceShadow::class])
class CallTest {
    companion object {
        private lateinit var server: Server

        @BeforeClass
        @JvmStatic
        fun startServer() {
            server = Server()
        }

        @AfterClass
        @JvmStatic
        fun stopServer() = server.close()
    }

    @After
    fun tearDown() {
        Witness.forget("app")
        Calls.reset()
        Calls.serverUrlOverride = null
    }

    /** The microphone: a 440 Hz tone, 10 ms a read, at the pace of a real device. */
    private fun toneMicrophone() {
        var phase = 0.0
        ShadowAudioRecord.setSourceProvider { _: AudioRecord ->
            object : ShadowAudioRecord.AudioRecordSource {
                override fun readInShortArray(a: ShortArray, off: Int, n: Int, blocking: Boolean): Int {
                    for (i in 0 until n) {
                        a[off + i] = (8000 * sin(phase)).toInt().toShort()
                        phase += 2 * PI * 440 / SAMPLE_RATE
                    }
                    Thread.sleep(n * 1000L / SAMPLE_RATE) // a device delivers 10 ms every 10 ms
                    return n
                }
            }
        }
    }

    private fun frontCamera() {
        val cc = ShadowCameraCharacteristics.newCameraCharacteristics()
        shadowOf(cc).set(CameraCharacteristics.LENS_FACING, CameraCharacteristics.LENS_FACING_FRONT)
        shadowOf(cc).set(CameraCharacteristics.SENSOR_ORIENTATION, 270)
        val cm = RuntimeEnvironment.getApplication().getSystemService(CameraManager::class.java)
        shadowOf(cm).addCamera("1", cc)
    }

    @Test
    fun aRealMeetingTypedOnTheKeypadPicturesAndSoundBothWaysThenOneTapToCallAgain() {
        val app = RuntimeEnvironment.getApplication()
        Caseworker(server).use { caseworker ->
            Calls.serverUrlOverride = server.url
            toneMicrophone()
            frontCamera()
            // The speaker: what the app writes to its AudioTrack.
            val loud = java.util.concurrent.atomic.AtomicInteger()
            org.robolectric.shadows.ShadowAudioTrack.addAudioDataListener { _, data, _ ->
                var peak = 0
                for (i in 0 until data.size / 2) {
                    val v = (data[2 * i].toInt() and 0xff) or (data[2 * i + 1].toInt() shl 8)
                    peak = maxOf(peak, kotlin.math.abs(v.toShort().toInt()))
                }
                if (peak > 300) loud.incrementAndGet()
            }
            val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
            val a = controller.get()
            watchApp(a)
            assertEquals("code-entry", a.calls.screen.id)
            val am = a.getSystemService(android.view.accessibility.AccessibilityManager::class.java)
            shadowOf(am).setEnabled(true)
            shadowOf(am).setTouchExplorationEnabled(true)

            // The code, on the app's own keypad.
            for (d in caseworker.code.filter(Char::isDigit)) a.window.decorView.findViewWithTag<View>("key-$d").performClick()
            until("the code shown") { a.calls.screen.code?.digits == 10u }
            assertEquals(caseworker.code, (a.v(R.id.code_digits) as TextView).text.toString().trim('_'))
            a.v(R.id.screen_primary).performClick()

            // First call: why the microphone and camera, then the system's dialog.
            until("the permission question") { a.calls.screen.id == "permissions" }
            a.v(R.id.screen_primary).performClick()
            val asked = shadowOf(a).lastRequestedPermission
            assertNotNull("the system dialog was asked for", asked)
            assertTrue(asked.requestedPermissions.toSet() == setOf(Manifest.permission.RECORD_AUDIO, Manifest.permission.CAMERA))
            shadowOf(app).grantPermissions(Manifest.permission.RECORD_AUDIO, Manifest.permission.CAMERA)
            a.onRequestPermissionsResult(
                MainActivity.REQUEST_PERMISSIONS, MainActivity.PERMISSIONS,
                intArrayOf(PackageManager.PERMISSION_GRANTED, PackageManager.PERMISSION_GRANTED),
            )

            // In the call, with the caseworker's picture on the screen.
            until("in the call with the caseworker's picture") {
                a.calls.screen.id == "in-call" && a.renderer.remoteVideo.hasPicture
            }
            val started = shadowOf(app).nextStartedService
            assertEquals("the call runs in the foreground service", CallService::class.java.name, started?.component?.className)
            assertTrue("the screen stays on", a.window.attributes.flags and android.view.WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON != 0)
            val video = pixels(a.renderer.remoteVideo)
            val px = IntArray(video.width * video.height).also { video.getPixels(it, 0, video.width, 0, 0, video.width, video.height) }
            val colours = px.toSet().size
            val lit = px.count { (it and 0xffffff) != 0 }.toFloat() / px.size
            assertTrue("the remote video is not blank ($colours colours, ${lit * 100} % lit)", colours > 50 && lit > 0.2f)
            png(pixels(a.window.decorView), "call-phone-da-in-call-live")
            // TalkBack was told each step of the way, in the screen model's words.
            val said = shadowOf(am).sentAccessibilityEvents
                .filter { it.eventType == android.view.accessibility.AccessibilityEvent.TYPE_ANNOUNCEMENT }
                .map { it.text.joinToString("") }
            for (words in listOf("Lyd og billede.", "Vi ringer op.", "Samtalen er i gang.")) {
                assertTrue("TalkBack heard \"$words\" ($said)", said.any { it.startsWith(words) })
            }

            // Our camera's pictures and microphone's tone reach the caseworker.
            val camera = a.calls.devices.camera
            assertNotNull("the front camera is running", camera)
            var n = 0
            until("the caseworker decodes our pictures and hears our tone", timeoutMs = 40_000) {
                if (n++ % 6 == 0) camera!!.deliver(FakeYuvImage(CameraSource.WIDTH, CameraSource.HEIGHT, n)) // ~15 a second
                val m = caseworker.media()
                (m["video_frames_decoded"] ?: 0.0) >= 10 && (m["audible_frames"] ?: 0.0) >= 20
            }

            until("the caseworker's tone comes out of the speaker") { loud.get() >= 20 }
            // Wi-Fi to mobile data: the platform's callback reaches the core; the call goes on.
            val cm = app.getSystemService(ConnectivityManager::class.java)
            for (net in listOf(ShadowNetwork.newInstance(101), ShadowNetwork.newInstance(102))) {
                for (cb in shadowOf(cm).networkCallbacks) cb.onAvailable(net)
            }
            val decoded = caseworker.media()["video_frames_decoded"] ?: 0.0
            until("pictures still arrive after the network change", timeoutMs = 40_000) {
                if (n++ % 6 == 0) camera!!.deliver(FakeYuvImage(CameraSource.WIDTH, CameraSource.HEIGHT, n)) // ~15 a second
                a.calls.screen.id == "in-call" && (caseworker.media()["video_frames_decoded"] ?: 0.0) > decoded + 10
            }

            // Back never hangs up silently: it asks; back again (or "no") stays in the call.
            @Suppress("DEPRECATION") a.onBackPressed()
            until("hang up?") { a.calls.screen.id == "confirm-leave" }
            assertNotNull(a.findViewById<View>(R.id.screen_secondary))
            @Suppress("DEPRECATION") a.onBackPressed()
            until("the call again") { a.calls.screen.id == "in-call" }
            @Suppress("DEPRECATION") a.onBackPressed()
            until("hang up? again") { a.calls.screen.id == "confirm-leave" }
            a.v(R.id.screen_secondary).performClick()
            until("still in the call") { a.calls.screen.id == "in-call" }

            // Hang up, back to the start: the one big button calls again.
            a.v(R.id.screen_primary).performClick()
            until("ended") { a.calls.screen.id == "ended" }
            @Suppress("DEPRECATION") a.onBackPressed()
            until("home") { a.calls.screen.id == "home" }
            val big = a.v(R.id.screen_primary)
            val density = a.resources.displayMetrics.density
            assertTrue("the big button is at least 160 dp tall", big.height / density >= 160)
            png(pixels(a.window.decorView), "call-phone-da-home-after-call")
            big.performClick()
            until("in the call again") { a.calls.screen.id == "in-call" }
            a.v(R.id.screen_primary).performClick()
            until("ended again") { a.calls.screen.id == "ended" }
            controller.pause().stop().destroy()
        }
    }

    @Test
    fun aRefusedCameraStillMakesAnAudioCall() {
        val app = RuntimeEnvironment.getApplication()
        Caseworker(server).use { caseworker ->
            Calls.serverUrlOverride = server.url
            toneMicrophone()
            frontCamera()
            val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
            val a = controller.get()
            watchApp(a)
            for (d in caseworker.code.filter(Char::isDigit)) a.window.decorView.findViewWithTag<View>("key-$d").performClick()
            a.v(R.id.screen_primary).performClick()
            until("the permission question") { a.calls.screen.id == "permissions" }
            a.v(R.id.screen_primary).performClick()
            shadowOf(app).grantPermissions(Manifest.permission.RECORD_AUDIO)
            shadowOf(app).denyPermissions(Manifest.permission.CAMERA)
            a.onRequestPermissionsResult(
                MainActivity.REQUEST_PERMISSIONS, MainActivity.PERMISSIONS,
                intArrayOf(PackageManager.PERMISSION_GRANTED, PackageManager.PERMISSION_DENIED),
            )
            until("in the call") { a.calls.screen.id == "in-call" }
            val camera = a.calls.screen.toggles.first { it.id == "camera" }
            assertTrue("the camera is off", !camera.on && !a.calls.screen.showSelfView)
            assertNull("no camera running", a.calls.devices.camera)
            until("the caseworker hears us", timeoutMs = 40_000) { (caseworker.media()["audible_frames"] ?: 0.0) >= 20 }
            assertEquals("and sees no picture from us", 0.0, caseworker.media()["video_frames_decoded"] ?: 0.0, 0.0)
            a.v(R.id.screen_primary).performClick()
            until("ended") { a.calls.screen.id == "ended" }
            controller.pause().stop().destroy()
        }
    }
}
