package dk.samtale.core

import android.content.Context

/**
 * The core's one hand-written JNI entry point (bindings/src/android.rs): gives the core's TLS
 * certificate check (rustls-platform-verifier) the app's Context, so HTTPS and WSS use
 * Android's trust store. Call once before creating [Samtale].
 */
object SamtaleAndroid {
    init {
        System.loadLibrary("samtale_ffi")
    }

    @JvmStatic
    external fun initTls(context: Context)
}
