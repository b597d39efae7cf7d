//! The signature rule, natively: a batch of blocks checked together
//! (`Unverified::verify_all`, one field inversion for all, as a native
//! node checks a push) takes exactly the blocks that `verify` takes one by
//! one, on every case in `tests/support/signatures.rs`: honest, tampered
//! and malleable signatures, small-order, mixed-order, non-canonical and
//! off-curve keys and R. (The page's twin, WebCrypto against the same
//! rule, is `tests/web.rs`.)
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/signatures.rs"]
mod signatures;

use weftdb::core::block::{cid_of, AuthorKeys, BlockError, SignedBlock, Unverified};

/// Each case's verdict from a batch check of `cases` in the order given.
fn batch_verdicts(cases: &[&signatures::Case]) -> Vec<(String, bool)> {
    // Every case decodes: each differs from an honest block only in its
    // signature or key, so each reaches the signature check.
    let blocks: Vec<Unverified> = cases
        .iter()
        .map(|c| SignedBlock::decode_unverified(&c.bytes, None).unwrap_or_else(|e| panic!("{}: {e}", c.name)))
        .collect();
    let results = Unverified::verify_all(blocks, &mut AuthorKeys::default());
    assert_eq!(results.len(), cases.len(), "one result a block");
    cases
        .iter()
        .zip(results)
        .map(|(c, r)| match r {
            Ok(b) => {
                assert_eq!(b.cid, cid_of(&c.bytes), "{}: the block it was given", c.name);
                (c.name.clone(), true)
            }
            Err(BlockError::BadSignature) => (c.name.clone(), false),
            Err(e) => panic!("{}: refused for {e}, not its signature", c.name),
        })
        .collect()
}

/// The cases whose verdicts differ (empty when all agree).
fn differing(got: &[(String, bool)], want: &[(String, bool)]) -> Vec<String> {
    assert_eq!(got.len(), want.len(), "a verdict a case");
    got.iter().zip(want).filter(|(g, w)| g != w).map(|(g, w)| format!("{}: {} not {}", w.0, g.1, w.1)).collect()
}

#[test]
fn a_batch_check_takes_exactly_the_blocks_each_check_takes() {
    let cases = signatures::cases();
    assert!(cases.len() > 100, "the cases were made");
    let one_by_one: Vec<(String, bool)> =
        cases.iter().map(|c| (c.name.clone(), SignedBlock::decode(&c.bytes, None).is_ok())).collect();
    let expected: Vec<(String, bool)> = cases.iter().map(|c| (c.name.clone(), c.accepted)).collect();
    assert_eq!(differing(&one_by_one, &expected), Vec::<String>::new(), "`verify` one by one");
    assert!(expected.iter().any(|(_, ok)| *ok) && expected.iter().any(|(_, ok)| !*ok));

    let all: Vec<&signatures::Case> = cases.iter().collect();
    assert_eq!(differing(&batch_verdicts(&all), &expected), Vec::<String>::new(), "all the cases in one batch");
    let mut reversed = all.clone();
    reversed.reverse();
    let mut want = expected.clone();
    want.reverse();
    assert_eq!(differing(&batch_verdicts(&reversed), &want), Vec::<String>::new(), "in the other order");
    // In batches of 7 (refused blocks at every place in a batch), and alone.
    for size in [7, 1] {
        let mut got = Vec::new();
        for chunk in all.chunks(size) {
            got.extend(batch_verdicts(chunk));
        }
        assert_eq!(differing(&got, &expected), Vec::<String>::new(), "in batches of {size}");
    }
    assert!(Unverified::verify_all(Vec::new(), &mut AuthorKeys::default()).is_empty());
}
