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

    /** The citizen's choices as last shown (screens without the call's controls keep them). */
    private var micOn = true
    private var cameraOn = true

    fun follow(s: Screen) {
        val live = CallController.isLive(s.state)
        s.toggles.firstOrNull { it.id == "microphone" }?.let { micOn = it.on }
        s.toggles.firstOrNull { it.id == "camera" }?.let { cameraOn = it.on }
        if (!live) {
            micOn = true
            cameraOn = true
        }
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
            camera = CameraSource(app, calls.core, { selfView?.invoke(it) }, ::cameraLost).also { it.start() }
        } else if (!wantCamera && camera != null) {
            camera?.stop()
            camera = null
        }
    }

    /** The camera was taken away (another app, an error): let it go; the next screen or the
     * app's return to the front opens it again. Main thread. */
    private fun cameraLost(source: CameraSource) {
        if (camera === source) {
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
