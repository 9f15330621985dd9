//! Usable sizes and resizing a block in place (large pages and huge mappings).

use super::*;

impl Heap {
    /// Bytes usable in the live block `p` (its size class, span or mapping).
    ///
    /// # Safety
    /// `p` is a live block of this engine.
    #[inline]
    pub(crate) unsafe fn usable_size(p: *mut u8) -> usize {
        let seg = segment_of(p);
        // SAFETY: `p` is a live block (caller), so its segment's header is mapped and `kind`
        // written; a huge segment's header is valid for `huge::usable`, and a `Pages`
        // segment's page map covers `p`.
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                return huge::usable(seg);
            }
        }
        // SAFETY: a `Pages` segment (checked above), and `p` lies in one of its pages.
        let page = unsafe { Segment::page_of(seg, p) };
        #[cfg(all(feature = "hardened", not(loom)))]
        if page.class() as usize != LARGE {
            // SAFETY: a live block (caller) of a size-class page, of its block size.
            return unsafe { crate::engine::canary::usable(p, page.block_size()) };
        }
        page.block_size()
    }

    /// The block size of `p`'s page if `p` is a block of a size-class page; `None` for null,
    /// a large block or a huge one.
    ///
    /// # Safety
    /// `p` is null or a live block of this engine.
    #[cfg(all(feature = "hardened", not(loom)))]
    #[inline]
    pub(super) unsafe fn class_block_size(p: *mut u8) -> Option<usize> {
        if p.is_null() {
            return None;
        }
        let seg = segment_of(p);
        // SAFETY: a live block (caller): its segment header is mapped and `kind` written.
        if unsafe { (*seg).kind } == SegmentKind::Huge {
            return None;
        }
        // SAFETY: a `Pages` segment, and `p` lies in one of its pages.
        let page = unsafe { Segment::page_of(seg, p) };
        (page.class() as usize != LARGE).then(|| page.block_size())
    }

    /// Whether `p`, a pointer into a live block of this engine, is that block's first byte
    /// (the local allocators tell their own blocks, which sit inside engine blocks, from
    /// engine blocks they handed on this way).
    ///
    /// ```text
    /// engine block:  [ chunk header | pool block | pool block | ... ]
    ///                ^ true           ^ false      ^ false
    /// ```
    ///
    /// # Safety
    /// `p` points into a live block of this engine that the caller holds.
    // Feature `checked` builds tell the kinds apart by layout and check that claim instead.
    #[cfg_attr(feature = "checked", allow(dead_code))]
    pub(crate) unsafe fn is_block_start(p: *mut u8) -> bool {
        let seg = segment_of(p);
        // SAFETY: `p` is in a live block, so its segment header is valid; a huge header's
        // fields are written before the block is handed out, and a page's slice map and block
        // size before any of its blocks exists (see `Segment::page_of`).
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                return p == (*seg).map_base.wrapping_add((*seg).block_offset);
            }
            let offset = p as usize - seg as usize;
            let head = (*seg).head_of[offset >> crate::engine::SLICE_SHIFT].with(|h| *h) as usize;
            let block_size = (*seg).pages[head].block_size();
            // Blocks start at multiples of the block size from their page's first slice.
            (offset - head * SLICE_SIZE) % block_size == 0
        }
    }

    /// Resizes `p` to `new_size` without moving its contents: returns `p` if the block already
    /// fits (and would not waste more than half), a new address for a huge block whose pages
    /// were moved, or null if the caller must allocate, copy and free.
    ///
    /// # Safety
    /// `p` is a live block of this engine that the caller holds.
    pub(crate) unsafe fn resize_in_place(p: *mut u8, new_size: usize) -> *mut u8 {
        let seg = segment_of(p);
        // SAFETY: `p` is a live block the caller holds, so its segment's header is mapped;
        // `huge::resize` needs a huge segment and its live block (both checked or given).
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                return if new_size > LARGE_MAX {
                    huge::resize(seg, p, new_size)
                } else {
                    ptr::null_mut()
                };
            }
        }
        // SAFETY: a `Pages` segment (checked above) that the live block `p` is inside.
        let page = unsafe { Segment::page_of(seg, p) };
        let block_size = page.block_size();
        if new_size <= block_size && (new_size >= block_size / 2 || block_size <= 32) {
            #[cfg(all(feature = "hardened", not(loom)))]
            if page.class() as usize != LARGE {
                // SAFETY: `p` is a live block of a size-class page (checked just above), of
                // `block_size` bytes, that the caller holds, resized in place to
                // `new_size <= block_size`: the canary moves to the new requested end.
                unsafe { crate::engine::canary::resize(p, block_size, new_size) };
            }
            p
        } else {
            ptr::null_mut()
        }
    }

    /// As [`resize_in_place`](Self::resize_in_place), and a large block of this heap also grows
    /// into the free slices that follow it, or gives back the slices it no longer needs (a
    /// `Vec` growing past 64 KiB keeps its address and copies nothing).
    ///
    /// # Safety
    /// `p` is a live block of this engine that the caller holds; the caller owns this heap.
    pub(crate) unsafe fn resize(&self, p: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: `p` is a live block of this engine that the caller holds.
        let same = unsafe { Self::resize_in_place(p, new_size) };
        if !same.is_null() {
            return same;
        }
        let seg = segment_of(p);
        // SAFETY: `p` is live, so its segment's header is mapped; `kind` and `heap` are read
        // with no other access (kind is written once, heap atomically).
        let ours = unsafe {
            (*seg).kind == SegmentKind::Pages
                && (*seg).heap.load(Ordering::Relaxed) == (self as *const Heap).cast_mut()
        };
        if !ours {
            return ptr::null_mut();
        }
        // SAFETY: a `Pages` segment and `p` inside one of its pages (a live block).
        let page = unsafe { Segment::page_of(seg, p) };
        if page.class() as usize != LARGE || new_size <= MEDIUM_MAX || new_size > LARGE_MAX {
            return ptr::null_mut();
        }
        // SAFETY: the caller owns this heap, which owns the page (checked above); the closure
        // only reads.
        let (start, old_slices) = unsafe { page.with_local(|l| (l.start, l.slice_count)) };
        let index = Segment::locate(start).1;
        let old_slices = old_slices as usize;
        // The hardened build keeps the span's last OS page as the block's guard.
        let new_slices = (new_size + GUARD_PAGE).div_ceil(SLICE_SIZE);
        let (old_bytes, new_bytes) = (page.block_size(), new_slices * SLICE_SIZE - GUARD_PAGE);
        if new_slices > old_slices {
            let extra = (new_slices - old_slices) * SLICE_SIZE;
            // SAFETY: the caller owns this heap.
            if !unsafe { self.charge(extra) } {
                return ptr::null_mut();
            }
        }
        if new_slices <= old_slices {
            // The guard moves in before the tail goes.
            // SAFETY: the old guard and the page past the new size lie in the span, which
            // is ours; the caller uses nothing past `new_size <= new_bytes`.
            unsafe {
                refill::protect_large_guard(start, old_bytes, false);
                refill::protect_large_guard(start, new_bytes, true);
            }
        }
        let guard = self.lock_segments();
        if new_slices > old_slices {
            // SAFETY: the heap owns `seg` and we hold its segment lock; slices
            // `index..index + old_slices` are the page's span.
            if !unsafe { Segment::extend_span(seg, index, old_slices, new_slices) } {
                drop(guard);
                // SAFETY: the caller owns this heap; these bytes were charged just above.
                unsafe { self.uncharge((new_slices - old_slices) * SLICE_SIZE) };
                return ptr::null_mut();
            }
            // SAFETY: the heap owns `seg` and we hold its segment lock.
            if unsafe { Segment::slices_without_page(seg) } == 0 {
                // SAFETY: the guard is ours and no other borrow of the lists is live; `seg`,
                // ours, was on `segments` (it had free slices) and goes to `full_segments`.
                unsafe { guard.with_lists(|lists| lists.set_full(seg, true)) };
            }
            drop(guard);
            // The guard moves out to the new end.
            // SAFETY: the old guard and the new span's last page lie in the span, now ours.
            unsafe {
                refill::protect_large_guard(start, old_bytes, false);
                refill::protect_large_guard(start, new_bytes, true);
            }
        } else {
            // Shrinking to less than half: give the tail back.
            // SAFETY: the heap owns `seg` and we hold its segment lock; the tail
            // `index + new_slices..index + old_slices` is the end of the page's span.
            let was_full = unsafe {
                let was_full = Segment::slices_without_page(seg) == 0;
                Segment::release_span(seg, index + new_slices, old_slices - new_slices);
                was_full
            };
            // SAFETY: the caller owns this heap; the released slices were charged.
            unsafe { self.uncharge((old_slices - new_slices) * SLICE_SIZE) };
            if was_full {
                // SAFETY: the guard is ours and no other borrow of the lists is live; `seg`
                // was on `full_segments` and now has free slices.
                unsafe { guard.with_lists(|lists| lists.set_full(seg, false)) };
            }
            drop(guard);
            // SAFETY: the caller owns this heap.
            unsafe { self.arm_purge() };
        }
        // SAFETY: the heap (the caller's) owns the page, the caller holds its one block, and
        // its slices were resized above.
        unsafe { page.set_large_size(new_slices, new_bytes) };
        owner_add(
            &self.counters.large_bytes,
            new_bytes.wrapping_sub(old_bytes),
        );
        self.counters
            .note_live_bytes(new_bytes.wrapping_sub(old_bytes));
        p
    }
}
