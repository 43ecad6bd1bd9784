//! `lookout check config FILE`.

use std::path::Path;

use crate::config::Config;

pub fn config(file: &Path) -> anyhow::Result<()> {
    Config::load(file)?;
    println!("{}: OK", file.display());
    Ok(())
}
