//! The segment map (builds with feature `checked` or `hardened`): one bit per 4 MiB of
//! address space saying "allocgator owns a segment or huge-block header here".
//!
//! A free looks its pointer up here before it reads anything at the pointer's 4 MiB
//! boundary, so a pointer allocgator never returned (a stack or static address, another
//! allocator's block) is reported instead of being followed into memory that may not be
//! mapped, or that holds anything at all.
//!
//! The map is 4 MiB of zero-initialised `static` (47 bits of user address space, 2²⁵
//! segments, one bit each), of which the OS backs only the pages whose words are touched: a
//! process with its segments in a few GiB of address space pays a few pages.

use super::segment::Segment;
use super::SEGMENT_SHIFT;
use crate::sync::{AtomicUsize, Ordering};

/// Address bits the map covers (the x86-64 / AArch64 user address space).
const ADDRESS_BITS: usize = 47;
/// Words of the map.
const MAP_WORDS: usize = (1 << (ADDRESS_BITS - SEGMENT_SHIFT)) / usize::BITS as usize;

/// Bit `i`: the 4 MiB-aligned address `i << SEGMENT_SHIFT` holds a segment header of ours.
static SEGMENT_MAP: [AtomicUsize; MAP_WORDS] = [const { AtomicUsize::new(0) }; MAP_WORDS];

/// The word and bit of `seg`; `None` above the covered address space (never ours).
#[inline(always)]
fn map_slot(seg: *mut Segment) -> Option<(&'static AtomicUsize, usize)> {
    let index = seg as usize >> SEGMENT_SHIFT;
    let word = SEGMENT_MAP.get(index / usize::BITS as usize)?;
    Some((word, 1 << (index % usize::BITS as usize)))
}

/// Records that `seg` (a segment or a huge block's header) is ours.
pub(crate) fn segment_added(seg: *mut Segment) {
    if let Some((word, bit)) = map_slot(seg) {
        // Relaxed: a free of a block in this segment is ordered after the segment's creation
        // by the block's own hand-off; RMWs on one word never lose each other's bits.
        word.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Records that `seg` is no longer ours (before its memory goes back to the OS).
pub(crate) fn segment_removed(seg: *mut Segment) {
    if let Some((word, bit)) = map_slot(seg) {
        // Relaxed: as in `segment_added`.
        word.fetch_and(!bit, Ordering::Relaxed);
    }
}

/// Whether `seg` is a header of ours.
#[inline(always)]
pub(crate) fn segment_known(seg: *mut Segment) -> bool {
    // Relaxed: as in `segment_added`.
    map_slot(seg).is_some_and(|(word, bit)| word.load(Ordering::Relaxed) & bit != 0)
}
