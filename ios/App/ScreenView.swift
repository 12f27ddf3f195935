import SamtaleCore
import SamtaleKit
import SwiftUI

/// The brand's colours (the asset catalog samtale-brand writes).
enum Brand {
    static let background = Color("BrandBackground")
    static let text = Color("BrandText")
    static let primary = Color("BrandPrimary")
    static let onPrimary = Color("BrandOnPrimary")
    static let accent = Color("BrandAccent")
}

/// A font size that grows with Dynamic Type, up to the accessibility sizes.
struct ScaledFont: ViewModifier {
    @ScaledMetric private var size: Double
    private let weight: Font.Weight

    init(_ size: Double, weight: Font.Weight = .regular, relativeTo style: Font.TextStyle = .body) {
        _size = ScaledMetric(wrappedValue: size, relativeTo: style)
        self.weight = weight
    }

    func body(content: Content) -> some View {
        content.font(.system(size: size, weight: weight))
    }
}

extension View {
    func scaled(_ size: Double, weight: Font.Weight = .regular, relativeTo style: Font.TextStyle = .body) -> some View {
        modifier(ScaledFont(size, weight: weight, relativeTo: style))
    }
}

/// Draws the model's screen as it is: a page (everything scrolls, nothing is cut off at the
/// biggest text sizes) or the call. The VoiceOver escape gesture is the core's back.
struct ScreenView: View {
    let model: CallModel
    let devices: CallDevices?

    var body: some View {
        GeometryReader { geo in
            Group {
                if model.presentation.isCall {
                    CallView(model: model, devices: devices, landscape: geo.size.width > geo.size.height)
                } else {
                    PageView(model: model)
                }
            }
            .onAppear { model.low = geo.size.height < Metrics.lowHeight }
            .onChange(of: geo.size) { _, size in model.low = size.height < Metrics.lowHeight }
        }
        .background(Brand.background.ignoresSafeArea())
        .accessibilityAction(.escape) { model.back() }
    }
}

struct PageView: View {
    let model: CallModel

    var body: some View {
        ScrollView {
            VStack(alignment: .leading, spacing: 8) {
                ForEach(Array(model.presentation.parts.enumerated()), id: \.offset) { _, part in
                    PartView(model: model, part: part)
                }
            }
            .frame(maxWidth: Metrics.maxWidth)
            .padding(.horizontal, 20)
            .padding(.vertical, 16)
            .frame(maxWidth: .infinity)
        }
    }
}

/// One part of a page (SamtaleKit's `Presentation.Part`).
struct PartView: View {
    let model: CallModel
    let part: Presentation.Part

    var body: some View {
        switch part {
        case .logo:
            Image("BrandLogo")
                .resizable().scaledToFit()
                .frame(height: Metrics.logo, alignment: .leading)
                .frame(maxWidth: .infinity, alignment: .leading)
                // The municipality's name (samtale-brand writes it into InfoPlist.strings), as
                // the Android app's logo says it.
                .accessibilityLabel(SwiftUI.Text(verbatim: Bundle.main.localizedInfoDictionary?["SamtaleMunicipality"] as? String ?? ""))
        case .pictogram(let p):
            Image("Pictogram-\(pictogramName(p))")
                .resizable().scaledToFit()
                .frame(width: Metrics.pictogram, height: Metrics.pictogram)
                .frame(maxWidth: .infinity)
                .accessibilityHidden(true) // the headline says the same
        case .headline(let t):
            SwiftUI.Text(verbatim: t.text)
                .scaled(Metrics.headlineFont, weight: .bold, relativeTo: .title)
                .foregroundStyle(Brand.text)
                .accessibilityAddTraits(.isHeader)
        case .body(let t), .codeProblem(let t):
            SwiftUI.Text(verbatim: t.text)
                .scaled(Metrics.bodyFont)
                .foregroundStyle(Brand.text)
                .fixedSize(horizontal: false, vertical: true)
        case .notice(let t):
            SwiftUI.Text(verbatim: t.text)
                .scaled(Metrics.bodyFont, weight: .bold)
                .foregroundStyle(Brand.text)
                .fixedSize(horizontal: false, vertical: true)
                .frame(maxWidth: .infinity, alignment: .leading)
                .padding(.horizontal, 16)
                .padding(.vertical, 12)
                .overlay(RoundedRectangle(cornerRadius: 12).strokeBorder(Brand.accent, lineWidth: 4))
        case .codeSlots(let shown, let spoken):
            SwiftUI.Text(verbatim: shown)
                .scaled(Metrics.codeFont, weight: .bold)
                .monospaced()
                .foregroundStyle(Brand.text)
                .frame(maxWidth: .infinity)
                .accessibilityLabel(SwiftUI.Text(verbatim: spoken))
        case .keypad(let delete):
            KeypadView(model: model, deleteLabel: delete.text)
        case .primary(let action, let big, let lit):
            ScreenButton(label: action.label.text, big: big, outlined: false, lit: lit, enabled: action.enabled) {
                model.act(action)
            }
        case .secondary(let action):
            ScreenButton(label: action.label.text, big: false, outlined: true, lit: false, enabled: action.enabled) {
                model.act(action)
            }
        case .toggles(let toggles):
            HStack(spacing: 12) {
                ForEach(toggles, id: \.id) { t in
                    ScreenButton(label: t.label.text, big: false, outlined: true, lit: false, enabled: true,
                                 minHeight: Metrics.key, fontSize: 20) {
                        model.toggle(t.id, isOn: t.on)
                    }
                }
            }
        case .help(let help):
            VStack(alignment: .leading, spacing: 4) {
                SwiftUI.Text(verbatim: help.title.text)
                    .scaled(22, weight: .bold).foregroundStyle(Brand.text)
                    .accessibilityAddTraits(.isHeader)
                SwiftUI.Text(verbatim: help.hours.text).scaled(18).foregroundStyle(Brand.text)
                ScreenButton(label: help.call.text, big: false, outlined: true, lit: false, enabled: true) {
                    model.act(Action(kind: .callHelp, label: help.call, enabled: true))
                }
            }
            .padding(.top, 24)
        case .video:
            EmptyView() // drawn by CallView
        }
    }
}

func pictogramName(_ p: Pictogram) -> String {
    switch p {
    case .code: return "code"
    case .call: return "call"
    case .wait: return "wait"
    case .talk: return "talk"
    case .reconnect: return "reconnect"
    case .done: return "done"
    case .offline: return "offline"
    case .problem: return "problem"
    }
}

/// A big, clear button: filled for the one thing to do, outlined for the others; the lit one
/// (the contact person is there) has a wide ring in the brand's accent.
struct ScreenButton: View {
    let label: String
    let big: Bool
    let outlined: Bool
    let lit: Bool
    let enabled: Bool
    var minHeight: Double? = nil
    var fontSize: Double? = nil
    let action: () -> Void

    var body: some View {
        Button(action: action) {
            SwiftUI.Text(verbatim: label)
                .scaled(fontSize ?? (big ? Metrics.bigButtonFont : Metrics.buttonFont), weight: .bold)
                .multilineTextAlignment(.center)
                .frame(maxWidth: .infinity, minHeight: minHeight ?? (big ? Metrics.bigButton : Metrics.button))
                .padding(.horizontal, 16)
                .foregroundStyle(outlined ? Brand.primary : Brand.onPrimary)
                .background(
                    RoundedRectangle(cornerRadius: lit ? 20 : 16)
                        .fill(outlined ? Brand.background : Brand.primary)
                )
                .overlay(
                    RoundedRectangle(cornerRadius: lit ? 20 : 16)
                        .strokeBorder(lit ? Brand.accent : Brand.primary, lineWidth: lit ? 8 : 3)
                )
        }
        .buttonStyle(.plain)
        .disabled(!enabled)
        .opacity(enabled ? 1 : 0.55)
        .padding(.vertical, 8)
    }
}

/// The code entry's keypad (SamtaleKit's `Keypad.rows`).
struct KeypadView: View {
    let model: CallModel
    let deleteLabel: String

    var body: some View {
        VStack(spacing: 12) {
            ForEach(Array(Keypad.rows.enumerated()), id: \.offset) { _, row in
                HStack(spacing: 12) {
                    ForEach(row, id: \.self) { key in
                        switch key {
                        case .digit(let d):
                            ScreenButton(label: "\(d)", big: false, outlined: true, lit: false, enabled: true,
                                         minHeight: Metrics.key, fontSize: Metrics.keyFont) { model.digit(d) }
                        case .delete:
                            ScreenButton(label: deleteLabel, big: false, outlined: true, lit: false, enabled: true,
                                         minHeight: Metrics.key, fontSize: 18) { model.deleteDigit() }
                        case .blank:
                            Color.clear.frame(maxWidth: .infinity, minHeight: Metrics.key)
                                .accessibilityHidden(true)
                        }
                    }
                }
            }
        }
    }
}

/// The call: the picture filling its part of the screen (self-view in its corner), the
/// controls beside it (landscape) or below it.
struct CallView: View {
    let model: CallModel
    let devices: CallDevices?
    let landscape: Bool

    var body: some View {
        let layout = landscape ? AnyLayout(HStackLayout(spacing: 0)) : AnyLayout(VStackLayout(spacing: 0))
        layout {
            picture
                .frame(maxWidth: .infinity, maxHeight: .infinity)
                .layoutPriority(1.2)
            ScrollView {
                VStack(alignment: .leading, spacing: 8) {
                    ForEach(Array(model.presentation.parts.dropFirst().enumerated()), id: \.offset) { _, part in
                        PartView(model: model, part: part)
                    }
                }
                .padding(.horizontal, 20)
                .padding(.vertical, 16)
            }
            .frame(maxWidth: .infinity, maxHeight: .infinity)
            .layoutPriority(1)
        }
    }

    @ViewBuilder private var picture: some View {
        if case .video(let remote, let selfView, let pictogram, let notice, let banner)? = model.presentation.parts.first {
            ZStack(alignment: .topTrailing) {
                Color.black
                if remote {
                    RemoteVideoView(relay: model.video)
                        .accessibilityLabel(SwiftUI.Text(verbatim: model.texts.remoteVideo.text))
                } else if let p = pictogram {
                    Brand.background
                    Image("Pictogram-\(pictogramName(p))")
                        .resizable().scaledToFit()
                        .frame(width: Metrics.pictogram, height: Metrics.pictogram)
                        .frame(maxWidth: .infinity, maxHeight: .infinity)
                        .accessibilityHidden(true)
                }
                // The model's plan is observed: the self-view comes when the camera does.
                if selfView, model.devices.camera, let camera = devices?.camera {
                    SelfView(session: camera.session)
                        .frame(width: landscape ? 120 : 96, height: landscape ? 160 : 128)
                        .clipShape(RoundedRectangle(cornerRadius: 8))
                        .padding(12)
                        .accessibilityLabel(SwiftUI.Text(verbatim: model.texts.selfView.text))
                }
                VStack(spacing: 0) {
                    Spacer()
                    // What the core noticed, where the eyes are (the controls stay in sight).
                    if let notice {
                        PartView(model: model, part: .notice(notice))
                            .background(Brand.background, in: RoundedRectangle(cornerRadius: 12))
                            .padding(12)
                    }
                    if let banner {
                        // The picture may stand still: say so on the picture.
                        SwiftUI.Text(verbatim: banner.text)
                            .scaled(24, weight: .bold)
                            .foregroundStyle(.white)
                            .frame(maxWidth: .infinity)
                            .padding(.vertical, 12)
                            .background(Color.black.opacity(0.8))
                            .accessibilityHidden(true) // the same words follow below
                    }
                }
            }
        }
    }
}
