//! Where a kernel function's code runs in one build, from the vmlinux DWARF (gimli): its
//! inlined instances and its out-of-line copies (the plain definition and compiler
//! clones such as `.constprop.0`), each with the entry address and where each declared
//! parameter is on entry. A different kernel, compiler or patch changes what gets
//! inlined; the call tracer and the checkpoints follow the function wherever it went
//! (docs/call-tracing.md).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use gimli::{AttributeValue, Operation};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::linux_side::dwarf::{attr_name, with_dwarf, Dwarf};

/// Where a parameter's value is when an instance is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamAt {
    /// In general-purpose register `xN`.
    Reg(u16),
    /// `xN + offset` (a value the compiler folded into an address computation).
    RegPlus(u16, i64),
    /// A constant the compiler propagated.
    Const(u64),
    /// Nowhere the DWARF says at the entry (optimised out, on the stack, or computed later).
    Unknown,
}

/// How an instance is left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exit {
    /// A real call: it returns to the address in x30 at entry, with its result in x0.
    Call,
    /// Inlined into `into`: control leaves at the end of one of its address ranges (the
    /// caller's next instruction); no return value exists.
    Inlined { into: String, ends: Vec<u64> },
}

/// One place a function's code runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSite {
    pub entry: u64,
    /// The compile unit the code is in (a function and its inlined instances share one
    /// without LTO; a same-named static function elsewhere does not).
    pub unit: String,
    pub exit: Exit,
    /// Each declared parameter, in declaration order.
    pub params: Vec<ParamAt>,
}

impl CodeSite {
    /// Whether this is an inlined instance.
    pub fn is_inlined(&self) -> bool {
        matches!(self.exit, Exit::Inlined { .. })
    }
}

/// Function name → its sites in this build (functions with none are absent).
pub type CodeSites = BTreeMap<String, Vec<CodeSite>>;

/// The sites of `names`, from the cache file or the DWARF of `vmlinux`.
pub fn code_sites(vmlinux: &Path, cache: &Path, names: &[&str]) -> Result<CodeSites> {
    #[derive(Serialize, Deserialize)]
    struct Cached {
        names: Vec<String>,
        sites: CodeSites,
    }
    if let Ok(text) = std::fs::read_to_string(cache) {
        if let Ok(c) = serde_json::from_str::<Cached>(&text) {
            if names.iter().all(|n| c.names.iter().any(|m| m == n)) {
                return Ok(c.sites);
            }
        }
    }
    let sites = with_dwarf(vmlinux, |dwarf| sites_in(dwarf, names))?;
    let cached = Cached { names: names.iter().map(|n| n.to_string()).collect(), sites };
    let _ = std::fs::write(cache, serde_json::to_string_pretty(&cached)?);
    Ok(cached.sites)
}

/// An instance found in a unit, before its abstract origin is known to be wanted.
struct Pending {
    origin: gimli::UnitOffset,
    entry: Option<u64>,
    ranges: Vec<(u64, u64)>,
    /// The function the instance sits in (the nearest enclosing subprogram).
    into: String,
    inlined: bool,
    /// Parameter (abstract origin) → where it is at the entry.
    params: HashMap<gimli::UnitOffset, ParamAt>,
}

fn sites_in(dwarf: &Dwarf<'_>, names: &[&str]) -> Result<CodeSites> {
    let mut found = CodeSites::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let unit_name = match unit.entries().next_dfs()? {
            Some((_, root)) => attr_name(dwarf, &unit, root)?.unwrap_or_default(),
            None => continue,
        };
        // Wanted abstract subprograms of this unit: offset → (name, parameter offsets).
        let mut wanted: HashMap<gimli::UnitOffset, (String, Vec<gimli::UnitOffset>)> = HashMap::new();
        let mut pending: Vec<Pending> = Vec::new();
        // (depth, what): the enclosing subprogram names and open instances by depth.
        let mut scopes: Vec<(isize, Scope)> = Vec::new();
        let mut depth = 0isize;
        let mut entries = unit.entries();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            while scopes.last().is_some_and(|(d, _)| *d >= depth) {
                scopes.pop();
            }
            let tag = entry.tag();
            if tag == gimli::DW_TAG_subprogram {
                let origin = match entry.attr_value(gimli::DW_AT_abstract_origin)? {
                    Some(AttributeValue::UnitRef(o)) => Some(o),
                    _ => None,
                };
                let name = match attr_name(dwarf, &unit, entry)? {
                    Some(n) => Some(n),
                    None => match origin {
                        Some(o) => attr_name(dwarf, &unit, &unit.entry(o)?)?,
                        None => None,
                    },
                };
                let name = name.unwrap_or_default();
                if origin.is_none() && names.contains(&name.as_str()) && entry.attr(gimli::DW_AT_declaration)?.is_none() {
                    wanted.insert(entry.offset(), (name.clone(), Vec::new()));
                    scopes.push((depth, Scope::Abstract(entry.offset())));
                    // A definition that is not only abstract is its own out-of-line copy.
                    if let Some(low) = low_pc(dwarf, &unit, entry)? {
                        pending.push(Pending { origin: entry.offset(), entry: Some(low), ranges: vec![], into: name.clone(), inlined: false, params: HashMap::new() });
                        scopes.push((depth, Scope::Instance(pending.len() - 1, low)));
                    }
                } else if let (Some(o), Some(low)) = (origin, low_pc(dwarf, &unit, entry)?) {
                    pending.push(Pending { origin: o, entry: Some(low), ranges: vec![], into: name.clone(), inlined: false, params: HashMap::new() });
                    scopes.push((depth, Scope::Instance(pending.len() - 1, low)));
                }
                scopes.push((depth, Scope::Function(name)));
            } else if tag == gimli::DW_TAG_inlined_subroutine {
                let Some(AttributeValue::UnitRef(origin)) = entry.attr_value(gimli::DW_AT_abstract_origin)? else { continue };
                let ranges = ranges(dwarf, &unit, entry)?;
                let entry_pc = match entry.attr_value(gimli::DW_AT_entry_pc)? {
                    Some(v) => dwarf.attr_address(&unit, v)?.or_else(|| v.udata_value().and_then(|off| ranges.first().map(|r| r.0 + off))),
                    None => None,
                }
                .or_else(|| ranges.iter().map(|r| r.0).min());
                let into = scopes.iter().rev().find_map(|(_, s)| if let Scope::Function(n) = s { Some(n.clone()) } else { None }).unwrap_or_default();
                pending.push(Pending { origin, entry: entry_pc, ranges, into, inlined: true, params: HashMap::new() });
                if let Some(pc) = entry_pc {
                    scopes.push((depth, Scope::Instance(pending.len() - 1, pc)));
                }
            } else if tag == gimli::DW_TAG_formal_parameter {
                // A parameter directly under a wanted abstract subprogram, or under an
                // instance (its abstract origin names which parameter it is).
                for (d, scope) in scopes.iter().rev().take_while(|(d, _)| *d == depth - 1) {
                    let _ = d;
                    match scope {
                        Scope::Abstract(sub) => {
                            if let Some((_, params)) = wanted.get_mut(sub) {
                                params.push(entry.offset());
                            }
                        }
                        Scope::Instance(i, pc) => {
                            let key = match entry.attr_value(gimli::DW_AT_abstract_origin)? {
                                Some(AttributeValue::UnitRef(o)) => o,
                                _ => entry.offset(),
                            };
                            let at = param_at(dwarf, &unit, entry, *pc)?;
                            pending[*i].params.insert(key, at);
                        }
                        Scope::Function(_) => {}
                    }
                }
            }
        }
        for p in pending {
            let Some((name, params)) = wanted.get(&p.origin) else { continue };
            let Some(entry) = p.entry else { continue };
            // GCC describes part of an out-of-line copy as the function inlined into
            // itself: the same call, not another.
            if p.inlined && p.into == *name {
                continue;
            }
            // A plain definition's own parameters are its abstract ones.
            let params = params.iter().map(|o| p.params.get(o).copied().unwrap_or(ParamAt::Unknown)).collect();
            let exit = if p.inlined {
                let mut ends: Vec<u64> = p.ranges.iter().map(|r| r.1).filter(|e| !p.ranges.iter().any(|r| r.0 <= *e && *e < r.1)).collect();
                ends.sort_unstable();
                ends.dedup();
                Exit::Inlined { into: p.into, ends }
            } else {
                Exit::Call
            };
            found.entry(name.clone()).or_default().push(CodeSite { entry, unit: unit_name.clone(), exit, params });
        }
    }
    for sites in found.values_mut() {
        sites.sort_by_key(|s| s.entry);
        sites.dedup_by_key(|s| s.entry);
    }
    Ok(found)
}

/// What an enclosing DIE is, for its children.
enum Scope {
    /// A wanted function's own definition (its parameters are the abstract ones).
    Abstract(gimli::UnitOffset),
    /// An instance (index into the pending list) entered at this address.
    Instance(usize, u64),
    /// A subprogram, by name: what inlined instances below it are inlined into.
    Function(String),
}

type Unit<'a> = gimli::Unit<gimli::EndianSlice<'a, gimli::LittleEndian>>;
type Die<'a, 'u> = gimli::DebuggingInformationEntry<'u, 'u, gimli::EndianSlice<'a, gimli::LittleEndian>>;

fn low_pc(dwarf: &Dwarf<'_>, unit: &Unit<'_>, entry: &Die<'_, '_>) -> Result<Option<u64>> {
    Ok(match entry.attr_value(gimli::DW_AT_low_pc)? {
        Some(v) => dwarf.attr_address(unit, v)?.filter(|a| *a != 0),
        None => None,
    })
}

fn ranges(dwarf: &Dwarf<'_>, unit: &Unit<'_>, entry: &Die<'_, '_>) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut it = dwarf.die_ranges(unit, entry)?;
    while let Some(r) = it.next()? {
        if r.begin != 0 && r.end > r.begin {
            out.push((r.begin, r.end));
        }
    }
    Ok(out)
}

/// Where the parameter `entry` is at `pc`: its location expression (or the entry of its
/// location list that covers `pc`), or its constant value.
fn param_at(dwarf: &Dwarf<'_>, unit: &Unit<'_>, entry: &Die<'_, '_>, pc: u64) -> Result<ParamAt> {
    if let Some(v) = entry.attr_value(gimli::DW_AT_const_value)? {
        return Ok(match v {
            AttributeValue::Sdata(s) => ParamAt::Const(s as u64),
            v => v.udata_value().map(ParamAt::Const).unwrap_or(ParamAt::Unknown),
        });
    }
    let expr = match entry.attr_value(gimli::DW_AT_location)? {
        Some(AttributeValue::Exprloc(e)) => Some(e),
        Some(v) => match dwarf.attr_locations(unit, v)? {
            Some(mut list) => {
                let mut hit = None;
                while let Some(l) = list.next()? {
                    if l.range.begin <= pc && pc < l.range.end {
                        hit = Some(l.data);
                        break;
                    }
                }
                hit
            }
            None => None,
        },
        None => None,
    };
    let Some(expr) = expr else { return Ok(ParamAt::Unknown) };
    Ok(decode_expression(expr, unit.encoding()))
}

/// A location expression as [`decode`] reads it. An operation gimli cannot parse (a
/// vendor extension: Linux 6.12's build has some) leaves the parameter unlocated, as any
/// expression `decode` does not know.
fn decode_expression<R: gimli::Reader<Offset = usize>>(expr: gimli::Expression<R>, encoding: gimli::Encoding) -> ParamAt {
    let mut ops = Vec::new();
    let mut it = expr.operations(encoding);
    loop {
        match it.next() {
            Ok(Some(op)) => ops.push(op),
            Ok(None) => return decode(&ops),
            Err(_) => return ParamAt::Unknown,
        }
    }
}

/// The location expressions a parameter on entry is seen with in practice.
fn decode<R: gimli::Reader<Offset = usize>>(ops: &[Operation<R>]) -> ParamAt {
    match ops {
        [Operation::Register { register }] if register.0 <= 30 => ParamAt::Reg(register.0),
        [Operation::RegisterOffset { register, offset, .. }, Operation::StackValue] if register.0 <= 30 => ParamAt::RegPlus(register.0, *offset),
        [Operation::UnsignedConstant { value }, Operation::StackValue] => ParamAt::Const(*value),
        [Operation::SignedConstant { value }, Operation::StackValue] => ParamAt::Const(*value as u64),
        _ => ParamAt::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gimli::{EndianSlice, LittleEndian, Register};

    type Op = Operation<EndianSlice<'static, LittleEndian>, usize>;

    #[test]
    fn the_entry_locations_seen_in_practice_decode() {
        let reg = |n| Op::Register { register: Register(n) };
        assert_eq!(decode(&[reg(2)]), ParamAt::Reg(2));
        assert_eq!(decode(&[Op::RegisterOffset { register: Register(19), offset: -16, base_type: gimli::UnitOffset(0) }, Op::StackValue]), ParamAt::RegPlus(19, -16));
        assert_eq!(decode(&[Op::UnsignedConstant { value: 4096 }, Op::StackValue]), ParamAt::Const(4096));
        // x31 is the stack pointer or xzr, a piece is half a value, a memory location is
        // not a value: none of them is read as an argument.
        assert_eq!(decode(&[reg(31)]), ParamAt::Unknown);
        assert_eq!(decode(&[reg(1), Op::Piece { size_in_bits: 32, bit_offset: None }]), ParamAt::Unknown);
        assert_eq!(decode(&[Op::RegisterOffset { register: Register(29), offset: 8, base_type: gimli::UnitOffset(0) }]), ParamAt::Unknown);
    }

    #[test]
    fn an_expression_gimli_cannot_parse_is_unlocated() {
        let encoding = gimli::Encoding { format: gimli::Format::Dwarf32, version: 5, address_size: 8 };
        let expr = |bytes: &'static [u8]| gimli::Expression(EndianSlice::new(bytes, LittleEndian));
        // DW_OP_reg2, then DW_OP_reg2 followed by an opcode no DWARF version defines.
        assert_eq!(decode_expression(expr(&[0x52]), encoding), ParamAt::Reg(2));
        assert!(expr(&[0x01]).operations(encoding).next().is_err(), "0x01 is no DWARF operation");
        assert_eq!(decode_expression(expr(&[0x52, 0x01]), encoding), ParamAt::Unknown);
    }
}
