package dk.samtale.app

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Matrix
import android.graphics.Paint
import android.view.View
import dk.samtale.core.RemoteVideoFrame
import java.util.concurrent.atomic.AtomicReference

/** BT.601 limited range to ARGB (a phone would do this on the GPU; see android/README.md). */
object Yuv {
    fun argb(y: Int, u: Int, v: Int): Int {
        val c = (y - 16).coerceAtLeast(0) * 1192
        val r = ((c + 1634 * v) shr 10).coerceIn(0, 255)
        val g = ((c - 833 * v - 400 * u) shr 10).coerceIn(0, 255)
        val b = ((c + 2066 * u) shr 10).coerceIn(0, 255)
        return (0xff shl 24) or (r shl 16) or (g shl 8) or b
    }

    /** A whole I420 picture to ARGB into [out] (at least width * height). */
    fun i420ToArgb(i420: ByteArray, width: Int, height: Int, out: IntArray) {
        val cw = (width + 1) / 2
        val uBase = width * height
        val vBase = uBase + cw * ((height + 1) / 2)
        for (row in 0 until height) {
            val crow = (row / 2) * cw
            for (col in 0 until width) {
                val y = i420[row * width + col].toInt() and 0xff
                val u = (i420[uBase + crow + col / 2].toInt() and 0xff) - 128
                val v = (i420[vBase + crow + col / 2].toInt() and 0xff) - 128
                out[row * width + col] = argb(y, u, v)
            }
        }
    }
}

/** Draws a picture fitted into the view, aspect kept, on black (letterboxed). */
abstract class PictureView(context: Context) : View(context) {
    private val paint = Paint(Paint.FILTER_BITMAP_FLAG)
    private val matrix = Matrix()
    private var bitmap: Bitmap? = null
    private var degrees = 0
    private var mirror = false

    /** Main thread. */
    protected fun show(argb: IntArray, width: Int, height: Int, rotationDegrees: Int, mirrored: Boolean) {
        val b = bitmap?.takeIf { it.width == width && it.height == height }
            ?: Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888).also { bitmap = it }
        b.setPixels(argb, 0, width, 0, 0, width, height)
        degrees = rotationDegrees
        mirror = mirrored
        invalidate()
    }

    /** Whether a picture has been drawn. */
    val hasPicture: Boolean get() = bitmap != null

    override fun onDraw(canvas: Canvas) {
        canvas.drawColor(Color.BLACK)
        val b = bitmap ?: return
        val turned = degrees % 180 != 0
        val bw = if (turned) b.height else b.width
        val bh = if (turned) b.width else b.height
        val scale = minOf(width.toFloat() / bw, height.toFloat() / bh)
        matrix.reset()
        matrix.postTranslate(-b.width / 2f, -b.height / 2f)
        matrix.postRotate(degrees.toFloat())
        if (mirror) matrix.postScale(-1f, 1f)
        matrix.postScale(scale, scale)
        matrix.postTranslate(width / 2f, height / 2f)
        canvas.drawBitmap(b, matrix, paint)
    }
}

/**
 * The other participant's video. Frames arrive on the core's `call-video` thread and are
 * converted there; the newest one is drawn (older ones are skipped if drawing falls behind).
 */
class RemoteVideoView(context: Context) : PictureView(context) {
    private class Converted(val argb: IntArray, val width: Int, val height: Int)

    private val pending = AtomicReference<Converted?>(null)
    /** A drawn frame's pixels, handed back for the next conversion (no garbage per frame). */
    private val spare = AtomicReference<IntArray?>(null)

    /** Any thread. */
    fun offer(frame: RemoteVideoFrame) {
        val w = frame.width.toInt()
        val h = frame.height.toInt()
        if (w <= 0 || h <= 0 || frame.i420.size < w * h * 3 / 2) return
        val out = spare.getAndSet(null)?.takeIf { it.size == w * h } ?: IntArray(w * h)
        Yuv.i420ToArgb(frame.i420, w, h, out)
        if (pending.getAndSet(Converted(out, w, h)) == null) {
            post {
                pending.getAndSet(null)?.let {
                    show(it.argb, it.width, it.height, 0, false)
                    spare.set(it.argb)
                }
            }
        }
    }
}

/** The citizen's own picture, mirrored as in a mirror; hidden until the camera gives one. */
class SelfView(context: Context) : PictureView(context) {
    private val pending = AtomicReference<SelfFrame?>(null)

    init {
        visibility = INVISIBLE
    }

    /** Any thread. */
    fun offer(f: SelfFrame) {
        if (pending.getAndSet(f) == null) {
            post {
                pending.getAndSet(null)?.let {
                    show(it.argb, it.width, it.height, it.rotationDegrees, true)
                    visibility = VISIBLE
                }
            }
        }
    }
}
