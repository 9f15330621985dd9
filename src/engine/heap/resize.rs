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
        // SAFETY: live block, valid header.
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                huge::usable(seg)
            } else {
                Segment::page_of(seg, p).block_size()
            }
        }
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
        // SAFETY: live block, valid header.
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                return if new_size > LARGE_MAX {
                    huge::resize(seg, p, new_size)
                } else {
                    ptr::null_mut()
                };
            }
            let block_size = Segment::page_of(seg, p).block_size();
            if new_size <= block_size && (new_size >= block_size / 2 || block_size <= 32) {
                p
            } else {
                ptr::null_mut()
            }
        }
    }

    /// As [`resize_in_place`](Self::resize_in_place), and a large block of this heap also grows
    /// into the free slices that follow it, or gives back the slices it no longer needs (a
    /// `Vec` growing past 64 KiB keeps its address and copies nothing).
    ///
    /// # Safety
    /// `p` is a live block of this engine that the caller holds; the caller owns this heap.
    pub(crate) unsafe fn resize(&self, p: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded (caller).
        unsafe {
            let same = Self::resize_in_place(p, new_size);
            if !same.is_null() {
                return same;
            }
            let seg = segment_of(p);
            if (*seg).kind != SegmentKind::Pages
                || (*seg).heap.load(Ordering::Relaxed) != (self as *const Heap).cast_mut()
            {
                return ptr::null_mut();
            }
            let page = Segment::page_of(seg, p);
            if page.class() as usize != LARGE || new_size <= MEDIUM_MAX || new_size > LARGE_MAX {
                return ptr::null_mut();
            }
            let index = Segment::locate(page.with_local(|l| l.start)).1;
            let old_slices = page.with_local(|l| l.slice_count) as usize;
            let new_slices = new_size.div_ceil(SLICE_SIZE);
            if new_slices > old_slices && !self.charge((new_slices - old_slices) * SLICE_SIZE) {
                return ptr::null_mut();
            }
            let guard = self.lock_segments();
            if new_slices > old_slices {
                if !Segment::extend_span(seg, index, old_slices, new_slices) {
                    drop(guard);
                    self.uncharge((new_slices - old_slices) * SLICE_SIZE);
                    return ptr::null_mut();
                }
                if Segment::slices_without_page(seg) == 0 {
                    guard.with_lists(|lists| {
                        list_remove(&mut lists.segments, seg);
                        list_push(&mut lists.full_segments, seg);
                    });
                }
                drop(guard);
            } else {
                // Shrinking to less than half: give the tail back.
                let was_full = Segment::slices_without_page(seg) == 0;
                Segment::release_span(seg, index + new_slices, old_slices - new_slices);
                self.uncharge((old_slices - new_slices) * SLICE_SIZE);
                if was_full {
                    guard.with_lists(|lists| {
                        list_remove(&mut lists.full_segments, seg);
                        list_push(&mut lists.segments, seg);
                    });
                }
                drop(guard);
                self.with_local(|local| {
                    if local.purge_due == 0 {
                        local.purge_due = now_ms() + purge_delay_ms();
                        local.waiting_news = local.purged_in_background;
                    }
                });
            }
            let (old_bytes, new_bytes) = (old_slices * SLICE_SIZE, new_slices * SLICE_SIZE);
            page.set_large_size(new_slices, new_bytes);
            owner_add(
                &self.counters.large_bytes,
                new_bytes.wrapping_sub(old_bytes),
            );
            self.counters
                .note_live_bytes(new_bytes.wrapping_sub(old_bytes));
            p
        }
    }
}
