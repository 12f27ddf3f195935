package dk.samtale.app

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import android.util.Log
import dk.samtale.core.SecureStore
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The core's secure storage (the remembered meeting's pairing token): AES-GCM with a key in the
 * Android Keystore that never leaves it; the ciphertext in private preferences (not backed up:
 * `allowBackup=false`).
 */
class KeystoreStore private constructor(context: Context, private val key: SecretKey) : SecureStore {
    private val prefs = context.getSharedPreferences("samtale-secure", Context.MODE_PRIVATE)

    override fun load(key: String): String? = try {
        prefs.getString(key, null)?.let { stored ->
            val bytes = Base64.decode(stored, Base64.NO_WRAP)
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, this.key, GCMParameterSpec(128, bytes, 0, IV))
            String(cipher.doFinal(bytes, IV, bytes.size - IV), Charsets.UTF_8)
        }
    } catch (e: Exception) {
        Log.w(CallController.TAG, "secure store: cannot read (${e.javaClass.simpleName})")
        null
    }

    override fun save(key: String, value: String): Boolean = try {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, this.key)
        val sealed = cipher.iv + cipher.doFinal(value.toByteArray(Charsets.UTF_8))
        prefs.edit().putString(key, Base64.encodeToString(sealed, Base64.NO_WRAP)).commit()
    } catch (e: Exception) {
        Log.w(CallController.TAG, "secure store: cannot write (${e.javaClass.simpleName})")
        false
    }

    override fun delete(key: String) {
        prefs.edit().remove(key).commit()
    }

    companion object {
        private const val ALIAS = "samtale-remembered-meeting"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val IV = 12

        /**
         * The Keystore-backed store, or `null` where there is no Android Keystore (a JVM test):
         * the core then keeps the token in a file in the app's private no-backup folder.
         */
        fun open(context: Context): KeystoreStore? = try {
            val ks = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
            val key = (ks.getKey(ALIAS, null) as? SecretKey) ?: KeyGenerator
                .getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
                .apply {
                    init(
                        KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                            .setKeySize(256)
                            .build(),
                    )
                }.generateKey()
            KeystoreStore(context, key)
        } catch (e: Exception) {
            Log.w(CallController.TAG, "secure store: no Android Keystore (${e.javaClass.simpleName}); a private file instead")
            null
        }
    }
}
