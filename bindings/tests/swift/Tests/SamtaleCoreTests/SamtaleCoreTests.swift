// The Swift bindings against a real meeting: a real samtale-server and a samtale-sim caseworker
// (started here), the real core through the generated SamtaleCore module. Same checks as the
// Kotlin and Python suites.

import Foundation
import SamtaleCore
import XCTest

let binDir = ProcessInfo.processInfo.environment["SAMTALE_BIN_DIR"] ?? "target/release"

/// Records what the core reports; waits with deadlines (no sleeping as synchronisation).
final class Recorder: CallObserver, @unchecked Sendable {
    private let cond = NSCondition()
    private(set) var states: [UiState] = []
    private(set) var screens: [Screen] = []
    private(set) var frames = 0
    private(set) var lastFrame: RemoteVideoFrame?

    func onScreen(screen: Screen) {
        cond.lock()
        screens.append(screen)
        if states.last != screen.state { states.append(screen.state) }
        cond.broadcast()
        cond.unlock()
    }

    func onRemoteVideo(frame: RemoteVideoFrame) {
        cond.lock()
        frames += 1
        lastFrame = frame
        cond.broadcast()
        cond.unlock()
    }

    /// Waits for `pred`; on a timeout the error names what was awaited, the states seen and the
    /// newest lines of `context` (the server's and the caseworker's output).
    func await(_ what: String, timeout: TimeInterval = 30, context: [Lines] = [],
               _ pred: (Recorder) -> Bool) throws {
        let end = Date().addingTimeInterval(timeout)
        cond.lock()
        defer { cond.unlock() }
        while !pred(self) {
            if !cond.wait(until: end) {
                let screenIds = screens.map(\.id).joined(separator: " -> ")
                let tails = context.map { $0.tail(20) }.joined(separator: "\n---\n")
                throw TestFailure(description: "timed out after \(timeout) s waiting for \(what); states: \(states); screens: \(screenIds)\n\(tails)")
            }
        }
    }

    func snapshotScreens() -> [Screen] {
        cond.lock()
        defer { cond.unlock() }
        return screens
    }

    func snapshot() -> (states: [UiState], frames: Int, last: RemoteVideoFrame?) {
        cond.lock()
        defer { cond.unlock() }
        return (states, frames, lastFrame)
    }
}

/// The shell's secure storage, in memory (a phone uses the Keychain).
final class MemoryStore: SecureStore, @unchecked Sendable {
    private let cond = NSCondition()
    private(set) var values: [String: String] = [:]

    func load(key: String) -> String? {
        cond.lock(); defer { cond.unlock() }
        return values[key]
    }

    func save(key: String, value: String) -> Bool {
        cond.lock(); defer { cond.unlock() }
        values[key] = value
        cond.broadcast()
        return true
    }

    func delete(key: String) {
        cond.lock(); defer { cond.unlock() }
        values.removeValue(forKey: key)
    }

    func awaitKey(_ key: String, timeout: TimeInterval = 30) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        cond.lock(); defer { cond.unlock() }
        while values[key] == nil {
            if !cond.wait(until: end) { return false }
        }
        return true
    }
}

/// The example brand: this file is <root>/bindings/tests/swift/Tests/<target>/<file>.
let brandToml: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return (try? String(contentsOf: root.appendingPathComponent("brands/eksempel/brand.toml"), encoding: .utf8)) ?? ""
}()

func appConfig(_ url: String, _ dir: URL) -> AppConfig {
    AppConfig(serverUrl: url, brandId: "test-kommune", storageDir: dir.path, logLevel: .warn, brandToml: brandToml)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

/// Reads a child's output on a thread of its own, so the child never blocks on a full pipe;
/// `first` waits for a matching line, `tail` gives the newest ones (for failure messages).
final class Lines: @unchecked Sendable {
    private let cond = NSCondition()
    private let name: String
    private var lines: [String] = []
    private var closed = false

    init(_ name: String, _ pipe: Pipe) {
        self.name = name
        let handle = pipe.fileHandleForReading
        Thread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let nl = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...nl)
                    cond.lock(); lines.append(line); cond.broadcast(); cond.unlock()
                }
            }
            cond.lock(); closed = true; cond.broadcast(); cond.unlock()
        }.start()
    }

    /// The first line for which `match` gives a value, waiting up to `timeout`.
    func first<T>(timeout: TimeInterval = 30, _ match: (String) -> T?) -> T? {
        let end = Date().addingTimeInterval(timeout)
        cond.lock(); defer { cond.unlock() }
        var i = 0
        while true {
            while i < lines.count {
                if let m = match(lines[i]) { return m }
                i += 1
            }
            if closed || !cond.wait(until: end) { return nil }
        }
    }

    func tail(_ n: Int) -> String {
        cond.lock(); defer { cond.unlock() }
        return "\(name) (last \(min(n, lines.count)) of \(lines.count) lines):\n" + lines.suffix(n).joined(separator: "\n")
    }
}

final class SamtaleCoreTests: XCTestCase {
    func testMistypedCodeFailsOffline() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let obs = Recorder()
        let core = try Samtale(config: appConfig("http://127.0.0.1:9", tmp), observer: obs)
        XCTAssertEqual(core.checkCode(code: "482 193 775"), .tooFewDigits(got: 9, expected: 10))
        core.join(code: "123 456 7890")
        try obs.await("failed") { r in r.states.contains { if case .failed = $0 { return true } else { return false } } }
        let failed = obs.snapshot().states.first { if case .failed = $0 { return true } else { return false } }
        guard case .failed(let error) = failed, case .badCode = error else {
            return XCTFail("expected Failed(BadCode), got \(String(describing: failed))")
        }
        XCTAssertEqual(obs.snapshot().states.first, .idle)
        let screens = obs.snapshotScreens()
        XCTAssertEqual(screens.first?.id, "code-entry")
        XCTAssertEqual(screens.first?.headline.text, "Skriv din kode")
        XCTAssertEqual(screens.first?.help.dial, "+4570123456")
        XCTAssertEqual(screens.last?.id, "failed-bad-code")
        XCTAssertEqual(screens.last?.primary?.kind, .fixCode)
        core.act(action: .fixCode)
        try obs.await("the code again") { r in r.screens.last?.id == "code-entry" }
        XCTAssertEqual(obs.snapshotScreens().last?.code?.grouped, "123 456 7890", "the typed code is kept")
        core.shutdown()
        XCTAssertTrue(core.isShutDown())
    }

    /// Test builds export injectPanic(entry). Without the core's guards, Swift's generated code
    /// would `try!` the panic and crash this process.
    func testAPanicInTheCoreIsNotACrash() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let obs = Recorder()
        let core = try Samtale(config: appConfig("http://127.0.0.1:9", tmp), observer: obs)
        injectPanic(entry: "check_code")
        XCTAssertNil(core.checkCode(code: "abc"), "the safe answer")
        XCTAssertEqual(core.checkCode(code: "abc"), .notADigit, "and the next call works")
        injectPanic(entry: "start")
        core.join(code: "123 456 7890")
        try obs.await("failed") { r in r.states.contains { if case .failed = $0 { return true } else { return false } } }
        XCTAssertEqual(obs.snapshot().states.last, .failed(error: .serverError))
        core.join(code: "123 456 7890")
        try obs.await("bad code") { r in
            if case .failed(.badCode) = r.states.last { return true } else { return false }
        }
        injectPanic(entry: "pull_audio")
        XCTAssertEqual(core.pullAudio(), [Int16](repeating: 0, count: 480))
        injectPanic(entry: "leave")
        core.leave()
        injectPanic(entry: "shutdown")
        core.shutdown()
        core.shutdown()
        XCTAssertTrue(core.isShutDown())
        injectPanic(entry: "new")
        XCTAssertThrowsError(try Samtale(config: appConfig("http://127.0.0.1:9", tmp), observer: Recorder())) { error in
            guard case SamtaleError.Internal = error else {
                return XCTFail("expected SamtaleError.Internal, got \(error)")
            }
        }
    }

    func testJoinSeeHearMuteLeave() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let token = "swift-\(UUID().uuidString)"
        try token.write(to: tmp.appendingPathComponent("token"), atomically: true, encoding: .utf8)

        let server = Process()
        server.executableURL = URL(fileURLWithPath: "\(binDir)/samtale-server")
        server.arguments = ["--listen", "127.0.0.1:0", "--db", tmp.appendingPathComponent("db.sqlite").path,
                            "--staff-token-file", tmp.appendingPathComponent("token").path]
        let serverErr = Pipe()
        server.standardError = serverErr
        try server.run()
        defer { server.terminate() }
        let serverLog = Lines("samtale-server stderr", serverErr)
        guard let url = serverLog.first({ (line: String) -> String? in
            guard let r = line.range(of: "public URL ") else { return nil }
            return String(line[r.upperBound...].prefix { $0 != ")" })
        }) else { return XCTFail("the server did not start") }

        let host = Process()
        host.executableURL = URL(fileURLWithPath: "\(binDir)/samtale-sim")
        host.arguments = ["host", "--server", url, "--token", token, "--loopback", "--json", "--seconds", "0"]
        let hostOut = Pipe()
        let hostErr = Pipe()
        host.standardOutput = hostOut
        host.standardError = hostErr
        try host.run()
        defer { host.terminate() }
        let hostLog = Lines("samtale-sim host stdout", hostOut)
        let hostErrLog = Lines("samtale-sim host stderr", hostErr)
        let context = [hostLog, hostErrLog, serverLog]
        guard let code = hostLog.first({ (line: String) -> String? in
            guard line.contains("\"meeting created\""),
                  let r = line.range(of: "\"code\":\"") else { return nil }
            return String(line[r.upperBound...].prefix { $0 != "\"" })
        }) else { return XCTFail("the caseworker created no meeting") }

        let obs = Recorder()
        let core = try Samtale(config: appConfig(url, tmp), observer: obs)
        core.join(code: code)
        try obs.await("in call", context: context) { r in r.states.contains(.inCall) }
        XCTAssertTrue(obs.snapshot().states.contains(.joining))
        core.networkChanged() // Wi-Fi to cellular, say: the call goes on (checked below)

        let w: UInt32 = 320, h: UInt32 = 180
        var heard = 0
        var n = 0
        let end = Date().addingTimeInterval(30)
        while (obs.snapshot().frames < 10 || heard < 50) && Date() < end {
            var pixels = [UInt8](repeating: 128, count: Int(w * h * 3 / 2))
            for i in 0..<Int(w * h) { pixels[i] = UInt8((i % Int(w) + n * 4) % 220 + 16) }
            try core.pushVideo(frame: VideoFrameIn(width: w, height: h, i420: Data(pixels), rotation: .none))
            for _ in 0..<7 {
                core.pushAudio(pcm: (0..<480).map { Int16(8000 * (Double($0 % 48) / 24 - 1)) })
                let pcm = core.pullAudio()
                XCTAssertEqual(pcm.count, 480)
                if pcm.map({ abs(Int($0)) }).max() ?? 0 > 300 { heard += 1 }
                Thread.sleep(forTimeInterval: 0.01) // the pace of an audio device
            }
            n += 1
        }
        let snap = obs.snapshot()
        XCTAssertGreaterThanOrEqual(snap.frames, 10, "remote pictures")
        XCTAssertGreaterThanOrEqual(heard, 50, "remote audio heard")
        if let f = snap.last {
            XCTAssertEqual(f.i420.count, Int(f.width * f.height * 3 / 2))
        }
        XCTAssertThrowsError(try core.pushVideo(frame: VideoFrameIn(width: 4, height: 4, i420: Data([0, 0, 0]), rotation: .none)))

        core.setMicrophoneMuted(muted: true)
        core.setCameraEnabled(enabled: false)
        core.setCameraEnabled(enabled: true)
        core.setMicrophoneMuted(muted: false)
        core.leave()
        try obs.await("ended", context: context) { r in r.states.contains(.ended(reason: .youLeft)) }

        // One tap: the meeting was remembered (by a pairing token, not the code).
        XCTAssertTrue(core.hasRememberedMeeting())
        let stored = try String(contentsOf: tmp.appendingPathComponent("test-kommune/remembered-meeting"), encoding: .utf8)
        XCTAssertFalse(stored.contains(code.replacingOccurrences(of: " ", with: "")))
        let inCalls = obs.snapshot().states.filter { $0 == .inCall }.count
        core.rejoin()
        try obs.await("in call again", context: context) { r in r.states.filter { $0 == .inCall }.count > inCalls }
        // The caseworker leaves (SIGINT: the sim says goodbye): the citizen waits in the meeting.
        host.interrupt()
        try obs.await("waiting", context: context) { r in r.states.last == .waiting }
        core.leave()
        core.forgetMeeting()
        XCTAssertFalse(core.hasRememberedMeeting())
        core.rejoin()
        try obs.await("no remembered meeting", context: context) { r in r.states.last == .failed(error: .noRememberedMeeting) }
        core.shutdown()
        core.shutdown()
        XCTAssertEqual(core.pullAudio(), [Int16](repeating: 0, count: 480))

        // With the shell's secure storage, the pairing token goes there and to no file.
        let store = MemoryStore()
        let dir2 = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir2, withIntermediateDirectories: true)
        let obs2 = Recorder()
        let core2 = try Samtale(config: appConfig(url, dir2), observer: obs2, secureStore: store)
        core2.join(code: code)
        try obs2.await("waiting", context: context) { r in r.states.contains(.waiting) }
        XCTAssertTrue(store.awaitKey("test-kommune/remembered-meeting"), "the token is in the SecureStore")
        let files = FileManager.default.enumerator(atPath: dir2.path)?.allObjects ?? []
        XCTAssertTrue(files.isEmpty, "no token file when a SecureStore is given: \(files)")
        core2.leave()
        XCTAssertTrue(core2.hasRememberedMeeting())
        core2.forgetMeeting()
        XCTAssertTrue(store.values.isEmpty)
        core2.shutdown()
    }
}
