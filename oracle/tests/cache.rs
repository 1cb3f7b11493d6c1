//! `oracle cache` and `oracle cache gc` on a cache of fake entries (LMO_CACHE_DIR in a
//! temporary folder) against a corpus with no scenarios: nothing is needed, the listing
//! shows sizes, a dry run removes nothing and gc removes the unneeded kernel and tree.
//! No kernel is built and no QEMU is started.

use std::path::Path;
use std::process::{Command, Output};

fn oracle_cache(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oracle")).env("LMO_CACHE_DIR", cache).arg("cache").args(args).output().unwrap()
}

/// The line of `text` holding `needle`, its runs of spaces squeezed to one.
fn line_with(text: &str, needle: &str) -> String {
    let line = text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"));
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn gc_removes_an_unneeded_fake_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let kernel = cache.join("kernels").join("0123456789abcdef01234567");
    std::fs::create_dir_all(&kernel).unwrap();
    let mut image = vec![0u8; 3 << 20];
    image[0x38..0x3c].copy_from_slice(b"ARM\x64");
    std::fs::write(kernel.join("Image"), image).unwrap();
    for (name, content) in [("vmlinux", "\x7fELF"), ("System.map", "ffff800080000000 T _text\n"), ("config", "CONFIG_ARM64=y\n"), ("done", "")] {
        std::fs::write(kernel.join(name), content).unwrap();
    }
    std::fs::write(kernel.join("variant.json"), r#"{"source": "linux-source-7.3 7.3.4-1", "series": [], "configs": ["/x/configs/base.config"]}"#).unwrap();
    let tree = cache.join("build").join("89abcdef0123456789abcdef");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join(".lmo-configured"), "").unwrap();
    std::fs::write(tree.join("vmlinux.o"), vec![0u8; 2 << 20]).unwrap();
    let corpus = tmp.path().join("corpora").join("scenarios");
    std::fs::create_dir_all(&corpus).unwrap();
    let corpus = corpus.to_str().unwrap();

    let out = oracle_cache(&cache, &[corpus]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listing = text(&out);
    assert_eq!(
        line_with(&listing, "0123456789ab"),
        "0123456789ab 3.0M used just now unneeded linux-source-7.3 7.3.4-1 series: - configs: base"
    );
    assert_eq!(line_with(&listing, "89abcdef0123"), "89abcdef0123 2.0M used just now unneeded");
    assert_eq!(line_with(&listing, "kernels "), "kernels 3.0M");
    assert_eq!(line_with(&listing, "cache "), format!("cache {} (5.0M)", cache.display()));

    let out = oracle_cache(&cache, &["gc", "--dry-run", corpus]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("would remove: kernel 0123456789ab"), "{}", text(&out));
    assert!(kernel.join("Image").is_file());

    let out = oracle_cache(&cache, &["gc", "--max-size", "100M", corpus]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("kept (cache within --max-size): build tree 89abcdef0123"), "{}", text(&out));
    assert!(kernel.exists());

    let out = oracle_cache(&cache, &["gc", corpus]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = text(&out);
    assert!(report.contains("removed: kernel 0123456789ab") && report.contains("removed: build tree 89abcdef0123"), "{report}");
    assert!(report.contains("freed 5.0M"), "{report}");
    assert!(!kernel.exists() && !tree.exists());
    assert_eq!(std::fs::read_dir(cache.join("kernels")).unwrap().count(), 0, "no .gc- leftovers");

    let out = oracle_cache(&cache, &["gc", "--max-size", "12Q", corpus]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
