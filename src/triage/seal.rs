//! The validation seal: what `run` validated, kept beside the results file
//! (`.NAME.validated`), so that the next run of the same recipients file
//! with the same plan and the same build takes it instead of validating
//! every row again (a resume of a million-row campaign starts dialling
//! sooner; validation is most of its CPU).
//!
//! A seal is reused only when its fingerprint is the fingerprint of
//! everything validation reads: the build (its version and the
//! executable's size and time), the plan as loaded, the recipients file's
//! path and bytes, each do-not-call list's path and bytes, and the names
//! the report shows them by. A fingerprint is BLAKE3 (the file's bytes are
//! hashed whole, at a few GB/s), so a one-byte edit anywhere, another plan
//! or another build means a fresh validation. A seal is written only when
//! the recipients file hashes the same before and after it was validated.
//! The seal adds nothing to trust: what it restores are the same targets
//! validation would give, each row's span hash included, so a row edited
//! after the fingerprint was taken is still refused when it is read back
//! to be dialled, and rows added are refused before the first dial.
//!
//! The file: [`MAGIC`], the fingerprint (32 bytes), a BLAKE3 checksum of
//! the rest (32), the length of the report part (8), the report, invalid
//! rows and counts as JSON, then the targets (`Targets::encode`). A seal
//! that is torn, corrupt, of another version, or that does not decode is
//! not used (validation runs, and a new seal replaces it); none of it can
//! make a run fail. The file is written without fsync (a crash loses at
//! most the time of one validation) and with the results file's
//! permissions left alone (it is created `0600`: it holds the recipients'
//! numbers).

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::rows::{Rows, Validated};
use crate::dispatch::Targets;
use crate::plan::{Plan, display_path};
use crate::results::{self, RowRef};
use crate::validate::{InputError, Report};

/// The first bytes of a seal, with its format's version.
const MAGIC: &[u8] = b"callplan validation seal 1\n";

/// A fingerprint or a checksum.
type Digest = [u8; 32];

/// Where a run's validation is sealed, and the fingerprint of its inputs.
#[derive(Debug, Clone)]
pub struct Seal {
    path: PathBuf,
    fingerprint: Digest,
}

/// Everything of a [`Validated`] but its targets.
#[derive(Serialize, Deserialize)]
struct Meta {
    report: Report,
    blocked: bool,
    rows_read: u64,
    /// (key, row, number, first problem) of each invalid row.
    invalid: Vec<(String, u64, String, String)>,
}

impl Seal {
    /// The seal of validating `recipients` against `plan`, beside the
    /// results file `results`. None when an input cannot be read
    /// (validation then says why) or the build cannot be named.
    pub fn of(plan: &Plan, recipients: &Path, results: &Path) -> Option<Seal> {
        let fingerprint = fingerprint(plan, recipients, &build_id()?).ok()?;
        Some(Seal {
            path: results::seal_path(results),
            fingerprint,
        })
    }

    /// True when the seal file is of these inputs (its first bytes only:
    /// [`Seal::load`] checks the rest).
    pub fn matches(&self) -> bool {
        let mut head = [0u8; MAGIC.len() + 32];
        File::open(&self.path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| {
                head[..MAGIC.len()] == *MAGIC && head[MAGIC.len()..] == self.fingerprint
            })
    }

    /// The validation sealed, when the seal is of these inputs.
    pub fn load(&self) -> Option<Validated> {
        let bytes = std::fs::read(&self.path).ok()?;
        let rest = bytes.strip_prefix(MAGIC)?;
        let (fingerprint, rest) = rest.split_first_chunk::<32>()?;
        if *fingerprint != self.fingerprint {
            return None;
        }
        let (checksum, body) = rest.split_first_chunk::<32>()?;
        if *checksum != *blake3::hash(body).as_bytes() {
            return None;
        }
        let (meta_len, body) = body.split_first_chunk::<8>()?;
        let meta_len = usize::try_from(u64::from_le_bytes(*meta_len)).ok()?;
        let (meta, targets) = body.split_at_checked(meta_len)?;
        let meta: Meta = serde_json::from_slice(meta).ok()?;
        let targets = Targets::decode(targets)?;
        let invalid = meta.invalid.into_iter().map(|(key, row, to_number, why)| {
            let r = RowRef {
                key: key.into(),
                row,
                to_number: to_number.into(),
            };
            (r, why)
        });
        let rows = Rows {
            targets: Arc::new(targets),
            invalid: invalid.collect(),
            rows_read: meta.rows_read,
            unseen: 0,
        };
        Some(Validated {
            rows,
            report: meta.report,
            blocked: meta.blocked,
        })
    }

    /// Seals `validated`, the validation of these inputs, when the inputs
    /// are still what the fingerprint was taken of (`plan` and
    /// `recipients` as given to [`Seal::of`]). The seal's bytes are made
    /// now; the inputs are hashed again and the file written on a thread
    /// of its own (the run goes on to triage meanwhile), which the
    /// [`Sealing`] waits for when dropped. Failures are only logged:
    /// without a seal the next run validates again.
    pub fn store(&self, plan: &Plan, recipients: &Path, validated: &Validated) -> Sealing {
        let t = std::time::Instant::now();
        let Some(bytes) = self.encode(validated) else {
            tracing::debug!("validation not sealed: its targets have no byte form");
            return Sealing(None);
        };
        let (seal, plan, recipients) = (self.clone(), plan.clone(), recipients.to_path_buf());
        let write = move || {
            let now = build_id().and_then(|b| fingerprint(&plan, &recipients, &b).ok());
            if now != Some(seal.fingerprint) {
                tracing::debug!("validation not sealed: an input changed while it was validated");
                return;
            }
            match results::replace_unsynced(&seal.path, &bytes) {
                Ok(()) => tracing::debug!("validation sealed in {:?}", t.elapsed()),
                Err(e) => tracing::debug!("validation not sealed: {e}"),
            }
        };
        Sealing(
            std::thread::Builder::new()
                .name("seal".into())
                .spawn(write)
                .ok(),
        )
    }

    /// The seal's bytes (see the module doc).
    fn encode(&self, validated: &Validated) -> Option<Vec<u8>> {
        let rows = &validated.rows;
        let invalid = rows.invalid.iter().map(|(r, why)| {
            let (key, number) = (r.key.to_string(), r.to_number.to_string());
            (key, r.row, number, why.clone())
        });
        let meta = Meta {
            report: validated.report.clone(),
            blocked: validated.blocked,
            rows_read: rows.rows_read,
            invalid: invalid.collect(),
        };
        let meta = serde_json::to_vec(&meta).ok()?;
        // One buffer (the body is 50 bytes a row): the header, room for
        // the body's checksum, the body, then the checksum put in place.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&self.fingerprint);
        let sum_at = bytes.len();
        bytes.extend_from_slice(&[0; blake3::OUT_LEN]);
        let body_at = bytes.len();
        bytes.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&meta);
        rows.targets.encode(&mut bytes)?;
        let sum = blake3::hash(&bytes[body_at..]);
        bytes[sum_at..body_at].copy_from_slice(sum.as_bytes());
        Some(bytes)
    }
}

/// A seal being written ([`Seal::store`]): dropped, it waits until the
/// file is written.
#[derive(Debug, Default)]
pub struct Sealing(Option<std::thread::JoinHandle<()>>);

impl Drop for Sealing {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// A validation, and whether it was the sealed one.
#[derive(Debug)]
pub struct Checked {
    pub validated: Validated,
    /// The last run's validation, reused.
    pub reused: bool,
    /// The seal of a fresh validation, being written.
    pub sealing: Sealing,
}

/// The validation of `recipients` against `plan`: the sealed one when
/// `seal` is of these inputs (true), else a fresh one (false), then
/// sealed when `store` (by `run`, which holds the results file's lock;
/// `status` and `run --dry-run` only read).
pub fn validate(
    plan: &Plan,
    recipients: &Path,
    seal: Option<&Seal>,
    store: bool,
) -> Result<Checked, InputError> {
    if let Some(validated) = seal.and_then(Seal::load) {
        let sealing = Sealing(None);
        return Ok(Checked {
            validated,
            reused: true,
            sealing,
        });
    }
    let validated = super::rows::read(plan, recipients)?;
    let sealing = match seal.filter(|_| store) {
        Some(seal) => seal.store(plan, recipients, &validated),
        None => Sealing(None),
    };
    Ok(Checked {
        validated,
        reused: false,
        sealing,
    })
}

/// The build: its version and the executable's size and modification
/// time (any rebuild changes them).
fn build_id() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let modified = meta.modified().ok()?;
    let version = env!("CARGO_PKG_VERSION");
    Some(format!(
        "{version} {} {} {modified:?}",
        exe.display(),
        meta.len()
    ))
}

/// The fingerprint of validating `recipients` against `plan` with the
/// build `build`.
fn fingerprint(plan: &Plan, recipients: &Path, build: &str) -> io::Result<Digest> {
    let mut h = blake3::Hasher::new();
    field(&mut h, MAGIC);
    field(&mut h, build.as_bytes());
    field(&mut h, format!("{plan:?}").as_bytes());
    field(&mut h, display_path(&plan.path).as_bytes());
    for file in std::iter::once(recipients).chain(plan.suppress.iter().map(PathBuf::as_path)) {
        field(&mut h, file.as_os_str().as_bytes());
        field(&mut h, display_path(file).as_bytes());
        let mut f = File::open(file)?;
        h.update_reader(&mut f)?;
        let len = f.stream_position()?;
        h.update(&len.to_le_bytes());
    }
    Ok(*h.finalize().as_bytes())
}

/// Hashes `bytes` as one field: its length, then itself.
fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
