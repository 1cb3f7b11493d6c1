//! What makes a directory (or a commit) a Linux kernel source the harness can build: a
//! top-level `Makefile` with numeric `VERSION` and `PATCHLEVEL`, and `arch/arm64/`.

use crate::{Error, Result};

/// Files a kernel tree has at these paths (checked before anything is built from it).
pub const REQUIRED: [&str; 2] = ["Makefile", "arch/arm64/Kconfig"];

/// `VERSION.PATCHLEVEL.SUBLEVEL` from the text of a top-level kernel `Makefile`, or
/// `None` when it has no numeric `VERSION` and `PATCHLEVEL`.
pub fn makefile_version(text: &str) -> Option<String> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.trim_start();
            let value = rest.strip_prefix('=')?.trim();
            Some(value.to_string())
        })
    };
    let numeric = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    let (version, patchlevel) = (field("VERSION"), field("PATCHLEVEL"));
    if !numeric(&version) || !numeric(&patchlevel) {
        return None;
    }
    let sublevel = field("SUBLEVEL").filter(|s| !s.is_empty()).unwrap_or_else(|| "0".into());
    Some(format!("{}.{}.{}", version?, patchlevel?, sublevel))
}

/// Checks a tree on disk (`given` names it to the user).
pub fn check_dir(tree: &std::path::Path, given: &str) -> Result<String> {
    for path in REQUIRED {
        if !tree.join(path).is_file() {
            return Err(Error::NotAKernel { given: given.to_string(), why: format!("it has no {path}") });
        }
    }
    let text = std::fs::read_to_string(tree.join("Makefile")).unwrap_or_default();
    makefile_version(&text).ok_or_else(|| Error::NotAKernel { given: given.to_string(), why: "its Makefile sets no numeric VERSION and PATCHLEVEL".into() })
}

#[cfg(test)]
mod tests {
    use super::makefile_version;

    #[test]
    fn versions_from_makefiles() {
        assert_eq!(makefile_version("# SPDX\nVERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\nEXTRAVERSION =\n"), Some("7.3.4".into()));
        assert_eq!(makefile_version("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL =\n"), Some("6.12.0".into()));
        assert_eq!(makefile_version("all:\n\techo hi\n"), None);
        assert_eq!(makefile_version("VERSION = x\nPATCHLEVEL = 3\n"), None);
        assert_eq!(makefile_version("VERSIONS = 7\nPATCHLEVEL = 3\n"), None, "another variable");
    }
}
