//! The `--model` option shared by every command that reads a model.

use std::path::PathBuf;

use metallic::fetch::resolve_model_reporting;
use metallic::Result;

use crate::fetch_bar::FetchBar;

#[derive(clap::Args, Debug)]
pub struct ModelArg {
    /// GGUF model file [default: the cached default model, fetched on first
    /// use; METALLIC_MODEL also names one]
    #[arg(short = 'm', long, value_name = "PATH")]
    model: Option<PathBuf>,
}

impl ModelArg {
    /// The model file to read, fetching the default model if needed.
    pub fn resolve(&self) -> Result<PathBuf> {
        let mut bar = FetchBar::default();
        resolve_model_reporting(self.model.clone(), &mut |event| bar.show(event))
    }
}
