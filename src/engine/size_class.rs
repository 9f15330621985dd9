//! Size classes: one `const` table, four classes per doubling above 128 bytes.
//!
//! - 8..=128 bytes: every multiple of 8 (classes 0..=15).
//! - above 128 bytes: four classes per power of two, `(2^b, 2^(b+1)]` split in steps of
//!   `2^(b-2)`; a request never wastes more than 25% of its class.
//!
//! Four classes per doubling rather than eight: with random sizes, a freed block is the next
//! allocation's more often when a class takes a wider range of sizes, so memory is reused
//! while it is still in cache. On mimalloc-bench's alloc-test (one thread, random sizes and
//! positions), eight classes per doubling missed the last-level cache 20% more often
//! (cachegrind: 19.6M against 16.4M misses) and ran 1.13–1.15× mimalloc's time, which also
//! has four; with four it ran at 1.01×.
//!
//! Classes up to [`SMALL_MAX`] live in one-slice (64 KiB) pages, classes up to [`MEDIUM_MAX`] in
//! [`MEDIUM_PAGE_SLICES`]-slice pages; anything larger gets a page (or a mapping) of its own.
//!
//! A useful property the aligned path relies on: the class of a multiple of a power of two
//! `align` (`align <= size`) up to `MEDIUM_MAX` has a size that is itself a multiple of
//! `align`, so rounding a request up to its alignment lands on a class whose blocks are all
//! `align`-aligned (pages start on 64 KiB boundaries). `tests` check it for every alignment.

use static_assertions::const_assert;
use static_assertions::const_assert_eq;

/// Number of size classes.
pub(crate) const CLASS_COUNT: usize = 52;
/// Largest block served from one-slice pages.
pub(crate) const SMALL_MAX: usize = 8 * 1024;
/// Largest block served from size-class pages at all.
pub(crate) const MEDIUM_MAX: usize = 64 * 1024;
/// Slices per page for classes above `SMALL_MAX`.
pub(crate) const MEDIUM_PAGE_SLICES: usize = 8;
/// Classes `0..SMALL_CLASSES` are small.
pub(crate) const SMALL_CLASSES: usize = 40;
/// Sizes up to this go through the heap's direct size→page table.
pub(crate) const DIRECT_MAX: usize = 1024;
/// Entries of the direct table: one per multiple of 8 up to `DIRECT_MAX`.
pub(crate) const DIRECT_SLOTS: usize = DIRECT_MAX / 8 + 1;

/// The class of a request of `size` bytes (`1..=MEDIUM_MAX`; 0 is treated as 1).
#[inline(always)]
pub(crate) const fn class_of(size: usize) -> usize {
    if size <= 128 {
        // 0 and 1..=8 → class 0, 121..=128 → class 15.
        let s = if size == 0 { 1 } else { size };
        s.div_ceil(8) - 1
    } else {
        let s = size - 1;
        let b = (usize::BITS - 1 - s.leading_zeros()) as usize; // size in (2^b, 2^(b+1)]
        let step_index = (s >> (b - 2)) & 3;
        16 + (b - 7) * 4 + step_index
    }
}

/// The block size of class `class`.
#[inline(always)]
pub(crate) const fn class_size(class: usize) -> usize {
    if class < 16 {
        (class + 1) * 8
    } else {
        let b = 7 + (class - 16) / 4;
        let step_index = (class - 16) % 4;
        (5 + step_index) << (b - 2)
    }
}

/// Slices (64 KiB units) per page of `class`.
#[inline(always)]
pub(crate) const fn class_page_slices(class: usize) -> usize {
    if class < SMALL_CLASSES {
        1
    } else {
        MEDIUM_PAGE_SLICES
    }
}

/// Block size per class, as a table.
pub(crate) const CLASS_SIZES: [usize; CLASS_COUNT] = {
    let mut t = [0; CLASS_COUNT];
    let mut c = 0;
    while c < CLASS_COUNT {
        t[c] = class_size(c);
        c += 1;
    }
    t
};

/// Class per direct-table slot (`slot = (size + 7) / 8`).
pub(crate) const DIRECT_CLASS: [u8; DIRECT_SLOTS] = {
    let mut t = [0u8; DIRECT_SLOTS];
    let mut slot = 0;
    while slot < DIRECT_SLOTS {
        t[slot] = class_of(slot * 8) as u8;
        slot += 1;
    }
    t
};

/// Direct-table slot of a size `<= DIRECT_MAX`.
#[inline(always)]
pub(crate) const fn direct_slot(size: usize) -> usize {
    size.div_ceil(8)
}

/// The range of direct-table slots that map to `class` (empty for classes above
/// `DIRECT_MAX`).
///
/// Slot 0 belongs to no class: only a zero-size request reaches it, and it stays on the empty
/// page, so such a request takes the slow path, which serves it as one byte rounded up to its
/// alignment. (Filled like slot 1, it would hand out an 8-byte block whatever the alignment.)
pub(crate) const fn direct_slots_of(class: usize) -> (usize, usize) {
    let mut first = DIRECT_SLOTS;
    let mut end = DIRECT_SLOTS;
    let mut slot = 1;
    while slot < DIRECT_SLOTS {
        if DIRECT_CLASS[slot] as usize == class {
            if first == DIRECT_SLOTS {
                first = slot;
            }
            end = slot + 1;
        }
        slot += 1;
    }
    if first == DIRECT_SLOTS {
        (0, 0)
    } else {
        (first, end)
    }
}

/// The usable length a *new* block of `size` bytes at `align` gets from a heap, when that is
/// known before asking: a size-class block (its class size; in the hardened build the
/// requested size when a canary fits in the slack) or a large block (whole slices).
/// `None` for a huge block (it may reuse a larger cached mapping) and for impossible requests.
///
/// Local allocators that keep a byte limit use it to check a request against the limit before
/// the engine is asked, so an engine block never takes them past it.
pub(crate) const fn fresh_usable(size: usize, align: usize) -> Option<usize> {
    let rounded = match super::checked_round_up(if size == 0 { 1 } else { size }, align) {
        Some(r) => r,
        None => return None,
    };
    if rounded <= MEDIUM_MAX {
        let block_size = class_size(class_of(rounded));
        #[cfg(all(feature = "hardened", not(loom)))]
        // The hardened build's canary keeps the slack past the requested size.
        return Some(super::canary::usable_for(
            block_size,
            if size == 0 { 1 } else { size },
        ));
        #[cfg(not(all(feature = "hardened", not(loom))))]
        Some(block_size)
    } else if super::fits_large(rounded, align) {
        // A large block is its span, less the hardened build's guard page.
        let guard = super::GUARD_PAGE;
        Some((rounded + guard).div_ceil(super::SLICE_SIZE) * super::SLICE_SIZE - guard)
    } else {
        None
    }
}

// The table's invariants, checked at compile time.
const_assert_eq!(class_size(0), 8);
const_assert_eq!(class_size(15), 128);
const_assert_eq!(class_size(16), 160);
const_assert_eq!(class_size(CLASS_COUNT - 1), MEDIUM_MAX);
const_assert_eq!(class_of(MEDIUM_MAX), CLASS_COUNT - 1);
const_assert_eq!(class_size(SMALL_CLASSES - 1), SMALL_MAX);
const_assert_eq!(class_of(SMALL_MAX), SMALL_CLASSES - 1);
const_assert_eq!(class_of(SMALL_MAX + 1), SMALL_CLASSES);
const_assert!(CLASS_COUNT <= u8::MAX as usize);
// Every class is a multiple of 8 (the free-list link fits, 8-byte alignment holds).
const_assert!({
    let mut ok = true;
    let mut c = 0;
    while c < CLASS_COUNT {
        ok &= CLASS_SIZES[c] % 8 == 0;
        c += 1;
    }
    ok
});
// Strictly increasing, each size maps to its own class, and the class of one byte more is the
// next class: the table and `class_of` agree at every boundary.
const_assert!({
    let mut ok = true;
    let mut c = 0;
    while c < CLASS_COUNT {
        ok &= class_of(CLASS_SIZES[c]) == c;
        if c + 1 < CLASS_COUNT {
            ok &= CLASS_SIZES[c] < CLASS_SIZES[c + 1];
            ok &= class_of(CLASS_SIZES[c] + 1) == c + 1;
        }
        c += 1;
    }
    ok
});
// At most 25% waste above 128 bytes (12.5% from 64 to 128): the gap below a class is at most
// a quarter of the smallest request that lands in it.
const_assert!({
    let mut ok = true;
    let mut c = 8;
    while c < CLASS_COUNT {
        let smallest_request = CLASS_SIZES[c - 1] + 1;
        let fraction = if c < 16 { 8 } else { 4 };
        ok &= (CLASS_SIZES[c] - smallest_request) * fraction <= smallest_request;
        c += 1;
    }
    ok
});
// Every small page holds at least 8 blocks, every medium page at least 8 too.
const_assert!(64 * 1024 / SMALL_MAX >= 8);
const_assert!(MEDIUM_PAGE_SLICES * 64 * 1024 / MEDIUM_MAX >= 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_maps_to_the_smallest_class_that_fits() {
        for size in 1..=MEDIUM_MAX {
            let c = class_of(size);
            assert!(CLASS_SIZES[c] >= size, "size {size} class {c}");
            if c > 0 {
                assert!(CLASS_SIZES[c - 1] < size, "size {size} class {c}");
            }
        }
    }

    #[test]
    fn aligned_multiples_are_classes() {
        // The aligned fast path relies on this: a multiple of `align` lands on a class whose
        // size is a multiple of `align`.
        let mut align = 8;
        while align <= MEDIUM_MAX {
            let mut size = align;
            while size <= MEDIUM_MAX {
                let c = class_of(size);
                assert_eq!(CLASS_SIZES[c] % align, 0, "align {align} size {size}");
                size += align;
            }
            align *= 2;
        }
    }

    #[test]
    fn direct_slots_cover_their_class() {
        for size in 1..=DIRECT_MAX {
            let slot = direct_slot(size);
            assert_eq!(DIRECT_CLASS[slot] as usize, class_of(size), "size {size}");
            let (first, end) = direct_slots_of(class_of(size));
            assert!(first <= slot && slot < end);
        }
    }
}
