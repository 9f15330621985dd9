//! The hardened build's canaries: a secret word in the slack of a size-class block, checked
//! when the block is freed, so a small overflow past the requested size is reported at the
//! free that follows it.
//!
//! A block of `block_size` bytes handed out for `size` bytes has `block_size - size` bytes of
//! slack. When the slack holds at least 9 bytes, the block gets a canary (`c` is the block's
//! canary word, its address xor a per-process secret):
//!
//! ```text
//! | the program's `size` bytes | c (first gap bytes) | ... | tail: c ^ gap |
//! 0                            size                        block_size - 8   block_size
//!                              <------------- gap -------->
//! ```
//!
//! The **tail word**, the block's last 8 bytes, holds `c ^ gap`, where `gap` (1 to 65,527)
//! is the distance from the requested end to the tail: so the free finds the requested size
//! without being told it (C's `free` is not). The gap's first bytes (up to 8) hold `c`
//! itself. At free, [`broken`] decodes the tail: a value below 2¹⁶ means a canary is there,
//! and then the gap bytes and the gap itself must be what was written; an overwritten byte
//! aborts with a report naming the block.
//!
//! What it catches: any overflow that starts at the requested end and writes up to `gap + 2`
//! bytes, since it changes the gap's first byte (unless it writes that byte's own value, a
//! 1 in 256 chance for a one-byte overflow) and leaves the tail's top six bytes, which say a
//! canary is there, intact. A longer overflow that rewrites those six bytes makes the block
//! look like one without a canary; it has also run past the block, into the next one, whose
//! encoded link, if it is free, aborts the next allocation of it.
//!
//! What has no canary: a block whose slack is under 9 bytes (the class fits the request
//! nearly exactly), large and huge blocks (their guard page catches a linear overflow past
//! the block, not into its slack). Such a block's tail word is cleared when it is handed
//! out, so an old canary cannot be mistaken for its own; the program may then write
//! anything there, and a value it writes passes for a canary only with probability 2⁻⁴⁸
//! (then the free checks bytes the program owns, and may report a false overflow).
//!
//! The usable size of a block with a canary is the requested size
//! ([`usable`]; `malloc_usable_size`, `Allocator::allocate`'s slice and realloc's copy use
//! it), and a resize in place moves the canary to the new size ([`resize`]).

/// Bits of the tail word that hold the gap; the rest say a canary is there.
const GAP_BITS: u32 = 16;

/// The canary word of the block at `block`: secret, and different for every block.
#[inline(always)]
fn canary(block: *mut u8) -> usize {
    block.addr() ^ super::hardened::canary_key()
}

/// The tail word of a block of `block_size` bytes: its last 8 bytes.
#[inline(always)]
fn tail(block: *mut u8, block_size: usize) -> *mut usize {
    block.wrapping_add(block_size - 8).cast()
}

/// The gap the tail word of `block` (canary word `c`) records, if it has a canary:
/// `Some(gap)` with `gap` possibly out of range (an overwritten tail), `None` without one.
///
/// # Safety
/// As for [`set`], with `block` a live block.
#[inline(always)]
unsafe fn recorded_gap(block: *mut u8, block_size: usize, c: usize) -> Option<usize> {
    // SAFETY: the block's last 8 bytes, 8-aligned (the block and `block_size` are; caller).
    let gap = unsafe { tail(block, block_size).read() } ^ c;
    (gap >> GAP_BITS == 0).then_some(gap)
}

/// Whether a recorded `gap` is one [`set`] could have written for a block whose tail is at
/// `tail_at`: at least 1 (the request ends before the tail), at most `tail_at`.
#[inline(always)]
fn gap_in_range(gap: usize, tail_at: usize) -> bool {
    gap >= 1 && gap <= tail_at
}

/// Whether a block of `block_size` handed out for `size` bytes has room for a canary.
#[inline(always)]
pub(crate) const fn fits(block_size: usize, size: usize) -> bool {
    block_size >= size + 9
}

/// Writes the canary of a size-class block of `block_size` bytes handed out for `size`
/// bytes, or clears its tail word if the slack is too small for one.
///
/// # Safety
/// `block` is a block of `block_size` bytes (a multiple of 8, at least 8, at most
/// `MEDIUM_MAX`), 8-aligned, that the caller is handing out; `size <= block_size`.
#[inline(always)]
pub(crate) unsafe fn set(block: *mut u8, block_size: usize, size: usize) {
    let c = canary(block);
    let tail_at = block_size - 8;
    let present = fits(block_size, size);
    let gap = tail_at.wrapping_sub(size);
    // Without a canary, the `c` store lands on the tail, which the second store then clears:
    // two stores either way, no branch.
    let at = if present { size } else { tail_at };
    // SAFETY: `at + 8 <= block_size` (`size + 9 <= block_size` when present), inside the
    // block the caller is handing out; unaligned, as `size` may be.
    unsafe { block.add(at).cast::<usize>().write_unaligned(c.to_le()) };
    // SAFETY: the block's last 8 bytes, 8-aligned (the block and `block_size` are).
    unsafe { tail(block, block_size).write(if present { c ^ gap } else { 0 }) };
}

/// Whether the canary of the size-class block `block` of `block_size` bytes, being freed,
/// was overwritten (false for a block without one).
///
/// # Safety
/// As for [`set`], with `block` a live block the caller is freeing.
#[inline(always)]
pub(crate) unsafe fn broken(block: *mut u8, block_size: usize) -> bool {
    let c = canary(block);
    let tail_at = block_size - 8;
    // SAFETY: a live block of `block_size` bytes (caller).
    let Some(gap) = (unsafe { recorded_gap(block, block_size, c) }) else {
        return false;
    };
    if !gap_in_range(gap, tail_at) {
        return true;
    }
    let size = tail_at - gap;
    // SAFETY: `size + 8 <= block_size` (`gap >= 1`), inside the caller's block.
    let first = usize::from_le(unsafe { block.add(size).cast::<usize>().read_unaligned() });
    // With a gap under 8 bytes, the tail overwrote the rest of the `c` store: compare the
    // gap's bytes only (the first `gap` bytes in memory are the low ones of a little-endian
    // word).
    let mask = if gap >= 8 {
        usize::MAX
    } else {
        (1 << (8 * gap)) - 1
    };
    (first ^ c) & mask != 0
}

/// Moves the canary of the live size-class block `block` of `block_size` bytes, resized in
/// place to `new_size`, to the new requested end. Where the new size leaves no room for one,
/// the tail word may hold the program's bytes (kept by the resize), so it is cleared only if
/// it held the old canary (a block with a canary has none of the program's bytes there).
///
/// # Safety
/// As for [`set`], with `block` a live block resized in place (`new_size <= block_size`).
#[inline]
pub(crate) unsafe fn resize(block: *mut u8, block_size: usize, new_size: usize) {
    if fits(block_size, new_size) {
        // SAFETY: the caller's block; the canary lands past `new_size`, past every byte the
        // resize keeps.
        unsafe { set(block, block_size, new_size) };
    // SAFETY: the caller's live block (caller).
    } else if unsafe { usable(block, block_size) } < block_size {
        // SAFETY: the block's last 8 bytes, 8-aligned, which held the old canary.
        unsafe { tail(block, block_size).write(0) };
    }
}

/// The usable size of the live size-class block `block` of `block_size` bytes: the size it
/// was handed out for if it has a canary, else the whole block.
///
/// # Safety
/// As for [`set`], with `block` a live block.
#[inline]
pub(crate) unsafe fn usable(block: *mut u8, block_size: usize) -> usize {
    let tail_at = block_size - 8;
    // SAFETY: a live block of `block_size` bytes (caller).
    match unsafe { recorded_gap(block, block_size, canary(block)) } {
        Some(gap) if gap_in_range(gap, tail_at) => tail_at - gap,
        _ => block_size,
    }
}

/// The usable size [`set`] leaves a block of `block_size` bytes handed out for `size`.
#[inline]
pub(crate) const fn usable_for(block_size: usize, size: usize) -> usize {
    if fits(block_size, size) {
        size
    } else {
        block_size
    }
}

/// Aborts with the report for a block whose canary [`broken`] found overwritten.
#[cold]
#[inline(never)]
pub(crate) fn overflowed(block: *mut u8) -> ! {
    super::checked::report(
        "heap overflow: a write past the requested size overwrote the canary of the block",
        block.addr(),
    )
}
