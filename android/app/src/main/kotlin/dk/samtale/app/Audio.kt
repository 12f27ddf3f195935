package dk.samtale.app

import android.content.Context
import android.media.AudioAttributes
import android.media.AudioDeviceCallback
import android.media.AudioDeviceInfo
import android.media.AudioFormat
import android.media.AudioManager
import android.media.AudioRecord
import android.media.AudioTrack
import android.media.MediaRecorder
import android.media.audiofx.AcousticEchoCanceler
import android.media.audiofx.NoiseSuppressor
import android.os.Build
import android.os.Handler
import android.os.Looper
import android.util.Log
import dk.samtale.core.Samtale

/** 48 kHz mono, 10 ms = 480 samples: what the core's push/pull audio take. */
const val SAMPLE_RATE = 48_000
const val FRAME = 480

/**
 * A guard for audio loops whose device call returned faster than real time (a device that does
 * not block, as in a JVM test): never more than 200 ms ahead of the clock. On a phone the
 * device's blocking read or write paces the loop and this never waits.
 */
class Pace {
    private val start = System.nanoTime()
    private var frames = 0L

    fun frame() {
        frames++
        val aheadMs = frames * 10 - (System.nanoTime() - start) / 1_000_000
        if (aheadMs > 200) Thread.sleep(aheadMs - 100)
    }
}

/** A device loop on a thread of its own, running from [start] until [stop]. */
abstract class AudioLoop(private val name: String) {
    @Volatile
    protected var running = false
        private set
    private var thread: Thread? = null

    fun start() {
        running = true
        thread = Thread(::run, name).apply { start() }
    }

    /** Waits up to a second for the device to be released. */
    fun stop() {
        running = false
        thread?.join(1000)
        thread = null
    }

    protected abstract fun run()
}

/**
 * The microphone: `VOICE_COMMUNICATION` (the platform's voice path) with the platform's echo
 * canceller and noise suppressor when the phone has them, 10 ms at a time into the core on a
 * thread of its own (`samtale-mic`). `AudioRecord.read` blocks for the next 10 ms: that is the
 * pace.
 */
class Microphone(private val core: Samtale) : AudioLoop("samtale-mic") {
    override fun run() {
        val min = AudioRecord.getMinBufferSize(SAMPLE_RATE, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT)
        val record = try {
            AudioRecord(
                MediaRecorder.AudioSource.VOICE_COMMUNICATION, SAMPLE_RATE,
                AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT, maxOf(min, FRAME * 2 * 4),
            )
        } catch (e: RuntimeException) {
            Log.e(CallController.TAG, "microphone: cannot open (${e.javaClass.simpleName})")
            return
        }
        if (record.state != AudioRecord.STATE_INITIALIZED) {
            Log.e(CallController.TAG, "microphone: not initialised")
            record.release()
            return
        }
        val aec = if (AcousticEchoCanceler.isAvailable()) AcousticEchoCanceler.create(record.audioSessionId) else null
        aec?.enabled = true
        val ns = if (NoiseSuppressor.isAvailable()) NoiseSuppressor.create(record.audioSessionId) else null
        ns?.enabled = true
        val buf = ShortArray(FRAME)
        val samples = buf.asList()
        val pace = Pace()
        try {
            record.startRecording()
            while (running) {
                pace.frame()
                val n = record.read(buf, 0, FRAME)
                when {
                    n == FRAME -> core.pushAudio(samples)
                    n > 0 -> core.pushAudio(samples.subList(0, n))
                    n < 0 -> {
                        Log.e(CallController.TAG, "microphone: read failed ($n)")
                        break
                    }
                }
            }
        } finally {
            try { record.stop() } catch (_: IllegalStateException) { }
            record.release()
            aec?.release()
            ns?.release()
        }
    }
}

/**
 * The speaker: `AudioTrack` with voice-communication usage, fed 10 ms at a time from the core
 * (`pull_audio`) on `samtale-speaker`; a blocking `write` paces it.
 */
class Speaker(private val core: Samtale) : AudioLoop("samtale-speaker") {
    override fun run() {
        val track = try {
            val min = AudioTrack.getMinBufferSize(SAMPLE_RATE, AudioFormat.CHANNEL_OUT_MONO, AudioFormat.ENCODING_PCM_16BIT)
            AudioTrack.Builder()
                .setAudioAttributes(
                    AudioAttributes.Builder()
                        .setUsage(AudioAttributes.USAGE_VOICE_COMMUNICATION)
                        .setContentType(AudioAttributes.CONTENT_TYPE_SPEECH)
                        .build(),
                )
                .setAudioFormat(
                    AudioFormat.Builder()
                        .setSampleRate(SAMPLE_RATE)
                        .setChannelMask(AudioFormat.CHANNEL_OUT_MONO)
                        .setEncoding(AudioFormat.ENCODING_PCM_16BIT)
                        .build(),
                )
                .setTransferMode(AudioTrack.MODE_STREAM)
                .setBufferSizeInBytes(maxOf(min, FRAME * 2 * 4))
                .build()
        } catch (e: Throwable) {
            // Robolectric's SDK 35 AudioTrack cannot be built (android-toolchain.md); a phone
            // that cannot is broken: say so in the log, keep the call (the picture still works).
            Log.e(CallController.TAG, "speaker: cannot open (${e.javaClass.simpleName})", e)
            return
        }
        // Little-endian 16-bit bytes (write(byte[]) exists at every API level).
        val buf = ByteArray(FRAME * 2)
        val pace = Pace()
        try {
            track.play()
            while (running) {
                val pcm = core.pullAudio()
                for (i in 0 until minOf(FRAME, pcm.size)) {
                    val v = pcm[i].toInt()
                    buf[2 * i] = v.toByte()
                    buf[2 * i + 1] = (v shr 8).toByte()
                }
                if (track.write(buf, 0, buf.size) < 0) break
                pace.frame()
            }
        } finally {
            try { track.stop() } catch (_: IllegalStateException) { }
            track.release()
        }
    }
}

/** Which output a call uses: a headset when one is there (Bluetooth first), else the speaker. */
object Routes {
    private val bluetooth = setOf(AudioDeviceInfo.TYPE_BLUETOOTH_SCO, 26 /* TYPE_BLE_HEADSET, API 31 */)
    private val wired = setOf(
        AudioDeviceInfo.TYPE_WIRED_HEADSET, AudioDeviceInfo.TYPE_WIRED_HEADPHONES, AudioDeviceInfo.TYPE_USB_HEADSET,
    )

    /** The device type to use among [available] (`AudioDeviceInfo.TYPE_*`). */
    fun choose(available: List<Int>): Int? =
        available.firstOrNull { it in bluetooth }
            ?: available.firstOrNull { it in wired }
            ?: available.firstOrNull { it == AudioDeviceInfo.TYPE_BUILTIN_SPEAKER }
}

/**
 * The call's audio route: communication mode, speaker by default (the phone lies on the table),
 * a wired or Bluetooth headset when one is connected, re-chosen when devices come and go.
 */
class AudioRoute(context: Context) {
    private val am = context.getSystemService(AudioManager::class.java)
    private val handler = Handler(Looper.getMainLooper())
    private var active = false
    private val callback = object : AudioDeviceCallback() {
        override fun onAudioDevicesAdded(added: Array<out AudioDeviceInfo>?) = choose()
        override fun onAudioDevicesRemoved(removed: Array<out AudioDeviceInfo>?) = choose()
    }

    fun start() {
        if (am == null || active) return
        active = true
        am.mode = AudioManager.MODE_IN_COMMUNICATION
        am.registerAudioDeviceCallback(callback, handler)
        choose()
    }

    fun stop() {
        if (am == null || !active) return
        active = false
        am.unregisterAudioDeviceCallback(callback)
        if (Build.VERSION.SDK_INT >= 31) {
            am.clearCommunicationDevice()
        } else {
            @Suppress("DEPRECATION")
            am.isSpeakerphoneOn = false
            @Suppress("DEPRECATION")
            am.stopBluetoothSco()
        }
        am.mode = AudioManager.MODE_NORMAL
    }

    private fun choose() {
        if (am == null || !active) return
        if (Build.VERSION.SDK_INT >= 31) {
            val devices = am.availableCommunicationDevices
            val type = Routes.choose(devices.map { it.type }) ?: return
            devices.firstOrNull { it.type == type }?.let { am.setCommunicationDevice(it) }
        } else {
            val outputs = am.getDevices(AudioManager.GET_DEVICES_OUTPUTS).map { it.type }
            val type = Routes.choose(outputs)
            @Suppress("DEPRECATION")
            when (type) {
                AudioDeviceInfo.TYPE_BLUETOOTH_SCO -> {
                    am.isSpeakerphoneOn = false
                    am.startBluetoothSco()
                    am.isBluetoothScoOn = true
                }
                AudioDeviceInfo.TYPE_BUILTIN_SPEAKER, null -> am.isSpeakerphoneOn = true
                else -> am.isSpeakerphoneOn = false
            }
        }
    }
}
