package dk.samtale.app

import android.content.Context
import android.content.res.Configuration
import android.graphics.Typeface
import android.graphics.drawable.GradientDrawable
import android.graphics.drawable.RippleDrawable
import android.content.res.ColorStateList
import android.os.Build
import android.util.TypedValue
import android.view.Gravity
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.FrameLayout
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import dk.samtale.core.Action
import dk.samtale.core.Layout
import dk.samtale.core.Pictogram
import dk.samtale.core.Screen
import dk.samtale.core.ShellTexts

/** What the renderer's buttons do (the activity passes them on to the core). */
interface ScreenActions {
    fun act(action: Action)
    fun toggle(id: String, on: Boolean)
    fun digit(d: Int)
    fun deleteDigit()
}

/**
 * Draws a [Screen] as it is: its layout, texts, pictogram and buttons, in the brand's colours.
 * No words of its own (all from the screen model and [ShellTexts]), no decisions. Sizes in dp
 * and sp; everything but the call's video scrolls, so nothing is cut off at 200 % text.
 * The help line is always the last thing, in the same place on every screen.
 */
class ScreenRenderer(
    private val context: Context,
    private val texts: ShellTexts,
    private val actions: ScreenActions,
) {
    val remoteVideo = RemoteVideoView(context).apply {
        id = R.id.remote_video
        contentDescription = texts.remoteVideo.text
    }
    val selfView = SelfView(context).apply {
        id = R.id.self_view
        contentDescription = texts.selfView.text
    }
    val root = FrameLayout(context).apply { id = R.id.screen_root }

    private val primary = context.getColor(R.color.brand_primary)
    private val onPrimary = context.getColor(R.color.brand_on_primary)
    private val backgroundColor = context.getColor(R.color.brand_background)
    private val textColor = context.getColor(R.color.brand_text)
    private var shown: Screen? = null
    private var landscape = false
    /** Less than [LOW_DP] tall (a phone held sideways). */
    private var low = false

    /** Draws [s]; announces it to TalkBack when it is a new screen or says something new. */
    fun render(s: Screen, config: Configuration) {
        val before = shown
        val isLandscape = config.orientation == Configuration.ORIENTATION_LANDSCAPE
        if (before == s && isLandscape == landscape && (config.screenHeightDp < LOW_DP) == low) return
        shown = s
        landscape = isLandscape
        low = config.screenHeightDp < LOW_DP
        (remoteVideo.parent as? ViewGroup)?.removeView(remoteVideo)
        (selfView.parent as? ViewGroup)?.removeView(selfView)
        root.removeAllViews()
        root.setBackgroundColor(backgroundColor)
        root.addView(
            if (s.layout == Layout.CALL) callLayout(s) else page(s),
            FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT),
        )
        if (Build.VERSION.SDK_INT >= 28) root.accessibilityPaneTitle = s.headline.text
        if (before == null || before.id != s.id || before.announce != s.announce) {
            // WCAG 4.1.3: every change is spoken ("Vi forbinder igen. Du skal ikke gøre noget.").
            @Suppress("DEPRECATION")
            root.announceForAccessibility(s.announce)
        }
    }

    /** Everything but the call: one scrolling column, at most [MAX_WIDTH_DP] wide. */
    private fun page(s: Screen): View {
        val column = column()
        column.addView(logo())
        s.pictogram?.let { column.addView(pictogram(it)) }
        column.addView(headline(s))
        column.addView(body(s))
        s.notice?.let { column.addView(notice(it.text)) }
        if (s.layout == Layout.CODE_ENTRY) codeEntry(s, column)
        val primary = s.primary?.let { button(it, big = s.layout == Layout.BIG_BUTTON, id = R.id.screen_primary) }
        if (s.lit) primary?.let(::light)
        val secondary = s.secondary?.let { button(it, big = false, id = R.id.screen_secondary, outlined = true) }
        if (primary != null && secondary != null && low) {
            // Two answers side by side: both in sight on a phone held sideways.
            val row = LinearLayout(context).apply {
                orientation = LinearLayout.HORIZONTAL
                isBaselineAligned = false
            }
            for (b in listOf(primary, secondary)) {
                row.addView(b, LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.WRAP_CONTENT, 1f).apply { gap(this) })
            }
            column.addView(row)
        } else {
            primary?.let(column::addView)
            secondary?.let(column::addView)
        }
        column.addView(help(s))
        return scroll(column)
    }

    /** The call: video filling the screen (self-view in its corner), controls beside or below. */
    private fun callLayout(s: Screen): View {
        val video = FrameLayout(context).apply {
            setBackgroundColor(0xff000000.toInt())
            if (s.showRemoteVideo) {
                addView(remoteVideo, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT))
            } else {
                // Waiting, reconnecting: the pictogram and the words, not a black hole.
                addView(
                    LinearLayout(context).apply {
                        orientation = LinearLayout.VERTICAL
                        gravity = Gravity.CENTER
                        setBackgroundColor(backgroundColor)
                        s.pictogram?.let { addView(pictogram(it)) }
                    },
                    FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT),
                )
            }
            // Along the picture's lower edge, where the eyes are: what the core noticed (the
            // controls stay in sight beside or below), and, when the picture may stand still,
            // that we are reconnecting.
            val banners = LinearLayout(context).apply { orientation = LinearLayout.VERTICAL }
            s.notice?.let { banners.addView(notice(it.text).apply { (layoutParams as LinearLayout.LayoutParams).setMargins(dp(12), dp(8), dp(12), dp(12)) }) }
            if (s.showRemoteVideo && s.state is dk.samtale.core.UiState.Reconnecting) {
                banners.addView(
                    label(s.headline.text, 24f, bold = true).apply {
                        setTextColor(0xffffffff.toInt())
                        setBackgroundColor(0xcc000000.toInt())
                        gravity = Gravity.CENTER
                        setPadding(dp(16), dp(12), dp(16), dp(12))
                        // The same words follow below; a screen reader says them once.
                        importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO
                    },
                    LinearLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT),
                )
            }
            if (banners.childCount > 0) {
                addView(banners, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.BOTTOM))
            }
            if (s.showSelfView) {
                val w = dp(if (landscape) 120 else 96)
                addView(
                    selfView,
                    FrameLayout.LayoutParams(w, w * 4 / 3, Gravity.END or Gravity.TOP).apply {
                        setMargins(dp(12), dp(12), dp(12), dp(12))
                    },
                )
            }
        }
        val controls = column()
        controls.addView(headline(s))
        controls.addView(body(s))
        val toggles = LinearLayout(context).apply {
            orientation = LinearLayout.HORIZONTAL
            isBaselineAligned = false
        }
        for (t in s.toggles) {
            // Outlined: only hanging up is a filled button; the words say what a press does.
            val b = button(t.label.text, big = false, outlined = true, textSp = 20f, minDp = KEY_DP).apply {
                id = if (t.id == "camera") R.id.toggle_camera else R.id.toggle_microphone
                setOnClickListener { actions.toggle(t.id, t.on) }
            }
            toggles.addView(b, LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.WRAP_CONTENT, 1f).apply { gap(this) })
        }
        controls.addView(toggles)
        s.primary?.let { controls.addView(button(it, big = false, id = R.id.screen_primary)) }
        controls.addView(help(s))
        val split = LinearLayout(context).apply { orientation = if (landscape) LinearLayout.HORIZONTAL else LinearLayout.VERTICAL }
        val weight = { w: Float ->
            if (landscape) LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.MATCH_PARENT, w)
            else LinearLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, 0, w)
        }
        split.addView(video, weight(if (landscape) 1f else 1.2f))
        split.addView(scroll(controls), weight(1f))
        return split
    }

    private fun codeEntry(s: Screen, column: LinearLayout) {
        val code = s.code ?: return
        val slots = code.grouped + "_".repeat((code.needed - code.digits).toInt().coerceAtLeast(0))
        column.addView(
            label(slots, 40f, bold = true).apply {
                id = R.id.code_digits
                typeface = Typeface.MONOSPACE
                gravity = Gravity.CENTER
                letterSpacing = 0.08f
                contentDescription = code.grouped.ifEmpty { " " }
            },
        )
        code.problem?.let { p ->
            column.addView(
                label(p.text, 22f, bold = true).apply {
                    id = R.id.code_problem
                    accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
                },
            )
        }
        val pad = LinearLayout(context).apply {
            id = R.id.keypad
            orientation = LinearLayout.VERTICAL
        }
        val rows = listOf(listOf("1", "2", "3"), listOf("4", "5", "6"), listOf("7", "8", "9"), listOf("del", "0", ""))
        for (r in rows) {
            val row = LinearLayout(context).apply {
                orientation = LinearLayout.HORIZONTAL
                isBaselineAligned = false
            }
            for (k in r) {
                val cell = LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.WRAP_CONTENT, 1f).apply { gap(this) }
                when (k) {
                    // An empty cell (no target), as tall as a key.
                    "" -> row.addView(View(context), LinearLayout.LayoutParams(0, dp(KEY_DP), 1f).apply { gap(this) })
                    "del" -> row.addView(
                        button(code.deleteLabel.text, big = false, outlined = true, textSp = 18f, minDp = KEY_DP).apply {
                            id = R.id.keypad_delete
                            setOnClickListener { actions.deleteDigit() }
                        },
                        cell,
                    )
                    else -> row.addView(
                        button(k, big = false, outlined = true, textSp = 32f, minDp = KEY_DP).apply {
                            tag = "key-$k"
                            setOnClickListener { actions.digit(k.toInt()) }
                        },
                        cell,
                    )
                }
            }
            pad.addView(row)
        }
        column.addView(pad)
    }

    private fun help(s: Screen): View {
        val box = LinearLayout(context).apply {
            id = R.id.help
            orientation = LinearLayout.VERTICAL
            setPadding(0, dp(24), 0, 0)
        }
        box.addView(label(s.help.title.text, 22f, bold = true).apply { heading(this) })
        box.addView(label(s.help.hours.text, 18f))
        box.addView(
            button(s.help.call.text, big = false, outlined = true).apply {
                id = R.id.help_call
                setOnClickListener { actions.act(Action(dk.samtale.core.ActionKind.CALL_HELP, s.help.call, true)) }
            },
        )
        return box
    }

    private fun logo(): View = ImageView(context).apply {
        id = R.id.screen_logo
        setImageResource(R.drawable.brand_logo)
        contentDescription = context.getString(R.string.municipality)
        scaleType = ImageView.ScaleType.FIT_START
        layoutParams = LinearLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, dp(56)).apply { bottomMargin = dp(8) }
    }

    private fun pictogram(p: Pictogram): View = ImageView(context).apply {
        id = R.id.screen_pictogram
        setImageResource(pictogramDrawable(p))
        // Decorative: the headline says the same.
        importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO
        layoutParams = LinearLayout.LayoutParams(dp(96), dp(96)).apply {
            gravity = Gravity.CENTER_HORIZONTAL
            topMargin = dp(8)
        }
    }

    private fun headline(s: Screen) = label(s.headline.text, 30f, bold = true).apply {
        id = R.id.screen_headline
        heading(this)
    }

    /** A heading for screen readers (API 28+; before it TalkBack reads it as plain text). */
    private fun heading(v: View) {
        if (Build.VERSION.SDK_INT >= 28) v.isAccessibilityHeading = true
    }

    private fun body(s: Screen) = label(s.body.text, 22f).apply { id = R.id.screen_body }

    /** Something the core noticed (a microphone that gives no sound): framed in the accent. */
    private fun notice(t: String) = label(t, 22f, bold = true).apply {
        id = R.id.screen_notice
        setPadding(dp(16), dp(12), dp(16), dp(12))
        background = GradientDrawable().apply {
            cornerRadius = dp(12).toFloat()
            setColor(backgroundColor)
            setStroke(dp(4), context.getColor(R.color.brand_accent))
        }
        layoutParams = LinearLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT)
            .apply { setMargins(0, dp(8), 0, dp(8)) }
    }

    private fun label(t: String, sp: Float, bold: Boolean = false) = TextView(context).apply {
        text = t
        setTextColor(textColor)
        setTextSize(TypedValue.COMPLEX_UNIT_SP, sp)
        if (bold) setTypeface(typeface, Typeface.BOLD)
        setLineSpacing(0f, 1.15f)
        setPadding(0, dp(8), 0, dp(8))
    }

    private fun button(a: Action, big: Boolean, id: Int, outlined: Boolean = false) =
        button(a.label.text, big, outlined).apply {
            this.id = id
            isEnabled = a.enabled
            if (!a.enabled) alpha = 0.55f
            setOnClickListener { actions.act(a) }
        }

    private fun button(
        label: String,
        big: Boolean,
        outlined: Boolean,
        textSp: Float = if (big) 30f else 24f,
        minDp: Int = if (big) BIG_BUTTON_DP else BUTTON_DP,
    ) =
        Button(context).apply {
            text = label
            isAllCaps = false
            stateListAnimator = null
            setTextSize(TypedValue.COMPLEX_UNIT_SP, textSp)
            setTypeface(typeface, Typeface.BOLD)
            setTextColor(if (outlined) primary else onPrimary)
            minHeight = dp(minDp)
            minimumHeight = dp(minDp)
            setPadding(dp(16), dp(12), dp(16), dp(12))
            val shape = GradientDrawable().apply {
                cornerRadius = dp(16).toFloat()
                setColor(if (outlined) backgroundColor else primary)
                setStroke(dp(3), primary)
            }
            this.background = RippleDrawable(ColorStateList.valueOf(0x33000000), shape, null)
            layoutParams = LinearLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT)
                .apply { gap(this) }
        }

    /** The lit button: the contact person is there (a wide ring in the brand's accent). */
    private fun light(b: Button) {
        val shape = GradientDrawable().apply {
            cornerRadius = dp(20).toFloat()
            setColor(primary)
            setStroke(dp(8), context.getColor(R.color.brand_accent))
        }
        b.background = RippleDrawable(ColorStateList.valueOf(0x33000000), shape, null)
    }

    private fun column() = MaxWidthColumn(context, dp(MAX_WIDTH_DP)).apply {
        orientation = LinearLayout.VERTICAL
        setPadding(dp(20), dp(16), dp(20), dp(24))
    }

    private fun scroll(content: View) = ScrollView(context).apply {
        isFillViewport = true
        addView(
            FrameLayout(context).apply {
                addView(content, FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.CENTER_HORIZONTAL))
            },
        )
    }

    private fun gap(lp: LinearLayout.LayoutParams) = lp.setMargins(dp(6), dp(8), dp(6), dp(8))

    private fun dp(v: Int) = (v * context.resources.displayMetrics.density + 0.5f).toInt()

    companion object {
        const val MAX_WIDTH_DP = 720
        const val LOW_DP = 600
        const val BIG_BUTTON_DP = 160
        const val BUTTON_DP = 96
        const val KEY_DP = 72

        fun pictogramDrawable(p: Pictogram) = when (p) {
            Pictogram.CODE -> R.drawable.pictogram_code
            Pictogram.CALL -> R.drawable.pictogram_call
            Pictogram.WAIT -> R.drawable.pictogram_wait
            Pictogram.TALK -> R.drawable.pictogram_talk
            Pictogram.RECONNECT -> R.drawable.pictogram_reconnect
            Pictogram.DONE -> R.drawable.pictogram_done
            Pictogram.OFFLINE -> R.drawable.pictogram_offline
            Pictogram.PROBLEM -> R.drawable.pictogram_problem
        }
    }
}

/** A vertical LinearLayout no wider than [maxWidth] (long lines are hard to read on tablets). */
class MaxWidthColumn(context: Context, private val maxWidth: Int) : LinearLayout(context) {
    override fun onMeasure(widthMeasureSpec: Int, heightMeasureSpec: Int) {
        val w = MeasureSpec.getSize(widthMeasureSpec)
        val spec = if (w > maxWidth) MeasureSpec.makeMeasureSpec(maxWidth, MeasureSpec.EXACTLY) else widthMeasureSpec
        super.onMeasure(spec, heightMeasureSpec)
    }
}
