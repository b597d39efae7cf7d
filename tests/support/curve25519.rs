//! vendor/curve25519-dalek computes its basepoint tables on first use
//! (WEFTDB-PATCH.md there). This check holds them to the constants the crate
//! still carries. It is shared by `tests/vendored.rs` (native: 64-bit limbs;
//! on x86_64 with AVX2 or AVX-512 IFMA, variable-base and double-base
//! multiplication take that vector backend, with its own table) and
//! `tests/web.rs` (the page: 32-bit limbs, the serial backend, every table),
//! each of which also includes `tests/support/cases.rs` as `cases`.
//!
//! Natively the same check holds the vector backend (AVX2, or AVX-512 IFMA
//! where the CPU has it: the patch compiles it in for every x86_64 build
//! with rustc 1.89 or later) to the serial code: fixed-base multiplication
//! never takes a vector backend, so a vector multiplication that equals it
//! is checked against code that does not share its arithmetic.

use curve25519_dalek_5::constants::{
    ED25519_BASEPOINT_POINT, ED25519_BASEPOINT_TABLE, RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE,
};
use curve25519_dalek_5::edwards::EdwardsPoint;
use curve25519_dalek_5::ristretto::RistrettoPoint;
use curve25519_dalek_5::scalar::Scalar;

use super::cases::Cases;

/// Fixed-base multiplication through the computed table equals
/// multiplication by the constant table and by the basepoint with no table,
/// for scalars whose radix-16 digits reach every entry of every sub-table;
/// so does verification's double-base multiplication (the odd multiples),
/// and Ristretto's fixed-base multiplication.
pub fn computed_tables_equal_constants() {
    // The same scalars on every run: a byte from the top of each number.
    let mut cases = Cases(0x2545_f491_4f6c_dd1d);
    let mut scalar = || {
        let mut bytes = [0u8; 32];
        for byte in &mut bytes {
            *byte = (cases.next() >> 56) as u8;
        }
        Scalar::from_bytes_mod_order(bytes)
    };
    for _ in 0..200 {
        let (a, b) = (scalar(), scalar());
        let computed = EdwardsPoint::mul_base(&a);
        assert_eq!(computed, &a * ED25519_BASEPOINT_TABLE);
        assert_eq!(computed, ED25519_BASEPOINT_POINT * a);
        let point = EdwardsPoint::mul_base(&b);
        // A variable base (`point` is b·B): a·(b·B) = (a·b)·B, the right
        // side serial (the fixed-base table).
        assert_eq!(point * a, EdwardsPoint::mul_base(&(a * b)));
        assert_eq!(
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&a, &point, &b),
            point * a + ED25519_BASEPOINT_POINT * b
        );
        let ristretto = RistrettoPoint::mul_base(&a);
        assert_eq!(ristretto, &a * RISTRETTO_BASEPOINT_TABLE);
        assert_eq!(ristretto, RISTRETTO_BASEPOINT_POINT * a);
    }
}
