//! The one place secrets are masked on their way out of the process.
//!
//! The API key is known at start (the variable the plan names, and
//! `DIALNEXA_API_KEY`): it is [`register`]ed once, and every output path
//! (the tracing writer, the `error:` printer, validate's report and
//! `--errors-out`, the results file's line encoder, the dry run) passes its
//! text through [`mask`] or a [`Masked`] writer, which replace each
//! registered value with [`MASK`]. Masking by value, not by place, is what
//! catches a key pasted where no one expected it (a URL's path, a metadata
//! cell, an error the API echoes back). This module depends on nothing of
//! the crate, so that anything may use it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::RwLock;

use memchr::memmem;

/// What a secret is replaced by.
pub const MASK: &str = "***";

/// Shorter values are not registered: masking every `chaos` in the output
/// would garble it (and rewrite a campaign named so in its own results
/// file, which the next run would then refuse as another campaign's), and
/// no real key is that short.
pub const MIN_SECRET_LEN: usize = 8;

/// The registered secrets, longest first (so that a secret containing
/// another is masked whole), each with its searcher built once (building
/// one costs more than searching a short field).
static SECRETS: RwLock<Vec<(String, memmem::Finder<'static>)>> = RwLock::new(Vec::new());

/// Registers a secret value to mask from now on (trimmed; empty or very
/// short values are ignored). Registering the same value twice is harmless.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|(s, _)| s == secret) {
        let finder = memmem::Finder::new(secret.as_bytes()).into_owned();
        all.push((secret.to_string(), finder));
        all.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    }
}

/// Registers the value of the environment variable `var`, if it is set.
pub fn register_env(var: &str) {
    if let Some(v) = std::env::var_os(var) {
        register(&v.to_string_lossy());
    }
}

/// `text` with every registered secret replaced by [`MASK`]; borrowed (no
/// copy) when it holds none.
pub fn mask(text: &str) -> Cow<'_, str> {
    match mask_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Secrets are whole UTF-8 strings, so cutting them out of UTF-8
        // text leaves UTF-8 text.
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    }
}

/// [`mask`] on bytes (a writer's buffer).
pub fn mask_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out: Cow<'_, [u8]> = Cow::Borrowed(bytes);
    for (secret, finder) in all.iter() {
        if out.len() < secret.len() || finder.find(&out).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut last = 0;
        for at in finder.find_iter(&out) {
            next.extend_from_slice(&out[last..at]);
            next.extend_from_slice(MASK.as_bytes());
            last = at + secret.len();
        }
        next.extend_from_slice(&out[last..]);
        out = Cow::Owned(next);
    }
    out
}

/// A writer that masks what goes through it. It holds back an unfinished
/// line, so that a secret split across two writes is still masked (no
/// secret holds a line break); [`flush`](Write::flush) and drop write the
/// rest.
pub struct Masked<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Masked<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Masked {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_pending(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let masked = mask_bytes(&self.pending).into_owned();
            self.pending.clear();
            self.inner.write_all(&masked)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = memchr::memrchr(b'\n', &self.pending) {
            let rest = self.pending.split_off(end + 1);
            let masked = mask_bytes(&self.pending).into_owned();
            self.pending = rest;
            self.inner.write_all(&masked)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Masked<W> {
    fn drop(&mut self) {
        let _ = self.write_pending();
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide: each test registers its own values.

    #[test]
    fn registered_values_are_masked_everywhere_and_the_rest_is_untouched() {
        register("  sk_unit_mask_0001  ");
        register("ab");
        assert_eq!(
            mask("a sk_unit_mask_0001 b/sk_unit_mask_0001?x=sk_unit_mask_0001"),
            "a *** b/***?x=***"
        );
        assert!(matches!(mask("nothing here ab"), Cow::Borrowed(_)));
        assert_eq!(mask("ab"), "ab", "too short to register");
    }

    #[test]
    fn a_secret_holding_another_is_masked_whole() {
        register("sk_unit_inner");
        register("sk_unit_inner_and_outer");
        assert_eq!(mask("x sk_unit_inner_and_outer y"), "x *** y");
    }

    #[test]
    fn the_writer_masks_a_secret_split_across_writes() {
        register("sk_unit_split_0002");
        let mut out = Vec::new();
        {
            let mut w = Masked::new(&mut out);
            w.write_all(b"key sk_unit_").unwrap();
            w.write_all(b"split_0002 here\nand sk_unit_split").unwrap();
            w.write_all(b"_0002 at the end").unwrap();
        }
        assert_eq!(out, b"key *** here\nand *** at the end");
        let mut out = Vec::new();
        let mut w = Masked::new(&mut out);
        w.write_all(b"sk_unit_split_0002").unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(out, b"***");
    }
}
