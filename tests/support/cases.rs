//! The test cases' numbers: xorshift64*, the same on every run, no seed to
//! keep. Shared by `tests/vendored.rs` (native) and `tests/web.rs` (the page).

pub struct Cases(pub u64);

impl Cases {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[allow(dead_code)] // `tests/web.rs` takes bytes only
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
