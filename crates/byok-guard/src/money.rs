//! `Usd`: exact money in integer picodollars (10^-12 US dollars).
//!
//! Every amount and every per-token price is an `i128` count of picodollars, so
//! sums and products are exact: there is no rounding anywhere on the money path.
//! Prices with a finer fraction than one picodollar are rejected when parsed,
//! never rounded silently.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::GuardError;

/// Picodollars per dollar.
pub const PICOS_PER_USD: i128 = 1_000_000_000_000;

/// Fraction digits of a picodollar.
const SCALE: u32 = 12;

/// An exact amount of US dollars, stored as picodollars.
///
/// Displayed and serialised as a plain decimal string (`"0.0025"`, `"12"`,
/// `"-0.000001"`) with no trailing zeros, parsed from decimal text with an
/// optional exponent (`"2.5e-06"`). Arithmetic is checked: overflow is an
/// error (`amount_overflow`), never a wrap.
///
/// ```
/// use byok_guard::Usd;
/// let price: Usd = "2.5e-06".parse().unwrap(); // $ per token, as LiteLLM writes it
/// let cost = price.checked_mul_tokens(1_000).unwrap();
/// assert_eq!(cost.to_string(), "0.0025");
/// assert_eq!(cost.picos(), 2_500_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i128);

impl Usd {
    /// Zero dollars.
    pub const ZERO: Usd = Usd(0);

    /// An amount of `picos` picodollars.
    pub const fn from_picos(picos: i128) -> Usd {
        Usd(picos)
    }

    /// Whole dollars.
    pub const fn from_dollars(dollars: i64) -> Usd {
        Usd(dollars as i128 * PICOS_PER_USD)
    }

    /// The amount in picodollars.
    pub const fn picos(self) -> i128 {
        self.0
    }

    /// True when the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Exact sum, or `amount_overflow`.
    pub fn checked_add(self, other: Usd) -> Result<Usd, GuardError> {
        self.0
            .checked_add(other.0)
            .map(Usd)
            .ok_or(GuardError::Overflow)
    }

    /// Exact difference, or `amount_overflow`.
    pub fn checked_sub(self, other: Usd) -> Result<Usd, GuardError> {
        self.0
            .checked_sub(other.0)
            .map(Usd)
            .ok_or(GuardError::Overflow)
    }

    /// This per-token price times a token count, exactly, or `amount_overflow`.
    pub fn checked_mul_tokens(self, tokens: u64) -> Result<Usd, GuardError> {
        self.0
            .checked_mul(i128::from(tokens))
            .map(Usd)
            .ok_or(GuardError::Overflow)
    }

    /// Exact sum of many amounts, or `amount_overflow`.
    pub fn checked_sum<I: IntoIterator<Item = Usd>>(items: I) -> Result<Usd, GuardError> {
        items.into_iter().try_fold(Usd::ZERO, Usd::checked_add)
    }

    /// Parse decimal text exactly: `[-]digits[.digits][e[+-]digits]`.
    ///
    /// Errors with `invalid_amount` when the text is not a decimal number or has
    /// a fraction finer than one picodollar, and `amount_overflow` when it is too large.
    pub fn parse(text: &str) -> Result<Usd, GuardError> {
        parse_decimal(text, false).map(Usd)
    }

    /// As [`Usd::parse`], but a fraction finer than one picodollar is rounded
    /// to the nearest picodollar (halves away from zero) instead of refused.
    ///
    /// For amounts a provider reports as floating-point numbers (OpenRouter's
    /// `usage.cost`), whose last digits are the float's noise, not money:
    /// `"0.30000000000000004"` is `0.3`. Prices are never read this way.
    ///
    /// ```
    /// use byok_guard::Usd;
    /// assert_eq!(Usd::parse_rounded("0.30000000000000004").unwrap().to_string(), "0.3");
    /// assert_eq!(Usd::parse_rounded("5e-13").unwrap().picos(), 1);
    /// assert_eq!(Usd::parse_rounded("4.95e-05").unwrap().to_string(), "0.0000495");
    /// ```
    pub fn parse_rounded(text: &str) -> Result<Usd, GuardError> {
        parse_decimal(text, true).map(Usd)
    }
}

impl FromStr for Usd {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Usd, GuardError> {
        Usd::parse(s)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let unit = PICOS_PER_USD.unsigned_abs();
        let (int, frac) = (abs / unit, abs % unit);
        if frac == 0 {
            return write!(f, "{sign}{int}");
        }
        let digits = format!("{frac:012}");
        write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Usd, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Usd::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn invalid(text: &str, reason: &'static str) -> GuardError {
    // Amount text is never a secret; keep at most a short prefix so huge inputs stay readable.
    let shown: String = text.chars().take(40).collect();
    GuardError::InvalidAmount {
        text: shown,
        reason,
    }
}

/// Decimal text to picodollars: exact, or (`round`) to the nearest picodollar.
fn parse_decimal(text: &str, round: bool) -> Result<i128, GuardError> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => {
            let exp_text = &rest[i + 1..];
            let exp: i32 = exp_text
                .parse()
                .map_err(|_| invalid(text, "the exponent is not an integer"))?;
            (&rest[..i], exp)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(invalid(text, "there are no digits"));
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(invalid(
            text,
            "only digits, one '.', a sign and an exponent are allowed",
        ));
    }
    // value = digits * 10^(exponent - frac_len); picos = value * 10^12.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exponent) - frac_part.len() as i64 + i64::from(SCALE);
    let mut round_up = false;
    let (digits, shift) = if shift < 0 {
        let cut = usize::try_from(shift.unsigned_abs()).unwrap_or(usize::MAX);
        let keep = digits.len().saturating_sub(cut);
        if digits[keep..].bytes().any(|b| b != b'0') {
            if !round {
                return Err(invalid(
                    text,
                    "it is finer than one picodollar (12 decimal places)",
                ));
            }
            // The first digit cut decides (it is there only when nothing before it was cut off).
            let first_cut = cut.checked_sub(digits.len() - keep).filter(|&z| z == 0);
            round_up = first_cut.is_some() && digits.as_bytes()[keep] >= b'5';
        }
        (&digits[..keep], 0)
    } else {
        (digits, shift)
    };
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or(GuardError::Overflow)?;
    }
    if value != 0 {
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or(GuardError::Overflow)?;
        }
    }
    if round_up {
        value = value.checked_add(1).ok_or(GuardError::Overflow)?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_litellm_numbers_exactly() {
        assert_eq!(Usd::parse("2.5e-06").unwrap().picos(), 2_500_000);
        assert_eq!(Usd::parse("1.00002e-06").unwrap().picos(), 1_000_020);
        assert_eq!(Usd::parse("3e-07").unwrap().picos(), 300_000);
        assert_eq!(Usd::parse("0.0").unwrap(), Usd::ZERO);
        assert_eq!(Usd::parse("0").unwrap(), Usd::ZERO);
        assert_eq!(Usd::parse("1.5E+2").unwrap(), Usd::from_dollars(150));
        assert_eq!(Usd::parse("-0.25").unwrap().picos(), -250_000_000_000);
        assert_eq!(Usd::parse(".5").unwrap().picos(), 500_000_000_000);
        assert_eq!(Usd::parse("1e-12").unwrap().picos(), 1);
        assert_eq!(Usd::parse("10e-13").unwrap().picos(), 1);
    }

    #[test]
    fn rejects_what_is_not_an_exact_amount() {
        for bad in [
            "", "-", ".", "1.2.3", "abc", "1e", "1e-x", "0x10", "1,5", " 1", "NaN",
        ] {
            let err = Usd::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_amount", "{bad:?}");
        }
        assert_eq!(Usd::parse("1e-13").unwrap_err().code(), "invalid_amount");
        assert_eq!(Usd::parse("1e40").unwrap_err().code(), "amount_overflow");
    }

    #[test]
    fn rounds_only_past_the_last_picodollar() {
        assert_eq!(
            Usd::parse_rounded("1.0000000000004").unwrap().picos(),
            PICOS_PER_USD
        );
        assert_eq!(
            Usd::parse_rounded("1.0000000000005").unwrap().picos(),
            PICOS_PER_USD + 1
        );
        assert_eq!(
            Usd::parse_rounded("-1.0000000000005").unwrap().picos(),
            -PICOS_PER_USD - 1
        );
        // Far below a picodollar: 0 (the first cut digit is a leading zero).
        assert_eq!(Usd::parse_rounded("9e-20").unwrap(), Usd::ZERO);
        assert_eq!(Usd::parse_rounded("4.9e-13").unwrap(), Usd::ZERO);
        assert_eq!(Usd::parse_rounded("0.5e-12").unwrap().picos(), 1);
        assert_eq!(Usd::parse_rounded("1e-99999").unwrap(), Usd::ZERO);
        for bad in ["", "NaN", "inf", "1e", "0x1"] {
            assert_eq!(
                Usd::parse_rounded(bad).unwrap_err().code(),
                "invalid_amount"
            );
        }
    }

    #[test]
    fn displays_minimal_decimal() {
        assert_eq!(Usd::from_picos(2_500_000_000).to_string(), "0.0025");
        assert_eq!(Usd::from_dollars(12).to_string(), "12");
        assert_eq!(Usd::from_picos(-1).to_string(), "-0.000000000001");
        assert_eq!(Usd::ZERO.to_string(), "0");
        assert_eq!(Usd::from_picos(i128::MIN).to_string().len(), 41);
    }

    #[test]
    fn serde_is_a_string() {
        let v = serde_json::to_value(Usd::from_picos(1_500_000_000_000)).unwrap();
        assert_eq!(v, serde_json::json!("1.5"));
        let back: Usd = serde_json::from_value(v).unwrap();
        assert_eq!(back.picos(), 1_500_000_000_000);
        assert!(serde_json::from_value::<Usd>(serde_json::json!(1.5)).is_err());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(p in any::<i128>()) {
            let u = Usd::from_picos(p);
            prop_assert_eq!(Usd::parse(&u.to_string()).unwrap(), u);
        }

        #[test]
        fn scientific_text_matches_integer_math(mantissa in 0u64..10_000_000, exp in -12i32..6) {
            let text = format!("{mantissa}e{exp}");
            let expected = i128::from(mantissa) * 10i128.pow((exp + 12) as u32);
            prop_assert_eq!(Usd::parse(&text).unwrap().picos(), expected);
        }

        #[test]
        fn sums_are_associative_and_never_wrap(a in any::<i128>(), b in any::<i128>(), c in any::<i128>()) {
            let (a, b, c) = (Usd::from_picos(a), Usd::from_picos(b), Usd::from_picos(c));
            let left = a.checked_add(b).and_then(|ab| ab.checked_add(c));
            let right = b.checked_add(c).and_then(|bc| a.checked_add(bc));
            if let (Ok(l), Ok(r)) = (&left, &right) {
                prop_assert_eq!(l, r);
            }
            // Checked arithmetic agrees with exact i128 math whenever that math fits.
            match a.picos().checked_add(b.picos()) {
                Some(s) => prop_assert_eq!(a.checked_add(b).unwrap().picos(), s),
                None => prop_assert_eq!(a.checked_add(b).unwrap_err(), GuardError::Overflow),
            }
        }

        #[test]
        fn price_times_tokens_is_exact(price in 0i128..1_000_000_000, tokens in any::<u64>()) {
            let cost = Usd::from_picos(price).checked_mul_tokens(tokens).unwrap();
            prop_assert_eq!(cost.picos(), price * i128::from(tokens));
        }

        #[test]
        fn sum_of_many_small_amounts_is_order_independent(v in proptest::collection::vec(0i128..1_000_000_000_000_000, 0..50)) {
            let forward = Usd::checked_sum(v.iter().copied().map(Usd::from_picos)).unwrap();
            let backward = Usd::checked_sum(v.iter().rev().copied().map(Usd::from_picos)).unwrap();
            prop_assert_eq!(forward, backward);
            prop_assert_eq!(forward.picos(), v.iter().sum::<i128>());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Usd::parse(&s);
            let _ = Usd::parse_rounded(&s);
        }

        #[test]
        fn rounded_parse_is_exact_when_exact_and_nearest_otherwise(
            picos in -1_000_000_000_000_000i128..1_000_000_000_000_000, extra in 0u32..1000, digits in 1usize..4
        ) {
            let exact = Usd::from_picos(picos).to_string();
            prop_assert_eq!(Usd::parse_rounded(&exact).unwrap(), Usd::from_picos(picos));
            // Append sub-picodollar digits to a 12-decimal rendering: rounds to the nearest.
            let sign = if picos < 0 { "-" } else { "" };
            let abs = picos.unsigned_abs();
            let tail = format!("{extra:03}");
            let tail = &tail[..digits];
            let text = format!("{sign}{}.{:012}{tail}", abs / 1_000_000_000_000, abs % 1_000_000_000_000);
            let up = tail.as_bytes()[0] >= b'5';
            let want = (abs + u128::from(up)) as i128;
            let want = if picos < 0 { -want } else { want };
            prop_assert_eq!(Usd::parse_rounded(&text).unwrap().picos(), want, "{}", text);
            if tail.bytes().any(|b| b != b'0') {
                prop_assert!(Usd::parse(&text).is_err());
            }
        }
    }
}
