package dk.samtale.app

import android.bluetooth.BluetoothDevice
import org.robolectric.annotation.Implements

/**
 * Robolectric 4.17's own BluetoothDevice shadow names a class SDK 35 does not have
 * (`BluetoothDevice$BluetoothAddress`), so initialising BluetoothDevice fails — and AudioTrack's
 * constructor initialises it (PlayerBase's service proxy). This empty shadow replaces that one
 * for the tests that play sound; nothing here uses Bluetooth devices.
 */
@Implements(BluetoothDevice::class)
class NoBluetoothDeviceShadow
