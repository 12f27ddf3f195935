package dk.samtale.app

import android.Manifest
import android.app.Notification
import android.content.Intent
import android.content.pm.PackageManager
import android.media.AudioDeviceInfo
import android.net.ConnectivityManager
import android.net.Uri
import android.provider.Settings
import android.widget.Button
import android.widget.LinearLayout
import com.google.android.apps.common.testing.accessibility.framework.AccessibilityCheckPreset
import com.google.android.apps.common.testing.accessibility.framework.AccessibilityCheckPresetAndroid
import com.google.android.apps.common.testing.accessibility.framework.AccessibilityCheckResult.AccessibilityCheckResultType
import dk.samtale.core.Chroma
import dk.samtale.core.Rotation
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import org.robolectric.shadows.ShadowNetwork

/** The app's flows that need no meeting: links, permissions, back, help, the notification. */
@RunWith(RobolectricTestRunner::class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
@Config(qualifiers = "da-w411dp-h891dp-port-hdpi", shadows = [NoBluetoothDeviceShadow::class])
class FlowsTest {
    @After
    fun tearDown() {
        Witness.forget("app")
        Calls.reset()
        Calls.serverUrlOverride = null
    }

    /** A code whose check digit is right (the core says which). */
    private fun validCode(a: MainActivity) =
        (0..9).map { "482193775$it" }.first { a.calls.core.checkCode(it) == null }

    @Test
    fun aJoinLinkFillsTheCodeAndWaitsForOneTap() {
        val probe = Robolectric.buildActivity(MainActivity::class.java).setup()
        val code = validCode(probe.get())
        probe.pause().stop().destroy()
        Calls.reset()
        // An App Link to the brand's server opens the app with the code filled in (the code in
        // the fragment, which no server sees).
        val link = Intent(Intent.ACTION_VIEW, Uri.parse("https://samtale.eksempel-kommune.dk/j/#$code"))
        val controller = Robolectric.buildActivity(MainActivity::class.java, link).setup()
        val a = controller.get()
        watchApp(a)
        until("the code from the link") { a.calls.screen.code?.digits == 10u }
        assertEquals("code-link-body", a.calls.screen.body.id)
        assertTrue("one tap joins", a.v(R.id.screen_primary).isEnabled)
        // The app's own scheme, arriving while the app is open (onNewIntent).
        a.calls.core.deleteDigit()
        until("a digit deleted") { a.calls.screen.code?.digits == 9u }
        controller.newIntent(Intent(Intent.ACTION_VIEW, Uri.parse("dk.eksempel.samtale://j/${code.chunked(3).joinToString("-")}")))
        until("the code from the app's scheme") { a.calls.screen.code?.digits == 10u }
        // The manifest routes both kinds of link to the activity.
        val pm = a.packageManager
        for (uri in listOf(
            "https://samtale.eksempel-kommune.dk/j/#$code",
            "https://samtale.eksempel-kommune.dk/j/$code", // links sent before the fragment form
            "dk.eksempel.samtale://j/$code",
        )) {
            val found = pm.queryIntentActivities(Intent(Intent.ACTION_VIEW, Uri.parse(uri)).addCategory(Intent.CATEGORY_BROWSABLE), 0)
            assertTrue("$uri opens the app", found.any { it.activityInfo.name == MainActivity::class.java.name })
        }
        controller.pause().stop().destroy()
    }

    @Test
    fun aRefusedMicrophoneExplainsHowToTurnItOnAndARefusedCameraStillCalls() {
        Calls.serverUrlOverride = "http://127.0.0.1:9"
        val app = RuntimeEnvironment.getApplication()
        val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
        val a = controller.get()
        watchApp(a)
        for (d in validCode(a)) a.window.decorView.findViewWithTag<android.view.View>("key-$d").performClick()
        a.v(R.id.screen_primary).performClick()
        until("the permission question") { a.calls.screen.id == "permissions" }
        a.v(R.id.screen_primary).performClick()
        // Both refused in the system dialog.
        a.onRequestPermissionsResult(
            MainActivity.REQUEST_PERMISSIONS, MainActivity.PERMISSIONS,
            intArrayOf(PackageManager.PERMISSION_DENIED, PackageManager.PERMISSION_DENIED),
        )
        until("how to turn the microphone on") { a.calls.screen.id == "microphone-off" }
        png(pixels(a.window.decorView), "flow-phone-da-microphone-off")
        // "Back" keeps what was typed.
        a.v(R.id.screen_secondary).performClick()
        until("the code again") { a.calls.screen.id == "code-entry" }
        assertEquals(10u, a.calls.screen.code?.digits)
        // The big button again: no dialog the phone would not show any more, the same help.
        a.v(R.id.screen_primary).performClick()
        until("microphone-off again") { a.calls.screen.id == "microphone-off" }
        a.v(R.id.screen_primary).performClick()
        val settings = shadowOf(a).nextStartedActivity
        assertEquals(Settings.ACTION_APPLICATION_DETAILS_SETTINGS, settings.action)
        assertEquals("package:${a.packageName}", settings.data.toString())
        // The citizen allows the microphone there (not the camera) and comes back: the call
        // it waited for starts by itself, without the camera (here the server is unreachable).
        shadowOf(app).grantPermissions(Manifest.permission.RECORD_AUDIO)
        controller.pause().resume()
        until("the call was tried") { a.calls.screen.id == "failed-no-network" }
        controller.pause().stop().destroy()
    }

    @Test
    fun backOnTheStartScreenClosesTheAppAndHelpOpensTheDialler() {
        val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
        val a = controller.get()
        watchApp(a)
        a.v(R.id.help_call).performClick()
        val dial = shadowOf(a).nextStartedActivity
        assertEquals(Intent.ACTION_DIAL, dial.action)
        assertEquals("tel", dial.data?.scheme)
        assertEquals("+4570123456", dial.data?.schemeSpecificPart)
        @Suppress("DEPRECATION") a.onBackPressed()
        assertTrue(a.isFinishing)
    }

    @Test
    fun theKeypadTypesAndDeletes() {
        val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
        val a = controller.get()
        watchApp(a)
        for (d in "48219") a.window.decorView.findViewWithTag<android.view.View>("key-$d").performClick()
        a.v(R.id.keypad_delete).performClick()
        until("four digits") { a.calls.screen.code?.grouped == "482 1" }
        assertFalse("not a whole code yet", a.v(R.id.screen_primary).isEnabled)
    }

    @Test
    fun theOngoingCallNotificationSaysWhatItIsInPlainWords() {
        val service = Robolectric.buildService(CallService::class.java).create().startCommand(0, 1).get()
        val n = shadowOf(service).lastForegroundNotification
        assertEquals("Du er i en samtale", n.extras.getString(Notification.EXTRA_TITLE))
        assertEquals("Tryk her for at se samtalen.", n.extras.getCharSequence(Notification.EXTRA_TEXT).toString())
        assertTrue("ongoing", n.flags and Notification.FLAG_ONGOING_EVENT != 0)
    }

    @Test
    fun aNetworkChangeIsReportedOnceAndTheFirstNetworkIsNot() {
        val app = RuntimeEnvironment.getApplication()
        var changes = 0
        val w = NetworkWatcher(app) { changes++ }
        w.start()
        val cm = app.getSystemService(ConnectivityManager::class.java)
        val wifi = ShadowNetwork.newInstance(1)
        val mobile = ShadowNetwork.newInstance(2)
        for (cb in shadowOf(cm).networkCallbacks) cb.onAvailable(wifi)
        assertEquals("the network at start is no change", 0, changes)
        for (cb in shadowOf(cm).networkCallbacks) cb.onAvailable(wifi)
        assertEquals("the same network again is no change", 0, changes)
        for (cb in shadowOf(cm).networkCallbacks) cb.onAvailable(mobile)
        assertEquals("Wi-Fi to mobile data", 1, changes)
        w.stop()
        assertTrue(shadowOf(cm).networkCallbacks.isEmpty())
    }

    @Test
    fun audioGoesToAHeadsetWhenThereIsOneAndToTheSpeakerOtherwise() {
        val speaker = AudioDeviceInfo.TYPE_BUILTIN_SPEAKER
        val earpiece = AudioDeviceInfo.TYPE_BUILTIN_EARPIECE
        assertEquals(speaker, Routes.choose(listOf(earpiece, speaker)))
        assertEquals(AudioDeviceInfo.TYPE_WIRED_HEADSET, Routes.choose(listOf(earpiece, speaker, AudioDeviceInfo.TYPE_WIRED_HEADSET)))
        assertEquals(
            AudioDeviceInfo.TYPE_BLUETOOTH_SCO,
            Routes.choose(listOf(speaker, AudioDeviceInfo.TYPE_WIRED_HEADSET, AudioDeviceInfo.TYPE_BLUETOOTH_SCO)),
        )
        assertNull(Routes.choose(listOf(earpiece)))
    }

    @Test
    fun cameraPicturesGoToTheCoreAsTheyAreWithTheirStridesAndRotation() {
        // A typical front camera: sensor at 270; the phone upright, then turned left.
        assertEquals(270, CameraSource.rotationDegrees(270, 0, front = true))
        assertEquals(0, CameraSource.rotationDegrees(270, 90, front = true))
        assertEquals(90, CameraSource.rotationDegrees(90, 0, front = false))
        assertEquals(Rotation.CW270, CameraSource.rotation(270))
        val image = FakeYuvImage(64, 48, 0)
        val f = CameraSource.cameraFrame(image, Rotation.CW90)
        assertEquals(64u, f.width)
        assertEquals(96u, f.yRowStride)
        val chroma = f.chroma as Chroma.Planar
        assertEquals(2u, chroma.pixelStride)
        assertEquals(96u, chroma.rowStride)
        // The core accepts it (the same check a call applies).
        val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
        controller.get().calls.core.pushCameraFrame(f)
        val self = CameraSource.selfFrame(image, 270)
        assertEquals(32 * 24, self.argb.size)
    }

    @Test
    fun theAccessibilityChecksCanFail() {
        // A control check: a 20 dp button without a label is reported.
        val a = Robolectric.buildActivity(MainActivity::class.java).setup().get()
        val tiny = Button(a).apply { text = "" }
        val box = LinearLayout(a).apply { addView(tiny, LinearLayout.LayoutParams(30, 30)) }
        a.setContentView(box)
        shadowOf(android.os.Looper.getMainLooper()).idle()
        val errors = AccessibilityCheckPresetAndroid.getViewChecksForPreset(AccessibilityCheckPreset.LATEST)
            .flatMap { it.runCheckOnViewHierarchy(a.window.decorView) }
            .filter { it.type == AccessibilityCheckResultType.ERROR }
        assertTrue("ATF found ${errors.size} errors", errors.size >= 2)
    }
}
