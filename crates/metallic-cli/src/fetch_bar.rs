//! The default model's download drawn as a progress bar on stderr, from the
//! events the engine's fetch reports (a bar shows only on a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use metallic::fetch::FetchEvent;

use crate::output;

#[derive(Default)]
pub struct FetchBar {
    bar: Option<ProgressBar>,
}

impl FetchBar {
    pub fn show(&mut self, event: FetchEvent<'_>) {
        match event {
            FetchEvent::Started { artifact, dir } => {
                output::note(&format!(
                    "metallic: fetching {} ({:.0} MB) into {}",
                    artifact.file_name,
                    artifact.size as f64 / 1e6,
                    dir.display()
                ));
                let style = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                self.bar = Some(ProgressBar::new(artifact.size).with_style(style));
            }
            FetchEvent::Waiting { dir } => output::note(&format!(
                "metallic: another process is fetching the model into {}; waiting for it",
                dir.display()
            )),
            FetchEvent::Part { index, count } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("part {}/{count}", index + 1));
                }
            }
            FetchEvent::Written(bytes) => {
                if let Some(bar) = &self.bar {
                    bar.set_position(bytes);
                }
            }
            FetchEvent::Finished => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
