package dk.samtale.app

import android.content.Context
import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network

/**
 * The phone's default network: when it changes (Wi-Fi to mobile data, a new address), [changed]
 * runs so that the core restarts its network at once instead of waiting for time-outs.
 * The first network seen at start is not a change.
 */
class NetworkWatcher(context: Context, private val changed: () -> Unit) {
    private val cm = context.getSystemService(ConnectivityManager::class.java)
    private var current: Network? = null
    private var addresses: List<String> = emptyList()
    private var registered = false

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) {
            val was = synchronized(this@NetworkWatcher) {
                // A new network's addresses are not a second change.
                if (current != network) addresses = emptyList()
                current.also { current = network }
            }
            if (was != null && was != network) changed()
        }

        override fun onLinkPropertiesChanged(network: Network, lp: LinkProperties) {
            val now = lp.linkAddresses.map { it.address.hostAddress ?: "" }.sorted()
            val before = synchronized(this@NetworkWatcher) { addresses.also { addresses = now } }
            if (before.isNotEmpty() && before != now && network == current) changed()
        }
    }

    fun start() {
        if (cm == null || registered) return
        try {
            cm.registerDefaultNetworkCallback(callback)
            registered = true
        } catch (e: RuntimeException) {
            CallController.log("network: no callbacks (${e.javaClass.simpleName})")
        }
    }

    fun stop() {
        if (registered) cm?.unregisterNetworkCallback(callback)
        registered = false
    }
}
