package dk.samtale.app

import android.content.Context

import android.view.View
import android.view.accessibility.AccessibilityEvent
import android.view.accessibility.AccessibilityManager
import android.widget.TextView
import com.google.android.apps.common.testing.accessibility.framework.AccessibilityCheckPreset
import com.google.android.apps.common.testing.accessibility.framework.AccessibilityCheckPresetAndroid
import com.google.android.apps.common.testing.accessibility.framework.AccessibilityCheckResult.AccessibilityCheckResultType
import dk.samtale.core.Layout
import dk.samtale.core.RemoteVideoFrame
import dk.samtale.core.Screen
import dk.samtale.core.previewScreens
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.GraphicsMode

/**
 * Every screen the core can show (`previewScreens`, the real core's screen model), drawn by the
 * app in Danish and English, at font scale 1.0 and 2.0, on a phone and a tablet in portrait and
 * landscape: a screenshot of each in target/android/screenshots, and checks on each one — the
 * main button's size, every target's size, no cut-off or shortened text, the brand's colour,
 * Google's Accessibility Test Framework (zero errors), and what TalkBack is told.
 */
@RunWith(RobolectricTestRunner::class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class ScreensTest {
    private data class Device(val name: String, val qualifiers: String)

    private val devices = listOf(
        Device("phone", "w411dp-h891dp-port-hdpi"),
        Device("phone-landscape", "w891dp-h411dp-land-hdpi"),
        Device("tablet", "w800dp-h1280dp-port-mdpi"),
        Device("tablet-landscape", "w1280dp-h800dp-land-mdpi"),
    )

    @After
    fun tearDown() = Calls.reset()

    @Test
    fun everyScreenInBothLanguagesAtBothFontScalesOnPhoneAndTablet() {
        val problems = mutableListOf<String>()
        var shots = 0
        for (lang in listOf("da", "en")) {
            val screens = previewScreens(Paths.brandToml, lang)
            for (device in devices) {
                for (scale in listOf(1.0f, 2.0f)) {
                    RuntimeEnvironment.setQualifiers("$lang-${device.qualifiers}")
                    RuntimeEnvironment.setFontScale(scale)
                    val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
                    val activity = controller.get()
                    val am = activity.getSystemService(AccessibilityManager::class.java)
                    shadowOf(am).setEnabled(true)
                    shadowOf(am).setTouchExplorationEnabled(true)
                    for ((i, s) in screens.withIndex()) {
                        val name = "${device.name}-$lang-${if (scale == 1.0f) "1.0" else "2.0"}-%02d-${s.id}".format(i)
                        val before = shadowOf(am).sentAccessibilityEvents.size
                        activity.renderer.render(s, activity.resources.configuration)
                        if (s.showRemoteVideo) activity.renderer.remoteVideo.offer(testPicture())
                        val root = layOut(activity)
                        val shot = pixels(root)
                        png(shot, name)
                        shots++
                        problems += check(activity, s, root, shot).map { "$name: $it" }
                        // TalkBack: the screen model's announcement, once, as the screen appears.
                        val said = shadowOf(am).sentAccessibilityEvents.drop(before)
                            .filter { it.eventType == AccessibilityEvent.TYPE_ANNOUNCEMENT }
                            .map { it.text.joinToString("") }
                        val previous = screens.getOrNull(i - 1)
                        val new = previous == null || previous.id != s.id || previous.announce != s.announce
                        val expected = if (new && i > 0) listOf(s.announce) else emptyList()
                        if (i > 0 && said != expected) problems += "$name: TalkBack was told $said, not $expected"
                    }
                    controller.pause().stop().destroy()
                    Calls.reset()
                }
            }
        }
        assertTrue(problems.joinToString("\n", limit = 60), problems.isEmpty())
        assertEquals("screenshots", 2 * 4 * 2 * previewScreens(Paths.brandToml, "da").size, shots)
    }

    private fun layOut(activity: MainActivity): View {
        shadowOf(android.os.Looper.getMainLooper()).idle()
        val root = activity.window.decorView
        val dm = activity.resources.displayMetrics
        root.measure(
            View.MeasureSpec.makeMeasureSpec(dm.widthPixels, View.MeasureSpec.EXACTLY),
            View.MeasureSpec.makeMeasureSpec(dm.heightPixels, View.MeasureSpec.EXACTLY),
        )
        root.layout(0, 0, dm.widthPixels, dm.heightPixels)
        return root
    }

    /** What is wrong with a drawn screen, if anything. */
    private fun check(ctx: Context, s: Screen, root: View, shot: android.graphics.Bitmap): List<String> {
        val out = mutableListOf<String>()
        val density = ctx.resources.displayMetrics.density
        val dp = { px: Int -> px / density }
        val width = root.width
        val landscapeCall = s.layout == Layout.CALL && root.width > root.height
        val twoAnswers = s.secondary != null && dp(root.height) < ScreenRenderer.LOW_DP
        root.findViewById<View>(R.id.screen_primary)?.let { b ->
            val share = b.width.toFloat() / width
            // In a call held sideways the picture takes the left half, the controls the right;
            // a question's two answers stand side by side on a low screen.
            val need = if (landscapeCall || twoAnswers) 0.35f else 0.5f
            if (share < need) out += "the main button is ${"%.0f".format(share * 100)} % of the width"
            if (dp(b.height) < 96) out += "the main button is ${dp(b.height)} dp tall"
        } ?: run { if (s.primary != null) out += "no main button" }
        // At normal text size both answers are in sight; at 200 % the page scrolls to them.
        if (twoAnswers && ctx.resources.configuration.fontScale <= 1.0f) {
            for (id in listOf(R.id.screen_primary, R.id.screen_secondary)) {
                val b = root.findViewById<View>(id) ?: continue
                val at = IntArray(2).also { b.getLocationInWindow(it) }
                if (at[1] + b.height > root.height) out += "an answer is below the screen's edge"
            }
        }
        for (v in descendants(root).filter { it.isShown }) {
            if (v.isClickable && (dp(v.width) < 48 || dp(v.height) < 48)) {
                out += "target ${name(v)} is ${dp(v.width)} x ${dp(v.height)} dp"
            }
            if (v is TextView) {
                val layout = v.layout ?: continue
                for (line in 0 until layout.lineCount) {
                    if (layout.getEllipsisCount(line) > 0) out += "\"${v.text}\" is shortened"
                }
                if (layout.height > v.height - v.compoundPaddingTop - v.compoundPaddingBottom + 1) {
                    out += "\"${v.text}\" is cut off (${layout.height} px of text in ${v.height} px)"
                }
            }
        }
        // The brand's colour is on the screen (buttons, keypad outlines).
        val brand = ctx.getColor(R.color.brand_primary)
        val px = IntArray(shot.width * shot.height)
        shot.getPixels(px, 0, shot.width, 0, 0, shot.width, shot.height)
        val share = px.count { it == brand }.toFloat() / px.size
        if (share < 0.001f) out += "the brand colour covers only ${"%.2f".format(share * 100)} %"
        // What the core noticed is on the screen, in its words.
        val notice = root.findViewById<TextView>(R.id.screen_notice)
        if (s.notice != null && (notice == null || !notice.isShown || notice.text.toString() != s.notice?.text)) {
            out += "the notice \"${s.notice?.text}\" is not shown"
        }
        if (s.notice == null && notice != null) out += "a notice the screen model does not have"
        if (s.showRemoteVideo) {
            val v = root.findViewById<RemoteVideoView>(R.id.remote_video)
            if (v == null || !v.isShown) out += "no remote video"
        }
        // Google's Accessibility Test Framework.
        for (check in AccessibilityCheckPresetAndroid.getViewChecksForPreset(AccessibilityCheckPreset.LATEST)) {
            for (r in check.runCheckOnViewHierarchy(root)) {
                if (r.type == AccessibilityCheckResultType.ERROR) {
                    out += "ATF ${check.javaClass.simpleName}: ${r.getMessage(java.util.Locale.ENGLISH)} (${r.view?.let(::name)})"
                }
            }
        }
        return out
    }

    private fun name(v: View): String = (v as? TextView)?.text?.toString()
        ?: v.contentDescription?.toString() ?: v.javaClass.simpleName

    /** A remote picture as the core delivers it (I420): colour bars. */
    private fun testPicture(): RemoteVideoFrame {
        val w = 320
        val h = 180
        val y = ByteArray(w * h) { i -> (60 + (i % w) * 150 / w).toByte() }
        val u = ByteArray(w * h / 4) { i -> (if ((i % (w / 2)) < w / 4) 90 else 170).toByte() }
        val v = ByteArray(w * h / 4) { 140.toByte() }
        return RemoteVideoFrame("caseworker", w.toUInt(), h.toUInt(), y + u + v)
    }

}
