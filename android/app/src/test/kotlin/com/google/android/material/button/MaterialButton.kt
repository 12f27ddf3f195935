package com.google.android.material.button

import android.content.Context
import android.widget.Button

/**
 * Google's Accessibility Test Framework 3.1 refers to this class by name (a check for Material
 * buttons); the app uses no Material components, so an empty stand-in on the test class path
 * is enough (see ../shared/android-toolchain.md).
 */
open class MaterialButton(context: Context) : Button(context)
