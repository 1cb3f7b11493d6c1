//! Configuration families on the real kernel: a new family's kbuild tree starts as a
//! copy of the tree of its longest fragment prefix, recompiles only what its extra
//! options reach, and makes the same code a build of those options makes.

mod common;

use goblin::elf::Elf;
use linux_harness::build::{Provenance, TreeStart};
use linux_harness::{build_kernel, KernelVariant};

/// The bytes of section `name` of the ELF file at `path`.
fn section(path: &std::path::Path, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    let sh = elf.section_headers.iter().find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name)).unwrap_or_else(|| panic!("{}: no {name}", path.display()));
    bytes[sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize].to_vec()
}

#[test]
fn a_new_family_starts_from_its_prefix_tree() {
    let base_fragment = common::corpus().join("configs/base.config");
    let base = build_kernel(&KernelVariant { source: "debian:linux-source-7.3".into(), series: vec![], configs: vec![base_fragment.clone()] })
        .unwrap_or_else(|e| panic!("{e:#}"));

    // A family of its own (never built before): base plus a host name, an option only
    // init/version.c reads.
    let dir = tempfile::tempdir().unwrap();
    let token = format!("{}{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let hostname = format!("lmo-{token}");
    let fragment = dir.path().join(format!("seed-{token}.config"));
    std::fs::write(&fragment, format!("CONFIG_DEFAULT_HOSTNAME=\"{hostname}\"\n")).unwrap();
    let variant = KernelVariant { source: "debian:linux-source-7.3".into(), series: vec![], configs: vec![base_fragment, fragment] };
    let (family, _) = linux_harness::build::variant_keys(&variant).unwrap();
    let tree = linux_harness::paths::build_trees_dir().join(&family[..24]);
    let built = build_kernel(&variant).unwrap_or_else(|e| panic!("{e:#}"));
    // The throwaway family leaves nothing in the cache, whether the checks pass or not.
    struct Cleanup(Vec<std::path::PathBuf>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let _cleanup = Cleanup(vec![built.dir.clone(), tree.clone()]);

    assert!(matches!(built.provenance, Provenance::Built { tree: TreeStart::Seeded, .. }), "{:?}", built.provenance);
    let log = std::fs::read_to_string(tree.join("lmo-build.log")).unwrap();
    let compiled: Vec<&str> = log.lines().filter(|l| l.trim_start().starts_with("CC ")).collect();
    assert!(!compiled.is_empty() && compiled.len() < 20, "only what reads the new option recompiles: {compiled:?}");
    assert!(compiled.iter().any(|l| l.ends_with("init/version.o")), "{compiled:?}");
    // The option reached the kernel; the code is the base kernel's, byte for byte.
    let config = std::fs::read_to_string(&built.config).unwrap();
    assert!(config.contains(&format!("CONFIG_DEFAULT_HOSTNAME=\"{hostname}\"")));
    let data = section(&built.vmlinux, ".data");
    assert!(data.windows(hostname.len()).any(|w| w == hostname.as_bytes()), "the host name is in .data");
    for name in [".text", ".rodata"] {
        assert!(section(&built.vmlinux, name) == section(&base.vmlinux, name), "{name} differs from the base kernel's");
    }
}
