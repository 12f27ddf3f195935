package dk.samtale.app

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Service
import android.content.Intent
import android.content.pm.PackageManager
import android.content.pm.ServiceInfo
import android.os.Build
import android.os.IBinder
import android.Manifest

/**
 * Keeps a call alive with the screen off or the app in the background: a foreground service
 * with an ongoing notification (tap: back to the call). Started and stopped by
 * [CallController] as the call starts and ends; it owns nothing else.
 */
class CallService : Service() {
    override fun onBind(intent: Intent?): IBinder? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        val calls = Calls.get(this)
        val texts = calls.texts
        val nm = getSystemService(NotificationManager::class.java)
        nm?.createNotificationChannel(
            NotificationChannel(CHANNEL, texts.notificationChannel.text, NotificationManager.IMPORTANCE_LOW),
        )
        val open = PendingIntent.getActivity(
            this, 0,
            Intent(this, MainActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        val notification = Notification.Builder(this, CHANNEL)
            .setSmallIcon(R.mipmap.ic_launcher)
            .setContentTitle(texts.notificationTitle.text)
            .setContentText(texts.notificationBody.text)
            .setContentIntent(open)
            .setOngoing(true)
            .setCategory(Notification.CATEGORY_CALL)
            .build()
        try {
            if (Build.VERSION.SDK_INT >= 29) {
                startForeground(ID, notification, types())
            } else {
                startForeground(ID, notification)
            }
        } catch (e: RuntimeException) {
            // Not allowed now (the permission was taken back): the call goes on while the app
            // is in front.
            CallController.log("call service: not in the foreground (${e.javaClass.simpleName})")
        }
        running = this
        // The call ended before the service got here: it was in the foreground for a moment.
        if (!calls.live) stopSelf()
        return START_NOT_STICKY
    }

    override fun onDestroy() {
        if (running === this) running = null
        super.onDestroy()
    }

    /** The app was swiped away from the recent apps: the citizen closed it, so hang up. */
    override fun onTaskRemoved(rootIntent: Intent?) {
        Calls.get(this).core.leave()
        stopSelf()
        super.onTaskRemoved(rootIntent)
    }

    /** The service types the call needs and the app is allowed (API 34 checks both). */
    private fun types(): Int {
        var t = 0
        if (checkSelfPermission(Manifest.permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED) {
            t = t or ServiceInfo.FOREGROUND_SERVICE_TYPE_MICROPHONE
        }
        if (checkSelfPermission(Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            t = t or ServiceInfo.FOREGROUND_SERVICE_TYPE_CAMERA
        }
        return if (t == 0) ServiceInfo.FOREGROUND_SERVICE_TYPE_MICROPHONE else t
    }

    companion object {
        const val CHANNEL = "call"
        const val ID = 1

        /** The started service (main thread only). */
        private var running: CallService? = null

        /** Stops the service if it runs; if it is still starting, it stops itself once in the
         * foreground (it checks whether the call is still live). Main thread. */
        fun stopWhenStarted() {
            running?.stopSelf()
            running = null
        }
    }
}
