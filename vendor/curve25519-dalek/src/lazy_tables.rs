// WEFTDB-PATCH (see WEFTDB-PATCH.md): the two basepoint tables that the
// `precomputed-tables` feature compiles in as constants (30 KiB for
// fixed-base multiplication, 7.5 KiB for verification's double-base
// multiplication, with 32-bit limbs) are computed once, on first use, by the
// same functions that made the constants. Their data is random-looking
// field elements that no compressor shrinks: ~35 KB of a page's gzipped
// wasm, against a one-time computation of well under a millisecond natively.
// Each multiplication then reads the table exactly as it read the constant.

use alloc::boxed::Box;
use once_cell::race::OnceBox;

use crate::backend::serial::curve_models::AffineNielsPoint;
use crate::constants::ED25519_BASEPOINT_POINT;
use crate::edwards::EdwardsBasepointTable;
use crate::traits::BasepointTable;
use crate::window::NafLookupTable8;

/// The Ed25519 basepoint's radix-16 table, as `constants::ED25519_BASEPOINT_TABLE`.
pub(crate) fn basepoint_table() -> &'static EdwardsBasepointTable {
    static TABLE: OnceBox<EdwardsBasepointTable> = OnceBox::new();
    TABLE.get_or_init(|| Box::new(EdwardsBasepointTable::create(&ED25519_BASEPOINT_POINT)))
}

/// The odd multiples of the basepoint, as
/// `constants::AFFINE_ODD_MULTIPLES_OF_BASEPOINT`.
pub(crate) fn affine_odd_multiples_of_basepoint() -> &'static NafLookupTable8<AffineNielsPoint> {
    static TABLE: OnceBox<NafLookupTable8<AffineNielsPoint>> = OnceBox::new();
    TABLE.get_or_init(|| Box::new(NafLookupTable8::from(&ED25519_BASEPOINT_POINT)))
}
