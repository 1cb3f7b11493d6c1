//! The kernel matrix (`corpora/matrix`): which kernel sources the nightly runs the
//! default corpus on. One per line; `scenarios` means each scenario's own
//! `kernel.source`, any other line is a source (`debian:linux-source-X.Y`, `git:PATH[@REV]`,
//! `tar:PATH`) given to every scenario as `--kernel`. `#` starts a comment.

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::source::{spec_ok, SPEC_FORMS};
use crate::{Error, Result};

/// One column of the matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatrixKernel {
    /// Each scenario's own `kernel.source`.
    Scenarios,
    /// This source for every scenario (`--kernel`).
    Source(String),
}

impl MatrixKernel {
    /// The folder name of this kernel's results (and snapshots) beside the default ones:
    /// `kernel-linux-source-7.2` for `debian:linux-source-7.2`; `None` for the
    /// scenarios' own sources.
    pub fn folder(&self) -> Option<String> {
        match self {
            MatrixKernel::Scenarios => None,
            MatrixKernel::Source(s) => Some(kernel_folder(s)),
        }
    }
}

/// `kernel-NAME` for a kernel source: its spec without the scheme, every character
/// other than letters, digits, `-` and `_` made `_`.
pub fn kernel_folder(source: &str) -> String {
    let bare = source.trim_start_matches("debian:").trim_start_matches("git:").trim_start_matches("tar:").trim_start_matches('/');
    format!("kernel-{}", folder_slug(bare))
}

/// `text` with every character other than letters, digits, `-` and `_` made `_`.
pub fn folder_slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Reads the matrix at `path`; a line that is neither `scenarios` nor a kernel source is
/// an error naming the file and the line.
pub fn load(path: &Path) -> Result<Vec<MatrixKernel>> {
    let text = fs::read_to_string(path).context(|| format!("reading {}", path.display()))?;
    parse(path, &text)
}

/// Parses the text of the matrix at `path`.
pub fn parse(path: &Path, text: &str) -> Result<Vec<MatrixKernel>> {
    let mut out = Vec::new();
    for (n, line) in crate::lock::entries(text) {
        let bad = |why: String| Error::MissingInput { kind: "kernel matrix entry", name: format!("line {n}: {line:?}: {why}"), path: path.to_path_buf() };
        let kernel = match line {
            "scenarios" => MatrixKernel::Scenarios,
            source if spec_ok(source) => MatrixKernel::Source(source.to_string()),
            _ => return Err(bad(format!("expected `scenarios` or {SPEC_FORMS}"))),
        };
        if out.contains(&kernel) {
            return Err(bad("listed twice".into()));
        }
        if let Some(folder) = kernel.folder().filter(|f| out.iter().any(|k: &MatrixKernel| k.folder().as_ref() == Some(f))) {
            return Err(bad(format!("its results would share the folder {folder} with an earlier line")));
        }
        out.push(kernel);
    }
    if out.is_empty() {
        return Err(Error::MissingInput { kind: "kernel matrix entry", name: "no kernel listed".into(), path: path.to_path_buf() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_lines() {
        let p = Path::new("corpora/matrix");
        let m = parse(p, "# c\nscenarios\n\ndebian:linux-source-7.2  # older\n").unwrap();
        assert_eq!(m, vec![MatrixKernel::Scenarios, MatrixKernel::Source("debian:linux-source-7.2".into())]);
        let e = parse(p, "scenarios\nlinux-7.2\n").unwrap_err().to_string();
        assert!(e.contains("corpora/matrix") && e.contains("line 2") && e.contains("linux-7.2"), "{e}");
        let e = parse(p, "scenarios\nscenarios\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("twice"), "{e}");
        assert!(parse(p, "# nothing\n").unwrap_err().to_string().contains("no kernel listed"));
        let e = parse(p, "git:/a/b\ntar:/a/b\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("kernel-a_b"), "{e}");
        assert_eq!(m[1].folder().as_deref(), Some("kernel-linux-source-7_2"));
        assert_eq!(kernel_folder("git:/home/me/linux@v7.3"), "kernel-home_me_linux_v7_3");
    }
}
