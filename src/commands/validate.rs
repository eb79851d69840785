//! `callplan validate`.

use crate::exit::Exit;

pub fn main(_args: crate::cli::ValidateArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`callplan validate` is not built yet")
}
