import Foundation
import SamtaleCore
import XCTest
@testable import SamtaleKit

/// Every screen the core can show (`previewScreens`, both languages), as the views would draw
/// it: every word from the screen model, all of them, the help line last, the same parts in the
/// same order as the Android app's renderer.
final class ScreensTests: XCTestCase {
    func screens(_ lang: String) throws -> [Screen] {
        let brand = try BrandConfig.load(from: brandDir)
        return try previewScreens(brandToml: brand.toml, language: lang)
    }

    func testEveryScreenShowsAllItsWordsAndOnlyThose() throws {
        for lang in ["da", "en"] {
            let all = try screens(lang)
            XCTAssertGreaterThan(all.count, 15, "\(lang): the preview has every screen")
            for s in all {
                let p = Presentation(s)
                XCTAssertTrue(sameTexts(p.texts, allTexts(s)), "\(lang) \(s.id): \(p.texts.map(\.id)) vs \(allTexts(s).map(\.id))")
                XCTAssertEqual(s.lang, lang)
                guard case .help(let help)? = p.parts.last else { return XCTFail("\(s.id): the help line is last") }
                XCTAssertEqual(help, s.help)
                XCTAssertFalse(s.announce.isEmpty, "\(s.id): VoiceOver has something to say")
                switch s.layout {
                case .call:
                    XCTAssertTrue(p.isCall)
                    guard case .video(let remote, let selfView, let pictogram, let notice, _)? = p.parts.first else {
                        return XCTFail("\(s.id): the picture first")
                    }
                    XCTAssertEqual(notice, s.notice, "\(s.id): what the core noticed is on the picture")
                    XCTAssertEqual(remote, s.showRemoteVideo)
                    XCTAssertEqual(selfView, s.showSelfView)
                    // Never a black hole: without the other's picture, the pictogram.
                    if !remote { XCTAssertNotNil(pictogram, "\(s.id)") }
                case .bigButton:
                    XCTAssertTrue(p.parts.contains { if case .primary(_, big: true, _) = $0 { return true } else { return false } },
                                  "\(s.id): the one big button")
                case .codeEntry:
                    XCTAssertTrue(p.parts.contains { if case .keypad = $0 { return true } else { return false } }, "\(s.id)")
                    XCTAssertTrue(p.parts.contains { if case .codeSlots = $0 { return true } else { return false } }, "\(s.id)")
                case .message:
                    XCTAssertFalse(p.isCall)
                }
                if case .logo? = p.parts.first { XCTAssertFalse(p.isCall) } else { XCTAssertTrue(p.isCall, "\(s.id): the logo on top") }
            }
            // Ids are the same in both languages (the apps' tests and the Android app key on them).
            XCTAssertEqual(Set(try screens("da").map(\.id)), Set(all.map(\.id)))
        }
    }

    func testTwoAnswersSideBySideOnlyWhenLow() throws {
        let ask = try screens("da").first { $0.id == "confirm-leave" }
        let s = try XCTUnwrap(ask)
        XCTAssertNotNil(s.secondary)
        XCTAssertTrue(Presentation(s, low: true).answersSideBySide)
        XCTAssertFalse(Presentation(s, low: false).answersSideBySide)
        let home = try XCTUnwrap(try screens("da").first { $0.secondary == nil && $0.layout != .call })
        XCTAssertFalse(Presentation(home, low: true).answersSideBySide)
    }

    func testAnnouncerSpeaksNewScreensAndNewWordsOnly() throws {
        let all = try screens("da")
        var a = Announcer()
        var spoken = 0
        var before: Screen?
        var expected = 0
        for s in all {
            let said = a.next(s)
            let new = before == nil || before?.id != s.id || before?.announce != s.announce
            XCTAssertEqual(said?.text, new ? s.announce : nil, s.id)
            if new { expected += 1 }
            if said != nil { spoken += 1 }
            before = s
            XCTAssertNil(a.next(s), "\(s.id): the same screen again is not spoken again")
        }
        XCTAssertEqual(spoken, expected)
        XCTAssertGreaterThan(spoken, all.count / 2)
        // The same screen with new words (a countdown): an announcement, not a new screen.
        var changed = all[0]
        changed.announce += " 2"
        XCTAssertEqual(a.next(all[0])?.kind, .screenChanged)
        XCTAssertEqual(a.next(changed), Announcement(kind: .announcement, text: changed.announce))
    }

    func testKeypadIsTwelveCellsWithZeroUnderEight() {
        XCTAssertEqual(Keypad.rows.count, 4)
        XCTAssertTrue(Keypad.rows.allSatisfy { $0.count == 3 })
        let digits = Keypad.rows.flatMap { $0 }.compactMap { k -> UInt8? in if case .digit(let d) = k { return d } else { return nil } }
        XCTAssertEqual(Set(digits), Set(0...9))
        XCTAssertEqual(Keypad.rows[3][1], .digit(0))
        XCTAssertEqual(Keypad.rows[2][1], .digit(8))
        let code = CodeEntry(grouped: "482 19", digits: 5, needed: 10, problem: nil,
                             deleteLabel: Text(id: "delete-digit", text: "Slet"))
        XCTAssertEqual(Keypad.slots(code), "482 19_____")
        XCTAssertEqual(Keypad.spoken(code), "482 19")
        XCTAssertEqual(Keypad.spoken(CodeEntry(grouped: "", digits: 0, needed: 10, problem: nil, deleteLabel: code.deleteLabel)), " ")
    }

    /// WCAG 2.2.1: nothing the citizen sees ends on a timer. The app's logic has none (the
    /// core's own time-outs are the call's, shown as screens).
    func testNoTimerInTheAppsLogic() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SamtaleKit")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThan(files.count, 5)
        for f in files {
            let src = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            for timer in ["Timer", "asyncAfter", "Task.sleep", "DispatchSourceTimer"] {
                XCTAssertFalse(src.contains(timer), "\(f) uses \(timer)")
            }
        }
    }
}
