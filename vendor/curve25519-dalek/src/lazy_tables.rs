// WEFTDB-PATCH (see WEFTDB-PATCH.md): the two basepoint tables that the
// `precomputed-tables` feature compiles in as constants (30 KiB for
// fixed-base multiplication, 7.5 KiB for verification's double-base
// multiplication, with 32-bit limbs) are computed once, on first use. Their
// data is random-looking field elements that no compressor shrinks: ~35 KB
// of a page's gzipped wasm. Each multiplication then reads the table exactly
// as it read the constant.
//
// The points are the ones `EdwardsBasepointTable::create` and
// `NafLookupTable8::from` compute, but made affine with one field inversion
// for all of them (Montgomery's trick, `FieldElement::invert_batch_alloc`)
// rather than one each, as the crate's own comment in `window.rs` suggests
// "if perf mattered here": 2 inversions instead of 320.

use alloc::boxed::Box;
use alloc::vec::Vec;
use once_cell::race::OnceBox;

use crate::backend::serial::curve_models::AffineNielsPoint;
use crate::constants::{ED25519_BASEPOINT_POINT, EDWARDS_D2};
use crate::edwards::{EdwardsBasepointTable, EdwardsPoint};
use crate::field::FieldElement;
use crate::ristretto::RistrettoBasepointTable;
use crate::window::{LookupTable, NafLookupTable8};

/// The Ed25519 basepoint's radix-16 table, as `constants::ED25519_BASEPOINT_TABLE`.
pub(crate) fn basepoint_table() -> &'static EdwardsBasepointTable {
    static TABLE: OnceBox<EdwardsBasepointTable> = OnceBox::new();
    TABLE.get_or_init(|| Box::new(compute_basepoint_table()))
}

/// The same table for Ristretto, as `constants::RISTRETTO_BASEPOINT_TABLE`
/// makes it of the constant one.
pub(crate) fn ristretto_basepoint_table() -> &'static RistrettoBasepointTable {
    // SAFETY: `RistrettoBasepointTable` is a `#[repr(transparent)]` newtype of
    // `EdwardsBasepointTable` (the cast `constants.rs` makes).
    unsafe { &*(basepoint_table() as *const EdwardsBasepointTable as *const RistrettoBasepointTable) }
}

/// The odd multiples of the basepoint, as
/// `constants::AFFINE_ODD_MULTIPLES_OF_BASEPOINT`.
pub(crate) fn affine_odd_multiples_of_basepoint() -> &'static NafLookupTable8<AffineNielsPoint> {
    static TABLE: OnceBox<NafLookupTable8<AffineNielsPoint>> = OnceBox::new();
    TABLE.get_or_init(|| Box::new(compute_odd_multiples()))
}

/// Sub-table `i` holds `1·P .. 8·P` for `P = 256^i · B`, as `create` makes it.
fn compute_basepoint_table() -> EdwardsBasepointTable {
    let mut multiples = Vec::with_capacity(32 * 8);
    let mut base = ED25519_BASEPOINT_POINT;
    for _ in 0..32 {
        let mut multiple = base;
        for _ in 0..8 {
            multiples.push(multiple);
            multiple = &multiple + &base;
        }
        base = base.mul_by_pow_2(8);
    }
    let affine = affine_niels(&multiples);
    let mut table = EdwardsBasepointTable([LookupTable::default(); 32]);
    for (sub, points) in table.0.iter_mut().zip(affine.chunks_exact(8)) {
        sub.0.copy_from_slice(points);
    }
    table
}

/// `B, 3B, 5B, .., 127B`, as `NafLookupTable8::from` makes them.
fn compute_odd_multiples() -> NafLookupTable8<AffineNielsPoint> {
    let double = ED25519_BASEPOINT_POINT.double();
    let mut multiples = Vec::with_capacity(64);
    let mut multiple = ED25519_BASEPOINT_POINT;
    for _ in 0..64 {
        multiples.push(multiple);
        multiple = &multiple + &double;
    }
    let Ok(table) = affine_niels(&multiples).try_into() else {
        unreachable!("64 points in, 64 out")
    };
    NafLookupTable8(table)
}

/// `EdwardsPoint::as_affine_niels` of each point, with one inversion for all.
fn affine_niels(points: &[EdwardsPoint]) -> Vec<AffineNielsPoint> {
    let mut recips: Vec<FieldElement> = points.iter().map(|p| p.Z).collect();
    FieldElement::invert_batch_alloc(&mut recips);
    points
        .iter()
        .zip(&recips)
        .map(|(p, recip)| {
            let x = &p.X * recip;
            let y = &p.Y * recip;
            let xy2d = &(&x * &y) * &EDWARDS_D2;
            AffineNielsPoint {
                y_plus_x: &y + &x,
                y_minus_x: &y - &x,
                xy2d,
            }
        })
        .collect()
}
