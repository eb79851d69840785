//! Fixtures the results module's tests share: a campaign's identity and
//! header, a record stamped at a fixed time, and a log written through a
//! real writer thread.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::header::{Header, Identity};
use super::read::read;
use super::record::{Record, Status};
use super::writer::open;

pub(super) fn ident() -> Identity {
    Identity {
        campaign: "june".into(),
        from_number: "+14155550100".into(),
        agent_version_id: "av_1".into(),
        sandbox: false,
    }
}

pub(super) fn header() -> Header {
    Header {
        identity: ident(),
        plan: "/plans/june plan.yaml".into(),
        recipients: None,
        results: Some("/tmp/r.csv".into()),
        rows: Some(3),
        skip_invalid: false,
    }
}

pub(super) fn rec(key: &str, status: Status) -> Record {
    let mut r = Record::new(key, 2, "+16505550199", 1, status);
    r.from_number = "+14155550100".into();
    r.agent_version_id = "av_1".into();
    r.updated_at = "2026-01-01T00:00:00.000Z".into();
    r
}

/// Writes records through a real writer thread and returns the path.
pub(super) fn write_log(dir: &Path, recs: Vec<Record>) -> PathBuf {
    let path = dir.join("r.csv");
    let existing = read(&path).unwrap();
    let (app, w) = open(&path, &header(), existing, CancellationToken::new()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for r in recs {
            app.append_durable(r).await.unwrap();
        }
    });
    drop(app);
    let (_, failed) = w.finish();
    assert!(failed.is_none());
    path
}
