//! Structure layouts read by name from the vmlinux DWARF (gimli), never hard-coded:
//! `struct memblock`, `memblock_type`, `memblock_region`, ... A layout is the structure's
//! size and its members' offsets, cached next to the kernel's artifacts. An enumeration
//! is read the same way, named `enum NAME`: its enumerators as members, their values as
//! offsets. Members of anonymous structures and unions count as the structure's own, at
//! their offsets in it (as C names them: `page->lru`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{Context, Error, Result};
use gimli::{AttributeValue, EndianSlice, LittleEndian};
use serde::{Deserialize, Serialize};

/// A structure's size and member offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructLayout {
    pub size: u64,
    pub members: BTreeMap<String, u64>,
}

impl StructLayout {
    /// Offset of `member`, or an error naming the structure.
    pub fn offset(&self, structure: &str, member: &str) -> Result<u64> {
        self.members.get(member).copied().ok_or_else(|| Error::Debuginfo(format!("struct {structure} has no member {member} in this kernel's DWARF")))
    }
}

/// Layouts of the named structures, from the cache file or the DWARF of `vmlinux`.
pub fn layouts(vmlinux: &Path, cache: &Path, names: &[&str]) -> Result<HashMap<String, StructLayout>> {
    if let Ok(text) = std::fs::read_to_string(cache) {
        if let Ok(found) = serde_json::from_str::<HashMap<String, StructLayout>>(&text) {
            if names.iter().all(|n| found.contains_key(*n)) {
                return Ok(found);
            }
        }
    }
    let found = read_layouts(vmlinux, names)?;
    let _ = std::fs::write(cache, serde_json::to_string_pretty(&found)?);
    Ok(found)
}

pub(crate) type Dwarf<'a> = gimli::Dwarf<EndianSlice<'a, LittleEndian>>;

/// Runs `f` on the DWARF of `vmlinux` (sections located with goblin).
pub(crate) fn with_dwarf<T>(vmlinux: &Path, f: impl FnOnce(&Dwarf<'_>) -> Result<T>) -> Result<T> {
    let bytes = std::fs::read(vmlinux).with_context(|| format!("reading {}", vmlinux.display()))?;
    let elf = goblin::elf::Elf::parse(&bytes).with_context(|| format!("parsing {}", vmlinux.display()))?;
    let section = |id: gimli::SectionId| -> Result<EndianSlice<'_, LittleEndian>, gimli::Error> {
        let data = elf
            .section_headers
            .iter()
            .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(id.name()))
            .and_then(|sh| bytes.get(sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize))
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, LittleEndian))
    };
    f(&gimli::Dwarf::load(section)?)
}

/// Reads the first complete definition of each named structure.
pub fn read_layouts(vmlinux: &Path, names: &[&str]) -> Result<HashMap<String, StructLayout>> {
    with_dwarf(vmlinux, |dwarf| layouts_in(dwarf, vmlinux, names))
}

/// A structure being collected: its name, layout, the depth of its children, and its
/// anonymous members (offset, type) still to flatten.
type Collecting = (String, StructLayout, isize, Vec<(u64, gimli::UnitOffset)>);

fn layouts_in(dwarf: &Dwarf<'_>, vmlinux: &Path, names: &[&str]) -> Result<HashMap<String, StructLayout>> {
    let mut found: HashMap<String, StructLayout> = HashMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        let mut current: Option<Collecting> = None;
        let mut depth = 0isize;
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            if let Some((name, mut layout, child_depth, mut anonymous)) = current.take() {
                if depth == child_depth && matches!(entry.tag(), gimli::DW_TAG_member | gimli::DW_TAG_enumerator) {
                    let value = if entry.tag() == gimli::DW_TAG_member { member_offset(entry)? } else { enumerator_value(entry)? };
                    match (attr_name(dwarf, &unit, entry)?, value) {
                        (Some(member), Some(offset)) => {
                            layout.members.insert(member, offset);
                        }
                        (None, Some(offset)) => {
                            if let Some(AttributeValue::UnitRef(ty)) = entry.attr_value(gimli::DW_AT_type)? {
                                anonymous.push((offset, ty));
                            }
                        }
                        _ => {}
                    }
                    current = Some((name, layout, child_depth, anonymous));
                    continue;
                } else if depth >= child_depth {
                    current = Some((name, layout, child_depth, anonymous));
                    continue;
                }
                flatten(dwarf, &unit, &mut layout, &anonymous, 0)?;
                found.insert(name, layout);
            }
            let prefix = match entry.tag() {
                gimli::DW_TAG_structure_type => "",
                gimli::DW_TAG_enumeration_type => "enum ",
                _ => continue,
            };
            if entry.attr(gimli::DW_AT_declaration)?.is_some() {
                continue;
            }
            let Some(name) = attr_name(dwarf, &unit, entry)?.map(|n| format!("{prefix}{n}")) else { continue };
            if !names.contains(&name.as_str()) || found.contains_key(&name) {
                continue;
            }
            let size = match entry.attr_value(gimli::DW_AT_byte_size)? {
                Some(v) => v.udata_value().unwrap_or(0),
                None => continue,
            };
            current = Some((name, StructLayout { size, members: BTreeMap::new() }, depth + 1, Vec::new()));
        }
        if let Some((name, mut layout, _, anonymous)) = current {
            flatten(dwarf, &unit, &mut layout, &anonymous, 0)?;
            found.insert(name, layout);
        }
        if names.iter().all(|n| found.contains_key(*n)) {
            break;
        }
    }
    for n in names {
        if !found.contains_key(*n) {
            return Err(Error::Debuginfo(format!("{}: struct {n} not found in the DWARF", vmlinux.display())));
        }
    }
    Ok(found)
}

/// Adds the members of anonymous structures and unions (each at `base` + its offset in
/// the outer structure), recursively; a name the layout has already keeps its offset.
fn flatten(dwarf: &Dwarf<'_>, unit: &gimli::Unit<EndianSlice<'_, LittleEndian>>, layout: &mut StructLayout, anonymous: &[(u64, gimli::UnitOffset)], depth: u32) -> Result<()> {
    if depth > 8 {
        return Ok(());
    }
    for &(offset, ty) in anonymous {
        let mut tree = unit.entries_tree(Some(ty))?;
        let root = tree.root()?;
        if !matches!(root.entry().tag(), gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type) {
            continue;
        }
        let mut inner = Vec::new();
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_member {
                continue;
            }
            // A union's members have no location: they start where the union does.
            let at = offset + member_offset(e)?.unwrap_or(0);
            match attr_name(dwarf, unit, e)? {
                Some(name) => {
                    layout.members.entry(name).or_insert(at);
                }
                None => {
                    if let Some(AttributeValue::UnitRef(t)) = e.attr_value(gimli::DW_AT_type)? {
                        inner.push((at, t));
                    }
                }
            }
        }
        flatten(dwarf, unit, layout, &inner, depth + 1)?;
    }
    Ok(())
}

pub(crate) fn attr_name<R: gimli::Reader>(dwarf: &gimli::Dwarf<R>, unit: &gimli::Unit<R>, entry: &gimli::DebuggingInformationEntry<R>) -> Result<Option<String>> {
    match entry.attr_value(gimli::DW_AT_name)? {
        Some(v) => Ok(Some(dwarf.attr_string(unit, v)?.to_string_lossy()?.into_owned())),
        None => Ok(None),
    }
}

/// An enumerator's value (as the u64 of its bits).
fn enumerator_value<R: gimli::Reader>(entry: &gimli::DebuggingInformationEntry<R>) -> Result<Option<u64>> {
    Ok(match entry.attr_value(gimli::DW_AT_const_value)? {
        Some(AttributeValue::Sdata(v)) => Some(v as u64),
        Some(v) => v.udata_value(),
        None => None,
    })
}

fn member_offset<R: gimli::Reader>(entry: &gimli::DebuggingInformationEntry<R>) -> Result<Option<u64>> {
    Ok(match entry.attr_value(gimli::DW_AT_data_member_location)? {
        Some(AttributeValue::Udata(v)) => Some(v),
        Some(v) => v.udata_value(),
        None => None,
    })
}

/// Code addresses of a source line, from the DWARF line table (statement rows whose
/// file path ends with `file`, e.g. `arch/arm64/mm/init.c`). Several addresses come
/// back when the line was inlined or split; an empty result is an error.
pub fn line_addresses(vmlinux: &Path, file: &str, line: u64) -> Result<Vec<u64>> {
    with_dwarf(vmlinux, |dwarf| line_addresses_in(dwarf, vmlinux, file, line))
}

fn line_addresses_in(dwarf: &Dwarf<'_>, vmlinux: &Path, file: &str, line: u64) -> Result<Vec<u64>> {
    let mut found = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let Some(program) = unit.line_program.clone() else { continue };
        let mut rows = program.rows();
        // Files of this unit whose path ends with `file` (by index), computed once.
        let mut matching: HashMap<u64, bool> = HashMap::new();
        while let Some((header, row)) = rows.next_row()? {
            if row.end_sequence() || !row.is_stmt() || row.line().map(|l| l.get()) != Some(line) {
                continue;
            }
            let index = row.file_index();
            let is_match = match matching.get(&index) {
                Some(m) => *m,
                None => {
                    let m = match row.file(header) {
                        Some(entry) => {
                            let name = dwarf.attr_string(&unit, entry.path_name())?.to_string_lossy().into_owned();
                            let dir = match entry.directory(header) {
                                Some(d) => dwarf.attr_string(&unit, d)?.to_string_lossy().into_owned(),
                                None => String::new(),
                            };
                            format!("{dir}/{name}").ends_with(file)
                        }
                        None => false,
                    };
                    matching.insert(index, m);
                    m
                }
            };
            if is_match {
                found.push(row.address());
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    if found.is_empty() {
        return Err(Error::Debuginfo(format!("{}: no code for {file}:{line} in the DWARF line table", vmlinux.display())));
    }
    Ok(found)
}
