//! The hardened build (feature `hardened`): free-list links that an overwrite cannot turn
//! into a pointer of the attacker's choosing.
//!
//! Every link a free block holds (its page's `free`, `local_free` and `thread_free` lists,
//! and the lists of a `Pool` and of a static pool's thread caches, which check the decoded
//! link against their own chunks: see [`decode_unchecked`]) is stored encoded, as mimalloc's
//! secure mode does:
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
//! [`Block::clear_link`](super::Block::clear_link) is separate from `set_next`; and every
//! block handed out has its link cleared, so the program never reads an encoded pointer.
//!
//! # Allocation order
//!
//! Fresh blocks are carved a few KiB of a page at a time; the hardened build links each
//! batch in a shuffled order ([`carve_shuffled`]: Fisher–Yates, driven by a generator seeded
//! from the secret and the batch's address), so the block after one allocation is not its
//! neighbour in memory, and an overflow cannot count on what lies next to its block.
//!
//! # Bad frees
//!
//! Every free is checked before the engine acts on it ([`check_free`], then
//! [`suspicious_local`] or [`check_remote_free`] once its page is known), at the cost of a
//! few loads and a multiply:
//!
//! - a misaligned pointer, or one whose 4 MiB boundary holds no header of ours (the segment
//!   map, shared with the `checked` build), was never returned by allocgator: a stack or
//!   static address, another allocator's block;
//! - a pointer into a segment's header, into a page with no blocks, or not at a multiple of
//!   its page's block size from the page's start is an interior or stray pointer;
//! - a **double free** is found through the link itself: a freed block's first word is an
//!   encoded link that decodes into its own page (or to null), where a live block's first
//!   word is the program's (cleared when the block was handed out). Only when it does is the
//!   block looked for on its page's lists ([`diagnose_local`], [`check_remote_free`]), so
//!   the search costs nothing in the common case and never reports a block that is not on a
//!   list. A free into a page that has no block handed out is a double free too (a large
//!   block's page, retired when its block was freed).
//!
//! # Freed memory
//!
//! [`scrub`] zeroes the first 64 bytes of every freed block (all of a smaller one), past the
//! link word, so a read after free of an object's first fields sees zeros. Canaries in a
//! block's slack are in `engine::canary`.
//!
//! What is not caught: a second free after the block was handed out again (it frees the new
//! owner's block, as in any allocator without a quarantine), and a second free from another
//! thread after the block's owner already collected the first (the freeing thread cannot
//! read the owner's lists).

use super::canary;
use super::page::{Page, PageLocal, STATE_MASK};
use super::segment::Segment;
use super::segment_map::segment_known;
use super::{segment_of, Block, SEGMENT_SHIFT, SEGMENT_SIZE, SLICE_SHIFT, SLICE_SIZE};
use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// The process's secret, drawn by [`init`] before the first heap exists; 0 until then.
static SEED: AtomicUsize = AtomicUsize::new(0);
/// `k0`, `k1` and `r` of the link encoding, and the canary key (see `engine::canary`),
/// derived from [`SEED`] by every [`init`] (the same values each time, so racing
/// initialisers store the same words).
static KEYS: [AtomicUsize; 4] = [
    AtomicUsize::new(0),
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
    KEYS[3].store(
        crate::os::entropy::mix(seed as u64 ^ 0x6a09_e667_f3bc_c908) as usize,
        Ordering::Relaxed,
    );
}

/// The canary key (see `engine::canary`); loaded as [`keys`] are, for the same reason.
#[inline(always)]
pub(crate) fn canary_key() -> usize {
    // Relaxed: see `keys`.
    KEYS[3].load(Ordering::Relaxed)
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
    let next = raw_decode(stored, at);
    if !plausible(next, at) {
        corrupted(at);
    }
    next
}

/// Whether `next` can be the link of a free block at `at`: null, or an 8-aligned address in
/// `at`'s segment (every free list links blocks of one page).
#[inline(always)]
fn plausible(next: *mut Block, at: *mut Block) -> bool {
    let next = next.addr();
    next == 0 || (next & 7 == 0 && (next ^ at.addr()) >> SEGMENT_SHIFT == 0)
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

/// A free of `p` is about to happen: aborts with a report if `p` cannot be a block of ours
/// at all (misaligned, or no header of ours at its 4 MiB boundary). The rest of the checks
/// need the block's page, which the free path finds next: [`suspicious_local`] and
/// [`check_remote_free`].
///
/// # Safety
/// None beyond the caller's claim that `p` came from allocgator: nothing at `p` is read.
#[inline(always)]
pub(crate) unsafe fn check_free(p: *mut u8) {
    if p.addr() & 7 != 0 {
        bad_free(
            "free of a pointer allocgator never returned (misaligned)",
            p,
        );
    }
    if !segment_known(segment_of(p)) {
        bad_free(
            "free of a pointer allocgator does not own (never returned by it, or a huge block \
             freed twice)",
            p,
        );
    }
}

/// Whether `offset`, from the start of `page`, is the start of one of its blocks (false for
/// every offset of a page with no blocks).
#[inline(always)]
fn starts_block(page: &Page, offset: usize) -> bool {
    let m = page.multiple_of();
    // Offsets of a page's blocks are below 4 MiB, so below 2³² as the multiplier needs;
    // a larger one (a stray pointer) wraps to a value that fails or passes, and passing
    // only sends it on to the other checks.
    (offset as u64).wrapping_mul(m) < m
}

/// Whether a block's first word, `word`, decodes as a link of the block at `at` would: null
/// or an 8-aligned address in `at`'s segment. True of every free block; of a live block only
/// if the program stored exactly such a value there (its link was cleared when it was handed
/// out).
#[inline(always)]
fn looks_linked(word: usize, at: *mut Block) -> bool {
    plausible(raw_decode(word, at), at)
}

/// A local free of `block` (the caller owns its page, whose state is `local`): whether it
/// needs a closer look by [`diagnose_local`] — it is not at a block start of the page, the
/// page has no block handed out, or the block's first word looks like a free block's link.
/// A few instructions; false for every valid free but those whose block holds, by chance or
/// by design, an encoded link of its own address (the diagnosis then finds nothing wrong).
///
/// # Safety
/// The caller owns the page, and `block` lies in it (its segment's slice map says so), so its
/// first word is readable.
#[inline(always)]
pub(crate) unsafe fn suspicious_local(local: &PageLocal, page: &Page, block: *mut Block) -> bool {
    // SAFETY: `block` lies in the page (caller): mapped memory of ours.
    let word = unsafe { block.cast::<usize>().read() };
    let offset = block.addr().wrapping_sub(local.start.addr());
    !starts_block(page, offset)
        || local.used == 0
        || looks_linked(word, block)
        // SAFETY: a block start of a size-class page (`multiple_of() > 1`; checked first),
        // so a whole block of the page's block size.
        || (page.multiple_of() > 1 && unsafe { canary::broken(block.cast(), page.block_size()) })
}

/// The closer look behind [`suspicious_local`]: aborts, naming the problem, for a pointer
/// into no page or into the middle of a block, a free into a page with no block handed out,
/// and a block already on one of its page's three lists (the owner's two, and
/// `thread_free`, which other threads only push onto); returns if the free is good.
///
/// # Safety
/// As for [`suspicious_local`].
#[cold]
#[inline(never)]
pub(crate) unsafe fn diagnose_local(local: &PageLocal, page: &Page, block: *mut Block) {
    if page.multiple_of() == 0 {
        bad_free(
            "free of a pointer allocgator never returned (into a segment header, or a page \
             with no blocks)",
            block,
        );
    }
    // Before the block-start check: a page whose last block was freed may have been given
    // back, and its `start` cleared.
    if local.used == 0 {
        bad_free(
            "double free (or a free into a page with no block allocated)",
            block,
        );
    }
    if !starts_block(page, block.addr().wrapping_sub(local.start.addr())) {
        bad_free(
            "free of an interior pointer (not the start of a block)",
            block,
        );
    }
    // Acquire: pairs with the pushers' Release, so the links of the blocks on the stack are
    // visible before we follow them.
    let remote = page.thread_free.load(Ordering::Acquire);
    let remote = remote.map_addr(|a| a & !STATE_MASK);
    let limit = local.capacity as usize;
    for list in [local.free, local.local_free, remote] {
        // SAFETY: the owner's lists (caller) and the thread-free stack as of our Acquire
        // load (its blocks stay put until the owner, us, takes them): free blocks of the
        // page whose links were written by `set_next`.
        if unsafe { list_holds(list, block, limit) } {
            bad_free("double free", block);
        }
    }
    // SAFETY: a block start (checked above) of a size-class page (`multiple_of() > 1`,
    // checked first), live (on none of its page's lists).
    if page.multiple_of() > 1 && unsafe { canary::broken(block.cast(), page.block_size()) } {
        canary::overflowed(block.cast());
    }
}

/// A free of `block` from a thread that does not own its page: aborts with a report if it
/// is not at a block start of the page, or if the block is on the page's thread-free stack
/// (freed by another thread, not yet collected).
///
/// # Safety
/// `seg` is a live `Pages` segment of ours, `block` lies in it, and `page` is the record its
/// slice map gives for it.
#[inline(always)]
pub(crate) unsafe fn check_remote_free(seg: *mut Segment, page: &Page, block: *mut Block) {
    let slice = (block.addr() & (SEGMENT_SIZE - 1)) >> SLICE_SHIFT;
    // SAFETY: `slice < SLICES`, in the mapped header of a live segment (caller); an entry is
    // a plain byte any thread may read while a block of its page is live.
    let head = unsafe { (*seg).head_of.get_unchecked(slice).with(|h| *h) } as usize;
    let offset = (block.addr() & (SEGMENT_SIZE - 1)).wrapping_sub(head * SLICE_SIZE);
    if !starts_block(page, offset) {
        bad_free(
            "free of an interior pointer (not the start of a block), or of a pointer into no \
             page",
            block,
        );
    }
    // SAFETY: a block start (checked above) of a size-class page (`multiple_of() > 1`,
    // checked first), which the caller frees.
    if page.multiple_of() > 1 && unsafe { canary::broken(block.cast(), page.block_size()) } {
        canary::overflowed(block.cast());
    }
    // SAFETY: `block` lies in the segment (caller), so its first word is readable.
    let word = unsafe { block.cast::<usize>().read() };
    if looks_linked(word, block) {
        // SAFETY: `block` lies in `page`, a page of a live segment of ours (caller).
        unsafe { remote_free_slow(page, block) };
    }
}

/// The search behind [`check_remote_free`]. The owner may take the stack while we walk it,
/// and then relink its blocks; so the walk stops at the first link that does not decode
/// into the page's segment, and a find counts only if the stack's head is still what we
/// started from (nothing was taken meanwhile: a taken stack's head goes back to null).
///
/// # Safety
/// As for [`check_remote_free`].
#[cold]
#[inline(never)]
unsafe fn remote_free_slow(page: &Page, block: *mut Block) {
    // Acquire: pairs with the pushers' Release (the links of the blocks on the stack).
    let head = page.thread_free.load(Ordering::Acquire);
    let limit = SEGMENT_SIZE / page.block_size().max(8);
    let mut b = head.map_addr(|a| a & !STATE_MASK);
    let mut found = false;
    for _ in 0..limit {
        if b.is_null() {
            break;
        }
        if b == block {
            found = true;
            break;
        }
        // SAFETY: `b` is not null, and is the stack's head or a link that decoded to an
        // 8-aligned address in the page's segment: its first word is mapped memory of ours.
        let next = raw_decode(unsafe { b.cast::<usize>().read() }, b);
        if !plausible(next, b) {
            break;
        }
        b = next;
    }
    // Acquire: as above; the head unchanged means the stack we walked was not taken.
    if found && page.thread_free.load(Ordering::Acquire) == head {
        bad_free(
            "double free (the block is already freed by another thread)",
            block,
        );
    }
}

/// Whether the list from `head` holds `block`, following at most `limit` links.
///
/// # Safety
/// `head` is null or a free block whose list the caller may read (links written by
/// `set_next`, not changing meanwhile).
unsafe fn list_holds(head: *mut Block, block: *mut Block, limit: usize) -> bool {
    let mut b = head;
    for _ in 0..=limit {
        if b.is_null() {
            return false;
        }
        if b == block {
            return true;
        }
        // SAFETY: a free block of the list (caller).
        b = unsafe { Block::next(b) };
    }
    // More links than the page has blocks: the list runs in a cycle, which only a double
    // free makes.
    bad_free(
        "double free (a free list of its page runs in a cycle)",
        block,
    )
}

/// Bytes at the start of a freed block that [`scrub`] zeroes (the whole block if smaller).
pub(crate) const SCRUB_BYTES: usize = 64;

/// Zeroes the first [`SCRUB_BYTES`] of a block being freed (the whole block if it is no
/// larger), all but its first word, which takes the free-list link: a read after free of an
/// object's first fields (its pointers, lengths, vtable) then sees zeros, not what it held,
/// until the block is handed out again.
///
/// Fixed lengths, so each is a few inline stores rather than a call to `memset`. Measured on
/// mimalloc-bench's larson (time ÷ mimalloc's, ±15% between runs): whole blocks up to 8 KiB
/// zeroed 2.07×, `memset` to the end of the block's first cache line 1.74×, these stores
/// 1.37×, no zeroing 1.43×; on its glibc-thread every variant cost the same, 1.79–1.86×
/// against 1.50× with no zeroing.
///
/// # Safety
/// `block` is a block of `block_size` bytes that the caller is freeing (nobody uses it any
/// more), or `block_size` is 0.
#[inline(always)]
pub(crate) unsafe fn scrub(block: *mut Block, block_size: usize) {
    let rest = block.cast::<u8>().wrapping_add(8);
    // SAFETY: every arm writes bytes 8..min(block_size, 64) of the caller's block.
    unsafe {
        match block_size {
            0 | 8 => {}
            16 => core::ptr::write_bytes(rest, 0, 8),
            24 => core::ptr::write_bytes(rest, 0, 16),
            32 => core::ptr::write_bytes(rest, 0, 24),
            40 => core::ptr::write_bytes(rest, 0, 32),
            48 => core::ptr::write_bytes(rest, 0, 40),
            56 => core::ptr::write_bytes(rest, 0, 48),
            _ => core::ptr::write_bytes(rest, 0, SCRUB_BYTES - 8),
        }
    }
}

/// `word`, read at `at`, decoded without the checks of [`decode`]: for a list whose blocks
/// span more than one segment (a `Pool`'s), whose owner checks the result against its own
/// range.
#[inline(always)]
pub(crate) fn decode_unchecked(word: usize, at: *mut Block) -> *mut Block {
    raw_decode(word, at)
}

/// `word`, read at `at`, decoded without the checks of [`decode`].
#[inline(always)]
fn raw_decode(word: usize, at: *mut Block) -> *mut Block {
    let (k0, k1, r) = keys();
    at.with_addr(word.wrapping_sub(k0).rotate_right(r) ^ at.addr() ^ k1)
}

/// Whether fresh blocks are carved in a shuffled order (`ALLOCGATOR_SHUFFLE`, default 1).
static SHUFFLE: AtomicBool = AtomicBool::new(true);

/// Turns shuffled carving on or off (the options layer, from `ALLOCGATOR_SHUFFLE`, before the
/// first heap exists).
pub(crate) fn set_shuffle(on: bool) {
    // Relaxed: published with the other options by the options layer's Release store.
    SHUFFLE.store(on, Ordering::Relaxed);
}

/// Whether [`carve_shuffled`] is to be used (see [`set_shuffle`]).
#[inline]
pub(crate) fn shuffle() -> bool {
    // Relaxed: set once, before any heap carves (see `set_shuffle`); a thread that carves
    // has read the options through their Acquire.
    SHUFFLE.load(Ordering::Relaxed)
}

/// Most blocks one carving links: 4 KiB of the smallest (8-byte) blocks.
const CARVE_MAX: usize = 4096 / 8;

/// Links `count` (at most a few KiB's worth, at least one) never-used blocks of
/// `block_size` from `base` into a list in shuffled order, and returns its head.
///
/// # Safety
/// The blocks are unused blocks of a page the caller owns, inside its area.
pub(crate) unsafe fn carve_shuffled(base: *mut u8, count: usize, block_size: usize) -> *mut Block {
    debug_assert!(count > 0 && count <= CARVE_MAX);
    let count = count.clamp(1, CARVE_MAX);
    let (k0, _, _) = keys();
    // xorshift64*, seeded by the secret and the batch's address (never zero: `| 1`).
    let mut state = crate::os::entropy::mix(k0 as u64 ^ base.addr() as u64) | 1;
    let mut next_random = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut order = [0u16; CARVE_MAX];
    for (i, slot) in order.iter_mut().enumerate().take(count) {
        *slot = i as u16;
    }
    for i in (1..count).rev() {
        // Lemire's multiply-shift of a 32-bit draw: a value in `0..=i` without a division
        // (biased by at most `(i + 1) / 2³²`, under 2⁻²³ for `i < 2⁹`: no matter here).
        let j = ((next_random() >> 32) * (i as u64 + 1)) >> 32;
        order.swap(i, j as usize);
    }
    let block = |i: u16| base.wrapping_add(i as usize * block_size).cast::<Block>();
    for w in order[..count].windows(2) {
        // SAFETY: unused blocks of the caller's page (caller): ours to write.
        unsafe { Block::set_next(block(w[0]), block(w[1])) };
    }
    // SAFETY: an unused block of the caller's page (caller): ours to write.
    unsafe { Block::set_next(block(order[count - 1]), core::ptr::null_mut()) };
    block(order[0])
}

#[cold]
#[inline(never)]
fn bad_free<T>(problem: &str, p: *mut T) -> ! {
    super::checked::report(problem, p.addr())
}
