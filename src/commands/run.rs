//! `callplan run`.

use crate::exit::Exit;

pub fn main(_args: crate::cli::RunArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`callplan run` is not built yet")
}
