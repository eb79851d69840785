//! Call ids: `call_` and 16 hex digits that look random but encode the
//! call's index in the ledger through a seeded 4-round Feistel permutation.
//! Lookups need no map (no memory per call), ids are stable for a seed, and
//! a guessed or mistyped id is almost never a real one.

use super::rng::mix;

const PREFIX: &str = "call_";
const ROUNDS: u64 = 4;

fn round(key: u64, r: u64, half: u32) -> u32 {
    (mix(key ^ r.wrapping_mul(0xA24B_AED4_963E_E407) ^ u64::from(half)) >> 32) as u32
}

/// The id of call number `index` under `key` (derived from the seed).
pub(crate) fn encode(key: u64, index: u32) -> String {
    let mut s = String::with_capacity(PREFIX.len() + 16);
    write(key, index, &mut s);
    s
}

/// Appends the id of call number `index` to `out`.
pub(crate) fn write(key: u64, index: u32, out: &mut String) {
    let (mut l, mut r) = (0u32, index);
    for i in 0..ROUNDS {
        let t = l ^ round(key, i, r);
        l = r;
        r = t;
    }
    let v = (u64::from(l) << 32) | u64::from(r);
    out.push_str(PREFIX);
    for shift in (0..16).rev() {
        out.push(char::from(
            b"0123456789abcdef"[((v >> (shift * 4)) & 0xf) as usize],
        ));
    }
}

/// The index an id stands for, or None for anything that is not one of ours.
pub(crate) fn decode(key: u64, id: &str) -> Option<u32> {
    let hex = id.strip_prefix(PREFIX)?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u64::from_str_radix(hex, 16).ok()?;
    let (mut l, mut r) = ((v >> 32) as u32, v as u32);
    for i in (0..ROUNDS).rev() {
        let t = r ^ round(key, i, l);
        r = l;
        l = t;
    }
    (l == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        for key in [0, 1, u64::MAX] {
            for i in [0, 1, 2, 1000, u32::MAX] {
                let id = encode(key, i);
                assert_eq!(id.len(), 21);
                let v = u64::from_str_radix(&id[5..], 16).unwrap();
                assert_eq!(id, format!("call_{v:016x}"));
                assert_eq!(decode(key, &id), Some(i), "{id}");
            }
        }
        assert_ne!(encode(1, 0), encode(2, 0));
        assert_ne!(encode(1, 0), encode(1, 1));
        assert_eq!(decode(1, "call_"), None);
        assert_eq!(decode(1, "call_zzzzzzzzzzzzzzzz"), None);
        assert_eq!(decode(1, "call_0000000000000000x"), None);
        assert_eq!(decode(1, "nope"), None);
        assert_eq!(decode(1, "call_+1234567890abcd"), None);
        // A non-ASCII id must not panic on slicing.
        assert_eq!(decode(1, "call_ééééééééé"), None);
    }
}
