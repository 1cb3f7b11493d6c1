//! Kernel symbols from the variant's vmlinux (goblin), and the kernel-image address
//! arithmetic that needs them (`kimage_voffset`, linear-map aliases).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Context, Error, Result};

/// Symbol name → address, for the symbols the oracle reads.
pub struct KernelSymbols {
    map: HashMap<String, u64>,
    /// Function symbols sorted by address, for naming a code address.
    functions: Vec<(u64, u64, String)>,
}

/// Symbols the oracle needs from every kernel.
pub const REQUIRED: &[&str] = &[
    "_text",
    "_stext",
    "__init_begin",
    "__init_end",
    "__bss_stop",
    "_end",
    "swapper_pg_dir",
    "kimage_voffset",
    "memstart_addr",
];

impl KernelSymbols {
    /// Reads the ELF symbol table of `vmlinux`.
    pub fn load(vmlinux: &Path) -> Result<KernelSymbols> {
        let bytes = std::fs::read(vmlinux).with_context(|| format!("reading {}", vmlinux.display()))?;
        let elf = goblin::elf::Elf::parse(&bytes).with_context(|| format!("parsing {} as ELF", vmlinux.display()))?;
        let mut map = HashMap::new();
        let mut functions = Vec::new();
        for sym in elf.syms.iter() {
            if sym.st_value == 0 {
                continue;
            }
            if let Some(name) = elf.strtab.get_at(sym.st_name) {
                map.entry(name.to_string()).or_insert(sym.st_value);
                if sym.is_function() {
                    functions.push((sym.st_value, sym.st_size, name.to_string()));
                }
            }
        }
        functions.sort();
        for name in REQUIRED {
            if !map.contains_key(*name) {
                return Err(Error::Debuginfo(format!("{}: symbol {name} not found", vmlinux.display())));
            }
        }
        Ok(KernelSymbols { map, functions })
    }

    /// `function+0xoff` for a code address, as the kernel prints it.
    pub fn symbolize(&self, addr: u64) -> String {
        let at = self.functions.partition_point(|f| f.0 <= addr);
        match at.checked_sub(1).map(|i| &self.functions[i]) {
            Some((start, size, name)) if addr - start < (*size).max(1) => format!("{name}+{:#x}", addr - start),
            _ => format!("{addr:#x}"),
        }
    }

    /// The address of `name`.
    pub fn get(&self, name: &str) -> Result<u64> {
        self.map.get(name).copied().ok_or_else(|| Error::Debuginfo(format!("symbol {name} not found in vmlinux")))
    }
}
