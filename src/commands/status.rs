//! `callplan status`.

use crate::exit::Exit;

pub fn main(_args: crate::cli::StatusArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`callplan status` is not built yet")
}
