// The citizen's app, for Android Studio. Before the first build:
//   scripts/build-android                 the core for arm64-v8a, armeabi-v7a, x86_64 (NDK,
//                                         cargo-ndk) into src/main/jniLibs + the Kotlin bindings
//   cargo run -p samtale-brand -- build <brand> --android android/app/build/brand
// CI does the same without Gradle: scripts/build-android-app, scripts/test-android.
import java.util.Properties

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val brandOut = layout.projectDirectory.dir("build/brand")
val brand = Properties().apply {
    val f = brandOut.file("brand.properties").asFile
    check(f.exists()) {
        "No brand resources in $brandOut: run cargo run -p samtale-brand -- build <brand> --android android/app/build/brand"
    }
    f.inputStream().use { load(it) }
}

android {
    namespace = "dk.samtale.app"
    compileSdk = 35

    defaultConfig {
        applicationId = brand.getProperty("applicationId")
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        manifestPlaceholders["serverHost"] = java.net.URI(brand.getProperty("serverUrl")).host
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }

    sourceSets["main"].apply {
        java.srcDirs("src/main/kotlin", "../../bindings/generated/kotlin")
        res.srcDirs("src/main/res", brandOut.dir("res"))
        jniLibs.srcDirs("src/main/jniLibs")
    }
    sourceSets["test"].java.srcDirs("src/test/kotlin")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    testOptions { unitTests { isIncludeAndroidResources = true } }
}

dependencies {
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    testImplementation("junit:junit:4.13.2")
    testImplementation("org.robolectric:robolectric:4.17")
    testImplementation("com.google.android.apps.common.testing.accessibility.framework:accessibility-test-framework:3.1")
}
