package dk.samtale.app

import android.app.Application
import android.util.Log

/** Start-up: the core's Android TLS init, before anything talks to the server. */
class SamtaleApplication : Application() {
    override fun onCreate() {
        super.onCreate()
        initTls(this)
    }

    companion object {
        private const val TAG = "Samtale"

        /**
         * Gives the core the app's Context for certificate checks. On a phone the native
         * library holds the JNI symbol; where it is missing (a JVM test loading the host
         * library through JNA, or an APK built without the core) HTTPS cannot be checked with
         * Android's trust store and the core reports a server problem on the first call.
         */
        fun initTls(app: Application) {
            try {
                dk.samtale.core.SamtaleAndroid.initTls(app)
            } catch (e: LinkageError) {
                // UnsatisfiedLinkError the first time, NoClassDefFoundError after that.
                Log.w(TAG, "the core's Android TLS init is not available in this build")
            } catch (e: RuntimeException) {
                Log.e(TAG, "the core's Android TLS init failed: ${e.javaClass.simpleName}")
            }
        }
    }
}
