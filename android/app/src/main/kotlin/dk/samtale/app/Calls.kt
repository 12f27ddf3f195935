package dk.samtale.app

import android.Manifest
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import android.os.Handler
import android.os.Looper
import android.util.Log
import dk.samtale.core.ActionKind
import dk.samtale.core.AppConfig
import dk.samtale.core.CallObserver
import dk.samtale.core.LogLevel
import dk.samtale.core.Permission
import dk.samtale.core.RemoteVideoFrame
import dk.samtale.core.Samtale
import dk.samtale.core.Screen
import dk.samtale.core.ShellTexts
import dk.samtale.core.UiState
import java.util.Locale
import java.util.concurrent.CopyOnWriteArrayList

/** The app's one core, shared by the activity and the call's foreground service. */
object Calls {
    /**
     * The server, when not the brand's (the emulator's lab, tests). Set before the first
     * [get]; `null` in the app, which uses the brand's `server_url`.
     */
    @Volatile
    var serverUrlOverride: String? = null

    private var instance: CallController? = null

    fun get(context: Context): CallController = synchronized(this) {
        instance ?: CallController(context.applicationContext).also { instance = it }
    }

    /** Shuts the core down and forgets it (tests; the process ending does the same). */
    fun reset() = synchronized(this) {
        instance?.close()
        instance = null
    }
}

/**
 * Wires the core to the phone: screens to the main thread, the devices to the call's state.
 * No call logic: what to show and what a button does is the core's (`Screen`, `act`).
 */
class CallController(private val app: Context) : CallObserver {
    private val main = Handler(Looper.getMainLooper())
    private val listeners = CopyOnWriteArrayList<(Screen) -> Unit>()
    private val prefs = app.getSharedPreferences("samtale", Context.MODE_PRIVATE)

    val core: Samtale
    val texts: ShellTexts

    /** The screen drawn now (main thread). */
    var screen: Screen
        private set

    /** Remote pictures, on the core's `call-video` thread (the view converts them there). */
    @Volatile
    var remoteVideo: ((RemoteVideoFrame) -> Unit)? = null

    val devices = CallDevices(app, this)
    private val network = NetworkWatcher(app) { core.networkChanged() }

    init {
        val res = app.resources
        val brandToml = res.openRawResource(R.raw.brand).bufferedReader().use { it.readText() }
        val config = AppConfig(
            serverUrl = Calls.serverUrlOverride ?: res.getString(R.string.brand_server_url),
            brandId = res.getString(R.string.brand_id),
            storageDir = app.noBackupFilesDir.path,
            logLevel = LogLevel.INFO,
            brandToml = brandToml,
            language = currentLanguage(app),
            extraCaPem = null,
        )
        core = Samtale(config, this, KeystoreStore.open(app))
        texts = core.shellTexts()
        screen = core.currentScreen()
        reportPermissions()
        network.start()
    }

    override fun onScreen(screen: Screen) {
        main.post { deliver(screen) }
    }

    override fun onRemoteVideo(frame: RemoteVideoFrame) {
        remoteVideo?.invoke(frame)
    }

    private fun deliver(s: Screen) {
        screen = s
        devices.follow(s)
        val live = isLive(s.state)
        if (live != serviceRunning) {
            serviceRunning = live
            if (live) {
                try {
                    val intent = Intent(app, CallService::class.java)
                    if (Build.VERSION.SDK_INT >= 26) app.startForegroundService(intent) else app.startService(intent)
                } catch (e: RuntimeException) {
                    // Not allowed from the background (API 31+): the call goes on while in front.
                    log("call service: not started (${e.javaClass.simpleName})")
                }
            } else {
                // The service stops itself once it is in the foreground (stopping it before
                // that would break the platform's promise for startForegroundService).
                CallService.stopWhenStarted()
            }
        }
        if (live && cameraWanted && granted(Manifest.permission.CAMERA)) {
            cameraWanted = false
            core.setCameraEnabled(true)
        }
        for (l in listeners) l(s)
    }

    private var serviceRunning = false

    /** The citizen pressed "camera on" and was asked for the permission: turn it on if given. */
    private var cameraWanted = false

    /** Started activities: the app is in front while one is. */
    private var started = 0

    /** An activity started (`true`) or stopped: the core learns whether the app is in front. */
    fun activityStarted(start: Boolean) {
        started = (started + if (start) 1 else -1).coerceAtLeast(0)
        core.setAppVisible(started > 0)
        if (start) devices.follow(screen)
    }

    /** Whether a call is being made or held now (the service asks after it started). */
    val live: Boolean get() = isLive(screen.state)

    /** Calls [l] with the current screen now and with every change (main thread). */
    fun observe(l: (Screen) -> Unit): AutoCloseable {
        listeners.add(l)
        l(screen)
        return AutoCloseable { listeners.remove(l) }
    }

    /** A screen's button: the core's, except what only the phone can do. */
    fun act(kind: ActionKind, activity: MainActivity?) {
        when (kind) {
            ActionKind.CALL_HELP -> activity?.dial(screen.help.dial)
            ActionKind.ASK_PERMISSIONS -> activity?.askPermissions()
            ActionKind.OPEN_SETTINGS -> activity?.openAppSettings()
            else -> core.act(kind)
        }
    }

    /** A toggle during the call. */
    fun toggle(id: String, on: Boolean, activity: MainActivity?) {
        when (id) {
            "microphone" -> core.setMicrophoneMuted(on)
            "camera" -> when {
                on || granted(Manifest.permission.CAMERA) -> core.setCameraEnabled(!on)
                // Refused before: only the settings can change it.
                permission(Manifest.permission.CAMERA) == Permission.DENIED -> activity?.openAppSettings()
                else -> {
                    cameraWanted = true
                    activity?.askPermissions()
                }
            }
        }
    }

    /** Tells the core what the phone allows now (start, after the dialog, on return). */
    fun reportPermissions() {
        core.setPermissions(permission(Manifest.permission.RECORD_AUDIO), permission(Manifest.permission.CAMERA))
    }

    /** After the system dialog: a refusal is remembered as refused (no asking every call);
     * a grant forgets an earlier refusal, so a grant that lapses later (one-time, auto-reset)
     * is asked for again rather than sent to the settings. */
    fun permissionsAnswered(asked: Array<out String>, results: IntArray) {
        prefs.edit().apply {
            for ((i, p) in asked.withIndex()) {
                putBoolean("denied:$p", results.getOrNull(i) != PackageManager.PERMISSION_GRANTED)
            }
        }.apply()
        if (!granted(Manifest.permission.CAMERA)) cameraWanted = false
        reportPermissions()
        deliver(screen)
    }

    fun granted(p: String) = app.checkSelfPermission(p) == PackageManager.PERMISSION_GRANTED

    private fun permission(p: String): Permission = when {
        granted(p) -> Permission.GRANTED
        prefs.getBoolean("denied:$p", false) -> Permission.DENIED
        else -> Permission.NOT_ASKED
    }

    fun close() {
        network.stop()
        devices.stopAll()
        main.removeCallbacksAndMessages(null)
        listeners.clear()
        if (serviceRunning) CallService.stopWhenStarted()
        core.shutdown()
        core.close()
    }

    companion object {
        const val TAG = "Samtale"

        /** A call is being made or held: devices on, the service keeps it alive. */
        fun isLive(s: UiState) = when (s) {
            is UiState.Joining, is UiState.Waiting, is UiState.InCall, is UiState.Reconnecting -> true
            else -> false
        }

        /** `da` or `en` from the phone's language; the core falls back to the brand's. */
        fun currentLanguage(context: Context): String? {
            val locale: Locale = context.resources.configuration.locales[0]
            return locale.language.takeIf { it == "da" || it == "en" }
        }

        fun log(msg: String) = Log.i(TAG, msg)
    }
}
