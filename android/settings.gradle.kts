// For Android Studio and Gradle users. CI builds this app without Gradle (no Android Gradle
// Plugin can be fetched there): scripts/build-android-app and scripts/test-android, with
// android/pom.xml for the Robolectric tests. Same sources, same layout. See README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
        // The core checks TLS certificates with Android's trust manager through
        // rustls-platform-verifier, whose small Kotlin component is an aar published from its
        // repository: add the Maven repository its README ("Gradle setup") describes, at the
        // version in ../Cargo.lock (rustls-platform-verifier-android).
    }
}

rootProject.name = "samtale"
include(":app")
