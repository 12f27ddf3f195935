#if os(Linux)
// Swift 6.0's libswiftObservation.so on Linux refers to a symbol no library exports
// (swiftlang/swift#75670, fixed in 6.2): without it nothing that uses @Observable links. It is
// only reached on a fatal threading error, which ends the process anyway. Not needed on Apple
// platforms (the app never has this file).
@_cdecl("_ZN5swift9threading5fatalEPKcz")
func swiftThreadingFatal() -> Never { fatalError("Swift threading error (Observation)") }
#endif
