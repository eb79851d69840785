//! Tests of the validation seal: it reads back as the validation it
//! sealed, any change of an input means a fresh validation, and hostile
//! bytes are refused without a panic.

use proptest::prelude::*;

use super::*;
use crate::triage::rows::read;

/// A campaign folder: a plan with variables, metadata, a key column, a
/// zone column, per-row caller IDs and a do-not-call list, and its
/// recipients.
struct Campaign {
    dir: tempfile::TempDir,
    plan: Plan,
}

const PLAN: &str = "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_t\n\
     recipients: r.csv\nsuppress: [dnc.csv]\nvariables:\n  clinic: Main St\n\
     columns:\n  key: id\n  metadata: [id]\n  timezone: tz\n  from_number: caller\n\
     schedule:\n  hours: \"09:00-18:00\"\nlocal_caller_ids:\n  - number: \"+14155550199\"\n    \
     prefixes: [\"+1312\"]\n";

const RECIPIENTS: &str = "id,to_number,name,tz,caller\n\
     a1,+12125550142,Ann,America/New_York,\n\
     a2,+12125550143,\"Bo, \"\"Jr\"\"\",America/Chicago,+14155550199\n\
     a3,not a number,Cy,America/New_York,\n\
     a4,+442079460000,Di,Europe/London,\n\
     a5,+12125550144,Ed,America/New_York,";

impl Campaign {
    fn new() -> Campaign {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dnc.csv"), "phone\n+12125550143\n").unwrap();
        std::fs::write(dir.path().join("r.csv"), RECIPIENTS).unwrap();
        let plan = crate::plan::from_yaml(PLAN, &dir.path().join("p.yaml")).unwrap();
        Campaign { dir, plan }
    }

    fn recipients(&self) -> PathBuf {
        self.dir.path().join("r.csv")
    }

    fn seal(&self) -> Option<Seal> {
        Seal::of(
            &self.plan,
            &self.recipients(),
            &self.dir.path().join("out.csv"),
        )
    }

    /// Validates and seals; the validation.
    fn validate_and_seal(&self) -> Validated {
        let validated = read(&self.plan, &self.recipients()).unwrap();
        let seal = self.seal().expect("a seal");
        drop(seal.store(&self.plan, &self.recipients(), &validated));
        validated
    }
}

/// Everything a run takes from a validation, the rows' cells read back
/// from the file included.
fn summary(v: &Validated) -> String {
    let t = &v.rows.targets;
    let targets: Vec<_> = t
        .iter()
        .map(|(i, target)| {
            let zone = t
                .zone(&target)
                .and_then(|z| z.iana_name())
                .map(str::to_string);
            let cells = t.cells(&target);
            format!("{i} {target:?} {zone:?} {cells:?} {}", t.key(i))
        })
        .collect();
    format!(
        "{targets:#?}\n{:?}\n{} {}\n{:?}\n{}",
        v.rows.invalid, v.rows.rows_read, v.rows.unseen, v.report, v.blocked
    )
}

#[test]
fn a_sealed_validation_reads_back_as_it_was() {
    let c = Campaign::new();
    let validated = c.validate_and_seal();
    assert_eq!(validated.rows.targets.len(), 4, "{}", summary(&validated));
    assert_eq!(validated.rows.invalid.len(), 1);
    assert!(validated.report.errors > 0 && !validated.blocked);
    let sealed = c.seal().unwrap().load().expect("the seal is used");
    assert_eq!(summary(&sealed), summary(&validated));
    assert_eq!(sealed.rows.targets.check_unchanged(), Ok(()));
    // One seal per results file, private: it holds the numbers.
    let path = results::seal_path(&c.dir.path().join("out.csv"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn any_change_of_an_input_means_a_fresh_validation() {
    let c = Campaign::new();
    c.validate_and_seal();
    assert!(c.seal().unwrap().load().is_some());
    // One byte of the recipients file.
    let edited = RECIPIENTS.replace("Ann", "Anm");
    std::fs::write(c.recipients(), &edited).unwrap();
    assert!(c.seal().unwrap().load().is_none(), "a one-byte edit");
    std::fs::write(c.recipients(), RECIPIENTS).unwrap();
    assert!(c.seal().unwrap().load().is_some(), "the same bytes again");
    // The do-not-call list.
    let dnc = c.dir.path().join("dnc.csv");
    std::fs::write(&dnc, "phone\n+12125550144\n").unwrap();
    assert!(
        c.seal().unwrap().load().is_none(),
        "another do-not-call list"
    );
    std::fs::write(&dnc, "phone\n+12125550143\n").unwrap();
    // Another plan: a default variable changed.
    let other = PLAN.replace("Main St", "Elm St");
    let other = crate::plan::from_yaml(&other, &c.dir.path().join("p.yaml")).unwrap();
    let seal = Seal::of(&other, &c.recipients(), &c.dir.path().join("out.csv")).unwrap();
    assert!(seal.load().is_none(), "another plan");
    // Another build.
    let build = build_id().unwrap();
    let ours = fingerprint(&c.plan, &c.recipients(), &build).unwrap();
    let theirs = fingerprint(&c.plan, &c.recipients(), &format!("{build}x")).unwrap();
    assert_ne!(ours, theirs);
    assert_eq!(
        ours,
        c.seal().unwrap().fingerprint,
        "the seal is of this build"
    );
    // Another results file has its own seal.
    let elsewhere = Seal::of(&c.plan, &c.recipients(), &c.dir.path().join("b.csv")).unwrap();
    assert!(elsewhere.load().is_none());
}

#[test]
fn an_input_changed_while_it_was_validated_is_not_sealed() {
    let c = Campaign::new();
    let seal = c.seal().unwrap();
    let validated = read(&c.plan, &c.recipients()).unwrap();
    std::fs::write(c.recipients(), RECIPIENTS.replace("Ann", "Anm")).unwrap();
    drop(seal.store(&c.plan, &c.recipients(), &validated));
    assert!(!seal.path.exists());
    // Nor are targets with no file to read their rows back from.
    assert!(Targets::default().encode(&mut Vec::new()).is_none());
}

#[test]
fn a_torn_or_corrupt_seal_is_not_used() {
    let c = Campaign::new();
    c.validate_and_seal();
    let seal = c.seal().unwrap();
    let good = std::fs::read(&seal.path).unwrap();
    for cut in [0, 5, MAGIC.len() + 10, good.len() / 2, good.len() - 1] {
        std::fs::write(&seal.path, &good[..cut]).unwrap();
        assert!(seal.load().is_none(), "cut at {cut}");
    }
    for at in [0, MAGIC.len() + 3, MAGIC.len() + 40, good.len() - 3] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        std::fs::write(&seal.path, &bad).unwrap();
        assert!(seal.load().is_none(), "byte {at} flipped");
    }
    std::fs::write(&seal.path, &good).unwrap();
    assert!(seal.load().is_some());
}

#[test]
fn a_large_validation_is_encoded_in_the_room_reserved_for_it() {
    // Grown by doubling, the buffer would end with up to twice the room
    // its bytes need (both held at once while it grew).
    let c = Campaign::new();
    let mut csv = String::from("id,to_number,name,tz,caller\n");
    for i in 0..20_000 {
        csv.push_str(&format!(
            "customer-{i:06},+1212555{:04},N,America/New_York,\n",
            i % 10_000
        ));
    }
    std::fs::write(c.recipients(), csv).unwrap();
    let validated = read(&c.plan, &c.recipients()).unwrap();
    assert!(validated.rows.targets.len() >= 10_000);
    let mut bytes = Vec::new();
    validated.rows.targets.encode(&mut bytes).unwrap();
    assert!(bytes.len() > 1 << 20, "{} bytes", bytes.len());
    let spare = bytes.capacity() - bytes.len();
    assert!(spare <= 1 << 16, "{spare} bytes reserved and not used");
}

/// The targets' bytes of a campaign's validation, and the campaign (the
/// bytes name its file).
static TARGETS: std::sync::LazyLock<(Campaign, Vec<u8>)> = std::sync::LazyLock::new(|| {
    let c = Campaign::new();
    let validated = read(&c.plan, &c.recipients()).unwrap();
    let mut bytes = Vec::new();
    validated.rows.targets.encode(&mut bytes).unwrap();
    (c, bytes)
});

proptest! {
    #[test]
    fn hostile_target_bytes_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let good = TARGETS.1.clone();
        prop_assert!(Targets::decode(&good).is_some());
        let mut bad = good.clone();
        for (at, v) in &flips {
            let i = at.index(bad.len());
            bad[i] = *v;
        }
        if let Some(t) = Targets::decode(&bad) {
            // What decodes is used: every target and its zone can be read.
            for (i, target) in t.iter() {
                let _ = (t.zone(&target), t.key(i), t.cells(&target));
            }
        }
        let _ = Targets::decode(&bad[..cut.index(bad.len())]);
        let _ = Targets::decode(&junk);
        let mut longer = good;
        longer.extend_from_slice(&junk);
        prop_assert_eq!(Targets::decode(&longer).is_some(), junk.is_empty());
    }
}

#[test]
fn only_a_run_that_may_write_seals_and_the_next_one_reuses_it() {
    let c = Campaign::new();
    let seal = c.seal().unwrap();
    let read_only = validate(&c.plan, &c.recipients(), Some(&seal), false).unwrap();
    drop(read_only.sealing);
    assert!(
        !read_only.reused && !seal.path.exists(),
        "status, --dry-run"
    );
    let fresh = validate(&c.plan, &c.recipients(), Some(&seal), true).unwrap();
    assert!(!fresh.reused);
    drop(fresh.sealing);
    assert!(seal.matches());
    let again = validate(&c.plan, &c.recipients(), Some(&seal), false).unwrap();
    assert!(again.reused);
    assert_eq!(summary(&again.validated), summary(&fresh.validated));
    // A seal of other inputs does not match, whatever its length.
    std::fs::write(&seal.path, MAGIC).unwrap();
    assert!(!seal.matches());
}
