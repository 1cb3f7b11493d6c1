//! The Realm Services Interface calls (RMM specification 1.0, Arm DEN 0137), as a realm
//! guest makes them with SMC: validation, results and effects on the [`Realm`].
//!
//! Implemented: RSI_VERSION (1.0 only), RSI_FEATURES (no optional features),
//! RSI_REALM_CONFIG (ipa_width, hash algorithm SHA-256, zero RPV), RSI_IPA_STATE_SET,
//! RSI_IPA_STATE_GET, RSI_HOST_CALL (there is no host to answer: the call succeeds and
//! leaves the structure as it was). Fixed values, not real measurements or attestation:
//! RSI_MEASUREMENT_READ returns [`FIXED_RIM`] for slot 0 and zeros for the REMs,
//! RSI_MEASUREMENT_EXTEND checks its arguments and changes nothing, and the attestation
//! token is always [`FIXED_TOKEN`]. Anything else in the RSI range is NOT_SUPPORTED.

use crate::layout::GRANULE;
use crate::mem::PhysMem;
use crate::realm::Realm;
use crate::ripas::Ripas;
use crate::smccc::*;
use crate::stage2::Stage2Error;

/// The realm initial measurement RSI_MEASUREMENT_READ(0) returns: a fixed marker.
pub const FIXED_RIM: [u8; 64] = *b"lmo-monitor fixed RIM: not a measurement of anything............";
/// The attestation token RSI_ATTESTATION_TOKEN_CONTINUE hands out: a fixed marker, not CBOR.
pub const FIXED_TOKEN: &[u8] = b"lmo-monitor fixed attestation token: not signed, not a CCA token";

/// Per-CPU attestation progress (the RMM keeps it per REC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenState {
    /// Bytes of the token already handed out, once RSI_ATTESTATION_TOKEN_INIT was called.
    pub offset: Option<usize>,
}

/// Results of one call: x0 .. x(n-1); the other registers are preserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub regs: [u64; 9],
    pub n: usize,
}

impl Reply {
    fn status(s: u64) -> Reply {
        Reply { regs: [s, 0, 0, 0, 0, 0, 0, 0, 0], n: 1 }
    }

    fn with(values: &[u64]) -> Reply {
        let mut regs = [0; 9];
        regs[..values.len()].copy_from_slice(values);
        Reply { regs, n: values.len() }
    }
}

fn aligned(a: u64) -> bool {
    a % GRANULE == 0
}

/// Handles RSI call `x[0]` with arguments `x[1..]` (x1-x10).
pub fn handle<M: PhysMem>(x: &[u64; 11], realm: &mut Realm, mem: &mut M, token: &mut TokenState) -> Result<Reply, Stage2Error> {
    let protected_limit = realm.shared_bit();
    Ok(match x[0] as u32 {
        RSI_VERSION => {
            let req = x[1];
            let ok = req >> 16 == 1 && req & 0xffff == 0;
            Reply::with(&[if ok { RSI_SUCCESS } else { RSI_ERROR_INPUT }, RSI_ABI_1_0, RSI_ABI_1_0])
        }
        // Feature register 0 is the only one defined; it and reserved ones read 0.
        RSI_FEATURES => Reply::with(&[RSI_SUCCESS, 0]),
        RSI_REALM_CONFIG => {
            let ipa = x[1];
            if !aligned(ipa) || !realm.protected_ram(mem, ipa, GRANULE) {
                Reply::status(RSI_ERROR_INPUT)
            } else {
                mem.zero(ipa, GRANULE);
                mem.write_u64(ipa, realm.ipa_bits as u64);
                // hash_algo 0: SHA-256.
                mem.write_u64(ipa + 8, 0);
                Reply::status(RSI_SUCCESS)
            }
        }
        RSI_IPA_STATE_SET => {
            let (base, top, ripas, flags) = (x[1], x[2], x[3], x[4]);
            let ripas = match ripas {
                0 => Some(Ripas::Empty),
                1 => Some(Ripas::Ram),
                _ => None,
            };
            match ripas {
                Some(r) if aligned(base) && aligned(top) && base < top && top <= protected_limit && flags & !RSI_CHANGE_DESTROYED == 0 => {
                    let s = realm.ipa_state_set(mem, base, top, r, flags & RSI_CHANGE_DESTROYED != 0)?;
                    Reply::with(&[RSI_SUCCESS, s.new_base, s.response])
                }
                _ => Reply::status(RSI_ERROR_INPUT),
            }
        }
        RSI_IPA_STATE_GET => {
            let (base, end) = (x[1], x[2]);
            if !aligned(base) || !aligned(end) || base >= end || end > protected_limit {
                Reply::status(RSI_ERROR_INPUT)
            } else {
                let (top, ripas) = realm.ripas.run(mem, base, end);
                Reply::with(&[RSI_SUCCESS, top, ripas as u64])
            }
        }
        RSI_HOST_CALL => {
            // struct rsi_host_call: imm (u16) then 31 GPRs: 256 bytes, 256-aligned.
            let ipa = x[1];
            if ipa % 256 != 0 || !realm.protected_ram(mem, ipa, 256) {
                Reply::status(RSI_ERROR_INPUT)
            } else {
                Reply::status(RSI_SUCCESS)
            }
        }
        RSI_MEASUREMENT_READ => match x[1] {
            0 => {
                let mut v = [RSI_SUCCESS; 9];
                for (i, w) in v[1..].iter_mut().enumerate() {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&FIXED_RIM[i * 8..i * 8 + 8]);
                    *w = u64::from_le_bytes(b);
                }
                Reply::with(&v)
            }
            1..=4 => Reply::with(&[RSI_SUCCESS, 0, 0, 0, 0, 0, 0, 0, 0]),
            _ => Reply::status(RSI_ERROR_INPUT),
        },
        RSI_MEASUREMENT_EXTEND => {
            let ok = (1..=4).contains(&x[1]) && x[2] <= 64;
            Reply::status(if ok { RSI_SUCCESS } else { RSI_ERROR_INPUT })
        }
        RSI_ATTESTATION_TOKEN_INIT => {
            token.offset = Some(0);
            Reply::with(&[RSI_SUCCESS, FIXED_TOKEN.len() as u64])
        }
        RSI_ATTESTATION_TOKEN_CONTINUE => {
            let (ipa, offset, size) = (x[1], x[2], x[3]);
            match token.offset {
                None => Reply::status(RSI_ERROR_STATE),
                Some(_) if !aligned(ipa) || offset.checked_add(size).is_none_or(|e| e > GRANULE) || !realm.protected_ram(mem, ipa, GRANULE) => {
                    Reply::status(RSI_ERROR_INPUT)
                }
                Some(done) => {
                    let n = (FIXED_TOKEN.len() - done).min(size as usize);
                    mem.write_bytes(ipa + offset, &FIXED_TOKEN[done..done + n]);
                    let now = done + n;
                    let status = if now == FIXED_TOKEN.len() {
                        token.offset = None;
                        RSI_SUCCESS
                    } else {
                        token.offset = Some(now);
                        RSI_INCOMPLETE
                    };
                    Reply::with(&[status, n as u64])
                }
            }
        }
        _ => Reply::status(NOT_SUPPORTED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::LINUX_RAM_BASE;
    use crate::realm::tests::realm;

    fn call(fid: u32, args: &[u64]) -> [u64; 11] {
        let mut x = [0; 11];
        x[0] = fid as u64;
        x[1..1 + args.len()].copy_from_slice(args);
        x
    }

    #[test]
    fn version_is_1_0() {
        let (mut r, mut mem) = realm();
        let mut t = TokenState::default();
        let rep = handle(&call(RSI_VERSION, &[0x1_0000]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_SUCCESS, 0x1_0000, 0x1_0000]);
        let rep = handle(&call(RSI_VERSION, &[0x2_0000]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_ERROR_INPUT, 0x1_0000, 0x1_0000]);
        let rep = handle(&call(RSI_VERSION, &[0x1_0001]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(rep.regs[0], RSI_ERROR_INPUT);
    }

    #[test]
    fn realm_config_writes_ipa_width() {
        let (mut r, mut mem) = realm();
        let mut t = TokenState::default();
        let cfg = LINUX_RAM_BASE + 0x5000;
        mem.write_u64(cfg + 0x200, 0xffff);
        let rep = handle(&call(RSI_REALM_CONFIG, &[cfg]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!((rep.regs[0], rep.n), (RSI_SUCCESS, 1));
        assert_eq!(mem.read_u64(cfg), 48);
        assert_eq!(mem.read_u64(cfg + 0x200), 0, "the RPV is zero");
        assert_eq!(handle(&call(RSI_REALM_CONFIG, &[cfg + 8]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_INPUT);
        assert_eq!(handle(&call(RSI_REALM_CONFIG, &[0x0900_0000]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_INPUT);
    }

    #[test]
    fn ipa_state_set_and_get() {
        let (mut r, mut mem) = realm();
        let mut t = TokenState::default();
        let base = LINUX_RAM_BASE + 0x10_0000;
        let rep = handle(&call(RSI_IPA_STATE_SET, &[base, base + 0x1_0000, 0, 1]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_SUCCESS, base + 0x1_0000, RSI_ACCEPT]);
        let rep = handle(&call(RSI_IPA_STATE_GET, &[base, base + 0x10_0000]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_SUCCESS, base + 0x1_0000, Ripas::Empty as u64]);
        let rep = handle(&call(RSI_IPA_STATE_GET, &[LINUX_RAM_BASE, base + 0x10_0000]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_SUCCESS, base, Ripas::Ram as u64]);
        // Bad arguments: misaligned, empty, beyond the protected half, RIPAS DEV, unknown flags.
        for args in [
            [base + 1, base + 0x1000, 0, 0],
            [base, base, 0, 0],
            [base, (1 << 47) + 0x1000, 0, 0],
            [base, base + 0x1000, 3, 0],
            [base, base + 0x1000, 0, 2],
        ] {
            let rep = handle(&call(RSI_IPA_STATE_SET, &args), &mut r, &mut mem, &mut t).unwrap();
            assert_eq!((rep.regs[0], rep.n), (RSI_ERROR_INPUT, 1), "{args:x?}");
        }
        let rep = handle(&call(RSI_IPA_STATE_GET, &[base, base]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(rep.regs[0], RSI_ERROR_INPUT);
    }

    #[test]
    fn attestation_token_in_pieces() {
        let (mut r, mut mem) = realm();
        let mut t = TokenState::default();
        let buf = LINUX_RAM_BASE + 0x8000;
        assert_eq!(handle(&call(RSI_ATTESTATION_TOKEN_CONTINUE, &[buf, 0, 4096]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_STATE);
        let rep = handle(&call(RSI_ATTESTATION_TOKEN_INIT, &[1, 2, 3, 4]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_SUCCESS, FIXED_TOKEN.len() as u64]);
        let rep = handle(&call(RSI_ATTESTATION_TOKEN_CONTINUE, &[buf, 0, 40]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_INCOMPLETE, 40]);
        let rep = handle(&call(RSI_ATTESTATION_TOKEN_CONTINUE, &[buf, 40, 100]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(&rep.regs[..rep.n], &[RSI_SUCCESS, FIXED_TOKEN.len() as u64 - 40]);
        let got: std::vec::Vec<u8> = (0..FIXED_TOKEN.len() as u64).map(|i| mem.read_u8(buf + i)).collect();
        assert_eq!(got, FIXED_TOKEN);
        assert_eq!(handle(&call(RSI_ATTESTATION_TOKEN_INIT, &[]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_SUCCESS);
        assert_eq!(handle(&call(RSI_ATTESTATION_TOKEN_CONTINUE, &[buf, 4000, 200]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_INPUT);
    }

    #[test]
    fn measurements_features_host_call_and_the_rest() {
        let (mut r, mut mem) = realm();
        let mut t = TokenState::default();
        let rep = handle(&call(RSI_MEASUREMENT_READ, &[0]), &mut r, &mut mem, &mut t).unwrap();
        assert_eq!(rep.n, 9);
        assert_eq!(rep.regs[1].to_le_bytes(), FIXED_RIM[..8]);
        assert_eq!(handle(&call(RSI_MEASUREMENT_READ, &[5]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_INPUT);
        assert_eq!(handle(&call(RSI_MEASUREMENT_EXTEND, &[1, 64]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_SUCCESS);
        assert_eq!(handle(&call(RSI_MEASUREMENT_EXTEND, &[0, 32]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_INPUT);
        assert_eq!(&handle(&call(RSI_FEATURES, &[0]), &mut r, &mut mem, &mut t).unwrap().regs[..2], &[RSI_SUCCESS, 0]);
        assert_eq!(handle(&call(RSI_HOST_CALL, &[LINUX_RAM_BASE + 0x100]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_SUCCESS);
        assert_eq!(handle(&call(RSI_HOST_CALL, &[LINUX_RAM_BASE + 0x108]), &mut r, &mut mem, &mut t).unwrap().regs[0], RSI_ERROR_INPUT);
        assert_eq!(handle(&call(0xc400_019a, &[]), &mut r, &mut mem, &mut t).unwrap().regs[0], NOT_SUPPORTED);
    }
}
