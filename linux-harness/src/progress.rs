//! Progress display for long steps (source unpack, kernel build): a spinner on a terminal,
//! nothing otherwise so logs stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner titled `title` that shows the latest status line; hidden when stderr is
/// not a terminal.
pub(crate) fn spinner(title: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {pos} steps, {wide_msg}")
            .expect("static template"),
    );
    bar.set_prefix(title.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
