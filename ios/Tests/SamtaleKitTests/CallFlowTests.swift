import Foundation
import SamtaleCore
import XCTest
@testable import SamtaleKit

/// The view model against a real meeting on loopback: a real samtale-server, a samtale-sim
/// caseworker, the real core. The same steps, screen ids and words as the Android app's
/// CallTest.
@MainActor
final class CallFlowTests: XCTestCase {
    private func model(_ server: Server, _ platform: FakePlatform, language: String = "da") throws -> CallModel {
        let brand = try BrandConfig.load(from: brandDir)
        let config = brand.appConfig(storageDir: try tempDir().path, language: language, serverURL: server.url, logLevel: .warn)
        return try CallModel(config: config, secureStore: MemoryStore(), platform: platform)
    }

    /// The code on the keypad, the join button, the `permissions` screen's button: the system
    /// dialog answers as the platform says.
    private func typeCodeAndAllow(_ model: CallModel, _ log: ScreenLog, _ code: String) async throws {
        for ch in code where ch.isNumber { model.digit(UInt8(String(ch))!) }
        try await log.until("the code shown") { $0.code?.digits == 10 }
        model.act(model.screen.primary!)
        try await log.until("the permission question") { $0.id == "permissions" }
        model.act(model.screen.primary!)
    }

    /// Runs the phone's devices the way the app's do (camera pictures 15 a second through
    /// `VideoPlanes`, the microphone's tone and the speaker through `AudioRing` and
    /// `pumpAudio`) until `done` holds, for at most `timeout` seconds. The 10 ms pause is the
    /// pace of an audio device, not a wait for something to happen.
    private func runDevices(_ model: CallModel, speakerLoud: Loudness, timeout: TimeInterval = 40,
                            _ what: String, until done: () -> Bool) async throws {
        let speaker = AudioRing(capacity: 4800)
        let mic = AudioRing(capacity: 4800)
        let end = Date().addingTimeInterval(timeout)
        var n = 0
        var tone = [Float](repeating: 0, count: AudioFormat.frame)
        var out = [Float](repeating: 0, count: AudioFormat.frame)
        while !done() {
            if Date() > end {
                throw TestFailure(description: "timed out after \(Int(timeout)) s: \(what)\(Witness.shared.report())")
            }
            if n % 6 == 0 && model.devices.camera { try pushCameraPicture(model, n) }
            if model.devices.microphone {
                for i in 0..<tone.count { tone[i] = 0.25 * Float(sin(Double(i) * 2 * .pi / 48)) }
                tone.withUnsafeBufferPointer { _ = mic.write($0) }
            }
            pumpAudio(speaker: speaker, microphone: mic, target: AudioFormat.frame * 2,
                      pull: { model.core.pullAudio() }, push: { model.core.pushAudio(pcm: $0) })
            out.withUnsafeMutableBufferPointer { _ = speaker.read(into: $0) }
            if (out.map(abs).max() ?? 0) > 300.0 / 32768 { speakerLoud.frames += 1 }
            n += 1
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A bi-planar 640x480 picture with row padding, as a camera delivers it.
    private func pushCameraPicture(_ model: CallModel, _ n: Int) throws {
        let w = 640, h = 480, stride = 704
        var y = [UInt8](repeating: 0, count: stride * h)
        for r in 0..<h { for c in 0..<w { y[r * stride + c] = UInt8((c + r + n * 4) % 220 + 16) } }
        var uv = [UInt8](repeating: 128, count: stride * h / 2)
        for i in Swift.stride(from: 0, to: uv.count, by: 2) { uv[i] = UInt8((i / 2 + n) % 200 + 20) }
        let frame = y.withUnsafeBytes { yb in
            uv.withUnsafeBytes { uvb in
                VideoPlanes.cameraFrame(width: w, height: h, luma: yb.baseAddress!, lumaStride: stride,
                                        chroma: uvb.baseAddress!, chromaStride: stride, rotation: cameraRotation(degrees: 90))
            }
        }
        try model.core.pushCameraFrame(frame: frame)
    }

    func testKeypadJoinSeeHearBackLeaveAndOneTapRejoin() async throws {
        let server = try Server()
        let caseworker = try Caseworker(server)
        let platform = FakePlatform()
        let model = try model(server, platform)
        defer { model.shutdown() }
        let log = ScreenLog(model)
        XCTAssertEqual(model.screen.id, "code-entry")
        XCTAssertEqual(model.screen.headline.text, "Skriv din kode")
        XCTAssertEqual(platform.announcements.first, Announcement(kind: .screenChanged, text: model.screen.announce))
        XCTAssertEqual(model.devices, DevicePlan(), "nothing runs before a call")

        // The code on the app's own keypad.
        for ch in caseworker.code where ch.isNumber { model.digit(UInt8(String(ch))!) }
        let typed = try await log.until("the code shown") { $0.code?.digits == 10 }
        XCTAssertEqual(Keypad.slots(typed.code!), caseworker.code)
        guard case .primary(let join, big: false, lit: false)? = model.presentation.parts.first(where: {
            if case .primary = $0 { return true } else { return false }
        }) else { return XCTFail("a join button: \(model.presentation.parts)") }
        XCTAssertEqual(join.kind, .joinWithCode)
        XCTAssertTrue(join.enabled)
        model.act(join)

        // First call: why the microphone and camera, then the system's dialog.
        let question = try await log.until("the permission question") { $0.id == "permissions" }
        XCTAssertEqual(question.headline.text, "Lyd og billede")
        XCTAssertEqual(question.primary?.kind, .askPermissions)
        model.act(question.primary!)
        XCTAssertEqual(platform.dialogs, 1, "the system dialog was asked for")

        // In the call, with the caseworker's picture arriving.
        let sizes = FrameSizes()
        model.video.show { sizes.add($0) }
        try await log.until("in the call") { $0.id == "in-call" }
        XCTAssertEqual(model.devices, DevicePlan(audio: true, microphone: true, camera: true))
        let loud = Loudness()
        try await runDevices(model, speakerLoud: loud, "pictures both ways, the tone both ways") {
            sizes.count >= 10 && loud.frames >= 20 && caseworker.media("video_frames_decoded") >= 10
                && caseworker.media("audible_frames") >= 20
        }
        XCTAssertTrue(sizes.allWellFormed, "every picture is width x height x 1.5 bytes")
        XCTAssertEqual(model.screen.id, "in-call")
        XCTAssertTrue(model.screen.showRemoteVideo)
        guard case .video(remote: true, selfView: true, pictogram: nil, notice: _, banner: nil)? = model.presentation.parts.first else {
            return XCTFail("the call shows the picture first: \(model.presentation.parts)")
        }

        // Wi-Fi to mobile data: the path monitor's report reaches the core; the call goes on.
        model.networkPath(NetworkPath(satisfied: true, interface: "en0", kind: .wifi, ipv4: true, ipv6: true, gateways: ["192.168.1.1"]))
        model.networkPath(NetworkPath(satisfied: true, interface: "pdp_ip0", kind: .cellular, ipv4: true, gateways: ["10.0.0.1"]))
        let decoded = caseworker.media("video_frames_decoded")
        try await runDevices(model, speakerLoud: loud, "pictures after the network change") {
            model.screen.id == "in-call" && caseworker.media("video_frames_decoded") > decoded + 10
        }

        // Back never hangs up silently: it asks; back again (or "no") stays in the call.
        XCTAssertTrue(model.back())
        let ask = try await log.until("hang up?") { $0.id == "confirm-leave" }
        XCTAssertEqual(ask.headline.text, "Vil du lægge på?")
        XCTAssertNotNil(ask.secondary)
        model.back()
        try await log.until("the call again") { $0.id == "in-call" }
        model.back()
        try await log.until("hang up? again") { $0.id == "confirm-leave" }
        model.act(model.screen.secondary!)
        try await log.until("still in the call") { $0.id == "in-call" }

        // Hang up, back to the start: the one big button calls again.
        model.act(model.screen.primary!)
        try await log.until("ended") { $0.id == "ended" }
        XCTAssertEqual(model.devices, DevicePlan(), "devices off after the call")
        XCTAssertTrue(model.back())
        let home = try await log.until("home") { $0.id == "home" }
        XCTAssertEqual(home.layout, .bigButton)
        guard case .primary(let again, big: true, _)? = model.presentation.parts.first(where: {
            if case .primary = $0 { return true } else { return false }
        }) else { return XCTFail("one big button: \(model.presentation.parts)") }
        XCTAssertEqual(again.kind, .rejoin)
        model.act(again)
        try await log.until("in the call again") { $0.id == "in-call" }
        XCTAssertEqual(platform.dialogs, 1, "asked once, not every call")
        model.act(model.screen.primary!)
        try await log.until("ended again") { $0.id == "ended" }

        // Every screen showed its texts, all of them and only them, and the core agrees.
        for s in log.screens {
            XCTAssertTrue(sameTexts(Presentation(s).texts, allTexts(s)), "\(s.id): \(Presentation(s).texts) vs \(allTexts(s))")
        }
        XCTAssertEqual(model.screen, model.core.currentScreen())
        // VoiceOver was told every new screen, in order, in the screen model's words.
        var expected: [String] = []
        var lastId: String?
        for s in log.screens where s.id != lastId {
            expected.append(s.announce)
            lastId = s.id
        }
        let told = platform.announcements.filter { $0.kind == .screenChanged }.map(\.text)
        XCTAssertEqual(told, expected)
        for words in ["Lyd og billede.", "Vi ringer op.", "Samtalen er i gang."] {
            XCTAssertTrue(told.contains { $0.hasPrefix(words) }, "VoiceOver heard \"\(words)\" (\(told))")
        }
    }

    /// The camera refused: the call still starts, audio only; the camera toggle sends the
    /// citizen to Settings (only there can it change).
    func testRefusedCameraStillCallsAudioOnly() async throws {
        let server = try Server()
        let caseworker = try Caseworker(server)
        let platform = FakePlatform()
        platform.answer = (.authorized, .denied)
        let model = try model(server, platform)
        defer { model.shutdown() }
        let log = ScreenLog(model)
        try await typeCodeAndAllow(model, log, caseworker.code)
        let call = try await log.until("in the call") { $0.id == "in-call" }
        let camera = call.toggles.first { $0.id == "camera" }
        XCTAssertEqual(camera?.on, false, "the camera is off")
        XCTAssertEqual(model.devices, DevicePlan(audio: true, microphone: true, camera: false))
        let loud = Loudness()
        try await runDevices(model, speakerLoud: loud, "heard both ways") {
            loud.frames >= 20 && caseworker.media("audible_frames") >= 20
        }
        XCTAssertEqual(caseworker.media("video_frames_decoded"), 0, "and no picture from us")
        model.toggle("camera", isOn: false)
        XCTAssertEqual(platform.settingsOpened, 1, "refused before: the Settings app")
        model.act(model.screen.primary!)
        try await log.until("ended") { $0.id == "ended" }
    }

    /// The microphone refused: how to turn it on, never a dead end (back keeps the code); allowed
    /// in Settings later, the call it waited for starts when the app is back in front.
    func testRefusedMicrophoneExplainsAndWaits() async throws {
        let server = try Server()
        let caseworker = try Caseworker(server)
        let platform = FakePlatform()
        platform.answer = (.denied, .denied)
        let model = try model(server, platform, language: "en")
        defer { model.shutdown() }
        let log = ScreenLog(model)
        XCTAssertEqual(model.screen.headline.text, "Type your code", "the phone's language")
        try await typeCodeAndAllow(model, log, caseworker.code)
        let off = try await log.until("microphone off") { $0.id == "microphone-off" }
        XCTAssertEqual(off.primary?.kind, .openSettings)
        XCTAssertNotNil(off.secondary, "a way back")
        XCTAssertEqual(model.devices, DevicePlan(), "no call without a microphone")
        XCTAssertTrue(model.back())
        let back = try await log.until("the code again") { $0.id == "code-entry" }
        XCTAssertEqual(back.code?.digits, 10, "the code is kept")
        // Again: the phone knows the answer now, no dialog; the same explanation.
        model.act(model.screen.primary!)
        try await log.until("microphone off again") { $0.id == "microphone-off" }
        XCTAssertEqual(platform.dialogs, 1, "the system dialog once")
        model.act(model.screen.primary!)
        XCTAssertEqual(platform.settingsOpened, 1)
        // In Settings the citizen allows the microphone, then comes back to the app.
        platform.microphoneAccess = .authorized
        model.appVisible(false)
        model.appVisible(true)
        let call = try await log.until("the call it waited for") { $0.id == "in-call" }
        XCTAssertEqual(call.toggles.first { $0.id == "camera" }?.on, false, "the camera stays refused")
        XCTAssertEqual(model.devices, DevicePlan(audio: true, microphone: true, camera: false))
        model.act(model.screen.primary!)
        try await log.until("ended") { $0.id == "ended" }
    }
}

/// 10 ms frames the speaker played that were not silence.
final class Loudness {
    var frames = 0
}

/// The remote pictures' sizes, counted on the core's video thread.
final class FrameSizes: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    private var bad = 0

    func add(_ f: RemoteVideoFrame) {
        lock.lock(); defer { lock.unlock() }
        n += 1
        if f.i420.count != Int(f.width * f.height * 3 / 2) || f.width == 0 { bad += 1 }
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
    var allWellFormed: Bool { lock.lock(); defer { lock.unlock() }; return bad == 0 && n > 0 }
}
