import Synchronization

/// A single-producer single-consumer ring of audio samples that the real-time audio thread can
/// use: no lock, no allocation, no system call on either side (the two counters are atomics;
/// the storage is allocated once). One ring carries the core's audio to the speaker's render
/// callback, one carries the microphone's callback to the core.
///
/// The writer never overtakes the reader: what does not fit is dropped and counted (a writer
/// that runs ahead is the thing to fix, not the reader's data to overwrite). A reader that finds
/// too little gets silence for the rest and an underrun is counted.
public final class AudioRing: @unchecked Sendable {
    public let capacity: Int
    private let storage: UnsafeMutablePointer<Float>
    /// Samples written and read since the start (never wrap in practice: 2^63 samples).
    private let written = Atomic<Int>(0)
    private let read = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let underrunCount = Atomic<Int>(0)

    /// `capacity` samples (at 48 kHz, 4800 is 100 ms).
    public init(capacity: Int) {
        precondition(capacity > 0, "a ring holds at least one sample")
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: 0, count: capacity)
    }

    deinit {
        storage.deallocate()
    }

    /// Samples waiting to be read.
    public var available: Int {
        written.load(ordering: .acquiring) - read.load(ordering: .acquiring)
    }

    /// Samples the writer dropped because the ring was full.
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// Reads that found fewer samples than asked for.
    public var underruns: Int { underrunCount.load(ordering: .relaxed) }

    /// Writer side: copies as many samples as fit; returns how many.
    @discardableResult
    public func write(_ samples: UnsafeBufferPointer<Float>) -> Int {
        let w = written.load(ordering: .relaxed)
        let r = read.load(ordering: .acquiring)
        let n = min(samples.count, capacity - (w - r))
        if n < samples.count { droppedCount.add(samples.count - n, ordering: .relaxed) }
        guard n > 0, let base = samples.baseAddress else { return 0 }
        let start = w % capacity
        let first = min(n, capacity - start)
        (storage + start).update(from: base, count: first)
        if n > first { storage.update(from: base + first, count: n - first) }
        written.store(w + n, ordering: .releasing)
        return n
    }

    /// Writer side: 16-bit samples (the core's `pullAudio`), converted to -1...1.
    @discardableResult
    public func write(pcm: [Int16]) -> Int {
        let w = written.load(ordering: .relaxed)
        let r = read.load(ordering: .acquiring)
        let n = min(pcm.count, capacity - (w - r))
        if n < pcm.count { droppedCount.add(pcm.count - n, ordering: .relaxed) }
        for i in 0..<n { storage[(w + i) % capacity] = Float(pcm[i]) / 32768 }
        written.store(w + n, ordering: .releasing)
        return n
    }

    /// Reader side (the real-time callback): fills `out`; what is missing is silence.
    /// Returns how many samples were real.
    @discardableResult
    public func read(into out: UnsafeMutableBufferPointer<Float>) -> Int {
        guard let dst = out.baseAddress else { return 0 }
        let r = read.load(ordering: .relaxed)
        let w = written.load(ordering: .acquiring)
        let n = min(out.count, w - r)
        let start = r % capacity
        let first = min(n, capacity - start)
        dst.update(from: storage + start, count: first)
        if n > first { (dst + first).update(from: storage, count: n - first) }
        if n < out.count {
            (dst + n).update(repeating: 0, count: out.count - n)
            underrunCount.add(1, ordering: .relaxed)
        }
        read.store(r + n, ordering: .releasing)
        return n
    }

    /// Reader side, for the core's `pushAudio`: exactly `count` samples as 16-bit, or `nil`
    /// (nothing taken) while fewer are waiting.
    public func readPCM(count: Int) -> [Int16]? {
        let r = read.load(ordering: .relaxed)
        let w = written.load(ordering: .acquiring)
        guard w - r >= count else { return nil }
        var out = [Int16](repeating: 0, count: count)
        for i in 0..<count {
            let s = storage[(r + i) % capacity]
            out[i] = Int16(max(-32768, min(32767, (s * 32768).rounded())))
        }
        read.store(r + count, ordering: .releasing)
        return out
    }
}

/// One step of the audio pump (the app's `samtale-ios-audio` thread, every few milliseconds, never
/// the real-time thread): keeps `target` samples of the core's audio ready for the speaker and
/// hands every whole 10 ms of the microphone to the core.
public func pumpAudio(speaker: AudioRing, microphone: AudioRing?, target: Int,
                      pull: () -> [Int16], push: ([Int16]) -> Void) {
    var guardFrames = 0
    // At most 10 frames a step: a speaker that stopped reading cannot make this spin.
    while speaker.available < target && guardFrames < 10 {
        speaker.write(pcm: pull())
        guardFrames += 1
    }
    if let mic = microphone {
        while let pcm = mic.readPCM(count: AudioFormat.frame) { push(pcm) }
    }
}
