package dk.samtale.app

import android.Manifest
import android.content.Context
import dk.samtale.core.Screen

/**
 * The phone's microphone, speaker and camera, switched on and off as the screen says: on while
 * a call is being made or held (microphone and camera also only when allowed and not switched
 * off by the citizen), off otherwise.
 */
class CallDevices(private val app: Context, private val calls: CallController) {
    private val route = AudioRoute(app)
    private var microphone: Microphone? = null
    private var speaker: Speaker? = null
    /** The running camera, if any (tests give it pictures: Robolectric's camera makes none). */
    internal var camera: CameraSource? = null
        private set

    /** Receives the citizen's own picture (the self-view), on the camera thread. */
    @Volatile
    var selfView: ((SelfFrame) -> Unit)? = null

    fun follow(s: Screen) {
        val live = CallController.isLive(s.state)
        val micOn = s.toggles.firstOrNull { it.id == "microphone" }?.on ?: true
        val cameraOn = s.toggles.firstOrNull { it.id == "camera" }?.on ?: true
        val wantMic = live && micOn && calls.granted(Manifest.permission.RECORD_AUDIO)
        val wantCamera = live && cameraOn && calls.granted(Manifest.permission.CAMERA)
        if (live && speaker == null) {
            route.start()
            speaker = Speaker(calls.core).also { it.start() }
        } else if (!live && speaker != null) {
            speaker?.stop()
            speaker = null
            route.stop()
        }
        if (wantMic && microphone == null) {
            microphone = Microphone(calls.core).also { it.start() }
        } else if (!wantMic && microphone != null) {
            microphone?.stop()
            microphone = null
        }
        if (wantCamera && camera == null) {
            camera = CameraSource(app, calls.core) { selfView?.invoke(it) }.also { it.start() }
        } else if (!wantCamera && camera != null) {
            camera?.stop()
            camera = null
        }
    }

    /** The display turned: the camera's pictures turn with it. */
    fun displayRotated() {
        camera?.displayRotated()
    }

    fun stopAll() {
        microphone?.stop()
        speaker?.stop()
        camera?.stop()
        if (speaker != null) route.stop()
        microphone = null
        speaker = null
        camera = null
    }
}
