//! The fuzz target bodies (`tests/fuzz_bodies/mod.rs`, also run by `cargo fuzz` from `fuzz/`)
//! on fixed pseudo-random inputs, so `cargo test` keeps them compiling and passing. Inputs
//! that once found a bug are replayed first, by name (`REGRESSIONS`).

#[path = "fuzz_bodies/mod.rs"]
mod fuzz_bodies;

/// Inputs per body: a few hundred natively, a handful under Miri.
const INPUTS: usize = if cfg!(miri) { 3 } else { 300 };

/// Bytes of a pseudo-random input (xorshift64*), 16..=2048 long, op codes biased low so
/// allocation-heavy sequences and frees both occur.
fn input(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let len = if cfg!(miri) {
        64
    } else {
        16 + next() as usize % 2033
    };
    (0..len).map(|_| (next() >> 32) as u8).collect()
}

/// Inputs the fuzzers found failing, per body (all so far were bugs of the bodies
/// themselves, kept so they stay fixed).
const REGRESSIONS: &[(&str, &[u8])] = &[
    // `allocate_zeroed` of size 0: `check_zero(p, 0, 0)` computed `0 - 1` (overflow).
    ("arena", &[0x48, 0x2a]),
    ("pool", &[0x01, 0x01, 0x20, 0xc2]),
];

fn replay(name: &str) {
    let body = fuzz_bodies::BODIES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1;
    for (n, data) in REGRESSIONS {
        if *n == name {
            body(data);
        }
    }
    for seed in 0..INPUTS as u64 {
        body(&input(seed ^ (name.len() as u64 * 1000)));
    }
    // Degenerate inputs: empty, all zeros, all ones.
    body(&[]);
    body(&[0; 300]);
    body(&[0xFF; 300]);
}

#[test]
fn engine() {
    replay("engine");
}

#[test]
fn arena() {
    replay("arena");
}

#[test]
fn pool() {
    replay("pool");
}

#[test]
fn sync_pool() {
    replay("sync_pool");
}

#[test]
fn static_pool() {
    replay("static_pool");
}

#[test]
fn slab() {
    replay("slab");
}
