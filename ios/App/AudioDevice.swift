import AVFoundation
import SamtaleCore
import SamtaleKit

/// The call's audio: `AVAudioSession` `.playAndRecord`/`.videoChat` (SamtaleKit's
/// `AudioSessionPlan.call`) and an `AVAudioEngine` whose input runs with Apple's voice
/// processing (echo cancelling, noise suppression, gain).
///
/// The real-time callbacks only copy samples into or out of an `AudioRing` (no lock, no
/// allocation). A pump thread (`samtale-ios-audio`) talks to the core: it keeps the speaker's
/// ring 20 ms ahead (`pullAudio`) and hands every whole 10 ms of the microphone to the core
/// (`pushAudio`), converting from the hardware's rate when it is not 48 kHz. A new route (a
/// Bluetooth headset at 16 kHz) or a media-services reset rebuilds the engine's graph.
/// Main actor (the notifications are delivered on the main queue).
@MainActor
final class AudioDevice {
    private let core: Samtale
    private var engine = AVAudioEngine()
    private let speaker = AudioRing(capacity: 4800)
    /// The microphone at the hardware's rate (converted on the pump thread).
    private let microphone = AudioRing(capacity: 19200)
    private let pumpState = PumpState()
    private var observers: [NSObjectProtocol] = []

    init(core: Samtale) {
        self.core = core
    }

    func start(microphone on: Bool) {
        pumpState.set(microphone: on)
        let plan = AudioSessionPlan.call
        let session = AVAudioSession.sharedInstance()
        do {
            var options: AVAudioSession.CategoryOptions = []
            if plan.options.contains(.allowBluetooth) { options.insert(.allowBluetooth) }
            if plan.options.contains(.defaultToSpeaker) { options.insert(.defaultToSpeaker) }
            try session.setCategory(.playAndRecord, mode: .videoChat, options: options)
            try session.setPreferredSampleRate(AudioFormat.sampleRate)
            try session.setPreferredIOBufferDuration(AudioFormat.ioBufferDuration)
            try session.setActive(true)
        } catch {
            NSLog("Samtale audio: session not ready (\(type(of: error)))")
        }
        startGraph()
        let center = NotificationCenter.default
        // A phone call or Siri takes the audio; afterwards the call's audio comes back.
        observers.append(center.addObserver(forName: AVAudioSession.interruptionNotification,
                                            object: nil, queue: .main) { [weak self] note in
            guard let raw = note.userInfo?[AVAudioSessionInterruptionTypeKey] as? UInt,
                  AVAudioSession.InterruptionType(rawValue: raw) == .ended else { return }
            MainActor.assumeIsolated {
                try? AVAudioSession.sharedInstance().setActive(true)
                self?.restartGraph()
            }
        })
        // Another route (a headset came or went) may change the input's rate: rebuild.
        observers.append(center.addObserver(forName: .AVAudioEngineConfigurationChange,
                                            object: nil, queue: .main) { [weak self] _ in
            MainActor.assumeIsolated { self?.restartGraph() }
        })
        // Media services reset (rare): every engine object is gone; a new engine.
        observers.append(center.addObserver(forName: AVAudioSession.mediaServicesWereResetNotification,
                                            object: nil, queue: .main) { [weak self] _ in
            MainActor.assumeIsolated {
                guard let self else { return }
                self.stopGraph()
                self.engine = AVAudioEngine()
                try? AVAudioSession.sharedInstance().setActive(true)
                self.startGraph()
            }
        })
    }

    /// Muted or not allowed: nothing from the microphone reaches the core.
    func setMicrophone(_ on: Bool) {
        pumpState.set(microphone: on)
    }

    private func startGraph() {
        if AudioSessionPlan.call.voiceProcessing {
            do { try engine.inputNode.setVoiceProcessingEnabled(true) } catch {
                NSLog("Samtale audio: no voice processing (\(type(of: error)))")
            }
        }
        guard let format = AVAudioFormat(standardFormatWithSampleRate: AudioFormat.sampleRate, channels: 1) else { return }
        let ring = speaker
        let source = AVAudioSourceNode(format: format) { _, _, frames, list -> OSStatus in
            let buffers = UnsafeMutableAudioBufferListPointer(list)
            guard let first = buffers.first?.mData?.assumingMemoryBound(to: Float.self) else { return noErr }
            ring.read(into: UnsafeMutableBufferPointer(start: first, count: Int(frames)))
            for b in buffers.dropFirst() {
                b.mData?.copyMemory(from: first, byteCount: Int(frames) * MemoryLayout<Float>.size)
            }
            return noErr
        }
        engine.attach(source)
        engine.connect(source, to: engine.mainMixerNode, format: format)

        let inFormat = engine.inputNode.outputFormat(forBus: 0)
        let inputRate = inFormat.sampleRate
        if inputRate > 0 && inFormat.channelCount > 0 {
            let mic = microphone
            let sink = AVAudioSinkNode { _, frames, list -> OSStatus in
                let buffers = UnsafeMutableAudioBufferListPointer(UnsafeMutablePointer(mutating: list))
                if let first = buffers.first?.mData?.assumingMemoryBound(to: Float.self) {
                    mic.write(UnsafeBufferPointer(start: first, count: Int(frames)))
                }
                return noErr
            }
            engine.attach(sink)
            engine.connect(engine.inputNode, to: sink, format: inFormat)
        } else {
            NSLog("Samtale audio: no microphone input now")
        }
        do {
            try engine.start()
        } catch {
            NSLog("Samtale audio: engine not started (\(type(of: error)))")
        }
        let generation = pumpState.begin()
        let (core, speaker, microphone, state) = (core, speaker, microphone, pumpState)
        let thread = Thread {
            AudioDevice.pumpLoop(core: core, speaker: speaker, microphone: microphone, state: state,
                                 generation: generation, inputRate: inputRate)
        }
        thread.name = "samtale-ios-audio"
        thread.qualityOfService = .userInteractive
        thread.start()
    }

    private func stopGraph() {
        pumpState.end()
        engine.stop()
        for node in engine.attachedNodes where node !== engine.inputNode && node !== engine.outputNode
            && node !== engine.mainMixerNode {
            engine.detach(node)
        }
    }

    private func restartGraph() {
        stopGraph()
        startGraph()
    }

    /// The pump: on its own thread, until `state` says another generation (or none) runs.
    private nonisolated static func pumpLoop(core: Samtale, speaker: AudioRing, microphone: AudioRing,
                                             state: PumpState, generation: Int, inputRate: Double) {
        let resampler = inputRate == AudioFormat.sampleRate || inputRate <= 0 ? nil : Resampler(from: inputRate)
        while let micOn = state.running(generation) {
            if let resampler {
                pumpAudio(speaker: speaker, microphone: nil, target: 2 * AudioFormat.frame,
                          pull: { core.pullAudio() }, push: { _ in })
                while let chunk = microphone.readPCM(count: resampler.inputFrame) {
                    for frame in resampler.convert(chunk) where micOn { core.pushAudio(pcm: frame) }
                }
            } else {
                pumpAudio(speaker: speaker, microphone: microphone, target: 2 * AudioFormat.frame,
                          pull: { core.pullAudio() }, push: { if micOn { core.pushAudio(pcm: $0) } })
            }
            // The pump's turn: well inside one 10 ms frame. The audio itself is paced by the
            // hardware's callbacks and the rings, not by this pause.
            Thread.sleep(forTimeInterval: 0.004)
        }
    }

    func stop() {
        for o in observers { NotificationCenter.default.removeObserver(o) }
        observers = []
        stopGraph()
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
    }
}

/// Which pump runs (a rebuilt graph starts a new one; the old one ends) and whether the
/// microphone counts. Shared by the main actor and the pump thread.
final class PumpState: @unchecked Sendable {
    private let lock = NSLock()
    private var generation = 0
    private var active = false
    private var micOn = false

    func begin() -> Int {
        lock.lock(); defer { lock.unlock() }
        generation += 1
        active = true
        return generation
    }

    func end() {
        lock.lock(); defer { lock.unlock() }
        active = false
    }

    func set(microphone on: Bool) {
        lock.lock(); defer { lock.unlock() }
        micOn = on
    }

    /// `nil`: this pump must end; otherwise whether the microphone is on.
    func running(_ g: Int) -> Bool? {
        lock.lock(); defer { lock.unlock() }
        return active && generation == g ? micOn : nil
    }
}

/// From the hardware's microphone rate (a Bluetooth headset: 16 kHz) to the core's 48 kHz,
/// 10 ms at a time (`AVAudioConverter`; on the pump thread, never the real-time one).
private final class Resampler {
    let inputFrame: Int
    private let converter: AVAudioConverter?
    private let inFormat: AVAudioFormat
    private let outFormat: AVAudioFormat
    /// Converted samples not yet a whole 10 ms frame.
    private var pending: [Int16] = []

    init?(from rate: Double) {
        guard let i = AVAudioFormat(commonFormat: .pcmFormatInt16, sampleRate: rate, channels: 1, interleaved: true),
              let o = AVAudioFormat(commonFormat: .pcmFormatInt16, sampleRate: AudioFormat.sampleRate, channels: 1,
                                    interleaved: true) else { return nil }
        inFormat = i
        outFormat = o
        converter = AVAudioConverter(from: i, to: o)
        inputFrame = max(1, Int(rate / 100))
    }

    func convert(_ pcm: [Int16]) -> [[Int16]] {
        guard let converter,
              let source = AVAudioPCMBuffer(pcmFormat: inFormat, frameCapacity: AVAudioFrameCount(pcm.count)),
              let output = AVAudioPCMBuffer(pcmFormat: outFormat, frameCapacity: AVAudioFrameCount(AudioFormat.frame * 2))
        else { return [] }
        source.frameLength = AVAudioFrameCount(pcm.count)
        pcm.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { source.int16ChannelData?[0].update(from: base, count: pcm.count) }
        }
        nonisolated(unsafe) var given = false
        nonisolated(unsafe) let input = source
        _ = converter.convert(to: output, error: nil) { _, status in
            if given {
                status.pointee = .noDataNow
                return nil
            }
            given = true
            status.pointee = .haveData
            return input
        }
        if let data = output.int16ChannelData?[0] {
            pending.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(output.frameLength)))
        }
        var frames: [[Int16]] = []
        while pending.count >= AudioFormat.frame {
            frames.append(Array(pending.prefix(AudioFormat.frame)))
            pending.removeFirst(AudioFormat.frame)
        }
        return frames
    }
}
