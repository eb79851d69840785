//! `callplan sandbox`.

use crate::exit::Exit;

pub fn main(_args: crate::cli::SandboxArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`callplan sandbox` is not built yet")
}
