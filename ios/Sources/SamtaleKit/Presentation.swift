import SamtaleCore

/// What a screen shows, top to bottom, in the order the Android app draws it
/// (`ScreenRenderer`). The SwiftUI views draw these parts and nothing else: every word comes
/// from the core's `Screen`, so both apps show the same ids and strings for the same state.
public struct Presentation: Equatable, Sendable {
    public enum Part: Equatable, Sendable {
        /// The municipality's logo (asset `BrandLogo`; its label is the brand's municipality).
        case logo
        /// Decorative (the headline says the same): hidden from VoiceOver.
        case pictogram(Pictogram)
        /// The screen's heading (a VoiceOver header).
        case headline(Text)
        case body(Text)
        /// Something the core noticed (a microphone that gives no sound), framed in the accent.
        case notice(Text)
        /// The typed code and its blanks; `spoken` is what VoiceOver reads.
        case codeSlots(shown: String, spoken: String)
        /// What is wrong with the code (also announced).
        case codeProblem(Text)
        /// `Keypad.rows`; the delete key's label.
        case keypad(delete: Text)
        /// The one main button: big on the big-button screen, lit when the contact person is
        /// there. On the call, below the toggles (hang up).
        case primary(Action, big: Bool, lit: Bool)
        /// The second answer to a question (outlined).
        case secondary(Action)
        /// Microphone and camera, side by side.
        case toggles([Toggle])
        /// The call's picture area: the other's video or, while there is none, the pictogram;
        /// along its lower edge what the core noticed (`notice`, so the controls stay in sight)
        /// and, when the picture may stand still, the reconnecting `banner`.
        case video(remote: Bool, selfView: Bool, pictogram: Pictogram?, notice: Text?, banner: Text?)
        /// The help line: always last, in the same place on every screen.
        case help(Help)
    }

    public let screenId: String
    /// The call (video beside or above the controls) or a scrolling page.
    public let isCall: Bool
    public let parts: [Part]
    /// Two answers side by side rather than stacked (a phone held sideways).
    public let answersSideBySide: Bool

    /// `low`: less than 600 pt tall (a phone held sideways), as the Android app decides.
    public init(_ s: Screen, low: Bool = false) {
        screenId = s.id
        var parts: [Part] = []
        if s.layout == .call {
            isCall = true
            let banner = s.showRemoteVideo && s.state == .reconnecting ? s.headline : nil
            parts.append(.video(remote: s.showRemoteVideo, selfView: s.showSelfView,
                                pictogram: s.showRemoteVideo ? nil : s.pictogram, notice: s.notice, banner: banner))
            parts.append(.headline(s.headline))
            parts.append(.body(s.body))
            if !s.toggles.isEmpty { parts.append(.toggles(s.toggles)) }
            if let p = s.primary { parts.append(.primary(p, big: false, lit: false)) }
            answersSideBySide = false
        } else {
            isCall = false
            parts.append(.logo)
            if let p = s.pictogram { parts.append(.pictogram(p)) }
            parts.append(.headline(s.headline))
            parts.append(.body(s.body))
            if let n = s.notice { parts.append(.notice(n)) }
            if s.layout == .codeEntry, let code = s.code {
                parts.append(.codeSlots(shown: Keypad.slots(code), spoken: Keypad.spoken(code)))
                if let problem = code.problem { parts.append(.codeProblem(problem)) }
                parts.append(.keypad(delete: code.deleteLabel))
            }
            if let p = s.primary { parts.append(.primary(p, big: s.layout == .bigButton, lit: s.lit)) }
            if let a = s.secondary { parts.append(.secondary(a)) }
            answersSideBySide = low && s.primary != nil && s.secondary != nil
        }
        parts.append(.help(s.help))
        self.parts = parts
    }

    /// Every catalog text the screen shows, in order (what a test compares with the core's
    /// model). A reconnecting banner repeats the headline and is not counted twice.
    public var texts: [Text] {
        var out: [Text] = []
        for part in parts {
            switch part {
            case .headline(let t), .body(let t), .notice(let t), .codeProblem(let t): out.append(t)
            case .keypad(let delete): out.append(delete)
            case .primary(let a, _, _), .secondary(let a): out.append(a.label)
            case .toggles(let ts): out.append(contentsOf: ts.map(\.label))
            case .help(let h): out.append(contentsOf: [h.title, h.hours, h.call])
            case .video(_, _, _, let notice, _): if let n = notice { out.append(n) }
            case .logo, .pictogram, .codeSlots: break
            }
        }
        return out
    }
}

/// Sizes in points, the same numbers as the Android app's dp (a citizen's tap targets are big).
public enum Metrics {
    public static let maxWidth = 720.0
    public static let lowHeight = 600.0
    public static let bigButton = 160.0
    public static let button = 96.0
    public static let key = 72.0
    public static let logo = 56.0
    public static let pictogram = 96.0
    /// Font sizes in points at the default Dynamic Type size; they scale with it (up to the
    /// accessibility sizes).
    public static let headlineFont = 30.0
    public static let bodyFont = 22.0
    public static let bigButtonFont = 30.0
    public static let buttonFont = 24.0
    public static let keyFont = 32.0
    public static let codeFont = 40.0
}
