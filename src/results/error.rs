//! Why a results file cannot be used: the one error type of the results
//! module, shared by the reader, the writer, the lock and compaction. Each
//! message names the file and says what to do.

use std::io;
use std::path::PathBuf;

use super::header::Identity;

/// Why a results file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read results file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write results file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "{path} is not a callplan results file (its first line is not the column header `key,row,to_number,...`); \
         point --results at another file, or move this one away"
    )]
    NotResults { path: PathBuf },
    #[error(
        "{path} was written by another version of callplan (`{found}`); use that version, \
         or start a new results file with --results"
    )]
    Version { path: PathBuf, found: String },
    #[error(
        "{path}, line {line}: {reason}; fix or delete that line (the last record of a key wins)"
    )]
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "another callplan run is using {path}; wait for it to end (two runs at once would \
         call people twice)"
    )]
    Busy { path: PathBuf },
    #[error(
        "{path} belongs to another campaign ({found}); this plan is {expected}. \
         Results are never mixed: use --results to choose another file, or restore the plan"
    )]
    OtherCampaign {
        path: PathBuf,
        found: Box<Identity>,
        expected: Box<Identity>,
    },
}
