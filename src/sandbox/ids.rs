//! Call ids in the shape the API page shows (`call_01hy...`): `call_` and
//! a ULID, 26 digits of lowercase Crockford base32 ([`ulid`]), 31 bytes in
//! all. Its first 48 bits are the call's creation time in milliseconds
//! (the first 10 digits), so ids sort by creation as ULIDs do; its other
//! 80 (the last 16 digits) are a 16-bit check and 64 bits that look random
//! but encode the call's index in the ledger through a 4-round Feistel
//! permutation, both keyed by the seed. Lookups need no map (no memory per
//! call); one seed gives the same last 16 digits to the same call; a
//! guessed or mistyped id is almost never a real one (48 bits of check,
//! and [`Ledger::find`](super::ledger::Ledger::find) checks the time
//! digits against the call's creation).

use super::rng::mix;
use crate::wire::ulid;

const ROUNDS: u64 = 4;
/// The largest time a ULID holds (48 bits of milliseconds).
const MAX_MS: u64 = (1 << 48) - 1;

fn round(key: u64, r: u64, half: u32) -> u32 {
    (mix(key ^ r.wrapping_mul(0xA24B_AED4_963E_E407) ^ u64::from(half)) >> 32) as u32
}

/// The 16-bit check of `block` under `key`.
fn check(key: u64, block: u64) -> u128 {
    u128::from(mix(key ^ mix(block)) >> 48)
}

/// The creation time of a call as its id holds it: whole milliseconds of
/// `wall_us` (microseconds since the Unix epoch), within a ULID's range.
pub(crate) fn millis(wall_us: i64) -> u64 {
    u64::try_from(wall_us / 1000).unwrap_or(0).min(MAX_MS)
}

/// The id of call number `index` under `key` (derived from the seed),
/// created at `wall_us`.
pub(crate) fn encode(key: u64, index: u32, wall_us: i64) -> String {
    let mut s = String::with_capacity(ulid::CALL_PREFIX.len() + ulid::LEN);
    write(key, index, wall_us, &mut s);
    s
}

/// Appends the id of call number `index`, created at `wall_us`, to `out`.
pub(crate) fn write(key: u64, index: u32, wall_us: i64, out: &mut String) {
    let (mut l, mut r) = (0u32, index);
    for i in 0..ROUNDS {
        let t = l ^ round(key, i, r);
        l = r;
        r = t;
    }
    let block = (u64::from(l) << 32) | u64::from(r);
    let ms = millis(wall_us);
    let v = (u128::from(ms) << 80) | (check(key, block) << 64) | u128::from(block);
    ulid::push_call_id(v, out);
}

/// The index an id stands for and the creation time (milliseconds) it
/// holds, or None for anything that is not one of ours.
pub(crate) fn decode(key: u64, id: &str) -> Option<(u32, u64)> {
    let v = ulid::call_id_bits(id)?;
    let ms = (v >> 80) as u64;
    let block = v as u64;
    if (v >> 64) & 0xffff != check(key, block) {
        return None;
    }
    let (mut l, mut r) = ((block >> 32) as u32, block as u32);
    for i in (0..ROUNDS).rev() {
        let t = r ^ round(key, i, l);
        r = l;
        l = t;
    }
    (l == 0).then_some((r, ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_US: i64 = 1_780_000_000_123_456;

    #[test]
    fn round_trip_and_rejects() {
        for key in [0, 1, u64::MAX] {
            for i in [0, 1, 2, 1000, u32::MAX] {
                for at in [0, NOW_US, i64::MAX] {
                    let id = encode(key, i, at);
                    assert_eq!(id.len(), 31, "{id}");
                    assert!(ulid::call_id_bits(&id).is_some(), "{id}");
                    assert_eq!(decode(key, &id), Some((i, millis(at))), "{id}");
                }
            }
        }
        assert_ne!(encode(1, 0, NOW_US), encode(2, 0, NOW_US));
        assert_ne!(encode(1, 0, NOW_US), encode(1, 1, NOW_US));
        assert_eq!(decode(2, &encode(1, 0, NOW_US)), None);
        for bad in [
            "call_",
            "call_zzzzzzzzzzzzzzzzzzzzzzzzzz",
            "call_00000000000000000000000000",
            "call_0000000000000000000000000",
            "call_000000000000000000000000000",
            "call_ILOUilou000000000000000000",
            "nope",
            "call_+1234567890abcdefghjkmnp",
            "call_d5e9aac82253fc87",
            // A non-ASCII id must not panic.
            "call_éééééééééééé00",
        ] {
            assert_eq!(decode(1, bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_are_ulids_that_sort_by_creation() {
        let a = encode(7, 5, NOW_US);
        let b = encode(7, 4, NOW_US + 1_000);
        assert!(a < b, "{a} {b}");
        // 2026-05-28 (1.78e12 ms): a ULID of mid-2026 begins `01k`.
        assert!(a.starts_with("call_01k"), "{a}");
        assert_eq!(millis(-5), 0);
        assert_eq!(millis(i64::MAX), MAX_MS);
    }

    #[test]
    fn one_changed_digit_is_another_time_or_no_id() {
        let id = encode(3, 42, NOW_US);
        let ms = millis(NOW_US);
        for k in 5..id.len() {
            for c in b"0123456789abcdefghjkmnpqrstvwxyz".iter().copied() {
                let mut b = id.clone().into_bytes();
                if b[k] == c {
                    continue;
                }
                b[k] = c;
                let typo = String::from_utf8(b).unwrap();
                match decode(3, &typo) {
                    // A time digit: the same call at another time, which
                    // the ledger refuses (`Ledger::find`).
                    Some((42, other)) if k < 15 => assert_ne!(other, ms, "{typo}"),
                    None => {}
                    other => panic!("{typo}: {other:?}"),
                }
            }
        }
        // The seed fixes the last 16 digits; the clock the first 10.
        let later = encode(3, 42, NOW_US + 86_400_000_000);
        assert_eq!(id[15..], later[15..]);
        assert_ne!(id[..15], later[..15]);
    }
}
