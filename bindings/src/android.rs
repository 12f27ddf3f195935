//! Android only: the one JNI entry point uniffi cannot provide. rustls-platform-verifier
//! checks certificates with Android's own trust manager, through the JVM, and panics on the
//! first TLS connection unless it was given the app's `Context` first. The shell calls, once,
//! before creating `Samtale`:
//!
//! ```kotlin
//! package dk.samtale.core
//! object SamtaleAndroid {
//!     init { System.loadLibrary("samtale_ffi") }
//!     @JvmStatic external fun initTls(context: android.content.Context)
//! }
//! // Application.onCreate(): SamtaleAndroid.initTls(applicationContext)
//! ```
//!
//! The app also needs the verifier's small Kotlin component (the `rustls-platform-verifier`
//! Maven artifact shipped inside that crate). Not compiled here: this machine has no Android
//! NDK target (see docs/bindings.md).

use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject};

/// `dk.samtale.core.SamtaleAndroid.initTls(Context)`. Idempotent; errors and panics become a
/// Java `RuntimeException`, never an abort.
// SAFETY: the JVM calls this symbol by its JNI name with a valid env pointer and local
// references; `EnvUnowned::with_env` catches panics so none unwinds into the JVM.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "system" fn Java_dk_samtale_core_SamtaleAndroid_initTls<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    context: JObject<'local>,
) {
    env.with_env(|env| -> Result<(), jni::errors::Error> {
        rustls_platform_verifier::android::init_with_env(env, context)
    })
    .resolve::<ThrowRuntimeExAndDefault>();
}
