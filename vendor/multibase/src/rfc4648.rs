//! WEFTDB-PATCH: the RFC 4648 bases (and base2, base8, z-base-32) by one
//! small bit-packing codec, in place of `data-encoding`, whose encoder and
//! decoder are instantiated per bit width (~60 KB of a page's wasm before
//! wasm-opt, for strings of a few dozen bytes). It accepts and refuses
//! exactly what `data-encoding` did with the specifications multibase 0.9.3
//! gave it (weftdb's `tests/vendored.rs` compares the two on every base):
//! most significant bit first, non-zero trailing bits refused, padded
//! encodings decoded block by block (a padded block may sit anywhere, as
//! in the concatenation of two padded strings), and the case-insensitive
//! alphabets (base16, base32, base32hex) read in either case.

#[cfg(not(feature = "std"))]
use alloc::{string::String, vec::Vec};

use crate::error::{Error, Result};

/// One base of the family: its alphabet (2^`bits` ASCII symbols), whether
/// it pads with `=`, whether letters are read in either case.
pub(crate) struct Rfc4648 {
    pub(crate) bits: u32,
    pub(crate) symbols: &'static [u8],
    pub(crate) pad: bool,
    pub(crate) any_case: bool,
}

const PAD: u8 = b'=';

impl Rfc4648 {
    /// Symbols per block: a block is the fewest whole bytes that fill whole
    /// symbols (8 bits for base2 and base16, 24 for base8 and base64, 40 for
    /// base32).
    fn block(&self) -> usize {
        (lcm8(self.bits) / self.bits) as usize
    }

    pub(crate) fn encode(&self, input: &[u8]) -> String {
        let bits = self.bits;
        let mask = (1u32 << bits) - 1;
        let mut out = String::with_capacity(input.len().saturating_mul(8).div_ceil(bits as usize) + 8);
        let (mut acc, mut have) = (0u32, 0u32);
        for &byte in input {
            acc = (acc << 8) | u32::from(byte);
            have += 8;
            while have >= bits {
                have -= bits;
                out.push(char::from(self.symbols[((acc >> have) & mask) as usize]));
            }
            acc &= (1 << have) - 1;
        }
        if have > 0 {
            out.push(char::from(self.symbols[((acc << (bits - have)) & mask) as usize]));
        }
        if self.pad {
            while out.len() % self.block() != 0 {
                out.push(char::from(PAD));
            }
        }
        out
    }

    pub(crate) fn decode(&self, input: &str) -> Result<Vec<u8>> {
        let input = input.as_bytes();
        let mut values = [0xffu8; 256];
        for (value, &symbol) in self.symbols.iter().enumerate() {
            values[symbol as usize] = value as u8;
            if self.any_case {
                values[symbol.to_ascii_lowercase() as usize] = value as u8;
                values[symbol.to_ascii_uppercase() as usize] = value as u8;
            }
        }
        let mut out = Vec::with_capacity(input.len().saturating_mul(self.bits as usize) / 8);
        if !self.pad {
            self.decode_run(&values, input, &mut out)?;
            return Ok(out);
        }
        let block = self.block();
        if input.len() % block != 0 {
            return Err(Error::InvalidBaseString);
        }
        for chunk in input.chunks(block) {
            // A block's padding is at its end; what is left must be a
            // length some number of bytes encodes to.
            let symbols = block - chunk.iter().rev().take_while(|&&c| c == PAD).count();
            if symbols == 0 {
                return Err(Error::InvalidBaseString);
            }
            self.decode_run(&values, &chunk[..symbols], &mut out)?;
        }
        Ok(out)
    }

    /// Decodes symbols with no padding among them, appending to `out`.
    fn decode_run(&self, values: &[u8; 256], input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let bits = self.bits;
        // A length no number of bytes encodes to (a symbol's worth of bits
        // or more left over) is refused.
        // (In u64: a string of hundreds of MB must not overflow a wasm32 usize.)
        if (u64::from(bits) * input.len() as u64) % 8 >= u64::from(bits) {
            return Err(Error::InvalidBaseString);
        }
        let (mut acc, mut have) = (0u32, 0u32);
        for &c in input {
            let value = values[c as usize];
            if value == 0xff {
                return Err(Error::InvalidBaseString);
            }
            acc = (acc << bits) | u32::from(value);
            have += bits;
            if have >= 8 {
                have -= 8;
                out.push((acc >> have) as u8);
                acc &= (1 << have) - 1;
            }
        }
        // The bits past the last whole byte must be zero: one string per
        // byte string.
        if acc != 0 {
            return Err(Error::InvalidBaseString);
        }
        Ok(())
    }
}

/// The least common multiple of 8 and `bits` (1 to 6).
fn lcm8(bits: u32) -> u32 {
    match bits {
        3 | 6 => 24,
        5 => 40,
        _ => 8,
    }
}
