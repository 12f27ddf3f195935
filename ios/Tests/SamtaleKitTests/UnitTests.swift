import Foundation
import SamtaleCore
import XCTest
@testable import SamtaleKit

final class PermissionTests: XCTestCase {
    func testAccessToCorePermission() {
        XCTAssertEqual(DeviceAccess.authorized.permission, .granted)
        XCTAssertEqual(DeviceAccess.notDetermined.permission, .notAsked)
        XCTAssertEqual(DeviceAccess.denied.permission, .denied)
        XCTAssertEqual(DeviceAccess.restricted.permission, .denied)
    }

    func testCameraToggle() {
        XCTAssertEqual(CameraToggle.decide(isOn: true, access: .authorized), .setEnabled(false))
        XCTAssertEqual(CameraToggle.decide(isOn: true, access: .denied), .setEnabled(false), "turning off always works")
        XCTAssertEqual(CameraToggle.decide(isOn: false, access: .authorized), .setEnabled(true))
        XCTAssertEqual(CameraToggle.decide(isOn: false, access: .notDetermined), .ask)
        XCTAssertEqual(CameraToggle.decide(isOn: false, access: .denied), .openSettings)
        XCTAssertEqual(CameraToggle.decide(isOn: false, access: .restricted), .openSettings)
    }
}

final class DeviceTests: XCTestCase {
    private func screen(_ id: String, _ state: UiState, mic: Bool? = nil, cam: Bool? = nil) -> Screen {
        let t = Text(id: "x", text: "x")
        var toggles: [Toggle] = []
        if let m = mic { toggles.append(Toggle(id: "microphone", label: t, on: m)) }
        if let c = cam { toggles.append(Toggle(id: "camera", label: t, on: c)) }
        return Screen(id: id, state: state, lang: "da", layout: .call, pictogram: nil, headline: t, body: t,
                      notice: nil, primary: nil, secondary: nil, toggles: toggles, code: nil,
                      help: Help(title: t, call: t, hours: t, dial: "", url: nil), announce: "x",
                      showRemoteVideo: true, showSelfView: true, lit: false)
    }

    func testDevicesFollowTheCallAndTheCitizensChoices() {
        var f = DeviceFollower()
        XCTAssertEqual(f.plan(screen("code-entry", .idle), microphone: .authorized, camera: .authorized), DevicePlan())
        XCTAssertEqual(f.plan(screen("joining", .joining), microphone: .authorized, camera: .authorized),
                       DevicePlan(audio: true, microphone: true, camera: true))
        XCTAssertEqual(f.plan(screen("in-call", .inCall, mic: false, cam: true), microphone: .authorized, camera: .authorized),
                       DevicePlan(audio: true, microphone: false, camera: true), "muted: the microphone is off")
        // A question over the call has no toggles: the choices are kept.
        XCTAssertEqual(f.plan(screen("confirm-leave", .inCall), microphone: .authorized, camera: .authorized),
                       DevicePlan(audio: true, microphone: false, camera: true))
        XCTAssertEqual(f.plan(screen("in-call", .inCall, mic: true, cam: false), microphone: .authorized, camera: .authorized),
                       DevicePlan(audio: true, microphone: true, camera: false))
        XCTAssertEqual(f.plan(screen("in-call", .inCall, mic: true, cam: true), microphone: .authorized, camera: .denied),
                       DevicePlan(audio: true, microphone: true, camera: false), "not allowed: not opened")
        XCTAssertEqual(f.plan(screen("ended", .ended(reason: .youLeft)), microphone: .authorized, camera: .authorized), DevicePlan())
        XCTAssertEqual(f.plan(screen("joining", .joining), microphone: .authorized, camera: .authorized),
                       DevicePlan(audio: true, microphone: true, camera: true), "a new call starts with both on")
    }

    func testTheAudioAndCameraPlansMatchTheCoresContract() {
        XCTAssertEqual(AudioFormat.frame, Int(AudioFormat.sampleRate * AudioFormat.ioBufferDuration), "10 ms at 48 kHz")
        XCTAssertEqual(AudioSessionPlan.call.mode, .videoChat)
        XCTAssertTrue(AudioSessionPlan.call.voiceProcessing)
        XCTAssertTrue(AudioSessionPlan.call.options.contains(.defaultToSpeaker))
        XCTAssertEqual(CameraPlan.call.position, .front)
        XCTAssertEqual(CameraPlan.call.fourCC, "420f")
    }

    func testCameraRotation() {
        XCTAssertEqual(cameraRotation(degrees: 0), Rotation.none)
        XCTAssertEqual(cameraRotation(degrees: 90), .cw90)
        XCTAssertEqual(cameraRotation(degrees: 180), .cw180)
        XCTAssertEqual(cameraRotation(degrees: 270), .cw270)
        XCTAssertEqual(cameraRotation(degrees: 360), Rotation.none)
        XCTAssertEqual(cameraRotation(degrees: -90), .cw270)
        XCTAssertEqual(cameraRotation(degrees: 100), .cw90, "while turning: the nearest quarter")
        XCTAssertEqual(cameraRotation(degrees: .nan), Rotation.none)
    }
}

final class AudioRingTests: XCTestCase {
    func testWrapsDropsWhenFullAndGivesSilenceWhenEmpty() {
        let ring = AudioRing(capacity: 8)
        XCTAssertEqual(ring.write(pcm: [16384, -16384, 0, 8192, 1, 2]), 6)
        var out = [Float](repeating: 9, count: 4)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ring.read(into: $0) }, 4)
        XCTAssertEqual(out, [0.5, -0.5, 0, 0.25])
        // Across the end of the storage.
        XCTAssertEqual(ring.write(pcm: [3, 4, 5, 6, 7, 8]), 6)
        XCTAssertEqual(ring.available, 8)
        XCTAssertEqual(ring.write(pcm: [9, 9]), 0, "full: the writer does not overtake")
        XCTAssertEqual(ring.dropped, 2)
        XCTAssertEqual(ring.readPCM(count: 8), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertNil(ring.readPCM(count: 1))
        out = [9, 9, 9, 9]
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ring.read(into: $0) }, 0)
        XCTAssertEqual(out, [0, 0, 0, 0], "silence, not old samples")
        XCTAssertEqual(ring.underruns, 1)
    }

    func testOneWriterOneReaderOnTwoThreadsLoseNothing() {
        let ring = AudioRing(capacity: 480 * 4)
        let total = 480 * 2000
        let done = DispatchSemaphore(value: 0)
        Thread {
            var next = 0
            while next < total {
                let n = min(480, total - next, ring.capacity - ring.available)
                let chunk = (0..<n).map { Float(((next + $0) % 30000)) / 32768 }
                let wrote = chunk.withUnsafeBufferPointer { ring.write($0) }
                next += wrote
                if n == 0 { Thread.sleep(forTimeInterval: 0.0005) } // full: a real writer waits for its next turn
            }
            done.signal()
        }.start()
        var got = 0
        var wrong = 0
        while got < total {
            guard let pcm = ring.readPCM(count: 480) else { continue }
            for (i, s) in pcm.enumerated() where Int(s) != (got + i) % 30000 { wrong += 1 }
            got += pcm.count
        }
        done.wait()
        XCTAssertEqual(wrong, 0)
        XCTAssertEqual(ring.dropped, 0, "a writer that checks what fit loses nothing")
    }

    func testPumpKeepsTheSpeakerFedAndHandsWholeFramesToTheCore() {
        let speaker = AudioRing(capacity: 4800)
        let mic = AudioRing(capacity: 4800)
        var pulls = 0
        var pushed: [[Int16]] = []
        let tone = [Float](repeating: 0.5, count: 700)
        tone.withUnsafeBufferPointer { _ = mic.write($0) }
        pumpAudio(speaker: speaker, microphone: mic, target: 960, pull: { pulls += 1; return [Int16](repeating: 1000, count: 480) },
                  push: { pushed.append($0) })
        XCTAssertEqual(pulls, 2)
        XCTAssertEqual(speaker.available, 960)
        XCTAssertEqual(pushed.count, 1, "one whole 10 ms frame; 220 samples wait for the rest")
        XCTAssertEqual(pushed.first?.count, 480)
        XCTAssertEqual(pushed.first?.first, 16384)
        XCTAssertEqual(mic.available, 220)
        // A speaker that stopped reading cannot make the pump spin.
        pumpAudio(speaker: speaker, microphone: nil, target: 100_000, pull: { pulls += 1; return [Int16](repeating: 0, count: 480) }, push: { _ in })
        XCTAssertEqual(pulls, 12)
    }

    /// The real core's audio through the ring: silence before a call, exactly 10 ms a frame.
    func testPumpWithTheRealCore() throws {
        let brand = try BrandConfig.load(from: brandDir)
        let core = try Samtale(config: brand.appConfig(storageDir: try tempDir().path, language: "da",
                                                       serverURL: "http://127.0.0.1:9", logLevel: .warn),
                               observer: NoObserver(), secureStore: nil)
        defer { core.shutdown() }
        let speaker = AudioRing(capacity: 4800)
        pumpAudio(speaker: speaker, microphone: nil, target: 960, pull: { core.pullAudio() }, push: { core.pushAudio(pcm: $0) })
        XCTAssertEqual(speaker.available, 960)
        var out = [Float](repeating: 1, count: 960)
        out.withUnsafeMutableBufferPointer { _ = speaker.read(into: $0) }
        XCTAssertEqual(out.max(), 0)
    }
}

final class VideoPlaneTests: XCTestCase {
    func testCameraFrameKeepsStrides() throws {
        let w = 4, h = 2, stride = 8
        let y = [UInt8](0..<UInt8(stride * h))
        let uv = [UInt8](100..<UInt8(100 + stride))
        let f = y.withUnsafeBytes { yb in uv.withUnsafeBytes { uvb in
            VideoPlanes.cameraFrame(width: w, height: h, luma: yb.baseAddress!, lumaStride: stride,
                                    chroma: uvb.baseAddress!, chromaStride: stride, rotation: .cw90)
        } }
        XCTAssertEqual(f.width, 4)
        XCTAssertEqual(f.yRowStride, 8)
        XCTAssertEqual([UInt8](f.y), y)
        guard case .nv12(let data, let rowStride) = f.chroma else { return XCTFail("nv12") }
        XCTAssertEqual([UInt8](data), uv)
        XCTAssertEqual(rowStride, 8)
        XCTAssertEqual(f.rotation, .cw90)
    }

    func testI420ToBiPlanarWithPaddedRows() {
        let w = 4, h = 2
        var i420 = [UInt8](1...8)           // Y
        i420 += [20, 21]                      // U (2x1)
        i420 += [30, 31]                      // V
        var luma = [UInt8](repeating: 0, count: 6 * h)
        var chroma = [UInt8](repeating: 0, count: 6)
        let ok = luma.withUnsafeMutableBytes { l in chroma.withUnsafeMutableBytes { c in
            VideoPlanes.writeNV12(i420: Data(i420), width: w, height: h, luma: l.baseAddress!, lumaStride: 6,
                                  chroma: c.baseAddress!, chromaStride: 6)
        } }
        XCTAssertTrue(ok)
        XCTAssertEqual(luma, [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0])
        XCTAssertEqual(chroma, [20, 30, 21, 31, 0, 0])
        // A picture whose size does not add up writes nothing.
        let bad = luma.withUnsafeMutableBytes { l in chroma.withUnsafeMutableBytes { c in
            VideoPlanes.writeNV12(i420: Data([1, 2, 3]), width: w, height: h, luma: l.baseAddress!, lumaStride: 6,
                                  chroma: c.baseAddress!, chromaStride: 6)
        } }
        XCTAssertFalse(bad)
        XCTAssertEqual(luma[0], 1)
    }
}

final class NetworkTests: XCTestCase {
    func testOnlyANewNetworkIsAChange() {
        var f = NetworkChangeFilter()
        let wifi = NetworkPath(satisfied: true, interface: "en0", kind: .wifi, ipv4: true, ipv6: true, gateways: ["192.168.1.1"])
        let cell = NetworkPath(satisfied: true, interface: "pdp_ip0", kind: .cellular, ipv4: true, gateways: ["10.0.0.1"])
        XCTAssertFalse(f.update(wifi), "the first network is not a change")
        XCTAssertFalse(f.update(wifi), "the same again is not")
        XCTAssertTrue(f.update(cell), "Wi-Fi to mobile data")
        XCTAssertFalse(f.update(NetworkPath(satisfied: false)), "losing it: the core notices itself")
        XCTAssertTrue(f.update(cell), "back after none")
        var other = wifi
        other.gateways = ["10.1.1.1"]
        XCTAssertTrue(f.update(wifi))
        XCTAssertTrue(f.update(other), "another Wi-Fi on the same interface")
        var v6 = other
        v6.ipv4 = false
        XCTAssertTrue(f.update(v6), "IPv6 only now")
        var g = NetworkChangeFilter()
        XCTAssertFalse(g.update(NetworkPath(satisfied: false)))
        XCTAssertFalse(g.update(wifi), "no network, then the first one: not a change")
    }
}

final class BrandTests: XCTestCase {
    func testLoadsWhatTheBrandToolWrote() throws {
        let b = try BrandConfig.load(from: brandDir)
        XCTAssertFalse(b.id.isEmpty)
        XCTAssertTrue(b.serverURL.hasPrefix("https://"))
        XCTAssertTrue(["da", "en"].contains(b.defaultLanguage))
        XCTAssertTrue(b.toml.contains(b.id))
        let c = b.appConfig(storageDir: "/tmp/x", language: nil)
        XCTAssertEqual(c.serverUrl, b.serverURL)
        XCTAssertEqual(c.brandId, b.id)
        XCTAssertEqual(b.appConfig(storageDir: "/tmp/x", language: "en", serverURL: "http://127.0.0.1:1").serverUrl, "http://127.0.0.1:1")
        // The usage descriptions the system dialogs show come from the core's catalog.
        for lang in ["da", "en"] {
            let strings = try String(contentsOf: brandDir.appendingPathComponent("\(lang).lproj/InfoPlist.strings"), encoding: .utf8)
            for key in ["NSMicrophoneUsageDescription", "NSCameraUsageDescription", "CFBundleDisplayName"] {
                XCTAssertTrue(strings.contains("\"\(key)\" = \""), "\(lang): \(key)")
            }
        }
    }

    func testMissingOrBrokenBrandSaysWhat() throws {
        let dir = try tempDir()
        XCTAssertThrowsError(try BrandConfig.load(from: dir)) { e in
            XCTAssertEqual(e as? BrandConfig.LoadError, .missing("Brand.plist"))
            XCTAssertTrue("\(e)".contains("samtale-brand build"))
        }
        try "<plist version=\"1.0\"><dict><key>BrandId</key><string>x</string></dict></plist>"
            .write(to: dir.appendingPathComponent("Brand.plist"), atomically: true, encoding: .utf8)
        try "id = \"x\"".write(to: dir.appendingPathComponent("brand.toml"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BrandConfig.load(from: dir)) { e in
            XCTAssertEqual(e as? BrandConfig.LoadError, .field("BundleIdentifier"))
        }
        try "not a plist".write(to: dir.appendingPathComponent("Brand.plist"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BrandConfig.load(from: dir)) { e in
            XCTAssertEqual(e as? BrandConfig.LoadError, .unreadable("Brand.plist"))
        }
    }

    @MainActor
    func testABrandTheCoreRefusesIsAnErrorNotACrash() async throws {
        let platform = FakePlatform()
        let config = AppConfig(serverUrl: "http://127.0.0.1:9", brandId: "x", storageDir: try tempDir().path,
                               logLevel: .warn, brandToml: "this is not toml = = =", language: nil, extraCaPem: nil)
        do {
            _ = try CallModel(config: config, secureStore: nil, platform: platform)
            XCTFail("a broken brand was accepted")
        } catch SamtaleError.BadBrand {
        }
    }

    func testPreferredLanguage() {
        XCTAssertEqual(preferredLanguage(["da-DK", "en-GB"]), "da")
        XCTAssertEqual(preferredLanguage(["en_US"]), "en")
        XCTAssertNil(preferredLanguage(["de-DE", "da-DK"]), "as on Android: the first language only")
        XCTAssertNil(preferredLanguage([]))
    }
}

final class NoObserver: CallObserver, @unchecked Sendable {
    func onScreen(screen: Screen) {}
    func onRemoteVideo(frame: RemoteVideoFrame) {}
}
