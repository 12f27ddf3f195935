import SamtaleCore

/// What VoiceOver is told (WCAG 4.1.3: every change is spoken; nothing is on a timer).
public struct Announcement: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// A new screen: `UIAccessibility.post(notification: .screenChanged, argument: text)`
        /// (VoiceOver moves to the new screen and reads the text).
        case screenChanged
        /// The same screen says something new (the code's problem, a countdown):
        /// `UIAccessibility.post(notification: .announcement, argument: text)`.
        case announcement
    }

    public let kind: Kind
    public let text: String
}

/// Decides, screen by screen, what to announce: the same rule as the Android app's
/// (`ScreenRenderer.render`): a new screen id or a new `announce` text is spoken, a screen that
/// only redraws (a toggle, the lit button) is not.
public struct Announcer: Sendable {
    private var lastId: String?
    private var lastAnnounce: String?

    public init() {}

    public mutating func next(_ s: Screen) -> Announcement? {
        defer {
            lastId = s.id
            lastAnnounce = s.announce
        }
        if lastId != s.id { return Announcement(kind: .screenChanged, text: s.announce) }
        if lastAnnounce != s.announce { return Announcement(kind: .announcement, text: s.announce) }
        return nil
    }
}
