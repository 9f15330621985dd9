//! Bad-free detection (feature `checked`): double frees, pointers allocgator never returned,
//! interior pointers, and wrong-size deallocations to local allocators abort with a message
//! naming the problem and the address.
//!
//! Two pieces of state, both out of line (a freed block's contents are the allocator's, but a
//! program with a bad free may be writing them, so nothing the checks rely on lives there):
//!
//! - the **segment map** (`segment_map`, shared with the hardened build): one bit per 4 MiB
//!   of address space saying "allocgator owns a segment or huge-block header here". A free
//!   first checks it, so a foreign pointer is reported without reading memory that may not be
//!   mapped;
//! - a **live bitmap** per segment: one bit per 8 bytes (every block starts 8-aligned), set
//!   when a block is handed out and cleared when it is freed, from any thread (atomic RMWs). A
//!   free that finds its bit clear is a double free.
//!
//! Huge blocks have no live bit: freeing one takes its header out of the segment map, so a
//! second free finds no owner (and the free path checks on every build that a huge block is
//! freed at its start).
//!
//! The report is written without allocating (a stack buffer and `write(2)`), then the process
//! aborts: this runs inside `GlobalAlloc::dealloc`, where unwinding is not allowed.

#[cfg(feature = "checked")]
use super::segment::{Segment, SegmentKind};
#[cfg(feature = "checked")]
use super::segment_map::segment_known;
#[cfg(feature = "checked")]
use super::{segment_of, SEGMENT_SIZE};
#[cfg(feature = "checked")]
use crate::sync::{AtomicUsize, Ordering};

/// Writes `allocgator: <problem> at 0x<addr>` to stderr without allocating, and aborts.
#[cold]
#[inline(never)]
pub(crate) fn report(problem: &str, addr: usize) -> ! {
    let mut buf = [0u8; 256];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    put(b"allocgator: ");
    put(problem.as_bytes());
    put(b" at 0x");
    let mut hex = [0u8; 16];
    for (i, digit) in hex.iter_mut().enumerate() {
        let nibble = (addr >> ((15 - i) * 4)) & 0xF;
        *digit = b"0123456789abcdef"[nibble];
    }
    let first = hex.iter().position(|&d| d != b'0').unwrap_or(15);
    put(&hex[first..]);
    put(b"\n");
    #[cfg(not(loom))]
    {
        crate::os::stderr::write_all(&buf[..len]);
        crate::os::process::abort()
    }
    #[cfg(loom)]
    panic!(
        "{}",
        core::str::from_utf8(&buf[..len]).unwrap_or("allocgator: bad free")
    );
}

/// Bytes of a segment's live bitmap: one bit per 8 bytes of the segment.
#[cfg(feature = "checked")]
pub(crate) const LIVE_BITS_BYTES: usize = SEGMENT_SIZE / 8 / 8;

/// The live bit of block `p` in segment `seg`: its word and mask.
///
/// # Safety
/// `seg` is a live segment of kind `Pages` and `p` lies inside it.
#[cfg(feature = "checked")]
unsafe fn live_bit<'a>(seg: *mut Segment, p: *mut u8) -> (&'a AtomicUsize, usize) {
    let index = (p as usize - seg as usize) >> 3;
    // SAFETY: the bitmap was mapped with the segment and lives as long; `index / BITS` is in
    // range because `p` lies inside the segment (caller).
    let word = unsafe { &*(*seg).live_bits.add(index / usize::BITS as usize) };
    (word, 1 << (index % usize::BITS as usize))
}

/// A block is being handed out: marks it live.
///
/// # Safety
/// `p` is a block of this engine just taken from a free list (not yet given to the caller).
#[cfg(feature = "checked")]
#[inline]
pub(crate) unsafe fn on_alloc(p: *mut u8) {
    let seg = segment_of(p);
    // SAFETY: `p` is ours, so its header is mapped.
    if unsafe { (*seg).kind } != SegmentKind::Pages {
        return;
    }
    // SAFETY: a `Pages` segment of ours, and `p` inside it.
    let (word, bit) = unsafe { live_bit(seg, p) };
    // Relaxed: a free of this block on another thread is ordered after this by the block's
    // hand-off (the program's own synchronisation); RMWs on one word never lose bits.
    word.fetch_or(bit, Ordering::Relaxed);
}

/// A block is being freed: aborts with a report unless `p` is the start of a live block.
///
/// # Safety
/// None beyond the caller's claim that `p` came from allocgator: every step reads only memory
/// the previous step proved is ours.
#[cfg(feature = "checked")]
pub(crate) unsafe fn on_free(p: *mut u8) {
    let addr = p as usize;
    if addr % 8 != 0 {
        report(
            "free of a pointer allocgator never returned (misaligned)",
            addr,
        );
    }
    let seg = segment_of(p);
    if !segment_known(seg) {
        report(
            "free of a pointer allocgator does not own (never returned by it, or a huge block \
             freed twice)",
            addr,
        );
    }
    // SAFETY: the segment map says the header is ours and mapped; `kind` is written once,
    // when the segment is made.
    if unsafe { (*seg).kind } == SegmentKind::Huge {
        // Interior pointers into huge blocks are caught on every build, by the free path
        // (`Heap::free_remote`); a second free finds no owner above.
        return;
    }
    let offset = addr - seg as usize;
    let slice = offset >> super::SLICE_SHIFT;
    // SAFETY: a `Pages` segment of ours (above), so its slice map is mapped, and `slice <
    // SLICES` since `p` lies inside the segment; the entry is a plain byte any thread may read
    // while a block of its page is live.
    let head = unsafe { (*seg).head_of[slice].with(|h| *h) } as usize;
    // SAFETY: as for `head_of`: the page record is in the mapped header, `head < SLICES`.
    let block_size = unsafe { (*seg).pages[head].block_size() };
    let page_offset = offset - head * super::SLICE_SIZE;
    if head == 0 || block_size == 0 {
        report(
            "free of a pointer allocgator never returned (segment header or unused page)",
            addr,
        );
    }
    if page_offset % block_size != 0 {
        report(
            "free of an interior pointer (not the start of a block)",
            addr,
        );
    }
    // SAFETY: a `Pages` segment of ours, and `p` inside one of its pages (checked above).
    let (word, bit) = unsafe { live_bit(seg, p) };
    // Relaxed: as in `on_alloc`.
    if word.fetch_and(!bit, Ordering::Relaxed) & bit == 0 {
        report(
            "double free (or free of a block that was never handed out)",
            addr,
        );
    }
}
