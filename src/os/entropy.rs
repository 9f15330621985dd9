//! Entropy for the hardened build's secrets, read without a system call or an allocation.
//!
//! The kernel places 16 random bytes in every process's auxiliary vector (`AT_RANDOM`), which
//! `getauxval` reads from memory; they are mixed with the address of a static (ASLR) and the
//! time stamp counter where there is one. Under Miri and loom a fixed value keeps runs
//! repeatable.

/// A 64-bit seed, different in every process (non-zero).
#[cfg(all(unix, not(miri), not(loom)))]
pub(crate) fn seed() -> u64 {
    static ANCHOR: u8 = 0;
    // SAFETY: `getauxval` only reads the auxiliary vector; it has no preconditions.
    let random = unsafe { libc::getauxval(libc::AT_RANDOM) } as *const u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (&ANCHOR as *const u8 as u64);
    if !random.is_null() {
        // SAFETY: `AT_RANDOM` points at 16 bytes the kernel wrote, valid for the whole
        // process; they need not be aligned, hence the unaligned reads.
        let (a, b) = unsafe { (random.read_unaligned(), random.add(1).read_unaligned()) };
        seed ^= a ^ b.rotate_left(32);
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` is available on every x86-64 processor and has no preconditions.
        seed ^= unsafe { core::arch::x86_64::_rdtsc() }.rotate_left(17);
    }
    mix(seed) | 1
}

/// splitmix64's finaliser: every input bit moves every output bit.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fixed seed under Miri and loom (no auxiliary vector to read there), so runs repeat.
#[cfg(not(all(unix, not(miri), not(loom))))]
pub(crate) fn seed() -> u64 {
    0x2545_f491_4f6c_dd1d
}
