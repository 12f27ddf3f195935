import SamtaleCore

/// The code entry's own keypad (no system keyboard: big keys, digits only, in the same place
/// every time). The same keys and order as the Android app's.
public enum Keypad {
    public enum Key: Equatable, Hashable, Sendable {
        case digit(UInt8)
        /// Deletes the last digit; its label is `CodeEntry.deleteLabel`.
        case delete
        /// An empty cell, as big as a key (keeps 0 under 8).
        case blank
    }

    /// Four rows of three: 1 2 3 / 4 5 6 / 7 8 9 / delete 0 (blank).
    public static let rows: [[Key]] = [
        [.digit(1), .digit(2), .digit(3)],
        [.digit(4), .digit(5), .digit(6)],
        [.digit(7), .digit(8), .digit(9)],
        [.delete, .digit(0), .blank],
    ]

    /// The typed digits in their groups, then one `_` per digit still needed ("482 19_____").
    public static func slots(_ code: CodeEntry) -> String {
        let missing = max(0, Int(code.needed) - Int(code.digits))
        return code.grouped + String(repeating: "_", count: missing)
    }

    /// What VoiceOver reads for the digits: the typed ones only, never the underscores.
    public static func spoken(_ code: CodeEntry) -> String {
        code.grouped.isEmpty ? " " : code.grouped
    }
}
