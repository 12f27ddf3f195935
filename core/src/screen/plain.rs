//! Plain-language checks for every citizen-facing sentence (and a brand's overrides):
//! LIX (Björnsson's readability index; below 25 is "very easy" Danish), words per sentence,
//! and words a citizen should never meet.

/// LIX of `text`: words per sentence plus the percentage of long words (more than six
/// letters). Variables (`{ $x }`) count as one short word.
pub fn lix(text: &str) -> f64 {
    let words = words(text);
    if words.is_empty() {
        return 0.0;
    }
    let sentences = sentences(text).len().max(1);
    let long = words.iter().filter(|w| w.chars().count() > 6).count();
    words.len() as f64 / sentences as f64 + 100.0 * long as f64 / words.len() as f64
}

/// The sentences of `text` (split after `.`, `!`, `?`), trimmed, non-empty.
pub fn sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(['.', '!', '?'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The words of `text`: letters and digits, Fluent variables as one word each.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{ $") {
        out.extend(plain_words(&rest[..start]));
        out.push("x".to_owned());
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    out.extend(plain_words(rest));
    out
}

fn plain_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(str::to_owned)
        .collect()
}

/// Words that mean nothing to a citizen (technical terms), in any language.
pub const JARGON: &[&str] = &[
    "ice",
    "webrtc",
    "server",
    "serveren",
    "dtls",
    "srtp",
    "codec",
    "token",
    "signalling",
    "signalering",
    "socket",
    "peer",
    "sdp",
    "nat",
    "ip",
    "url",
    "api",
    "timeout",
    "fejlkode",
    "error",
    "status",
];

/// Sentence limits.
pub const MAX_WORDS_PER_SENTENCE: usize = 12;
/// LIX limit for Danish.
pub const MAX_LIX: f64 = 25.0;

/// Whether `text` is a sentence (ends with `.`, `!` or `?`) rather than a label or headline.
pub fn is_sentence(text: &str) -> bool {
    text.trim_end().ends_with(['.', '!', '?'])
}

/// What is wrong with `text` as plain language, if anything. `danish` also checks LIX: for a
/// sentence on its own; a label or headline of a few words is checked for at most one long
/// word instead (the LIX of two words is just their share of long ones), and as part of its
/// screen's announcement, which must pass LIX too.
pub fn problems(text: &str, danish: bool) -> Vec<String> {
    let mut out = Vec::new();
    for s in sentences(text) {
        let n = words(s).len();
        if n > MAX_WORDS_PER_SENTENCE {
            out.push(format!(
                "\"{s}\" has {n} words; use at most {MAX_WORDS_PER_SENTENCE} a sentence"
            ));
        }
    }
    if danish && !is_sentence(text) {
        let long: Vec<String> = words(text)
            .into_iter()
            .filter(|w| w.chars().count() > 6)
            .collect();
        if long.len() > 1 {
            out.push(format!(
                "\"{text}\" has {} long words ({}); use at most one",
                long.len(),
                long.join(", ")
            ));
        }
    } else if danish {
        let l = lix(text);
        if l > MAX_LIX {
            out.push(format!(
                "LIX {l:.0} is above {MAX_LIX:.0}: use shorter words and sentences"
            ));
        }
    }
    for w in words(text) {
        if JARGON.contains(&w.to_lowercase().as_str()) {
            out.push(format!("\"{w}\" is a technical word; say what it means"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lix_counts_words_sentences_and_long_words() {
        // 4 words, 1 sentence, 2 long words ("starter", "samtalen"): 4 + 50.
        assert!((lix("Vi starter samtalen nu.") - 54.0).abs() < 1e-9);
        assert!((lix("Du skal ikke gøre noget.") - 5.0).abs() < 1e-9);
        assert_eq!(words("Ring til { $municipality } nu.").len(), 4);
    }

    #[test]
    fn the_checks_can_fail() {
        let long = "Hvis forbindelsen afbrydes under samtalen vil applikationen automatisk \
                    forsøge at genetablere forbindelsen til mødet.";
        let p = problems(long, true);
        assert!(p.iter().any(|m| m.contains("words")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("LIX")), "{p:?}");
        assert!(!problems("Vi bruger ICE.", true).is_empty());
        assert!(problems("Du skal ikke gøre noget.", true).is_empty());
        assert!(problems("Start samtalen", true).is_empty());
        assert!(!problems("Genopret forbindelsen", true).is_empty());
    }
}
