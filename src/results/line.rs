//! How one record becomes one line and back: the CSV encoding the writer
//! uses for every line it appends (records, the column header, comment
//! records), and the CSV parse of a line the fast reader could not split
//! by itself (it holds a quote, or it is a comment record).
//!
//! Not the csv crate's writer: a record must stay on one physical line (so
//! that a torn last line is exactly the bytes after the last newline), and a
//! key starting with `#` must be quoted so it never passes for a comment.

use std::borrow::Cow;
use std::io::Read;

/// Writes one CSV line. Line breaks inside a field become spaces (a record
/// is always one physical line), and a field is quoted when it holds a comma
/// or a quote, or when it is a record's key starting with `#` (so that a
/// key never passes for a comment line in tools that skip those).
pub(super) fn push_line<'a, I>(buf: &mut Vec<u8>, fields: I, record: bool)
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    // No field may carry the API key to disk (an error message that quotes
    // a URL, a cell the key was pasted into). The fields are looked through
    // at once, joined by NULs (a secret, an environment variable's value,
    // holds none, so it cannot match across two fields): only a line that
    // holds one masks field by field.
    let start = buf.len();
    for (i, f) in fields.clone().into_iter().enumerate() {
        if i > 0 {
            buf.push(0);
        }
        buf.extend_from_slice(f.as_bytes());
    }
    let clean = matches!(crate::redact::mask_bytes(&buf[start..]), Cow::Borrowed(_));
    buf.truncate(start);
    for (i, f) in fields.into_iter().enumerate() {
        let masked;
        let f = if clean {
            f
        } else {
            masked = crate::redact::mask(f);
            &*masked
        };
        if i > 0 {
            buf.push(b',');
        }
        let special = f.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
        let needs_quotes =
            (record && i == 0 && f.starts_with('#')) || f.bytes().any(|b| b == b',' || b == b'"');
        if !special && !needs_quotes {
            buf.extend_from_slice(f.as_bytes());
            continue;
        }
        if needs_quotes {
            buf.push(b'"');
        }
        for b in f.bytes() {
            match b {
                b'"' => buf.extend_from_slice(b"\"\""),
                b'\n' | b'\r' => buf.push(b' '),
                _ => buf.push(b),
            }
        }
        if needs_quotes {
            buf.push(b'"');
        }
    }
    buf.push(b'\n');
}

/// Parses one line as CSV (quoted fields, doubled quotes). A CSV reader
/// drops a byte-order mark at the start of its input, so the line is read
/// behind a dummy first field: a key may start with U+FEFF.
pub(super) fn csv_line(line: &[u8], rec: &mut csv::ByteRecord) -> Result<(), csv::Error> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Read::chain(&b"-,"[..], line));
    let mut full = csv::ByteRecord::new();
    rec.clear();
    if rd.read_byte_record(&mut full)? {
        for f in full.iter().skip(1) {
            rec.push_field(f);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::clean_message;

    #[test]
    fn a_line_is_one_physical_line_and_parses_back() {
        let mut buf = Vec::new();
        push_line(&mut buf, ["#key", "a,b", "say \"hi\"", "x\ny\r"], true);
        assert_eq!(buf, b"\"#key\",\"a,b\",\"say \"\"hi\"\"\",x y \n");
        let mut rec = csv::ByteRecord::new();
        csv_line(buf.strip_suffix(b"\n").unwrap(), &mut rec).unwrap();
        let fields: Vec<&[u8]> = rec.iter().collect();
        assert_eq!(fields, [&b"#key"[..], b"a,b", b"say \"hi\"", b"x y "]);
        // Only a record's key is quoted for its `#`: a comment stays one.
        buf.clear();
        push_line(&mut buf, ["#callplan run", "plan=#p"], false);
        assert_eq!(buf, b"#callplan run,plan=#p\n");
        // A leading U+FEFF is kept, not taken for a byte-order mark.
        csv_line("\u{feff}k,1".as_bytes(), &mut rec).unwrap();
        assert_eq!(rec.get(0), Some("\u{feff}k".as_bytes()));
    }

    #[test]
    fn a_registered_secret_is_masked_in_any_field_and_only_there() {
        crate::redact::register("sk_line_mask_0003");
        let mut buf = Vec::new();
        push_line(
            &mut buf,
            [
                "k",
                "url /v1?key=sk_line_mask_0003, said",
                "sk_line_",
                "mask_0003",
            ],
            true,
        );
        // Field by field, as before: two fields that only together spell
        // the secret are two values, neither of them the key.
        assert_eq!(buf, b"k,\"url /v1?key=***, said\",sk_line_,mask_0003\n");
    }

    /// What the API's free text becomes before it is stored on one line.
    #[test]
    fn clean_message_defuses_formulas_and_line_breaks() {
        assert_eq!(clean_message("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(clean_message("a\nb\tc"), "a b c");
        assert_eq!(clean_message(&"x".repeat(1000)).len(), 300);
    }
}
