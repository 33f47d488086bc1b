//! The device PIN policy: 6 digits, not all one digit, not a straight run (123456, 987654).

use crate::issue::Invalid;

/// Wrong PINs in a row before the app locks for a while.
pub const PIN_ATTEMPTS: u32 = 5;

/// How long the app stays locked after `failures` wrong PINs in a row: none until the fifth,
/// then 5 minutes, doubling with every further five (10, 20…), at most 24 hours. A thief cannot
/// try many PINs; an enumerator who mistypes waits minutes, not days.
pub fn pin_lockout(failures: u32) -> Option<chrono::Duration> {
    if failures == 0 || !failures.is_multiple_of(PIN_ATTEMPTS) {
        return None;
    }
    let round = (failures / PIN_ATTEMPTS - 1).min(9);
    Some(chrono::Duration::minutes((5i64 << round).min(24 * 60)))
}

/// Checks a PIN against the policy.
pub fn validate_pin(pin: &str) -> Result<(), Invalid> {
    let d: Vec<i16> = pin
        .bytes()
        .map(|b| i16::from(b) - i16::from(b'0'))
        .collect();
    if d.len() != 6 || d.iter().any(|x| !(0..=9).contains(x)) {
        return Err(Invalid::PinFormat);
    }
    let steps: Vec<i16> = d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|s| *s == steps[0]) && steps[0].abs() <= 1 {
        return Err(Invalid::PinTooSimple);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lockout_grows_with_every_five_wrong_pins() {
        assert_eq!(pin_lockout(4), None);
        assert_eq!(pin_lockout(5), Some(chrono::Duration::minutes(5)));
        assert_eq!(pin_lockout(6), None);
        assert_eq!(pin_lockout(10), Some(chrono::Duration::minutes(10)));
        assert_eq!(pin_lockout(500), Some(chrono::Duration::hours(24)));
    }

    #[test]
    fn policy() {
        assert!(validate_pin("270814").is_ok());
        for weak in ["000000", "123456", "987654", "555555"] {
            assert_eq!(validate_pin(weak), Err(Invalid::PinTooSimple), "{weak}");
        }
        for bad in ["12345", "1234567", "12a456", "", "١٢٣٤٥٦"] {
            assert_eq!(validate_pin(bad), Err(Invalid::PinFormat), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,10}") {
            let _ = validate_pin(&s);
        }
    }
}
