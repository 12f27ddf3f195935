//! Join codes: 9 random decimal digits plus one Damm check digit.
//!
//! The check digit catches every single-digit error and every swap of two neighbouring digits,
//! so a mistyped code is rejected offline, before any network call. Users may type or paste a
//! code in any reasonable way: blanks, dashes, dots and any Unicode decimal digits (full-width,
//! Arabic-Indic, ...) are accepted and normalised.

use std::fmt;

/// Number of random digits in a code.
pub const RANDOM_DIGITS: usize = 9;
/// Total number of digits in a code, including the check digit.
pub const CODE_DIGITS: usize = RANDOM_DIGITS + 1;

/// The Damm quasigroup of order 10 (weakly totally anti-symmetric).
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// Returns the Damm check digit of `digits` (each 0..=9).
pub fn damm_check_digit(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0u8, |interim, &d| DAMM[interim as usize][d as usize])
}

/// Why a typed code was rejected. Each variant maps to a specific, actionable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Nothing but blanks and separators was entered.
    #[error("no code was entered")]
    Empty,
    /// A character that is neither a digit nor an accepted separator.
    #[error("the code may only contain digits")]
    NotADigit,
    /// Fewer digits than a code has.
    #[error("too few digits: {got} of {expected}")]
    TooFewDigits {
        /// Digits found.
        got: usize,
        /// Digits a code has.
        expected: usize,
    },
    /// More digits than a code has.
    #[error("too many digits: {got} of {expected}")]
    TooManyDigits {
        /// Digits found.
        got: usize,
        /// Digits a code has.
        expected: usize,
    },
    /// The check digit does not match: a digit is wrong or two digits are swapped.
    #[error("a digit is wrong — check the code")]
    WrongDigit,
}

/// A syntactically valid join code (10 ASCII digits, check digit verified).
///
/// `Debug` is redacted so that a code never ends up in a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JoinCode(String);

impl fmt::Debug for JoinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinCode(<redacted>)")
    }
}

impl JoinCode {
    /// Parses user input, normalising separators and Unicode digits, and verifies the check digit.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let mut digits = String::with_capacity(CODE_DIGITS);
        for ch in input.chars() {
            if let Some(d) = unicode_decimal_value(ch) {
                digits.push(char::from(b'0' + d));
            } else if !is_separator(ch) {
                return Err(CodeError::NotADigit);
            }
        }
        let n = digits.len();
        if n == 0 {
            return Err(CodeError::Empty);
        }
        if n < CODE_DIGITS {
            return Err(CodeError::TooFewDigits {
                got: n,
                expected: CODE_DIGITS,
            });
        }
        if n > CODE_DIGITS {
            return Err(CodeError::TooManyDigits {
                got: n,
                expected: CODE_DIGITS,
            });
        }
        let values: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        if damm_check_digit(&values) != 0 {
            return Err(CodeError::WrongDigit);
        }
        Ok(Self(digits))
    }

    /// Builds a code from 9 random digits by appending the check digit.
    pub fn from_random_digits(random: [u8; RANDOM_DIGITS]) -> Self {
        let check = damm_check_digit(&random);
        let mut s: String = random.iter().map(|d| char::from(b'0' + d % 10)).collect();
        s.push(char::from(b'0' + check));
        Self(s)
    }

    /// Generates a fresh random code (10^9 possibilities).
    pub fn generate() -> Self {
        use rand::RngExt;
        let mut rng = rand::rng();
        let mut random = [0u8; RANDOM_DIGITS];
        for d in &mut random {
            *d = rng.random_range(0..10);
        }
        Self::from_random_digits(random)
    }

    /// The 10 ASCII digits, no separators (the form sent on the wire).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// Grouped for display and reading aloud: `482 193 7750`.
    pub fn display(&self) -> String {
        let s = &self.0;
        format!("{} {} {}", &s[0..3], &s[3..6], &s[6..])
    }
}

fn is_separator(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '-' | '.'
                | '_'
                | '/'
                | '\u{00B7}' // middle dot
                | '\u{2010}'
                ..='\u{2015}' // hyphens and dashes
                | '\u{2212}' // minus sign
                | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' // small/full-width hyphen-minus
                | '\u{FF0E}' // full-width full stop
                | '\u{200B}' | '\u{2060}' | '\u{FEFF}' // zero-width space, word joiner, BOM
        )
}

/// First code point ("zero") of every run of Unicode decimal digits (general category Nd).
/// Each run holds the ten digits 0..=9 in order.
const DECIMAL_ZEROS: &[u32] = &[
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
    0x1E950, 0x1FBF0,
];

/// The value of a Unicode decimal digit, if `ch` is one.
fn unicode_decimal_value(ch: char) -> Option<u8> {
    let cp = ch as u32;
    DECIMAL_ZEROS
        .iter()
        .find(|&&zero| cp >= zero && cp < zero + 10)
        .map(|&zero| (cp - zero) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn known_damm_example() {
        // Classic example: 572 -> check digit 4.
        assert_eq!(damm_check_digit(&[5, 7, 2]), 4);
        assert_eq!(damm_check_digit(&[5, 7, 2, 4]), 0);
    }

    #[test]
    fn normalises_any_typing() {
        let code = JoinCode::from_random_digits([4, 8, 2, 1, 9, 3, 7, 7, 5]);
        let d = code.digits().to_string();
        let grouped = code.display();
        assert_eq!(grouped.len(), 12);
        let fullwidth: String = d
            .chars()
            .map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
            .collect();
        let arabic: String = d
            .chars()
            .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
            .collect();
        for input in [
            d.clone(),
            grouped.clone(),
            format!("  {grouped}\n"),
            format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
            format!("{}.{}.{}", &d[..3], &d[3..6], &d[6..]),
            format!("{}\u{00A0}{}", &d[..5], &d[5..]),
            format!("{}\u{2013}{}", &d[..5], &d[5..]),
            fullwidth,
            arabic,
        ] {
            assert_eq!(
                JoinCode::parse(&input).as_ref(),
                Ok(&code),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn specific_errors() {
        assert_eq!(JoinCode::parse(""), Err(CodeError::Empty));
        assert_eq!(JoinCode::parse("  - . "), Err(CodeError::Empty));
        assert_eq!(JoinCode::parse("48219a7750"), Err(CodeError::NotADigit));
        assert_eq!(
            JoinCode::parse("482 193"),
            Err(CodeError::TooFewDigits {
                got: 6,
                expected: 10
            })
        );
        assert_eq!(
            JoinCode::parse("482 193 7750 1"),
            Err(CodeError::TooManyDigits {
                got: 11,
                expected: 10
            })
        );
        let good = JoinCode::generate();
        let mut bad: Vec<u8> = good.digits().bytes().collect();
        bad[0] = if bad[0] == b'9' { b'0' } else { bad[0] + 1 };
        let bad = String::from_utf8(bad).unwrap_or_default();
        assert_eq!(JoinCode::parse(&bad), Err(CodeError::WrongDigit));
    }

    #[test]
    fn every_single_digit_error_and_adjacent_swap_is_caught() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5a17a1e);
        let mut checked = 0u64;
        for _ in 0..2_000 {
            let mut random = [0u8; RANDOM_DIGITS];
            for d in &mut random {
                *d = rng.random_range(0..10);
            }
            let code = JoinCode::from_random_digits(random);
            let digits: Vec<u8> = code.digits().bytes().map(|b| b - b'0').collect();
            assert_eq!(damm_check_digit(&digits), 0);
            for pos in 0..CODE_DIGITS {
                for wrong in 0..10u8 {
                    if wrong == digits[pos] {
                        continue;
                    }
                    let mut typo = digits.clone();
                    typo[pos] = wrong;
                    assert_ne!(damm_check_digit(&typo), 0, "single error undetected");
                    checked += 1;
                }
            }
            for pos in 0..CODE_DIGITS - 1 {
                if digits[pos] == digits[pos + 1] {
                    continue;
                }
                let mut swapped = digits.clone();
                swapped.swap(pos, pos + 1);
                assert_ne!(damm_check_digit(&swapped), 0, "adjacent swap undetected");
                checked += 1;
            }
        }
        assert!(checked > 180_000, "checked {checked}");
    }

    #[test]
    fn debug_is_redacted() {
        let code = JoinCode::generate();
        assert!(!format!("{code:?}").contains(code.digits()));
    }
}
