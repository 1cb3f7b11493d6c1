//! Kernel configuration: `tinyconfig` plus the variant's fragments, merged with the
//! kernel's own `merge_config.sh`, then checked: every option a fragment sets must have
//! that value in the final `.config`, so a silently dropped option is an error.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::run_build;
use crate::error::IoContext;
use crate::source::KernelSource;
use crate::toolchain::CROSS_COMPILE;
use crate::{Error, Result};

/// One config fragment file.
#[derive(Clone, Debug)]
pub struct ConfigFragment {
    pub path: PathBuf,
    pub text: String,
}

impl ConfigFragment {
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|_| Error::MissingInput {
            kind: "config fragment",
            name: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            path: path.to_path_buf(),
        })?;
        Ok(ConfigFragment { path: path.to_path_buf(), text })
    }
}

/// Options a config text sets, `"n"` for `# CONFIG_X is not set` and `=n`.
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(opt) = rest.strip_suffix(" is not set") {
                out.insert(opt.to_string(), "n".into());
            }
        } else if let Some((opt, value)) = line.split_once('=') {
            if opt.starts_with("CONFIG_") {
                out.insert(opt.to_string(), value.to_string());
            }
        }
    }
    out
}

/// `make ARCH=arm64 CROSS_COMPILE=... O=build` in the source tree.
pub(crate) fn make(source: &KernelSource, build_dir: &Path) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(&source.tree)
        .arg(format!("O={}", build_dir.display()))
        .arg("ARCH=arm64")
        .arg(format!("CROSS_COMPILE={CROSS_COMPILE}"))
        .env("KBUILD_BUILD_USER", "oracle")
        .env("KBUILD_BUILD_HOST", "linear-map-oracle")
        .env("KBUILD_BUILD_TIMESTAMP", "2026-01-01")
        // Else the banner carries the tree's build count (`#17`), whose length moves
        // what the linker places after it: one variant, one image, whatever tree built it.
        .env("KBUILD_BUILD_VERSION", "1")
        // Set (even empty) so setlocalversion does not append "+" for our git tree.
        .env("LOCALVERSION", "");
    cmd
}

/// Writes `build_dir/.config` from tinyconfig and `fragments` (later fragments win).
pub fn generate(source: &KernelSource, build_dir: &Path, fragments: &[ConfigFragment]) -> Result<()> {
    fs::create_dir_all(build_dir).context(|| format!("creating {}", build_dir.display()))?;
    run_build(make(source, build_dir).arg("-s").arg("tinyconfig"))?;
    let mut merge = Command::new(source.tree.join("scripts/kconfig/merge_config.sh"));
    merge.current_dir(&source.tree).env("ARCH", "arm64").env("CROSS_COMPILE", CROSS_COMPILE);
    merge.arg("-m").arg("-O").arg(build_dir).arg(build_dir.join(".config"));
    for f in fragments {
        merge.arg(&f.path);
    }
    run_build(&mut merge)?;
    run_build(make(source, build_dir).arg("-s").arg("olddefconfig"))?;
    Ok(())
}

/// Checks that `config_text` (a final `.config`) has every value the fragments set.
pub fn check(config_text: &str, fragments: &[ConfigFragment]) -> Result<()> {
    let have = parse_config(config_text);
    let mut wanted: BTreeMap<String, (String, &Path)> = BTreeMap::new();
    for f in fragments {
        for (opt, value) in parse_config(&f.text) {
            wanted.insert(opt, (value, &f.path));
        }
    }
    for (opt, (value, fragment)) in wanted {
        let got = have.get(&opt).map(String::as_str).unwrap_or("n");
        if got != value {
            let got = if have.contains_key(&opt) { format!("{opt}={got}") } else { "it unset".into() };
            return Err(Error::ConfigNotHonoured { fragment: fragment.to_path_buf(), option: opt, wanted: value, got });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(text: &str) -> ConfigFragment {
        ConfigFragment { path: PathBuf::from("corpora/configs/test.config"), text: text.into() }
    }

    #[test]
    fn parses_set_unset_and_n() {
        let m = parse_config("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=n\nCONFIG_D=\"x y\"\n# comment\n");
        assert_eq!(m["CONFIG_A"], "y");
        assert_eq!(m["CONFIG_B"], "n");
        assert_eq!(m["CONFIG_C"], "n");
        assert_eq!(m["CONFIG_D"], "\"x y\"");
    }

    #[test]
    fn later_fragment_wins_and_unset_counts_as_n() {
        let frags = [fragment("CONFIG_A=y\nCONFIG_B=y\n"), fragment("CONFIG_A=n\n")];
        check("CONFIG_B=y\n# CONFIG_A is not set\n", &frags).unwrap();
        check("CONFIG_B=y\n", &frags).unwrap();
    }

    #[test]
    fn dropped_option_is_named() {
        let err = check("# CONFIG_PTDUMP_DEBUGFS is not set\n", &[fragment("CONFIG_PTDUMP_DEBUGFS=y\n")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("corpora/configs/test.config"), "{msg}");
        assert!(msg.contains("CONFIG_PTDUMP_DEBUGFS=y"), "{msg}");
        assert!(msg.contains("CONFIG_PTDUMP_DEBUGFS=n"), "{msg}");
    }
}
