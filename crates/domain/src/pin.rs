//! The device PIN policy: 6 digits, not all one digit, not a straight run (123456, 987654).

use crate::issue::Invalid;

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
