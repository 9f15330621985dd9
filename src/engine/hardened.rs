//! The hardened build (feature `hardened`): free-list links that an overwrite cannot turn
//! into a pointer of the attacker's choosing.
//!
//! Every link a free block holds (its page's `free`, `local_free` and `thread_free` lists) is
//! stored encoded, as mimalloc's secure mode does:
//!
//! ```text
//! stored = rotl(next ^ at ^ k1, r) + k0        next = rotr(stored - k0, r) ^ at ^ k1
//! ```
//!
//! with `at` the link's own address and `k0`, `k1`, `r` secrets drawn once per process. A
//! program that reads a freed block learns neither the next block's address nor, without the
//! secrets, how to forge one; a link copied to another block decodes to garbage; and a link
//! overwritten after free, or by an overflow from the block before, decodes to an address
//! outside the block's segment, or misaligned (decoding is a bijection, so of all stored
//! values only the 2¹⁹ aligned addresses of the block's own 4 MiB segment and null pass), which
//! [`Block::next`](super::Block::next) checks each time it follows a link and reports,
//! naming the block, before anything is allocated from it.
//!
//! Zeroing a link (for `calloc`'s first word) writes a plain zero, not an encoded null, so
//! [`Block::clear_link`](super::Block::clear_link) is separate from `set_next`.

use super::{Block, SEGMENT_SHIFT};
use crate::sync::{AtomicUsize, Ordering};

/// The process's secret, drawn by [`init`] before the first heap exists; 0 until then.
static SEED: AtomicUsize = AtomicUsize::new(0);
/// `k0`, `k1` and `r`, derived from [`SEED`] by every [`init`] (the same values each time, so
/// racing initialisers store the same words).
static KEYS: [AtomicUsize; 3] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

/// Draws the secret if no heap has yet, and derives the keys from it. Called by
/// `Heap::create`, before any block of the new heap can hold a link.
pub(crate) fn init() {
    // Relaxed: the seed, once non-zero, never changes; a thread that sees 0 races to store
    // its own draw, and whichever compare-and-swap wins is the seed everyone derives from.
    let mut seed = SEED.load(Ordering::Relaxed);
    if seed == 0 {
        let draw = crate::os::entropy::seed() as usize | 1;
        // Relaxed: as above; the loser takes the winner's seed.
        seed = match SEED.compare_exchange(0, draw, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => draw,
            Err(winner) => winner,
        };
    }
    // Every initialiser stores the keys itself, so they are in place, on this thread, before
    // its heap writes a link, whoever won the seed. Relaxed: each store writes the one value
    // the seed determines.
    KEYS[0].store(seed, Ordering::Relaxed);
    KEYS[1].store(seed.swap_bytes() ^ 0x5bd1_e995, Ordering::Relaxed);
    KEYS[2].store((seed >> 58) | 1, Ordering::Relaxed);
}

/// `(k0, k1, r)`.
///
/// Every thread that writes or reads a link has seen the keys stored: its heap was created
/// after its own `init`, or the block it frees was handed to it by a synchronising hand-off
/// from a heap that was; the values never change after that, so Relaxed loads return them.
#[inline(always)]
fn keys() -> (usize, usize, u32) {
    // Relaxed: see above.
    (
        KEYS[0].load(Ordering::Relaxed),
        KEYS[1].load(Ordering::Relaxed),
        KEYS[2].load(Ordering::Relaxed) as u32,
    )
}

/// The encoded form of `next`, stored at `at`.
#[inline(always)]
pub(crate) fn encode(next: *mut Block, at: *mut Block) -> usize {
    let (k0, k1, r) = keys();
    (next.addr() ^ at.addr() ^ k1)
        .rotate_left(r)
        .wrapping_add(k0)
}

/// The link stored at `at`, decoded and checked: null, or an 8-aligned address in `at`'s own
/// segment (every free list links blocks of one page). Anything else aborts, naming `at`.
#[inline(always)]
pub(crate) fn decode(stored: usize, at: *mut Block) -> *mut Block {
    let (k0, k1, r) = keys();
    let next = stored.wrapping_sub(k0).rotate_right(r) ^ at.addr() ^ k1;
    let foreign = (next ^ at.addr()) >> SEGMENT_SHIFT != 0;
    if next & 7 != 0 || (foreign && next != 0) {
        corrupted(at);
    }
    at.with_addr(next)
}

#[cold]
#[inline(never)]
fn corrupted(at: *mut Block) -> ! {
    super::checked::report(
        "free-list link overwritten (a write after free, or an overflow from the block \
         before): the free block",
        at.addr(),
    )
}
