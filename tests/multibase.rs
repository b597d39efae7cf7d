//! vendor/multibase and vendor/multiaddr (WEFTDB-PATCH.md in each) write
//! and read the RFC 4648 bases with a codec of their own instead of
//! data-encoding, to keep data-encoding out of the page's wasm. These tests
//! hold them to what multibase 0.9.3 and multiaddr 0.19.1 did as published:
//! data-encoding with the same specifications is the oracle, on every base,
//! for what is written and for what is accepted or refused.

use data_encoding::{Encoding, Specification};
use multibase::Base;

// multibase's own tests, as published (its test vectors, leading zeroes,
// case insensitivity): they run against the patched crate.
#[path = "../vendor/multibase/tests/lib.rs"]
mod upstream;

/// data-encoding's specification of each base, as multibase 0.9.3's
/// `src/encoding.rs` wrote it.
fn oracle(base: Base) -> Option<Encoding> {
    let spec = |symbols: &str, translate: Option<(&str, &str)>, padding: bool| {
        let mut spec = Specification::new();
        spec.symbols.push_str(symbols);
        if let Some((from, to)) = translate {
            spec.translate.from.push_str(from);
            spec.translate.to.push_str(to);
        }
        if padding {
            spec.padding = Some('=');
        }
        spec.encoding().unwrap()
    };
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const B32L: &str = "abcdefghijklmnopqrstuvwxyz234567";
    const B32U: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const HEXL: &str = "0123456789abcdefghijklmnopqrstuv";
    const HEXU: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    Some(match base {
        Base::Base2 => spec("01", None, false),
        Base::Base8 => spec("01234567", None, false),
        Base::Base16Lower => data_encoding::HEXLOWER_PERMISSIVE,
        Base::Base16Upper => data_encoding::HEXUPPER_PERMISSIVE,
        Base::Base32Lower => spec(B32L, Some((UPPER, LOWER)), false),
        Base::Base32Upper => spec(B32U, Some((LOWER, UPPER)), false),
        Base::Base32PadLower => spec(B32L, Some((UPPER, LOWER)), true),
        Base::Base32PadUpper => spec(B32U, Some((LOWER, UPPER)), true),
        Base::Base32HexLower => spec(HEXL, Some((&UPPER[..22], &LOWER[..22])), false),
        Base::Base32HexUpper => spec(HEXU, Some((&LOWER[..22], &UPPER[..22])), false),
        Base::Base32HexPadLower => spec(HEXL, Some((&UPPER[..22], &LOWER[..22])), true),
        Base::Base32HexPadUpper => spec(HEXU, Some((&LOWER[..22], &UPPER[..22])), true),
        Base::Base32Z => spec("ybndrfg8ejkmcpqxot1uwisza345h769", None, false),
        Base::Base64 => data_encoding::BASE64_NOPAD,
        Base::Base64Pad => data_encoding::BASE64,
        Base::Base64Url => data_encoding::BASE64URL_NOPAD,
        Base::Base64UrlPad => data_encoding::BASE64URL,
        _ => return None,
    })
}

const RFC4648: [Base; 17] = [
    Base::Base2,
    Base::Base8,
    Base::Base16Lower,
    Base::Base16Upper,
    Base::Base32Lower,
    Base::Base32Upper,
    Base::Base32PadLower,
    Base::Base32PadUpper,
    Base::Base32HexLower,
    Base::Base32HexUpper,
    Base::Base32HexPadLower,
    Base::Base32HexPadUpper,
    Base::Base32Z,
    Base::Base64,
    Base::Base64Pad,
    Base::Base64Url,
    Base::Base64UrlPad,
];

/// xorshift64*: the same cases on every run, no seed to keep.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn every_rfc4648_base_writes_what_data_encoding_wrote() {
    let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
    for base in RFC4648 {
        let oracle = oracle(base).unwrap();
        for len in 0..=41 {
            for _ in 0..20 {
                let bytes: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
                let written = base.encode(&bytes);
                assert_eq!(written, oracle.encode(&bytes), "{base:?} {bytes:?}");
                assert_eq!(base.decode(&written).unwrap(), bytes, "{base:?} {written}");
                assert_eq!(multibase::decode(multibase::encode(base, &bytes)).unwrap(), (base, bytes));
            }
        }
    }
}

#[test]
fn every_rfc4648_base_accepts_and_refuses_what_data_encoding_did() {
    let mut cases = Cases(0x0123_4567_89ab_cdef);
    let mut refused = 0;
    let mut accepted = 0;
    for base in RFC4648 {
        let oracle = oracle(base).unwrap();
        // The alphabet in both cases, padding, and what no alphabet holds.
        let symbols = oracle.specification().symbols;
        let mut pool: Vec<char> = symbols.chars().collect();
        pool.extend(symbols.to_lowercase().chars());
        pool.extend(symbols.to_uppercase().chars());
        pool.extend(['=', '=', '=', '!', ' ', 'é', '\u{1F680}']);
        for len in 0..=26 {
            for _ in 0..120 {
                let mut text: String = (0..len).map(|_| pool[cases.below(pool.len())]).collect();
                // Valid strings with one symbol changed reach the trailing
                // bits and the padding, which random strings rarely do.
                if cases.below(2) == 0 {
                    let bytes: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
                    let mut chars: Vec<char> = oracle.encode(&bytes).chars().collect();
                    if !chars.is_empty() {
                        let at = cases.below(chars.len());
                        chars[at] = pool[cases.below(pool.len())];
                    }
                    text = chars.into_iter().collect();
                }
                let expected = oracle.decode(text.as_bytes()).ok();
                assert_eq!(base.decode(&text).ok(), expected, "{base:?} {text:?}");
                match expected {
                    Some(_) => accepted += 1,
                    None => refused += 1,
                }
            }
        }
    }
    // Both answers were exercised, often.
    assert!(accepted > 5_000 && refused > 5_000, "{accepted} accepted, {refused} refused");
}

#[test]
fn padded_strings_concatenated_are_read_as_data_encoding_read_them() {
    assert_eq!(Base::Base64Pad.decode("SGVsbA==byB3b3JsZA==").unwrap(), b"Hello world");
    assert!(Base::Base64Pad.decode("SGVsbA=").is_err());
    assert!(Base::Base64Pad.decode("====").is_err());
    assert!(Base::Base32PadLower.decode("me======").is_ok());
    assert!(Base::Base32PadLower.decode("mf======").is_err(), "non-zero trailing bits");
}

#[test]
fn base256emoji_writes_and_reads_what_its_crate_did() {
    use base256emoji::Base as _;
    let mut cases = Cases(0x5851_f42d_4c95_7f2d);
    let mut pool: Vec<char> = base256emoji::Emoji::ALPHABET.to_vec();
    pool.extend(['a', '=', '\u{1F600}', '\u{FE0F}']);
    for len in 0..=24 {
        for _ in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
            let written = Base::Base256Emoji.encode(&bytes);
            assert_eq!(written, base256emoji::Emoji::encode(&bytes));
            assert_eq!(Base::Base256Emoji.decode(&written).unwrap(), bytes);
            let text: String = (0..len).map(|_| pool[cases.below(pool.len())]).collect();
            assert_eq!(Base::Base256Emoji.decode(&text).ok(), base256emoji::Emoji::decode(&text).ok(), "{text}");
        }
    }
}

#[cfg(feature = "net")]
mod onion {
    use libp2p::multiaddr::{Multiaddr, Protocol};

    /// multiaddr 0.19.1's `/onion/` and `/onion3/` through the patched
    /// base32: the bytes data-encoding's `BASE32` read, the text it wrote.
    #[test]
    fn onion_addresses_read_and_write_as_before() {
        for (text, hash) in [
            ("/onion/aaimaq4ygg2iegci:80", "AAIMAQ4YGG2IEGCI"),
            (
                "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
                "VWW6YBAL4BD7SZMGNCYRUUCPGFKQAHZDDI37KTCEO3AH7NGMCOPNPYYD",
            ),
        ] {
            let expected = data_encoding::BASE32.decode(hash.as_bytes()).unwrap();
            let addr: Multiaddr = text.parse().unwrap();
            let read = match addr.iter().next().unwrap() {
                Protocol::Onion(bytes, 80) => bytes.to_vec(),
                Protocol::Onion3(onion) if onion.port() == 1234 => onion.hash().to_vec(),
                other => panic!("{other:?}"),
            };
            assert_eq!(read, expected);
            assert_eq!(addr.to_string(), text);
            // Either case is read, as before (the address is upper-cased).
            let upper = text.to_uppercase().replace("/ONION", "/onion");
            assert_eq!(upper.parse::<Multiaddr>().unwrap(), addr);
            // Bytes and back.
            assert_eq!(Multiaddr::try_from(addr.to_vec()).unwrap(), addr);
        }
        for bad in [
            "/onion/aaimaq4ygg2iegc1:80",
            "/onion/aaimaq4ygg2iegci:0",
            "/onion/aaimaq4ygg2iegc:80",
            "/onion/aaimaq4ygg2iegci=:80",
        ] {
            assert!(bad.parse::<Multiaddr>().is_err(), "{bad}");
        }
    }
}
