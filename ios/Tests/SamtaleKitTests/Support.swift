import Foundation
import SamtaleCore
import XCTest
@testable import SamtaleKit

let env = ProcessInfo.processInfo.environment
let binDir = env["SAMTALE_BIN_DIR"] ?? "../target/release"
/// `samtale-brand build brands/eksempel --ios DIR` (scripts/test-ios builds it).
let brandDir = URL(fileURLWithPath: env["SAMTALE_BRAND_DIR"] ?? "../target/ios-brand/eksempel")

func tempDir() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samtale-ios-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

/// The phone, as the tests play it: records what the app asked of it; the system dialog
/// answers as `answer` says (on a later main-queue turn, as a real dialog does).
@MainActor
final class FakePlatform: Platform {
    var microphoneAccess: DeviceAccess = .notDetermined
    var cameraAccess: DeviceAccess = .notDetermined
    /// What the citizen answers in the system dialogs: (microphone, camera).
    var answer: (DeviceAccess, DeviceAccess) = (.authorized, .authorized)
    private(set) var dialogs = 0
    private(set) var dialled: [String] = []
    private(set) var settingsOpened = 0
    private(set) var announcements: [Announcement] = []
    private(set) var plans: [DevicePlan] = []

    func requestAccess(_ answered: @escaping @MainActor () -> Void) {
        dialogs += 1
        DispatchQueue.main.async {
            MainActor.assumeIsolated {
                if self.microphoneAccess == .notDetermined { self.microphoneAccess = self.answer.0 }
                if self.cameraAccess == .notDetermined { self.cameraAccess = self.answer.1 }
                answered()
            }
        }
    }

    func dial(_ number: String) { dialled.append(number) }
    func openSettings() { settingsOpened += 1 }
    func announce(_ announcement: Announcement) { announcements.append(announcement) }
    func apply(_ plan: DevicePlan) { plans.append(plan) }
}

/// Every screen the model delivered, with waits that end on a deadline (never a sleep).
@MainActor
final class ScreenLog {
    private(set) var screens: [Screen] = []
    private var subscription: ScreenSubscription?
    private var waiter: (() -> Void)?

    init(_ model: CallModel) {
        subscription = model.observe { [weak self] s in
            self?.screens.append(s)
            self?.waiter?()
        }
    }

    var last: Screen? { screens.last }

    /// Waits until `pred` holds for the newest screen (checked now and on every new one).
    @discardableResult
    func until(_ what: String, timeout: TimeInterval = 30, _ pred: @escaping (Screen) -> Bool) async throws -> Screen {
        if let s = screens.last, pred(s) { return s }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Screen, Error>) in
            var done = false
            waiter = { [weak self] in
                guard !done, let s = self?.screens.last, pred(s) else { return }
                done = true
                self?.waiter = nil
                c.resume(returning: s)
            }
            DispatchQueue.main.asyncAfter(deadline: .now() + timeout) { [weak self] in
                MainActor.assumeIsolated {
                    guard !done else { return }
                    done = true
                    self?.waiter = nil
                    let ids = self?.screens.map(\.id).joined(separator: " -> ") ?? ""
                    c.resume(throwing: TestFailure(
                        description: "timed out after \(Int(timeout)) s waiting for \(what) (screens: \(ids))\(Witness.shared.report())"))
                }
            }
        }
    }
}

/// Reads lines from a pipe on a thread of its own; `first` waits for a matching one.
final class Lines: @unchecked Sendable {
    private let cond = NSCondition()
    private var lines: [String] = []
    private var closed = false

    init(_ pipe: Pipe) {
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

    /// The first line (from the start) for which `match` gives a value, waiting up to `timeout`.
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

    /// The last `n` lines that `keep` accepts.
    func tail(_ n: Int, _ keep: (String) -> Bool = { _ in true }) -> [String] {
        cond.lock(); defer { cond.unlock() }
        return Array(lines.filter(keep).suffix(n))
    }

    /// The newest line for which `match` gives a value (no waiting).
    func newest<T>(_ match: (String) -> T?) -> T? {
        cond.lock(); defer { cond.unlock() }
        for line in lines.reversed() { if let m = match(line) { return m } }
        return nil
    }
}

/// What the other processes of a test were doing, for the message of a wait that timed out
/// (a caseworker's last lines and whether it still runs), so a failure on CI explains itself.
final class Witness: @unchecked Sendable {
    static let shared = Witness()
    private let lock = NSLock()
    private var watched: [(name: String, describe: () -> String)] = []

    func watch(_ name: String, _ describe: @escaping () -> String) {
        lock.lock(); defer { lock.unlock() }
        watched.removeAll { $0.name == name }
        watched.append((name, describe))
    }

    func forget(_ name: String) {
        lock.lock(); defer { lock.unlock() }
        watched.removeAll { $0.name == name }
    }

    /// "\n--- name ---\n…" for everything watched; empty when nothing is.
    func report() -> String {
        lock.lock()
        let now = watched
        lock.unlock()
        return now.map { "\n--- \($0.name) ---\n\($0.describe())" }.joined()
    }
}

/// A real samtale-server on loopback, in a temporary folder.
final class Server {
    let dir: URL
    let token = "ios-\(UUID().uuidString)"
    let url: String
    private let process = Process()

    init() throws {
        dir = try tempDir()
        try token.write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "\(binDir)/samtale-server")
        process.arguments = ["--listen", "127.0.0.1:0", "--db", dir.appendingPathComponent("db.sqlite").path,
                             "--staff-token-file", dir.appendingPathComponent("token").path]
        let err = Pipe()
        process.standardError = err
        try process.run()
        let lines = Lines(err)
        guard let u = lines.first({ line -> String? in
            guard let r = line.range(of: "public URL ") else { return nil }
            return String(line[r.upperBound...].prefix { $0 != ")" })
        }) else {
            process.terminate()
            throw TestFailure(description: "the server did not start")
        }
        url = u
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// A caseworker (`samtale-sim host`): creates a meeting, sends a test picture and tone, and
/// reports what it receives every second (`"event":"media"`).
final class Caseworker {
    let code: String
    private let process = Process()
    private let out: Lines
    private let err: Lines

    init(_ server: Server) throws {
        process.executableURL = URL(fileURLWithPath: "\(binDir)/samtale-sim")
        process.arguments = ["host", "--server", server.url, "--token", server.token, "--loopback", "--json", "--seconds", "0"]
        var env = ProcessInfo.processInfo.environment
        env["RUST_LOG"] = "samtale_core=info"
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        let errPipe = Pipe()
        process.standardError = errPipe
        try process.run()
        let outLines = Lines(pipe), errLines = Lines(errPipe), proc = process
        out = outLines
        err = errLines
        Witness.shared.watch("caseworker (samtale-sim host)") {
            let running = proc.isRunning ? "running" : "exited with \(proc.terminationStatus)"
            let story = outLines.tail(30) { !$0.contains("\"event\":\"media\"") }
            let media = outLines.tail(1) { $0.contains("\"event\":\"media\"") }
            return ([running, "stdout:"] + story + media + ["stderr:"] + errLines.tail(30)).joined(separator: "\n")
        }
        guard let c = out.first({ line -> String? in
            guard line.contains("\"meeting created\""), let r = line.range(of: "\"code\":\"") else { return nil }
            return String(line[r.upperBound...].prefix { $0 != "\"" })
        }) else {
            process.terminate()
            throw TestFailure(description: "the caseworker created no meeting")
        }
        code = c
    }

    /// A number from the newest media report (`video_frames_decoded`, `audible_frames`).
    func media(_ key: String) -> Double {
        out.newest { line -> Double? in
            guard line.contains("\"event\":\"media\""), let r = line.range(of: "\"\(key)\":") else { return nil }
            return Double(line[r.upperBound...].prefix { "-0123456789.".contains($0) })
        } ?? 0
    }

    deinit {
        Witness.shared.forget("caseworker (samtale-sim host)")
        process.terminate()
        process.waitUntilExit()
    }
}

/// The phone's secure storage, in memory (the app uses the Keychain).
final class MemoryStore: SecureStore, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: String] = [:]

    func load(key: String) -> String? { lock.lock(); defer { lock.unlock() }; return values[key] }
    func save(key: String, value: String) -> Bool { lock.lock(); defer { lock.unlock() }; values[key] = value; return true }
    func delete(key: String) { lock.lock(); defer { lock.unlock() }; values.removeValue(forKey: key) }
    var keys: [String] { lock.lock(); defer { lock.unlock() }; return Array(values.keys) }
}

/// Every catalog text of a screen (what it must show, nothing more).
func allTexts(_ s: Screen) -> [Text] {
    var out = [s.headline, s.body, s.help.title, s.help.hours, s.help.call]
    if let n = s.notice { out.append(n) }
    out += [s.primary, s.secondary].compactMap { $0?.label }
    out += s.toggles.map(\.label)
    if let c = s.code {
        out.append(c.deleteLabel)
        if let p = c.problem { out.append(p) }
    }
    return out
}

func sameTexts(_ a: [Text], _ b: [Text]) -> Bool {
    Set(a.map { "\($0.id)=\($0.text)" }) == Set(b.map { "\($0.id)=\($0.text)" }) && a.count == b.count
}
