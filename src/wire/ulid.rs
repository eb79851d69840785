//! The ids DialNexa hands out: a prefix and a ULID, as the API page shows
//! them (`call_01hy...`, `av_01hx...`). A ULID is 128 bits written as 26
//! digits of Crockford's base32, here lowercase; the first digit carries
//! only 3 bits, and the first 48 bits are the creation time in
//! milliseconds, so ids sort by creation.
//!
//! The simulator writes its call ids with [`encode`]; the results table
//! keeps a call id of this shape as its 128 bits ([`call_id_bits`]),
//! since its 31 bytes do not fit an inline string. Only the canonical form
//! is read (lowercase, the first digit at most `7`), so what is read and
//! written again is the text that came in, byte for byte.

/// The prefix of a call id.
pub const CALL_PREFIX: &str = "call_";
/// Digits of a ULID.
pub const LEN: usize = 26;

/// Crockford's base32 digits, lowercase (no i, l, o, u).
const DIGITS: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// The value of each byte as a digit; `NOT` for a byte that is none.
const VALUES: [u8; 256] = {
    let mut t = [NOT; 256];
    let mut i = 0;
    while i < DIGITS.len() {
        t[DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const NOT: u8 = 0xff;

/// The 26 digits of `v`, first digit first (ASCII).
pub fn encode(v: u128) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    for (k, d) in out.iter_mut().rev().enumerate() {
        *d = DIGITS[((v >> (k * 5)) & 0x1f) as usize];
    }
    out
}

/// The 128 bits of 26 canonical digits; None for anything else (another
/// length, a byte that is no lowercase digit, a first digit above `7`).
pub fn decode(text: &[u8]) -> Option<u128> {
    if text.len() != LEN {
        return None;
    }
    let mut v: u128 = 0;
    for (k, &c) in text.iter().enumerate() {
        let d = VALUES[c as usize];
        // The first digit carries 3 bits of 128: more would overflow.
        if d == NOT || (k == 0 && d > 7) {
            return None;
        }
        v = (v << 5) | u128::from(d);
    }
    Some(v)
}

/// The bits of a call id of the documented shape (`call_` and a ULID).
pub fn call_id_bits(id: &str) -> Option<u128> {
    decode(id.strip_prefix(CALL_PREFIX)?.as_bytes())
}

/// The call id of `bits` (see [`call_id_bits`]), appended to `out`.
pub fn push_call_id(bits: u128, out: &mut impl Extend<char>) {
    out.extend(CALL_PREFIX.chars().chain(encode(bits).map(char::from)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_str(digits: &[u8; LEN]) -> &str {
        std::str::from_utf8(digits).unwrap()
    }

    #[test]
    fn every_value_round_trips_through_its_canonical_digits() {
        for v in [
            0,
            1,
            31,
            32,
            u128::MAX,
            u128::MAX >> 1,
            0x0193_ab00_u128 << 80,
        ] {
            let d = encode(v);
            assert!(d.iter().all(|c| DIGITS.contains(c)));
            assert!(d[0] <= b'7');
            assert_eq!(decode(&d), Some(v));
            let mut id = String::new();
            push_call_id(v, &mut id);
            assert_eq!(id, format!("call_{}", as_str(&d)));
            assert_eq!(call_id_bits(&id), Some(v));
        }
        assert_eq!(as_str(&encode(u128::MAX)), "7zzzzzzzzzzzzzzzzzzzzzzzzz");
        assert_eq!(as_str(&encode(1)), "00000000000000000000000001");
    }

    #[test]
    fn only_the_canonical_form_is_read() {
        let ok = "01hy3v2x8k9m4n5p6q7r8s9t0v";
        assert!(decode(ok.as_bytes()).is_some());
        for bad in [
            "",
            "01hy",
            "01hy3v2x8k9m4n5p6q7r8s9t0v0",
            "01HY3V2X8K9M4N5P6Q7R8S9T0V", // uppercase: would not read back as it came
            "01hy3v2x8k9m4n5p6q7r8s9t0i", // i, l, o, u are no digits
            "01hy3v2x8k9m4n5p6q7r8s9t0u",
            "81hy3v2x8k9m4n5p6q7r8s9t0v", // past 128 bits
            "01hy3v2x8k9m4n5p6q7r8s9t0\u{e9}",
        ] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad}");
        }
        for bad in [
            "",
            "call_",
            "av_01hy3v2x8k9m4n5p6q7r8s9t0v",
            "call_d5e9aac82253fc87",
        ] {
            assert_eq!(call_id_bits(bad), None, "{bad}");
        }
        assert!(call_id_bits(&format!("call_{ok}")).is_some());
    }
}
