// WEFTDB-PATCH: the RFC 4648 family as `Rfc4648` (src/rfc4648.rs) rather
// than `data_encoding::Encoding`s built by `data-encoding-macro`; the same
// alphabets, padding and case rules.
use crate::rfc4648::Rfc4648;


// Base2 (alphabet: 01)
pub const BASE2: Rfc4648 = Rfc4648 {
    bits: 1,
    symbols: b"01",
    pad: false,
    any_case: false,
};

// Base8 (alphabet: 01234567)
pub const BASE8: Rfc4648 = Rfc4648 {
    bits: 3,
    symbols: b"01234567",
    pad: false,
    any_case: false,
};

/// Base10 (alphabet: 0123456789)
pub const BASE10: &str = "0123456789";

// Base16 lower hexadecimal (alphabet: 0123456789abcdef)
pub const BASE16_LOWER: Rfc4648 = Rfc4648 {
    bits: 4,
    symbols: b"0123456789abcdef",
    pad: false,
    any_case: true,
};

// Base16 upper hexadecimal (alphabet: 0123456789ABCDEF).
pub const BASE16_UPPER: Rfc4648 = Rfc4648 {
    bits: 4,
    symbols: b"0123456789ABCDEF",
    pad: false,
    any_case: true,
};

// Base32, rfc4648 no padding (alphabet: abcdefghijklmnopqrstuvwxyz234567).
pub const BASE32_NOPAD_LOWER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"abcdefghijklmnopqrstuvwxyz234567",
    pad: false,
    any_case: true,
};

// Base32, rfc4648 no padding (alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZ234567).
pub const BASE32_NOPAD_UPPER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    pad: false,
    any_case: true,
};

// Base32, rfc4648 with padding (alphabet: abcdefghijklmnopqrstuvwxyz234567).
pub const BASE32_PAD_LOWER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"abcdefghijklmnopqrstuvwxyz234567",
    pad: true,
    any_case: true,
};

// Base32, rfc4648 with padding (alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZ234567).
pub const BASE32_PAD_UPPER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    pad: true,
    any_case: true,
};

// Base32hex, rfc4648 no padding (alphabet: 0123456789abcdefghijklmnopqrstuv).
pub const BASE32HEX_NOPAD_LOWER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"0123456789abcdefghijklmnopqrstuv",
    pad: false,
    any_case: true,
};

// Base32hex, rfc4648 no padding (alphabet: 0123456789ABCDEFGHIJKLMNOPQRSTUV).
pub const BASE32HEX_NOPAD_UPPER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"0123456789ABCDEFGHIJKLMNOPQRSTUV",
    pad: false,
    any_case: true,
};

// Base32hex, rfc4648 with padding (alphabet: 0123456789abcdefghijklmnopqrstuv).
pub const BASE32HEX_PAD_LOWER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"0123456789abcdefghijklmnopqrstuv",
    pad: true,
    any_case: true,
};

/// Base32hex, rfc4648 with padding (alphabet: 0123456789ABCDEFGHIJKLMNOPQRSTUV).
pub const BASE32HEX_PAD_UPPER: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"0123456789ABCDEFGHIJKLMNOPQRSTUV",
    pad: true,
    any_case: true,
};

// z-base-32 (used by Tahoe-LAFS) (alphabet: ybndrfg8ejkmcpqxot1uwisza345h769).
pub const BASE32Z: Rfc4648 = Rfc4648 {
    bits: 5,
    symbols: b"ybndrfg8ejkmcpqxot1uwisza345h769",
    pad: false,
    any_case: false,
};

/// Base36, [0-9a-z] no padding (alphabet: 0123456789abcdefghijklmnopqrstuvwxyz).
pub const BASE36_LOWER: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// Base36, [0-9A-Z] no padding (alphabet: 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ).
pub const BASE36_UPPER: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

// Base58 Flickr's alphabet for creating short urls from photo ids.
pub const BASE58_FLICKR: &str = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

// Base58 Bitcoin's alphabet as defined in their Base58Check encoding.
pub const BASE58_BITCOIN: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

// Base64, rfc4648 no padding (alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/).
pub const BASE64_NOPAD: Rfc4648 = Rfc4648 {
    bits: 6,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    pad: false,
    any_case: false,
};

// Base64, rfc4648 with padding (alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/).
pub const BASE64_PAD: Rfc4648 = Rfc4648 {
    bits: 6,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    pad: true,
    any_case: false,
};

// Base64 url, rfc4648 no padding (alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_).
pub const BASE64URL_NOPAD: Rfc4648 = Rfc4648 {
    bits: 6,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    pad: false,
    any_case: false,
};

// Base64 url, rfc4648 with padding (alphabet: ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_).
pub const BASE64URL_PAD: Rfc4648 = Rfc4648 {
    bits: 6,
    symbols: b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    pad: true,
    any_case: false,
};
