//! Shared test helpers: the binary under test and a sandbox on loopback.

#![allow(dead_code)]

use std::path::PathBuf;

/// Path of the `callplan` binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_callplan"))
}

/// Folder of the test fixtures.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}
