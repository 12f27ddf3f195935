package dk.samtale.app

import android.content.Context
import android.graphics.ImageFormat
import android.hardware.camera2.CameraCaptureSession
import android.hardware.camera2.CameraCharacteristics
import android.hardware.camera2.CameraDevice
import android.hardware.camera2.CameraManager
import android.hardware.camera2.CaptureRequest
import android.media.Image
import android.media.ImageReader
import android.os.Handler
import android.os.HandlerThread
import android.util.Log
import android.util.Range
import android.view.Surface
import android.view.WindowManager
import dk.samtale.core.CameraFrame
import dk.samtale.core.Chroma
import dk.samtale.core.Rotation
import dk.samtale.core.Samtale
import java.nio.ByteBuffer

/** The citizen's own picture, small, for the self-view: ARGB, upright after [rotation]. */
class SelfFrame(val width: Int, val height: Int, val argb: IntArray, val rotationDegrees: Int)

/**
 * The front camera (Camera2) into the core: `YUV_420_888` frames as they are, with their
 * strides, and the rotation that makes them upright (sensor orientation and display rotation).
 * Runs on its own `samtale-camera` thread.
 */
class CameraSource(
    private val context: Context,
    private val core: Samtale,
    private val onSelf: (SelfFrame) -> Unit,
    /** Called on the main thread when the camera is gone (disconnected, an error). */
    private val onLost: (CameraSource) -> Unit = {},
) {
    private val main = Handler(android.os.Looper.getMainLooper())
    private val displays = context.getSystemService(android.hardware.display.DisplayManager::class.java)
    /** A turn by 180 degrees changes no configuration: the display itself says so. */
    private val displayListener = object : android.hardware.display.DisplayManager.DisplayListener {
        override fun onDisplayAdded(displayId: Int) {}
        override fun onDisplayRemoved(displayId: Int) {}
        override fun onDisplayChanged(displayId: Int) {
            displayDegrees = displayRotation()
        }
    }

    private fun lost() = main.post { onLost(this) }

    private val manager: CameraManager? = context.getSystemService(CameraManager::class.java)
    private val thread = HandlerThread("samtale-camera").apply { start() }
    private val handler = Handler(thread.looper)
    private var device: CameraDevice? = null
    private var session: CameraCaptureSession? = null
    private var reader: ImageReader? = null
    private var sensorOrientation = 0
    private var front = true

    @Volatile
    private var displayDegrees = displayRotation()

    fun start() {
        val manager = manager ?: return
        displays?.registerDisplayListener(displayListener, main)
        val id = try {
            frontCamera(manager)
        } catch (e: Exception) {
            Log.e(CallController.TAG, "camera: cannot list cameras (${e.javaClass.simpleName})")
            null
        } ?: return
        val r = ImageReader.newInstance(WIDTH, HEIGHT, ImageFormat.YUV_420_888, 3)
        r.setOnImageAvailableListener({ rd -> rd.acquireLatestImage()?.let { deliver(it) } }, handler)
        reader = r
        try {
            manager.openCamera(id, object : CameraDevice.StateCallback() {
                override fun onOpened(d: CameraDevice) {
                    device = d
                    startSession(d, r)
                }

                override fun onDisconnected(d: CameraDevice) {
                    Log.w(CallController.TAG, "camera: taken away")
                    d.close()
                    lost()
                }

                override fun onError(d: CameraDevice, error: Int) {
                    Log.e(CallController.TAG, "camera: error $error")
                    d.close()
                    lost()
                }
            }, handler)
        } catch (e: SecurityException) {
            Log.w(CallController.TAG, "camera: not allowed")
        } catch (e: Exception) {
            Log.e(CallController.TAG, "camera: cannot open (${e.javaClass.simpleName})")
        }
    }

    fun stop() {
        displays?.unregisterDisplayListener(displayListener)
        handler.post {
            try { session?.close() } catch (_: Exception) { }
            device?.close()
            reader?.close()
            session = null
            device = null
            reader = null
        }
        thread.quitSafely()
    }

    fun displayRotated() {
        displayDegrees = displayRotation()
    }

    private fun frontCamera(manager: CameraManager): String? {
        val ids = manager.cameraIdList
        val pick = ids.firstOrNull {
            manager.getCameraCharacteristics(it).get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_FRONT
        } ?: ids.firstOrNull()
        pick?.let {
            val c = manager.getCameraCharacteristics(it)
            sensorOrientation = c.get(CameraCharacteristics.SENSOR_ORIENTATION) ?: 0
            front = c.get(CameraCharacteristics.LENS_FACING) == CameraCharacteristics.LENS_FACING_FRONT
        }
        return pick
    }

    @Suppress("DEPRECATION") // createCaptureSession(List<Surface>, ...): API 21+, minSdk 26.
    private fun startSession(d: CameraDevice, r: ImageReader) {
        val callback = object : CameraCaptureSession.StateCallback() {
            override fun onConfigured(s: CameraCaptureSession) {
                session = s
                try {
                    val request = d.createCaptureRequest(CameraDevice.TEMPLATE_RECORD).apply {
                        addTarget(r.surface)
                        set(CaptureRequest.CONTROL_AE_TARGET_FPS_RANGE, Range(15, 30))
                    }
                    s.setRepeatingRequest(request.build(), null, handler)
                } catch (e: Exception) {
                    // CameraAccessException, IllegalStateException (closed meanwhile).
                    Log.e(CallController.TAG, "camera: cannot start (${e.javaClass.simpleName})")
                    lost()
                }
            }

            override fun onConfigureFailed(s: CameraCaptureSession) {
                Log.e(CallController.TAG, "camera: session not configured")
                lost()
            }
        }
        try {
            d.createCaptureSession(listOf(r.surface), callback, handler)
        } catch (e: Exception) {
            Log.e(CallController.TAG, "camera: no session (${e.javaClass.simpleName})")
            lost()
        }
    }

    /** One camera picture (the ImageReader's listener; a test passes its own images). */
    internal fun deliver(image: Image) {
        try {
            val degrees = rotationDegrees(sensorOrientation, displayDegrees, front)
            core.pushCameraFrame(cameraFrame(image, rotation(degrees)))
            onSelf(selfFrame(image, degrees))
        } catch (e: Exception) {
            Log.w(CallController.TAG, "camera: frame dropped (${e.javaClass.simpleName})")
        } finally {
            image.close()
        }
    }

    @Suppress("DEPRECATION") // Display.getRotation through WindowManager: API 1+.
    private fun displayRotation(): Int {
        val wm = context.getSystemService(WindowManager::class.java) ?: return 0
        return when (wm.defaultDisplay.rotation) {
            Surface.ROTATION_90 -> 90
            Surface.ROTATION_180 -> 180
            Surface.ROTATION_270 -> 270
            else -> 0
        }
    }

    companion object {
        const val WIDTH = 640
        const val HEIGHT = 480

        /**
         * Clockwise degrees that make a camera picture upright on this display (Android's
         * documented formula: a front camera's sensor turns with the display, a back one
         * against it).
         */
        fun rotationDegrees(sensorOrientation: Int, displayDegrees: Int, front: Boolean): Int =
            if (front) (sensorOrientation + displayDegrees) % 360 else (sensorOrientation - displayDegrees + 360) % 360

        fun rotation(degrees: Int): Rotation = when (degrees) {
            90 -> Rotation.CW90
            180 -> Rotation.CW180
            270 -> Rotation.CW270
            else -> Rotation.NONE
        }

        /** The core's frame for an image as it is: planes and strides copied, not converted. */
        fun cameraFrame(image: Image, rotation: Rotation): CameraFrame {
            val p = image.planes
            return CameraFrame(
                width = image.width.toUInt(),
                height = image.height.toUInt(),
                y = bytes(p[0].buffer),
                yRowStride = p[0].rowStride.toUInt(),
                chroma = Chroma.Planar(
                    u = bytes(p[1].buffer),
                    v = bytes(p[2].buffer),
                    rowStride = p[1].rowStride.toUInt(),
                    pixelStride = p[1].pixelStride.toUInt(),
                ),
                rotation = rotation,
            )
        }

        /** Half size, colour, for the self-view (one output pixel per chroma sample). */
        fun selfFrame(image: Image, degrees: Int): SelfFrame {
            val p = image.planes
            val w = image.width / 2
            val h = image.height / 2
            val y = p[0].buffer
            val u = p[1].buffer
            val v = p[2].buffer
            val out = IntArray(w * h)
            for (row in 0 until h) {
                for (col in 0 until w) {
                    val yy = y.get(2 * row * p[0].rowStride + 2 * col * p[0].pixelStride).toInt() and 0xff
                    val ci = row * p[1].rowStride + col * p[1].pixelStride
                    val uu = (u.get(ci).toInt() and 0xff) - 128
                    val vv = (v.get(row * p[2].rowStride + col * p[2].pixelStride).toInt() and 0xff) - 128
                    out[row * w + col] = Yuv.argb(yy, uu, vv)
                }
            }
            return SelfFrame(w, h, out, degrees)
        }

        private fun bytes(b: ByteBuffer): ByteArray {
            val d = b.duplicate()
            d.rewind()
            return ByteArray(d.remaining()).also { d.get(it) }
        }
    }
}
