package dk.samtale.app

import android.Manifest
import android.app.Activity
import android.content.ActivityNotFoundException
import android.content.Intent
import android.content.res.Configuration
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.provider.Settings
import android.view.WindowManager
import android.window.OnBackInvokedCallback
import android.window.OnBackInvokedDispatcher
import dk.samtale.core.Action
import dk.samtale.core.Layout
import dk.samtale.core.Screen

/**
 * The one activity: draws the core's screens and passes the citizen's presses back. Back never
 * hangs up silently (the core asks, `Samtale.back()`); home or the power button leave the call
 * running in [CallService].
 */
class MainActivity : Activity(), ScreenActions {
    lateinit var calls: CallController
        private set
    lateinit var renderer: ScreenRenderer
        private set
    private var observing: AutoCloseable? = null
    private var backCallback: OnBackInvokedCallback? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        calls = Calls.get(this)
        renderer = ScreenRenderer(this, calls.texts, this)
        setContentView(renderer.root)
        calls.remoteVideo = renderer.remoteVideo::offer
        calls.devices.selfView = renderer.selfView::offer
        observing = calls.observe(::show)
        if (Build.VERSION.SDK_INT >= 33) {
            val cb = OnBackInvokedCallback { if (!calls.core.back()) finish() }
            onBackInvokedDispatcher.registerOnBackInvokedCallback(OnBackInvokedDispatcher.PRIORITY_DEFAULT, cb)
            backCallback = cb
        }
        // A link opens the code once: not again when the activity is recreated, nor when the
        // app is reopened from the recent apps (the old intent comes back then).
        val fromHistory = intent.flags and Intent.FLAG_ACTIVITY_LAUNCHED_FROM_HISTORY != 0
        if (savedInstanceState == null && !fromHistory) openLink(intent)
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        openLink(intent)
    }

    override fun onStart() {
        super.onStart()
        // In front: the core asks whether the contact person is in the room (home screen).
        calls.activityStarted(true)
    }

    override fun onStop() {
        calls.activityStarted(false)
        super.onStop()
    }

    override fun onResume() {
        super.onResume()
        // The citizen may have changed the permissions in the settings meanwhile.
        calls.reportPermissions()
    }

    override fun onDestroy() {
        observing?.close()
        observing = null
        // A newer instance may have taken over already: clear only what is still ours.
        if (calls.remoteVideo == renderer.remoteVideo::offer) calls.remoteVideo = null
        if (calls.devices.selfView == renderer.selfView::offer) calls.devices.selfView = null
        backCallback?.let { onBackInvokedDispatcher.unregisterOnBackInvokedCallback(it) }
        super.onDestroy()
    }

    override fun onConfigurationChanged(newConfig: Configuration) {
        super.onConfigurationChanged(newConfig)
        calls.devices.displayRotated()
        renderer.render(calls.screen, newConfig)
    }

    @Deprecated("Before API 33; from 33 the OnBackInvokedCallback above")
    override fun onBackPressed() {
        if (!calls.core.back()) {
            @Suppress("DEPRECATION")
            super.onBackPressed()
        }
    }

    private fun show(s: Screen) {
        renderer.render(s, resources.configuration)
        // The screen stays on while a call is being made or held.
        if (CallController.isLive(s.state) || s.layout == Layout.CALL) {
            window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        } else {
            window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        }
    }

    private fun openLink(intent: Intent?) {
        val data = intent?.data ?: return
        if (intent.action == Intent.ACTION_VIEW) calls.core.openLink(data.toString())
    }

    // --- ScreenActions ----------------------------------------------------------------------

    override fun act(action: Action) = calls.act(action.kind, this)
    override fun toggle(id: String, on: Boolean) = calls.toggle(id, on, this)
    override fun digit(d: Int) = calls.core.pressDigit(d.toUByte())
    override fun deleteDigit() = calls.core.deleteDigit()

    // --- What only the phone can do ---------------------------------------------------------

    /** The system dialog for the microphone and the camera (the screen before explained why). */
    fun askPermissions() {
        requestPermissions(PERMISSIONS, REQUEST_PERMISSIONS)
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode != REQUEST_PERMISSIONS) return
        // An empty answer: the dialog was dismissed; nothing was refused.
        if (permissions.isNotEmpty()) calls.permissionsAnswered(permissions, grantResults) else calls.reportPermissions()
    }

    /** The app's page in the phone's settings (to allow the microphone). */
    fun openAppSettings() {
        val intent = Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null))
        try {
            startActivity(intent)
        } catch (e: ActivityNotFoundException) {
            startActivity(Intent(Settings.ACTION_SETTINGS))
        }
    }

    /** The help line in the phone's dialler (the citizen presses call there). */
    fun dial(number: String) {
        try {
            startActivity(Intent(Intent.ACTION_DIAL, Uri.fromParts("tel", number, null)))
        } catch (e: ActivityNotFoundException) {
            CallController.log("no dialler on this device")
        }
    }

    companion object {
        const val REQUEST_PERMISSIONS = 1
        val PERMISSIONS = arrayOf(Manifest.permission.RECORD_AUDIO, Manifest.permission.CAMERA)
    }
}
