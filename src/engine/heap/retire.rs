//! Giving memory back: retiring empty pages, the owner's purge ticks, and `collect`.

use super::*;

impl Heap {
    /// Gives a page with no live block back to its segment.
    ///
    /// # Safety
    /// The caller owns the page; it is in no queue, has `used == 0` and state `NORMAL`.
    pub(super) unsafe fn retire_page(&self, page: &Page) {
        // SAFETY: the caller owns the page (and so its heap).
        unsafe { self.fold(page) };
        // From the page's `start` (derived from the segment's own pointer), not from the
        // `&Page`: a reference only carries provenance for the page record.
        // SAFETY: the caller owns the page; the closure does not reach it again.
        let (start, used, slice_count) = unsafe {
            page.with_local(|l| {
                let record = (l.start, l.used, l.slice_count);
                *l = crate::engine::page::PageLocal::EMPTY;
                record
            })
        };
        let (seg, index) = Segment::locate(start);
        debug_assert_eq!(used, 0);
        if page.class() as usize == LARGE {
            // SAFETY: a large page's guard (if any) is the OS page past its one block, which
            // was just freed; the span is reused only after this.
            unsafe { super::refill::protect_large_guard(start, page.block_size(), false) };
        }
        let slices = slice_count as usize;
        // SAFETY: the caller owns the heap; the page's slices were charged when it was made.
        unsafe { self.uncharge(slices * SLICE_SIZE) };
        let guard = self.lock_segments();
        // SAFETY: the heap owns `seg` and we hold its segment lock; `index..index + slices`
        // is the span of a page with no live block (caller).
        let now_free = unsafe {
            Segment::release_span(seg, index, slices);
            Segment::slices_without_page(seg)
        };
        if now_free == slices {
            // It was in the full list: it has room again.
            // SAFETY: we hold the lock and no other borrow of the lists is live; `seg` is on
            // `full_segments` (no free slice until now).
            unsafe { guard.with_lists(|lists| lists.set_full(seg, false)) };
        }
        drop(guard);
        // SAFETY: the caller owns the heap.
        unsafe { self.arm_purge() };
    }

    /// Starts the purge delay if no purge tick is due yet (something was just freed).
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(super) unsafe fn arm_purge(&self) {
        // SAFETY: the caller owns the heap; the closure touches only its local state.
        unsafe {
            self.with_local(|heap| {
                if heap.purge_due == 0 {
                    heap.purge_due = now_ms() + purge_delay_ms();
                    heap.waiting_news = heap.purged_in_background;
                }
            })
        };
    }

    /// Runs a purge tick if one is due.
    ///
    /// Called only where the heap is consistent and nothing of it is borrowed (the start of
    /// the allocation refill, the end of a local free's slow path), since it may also tell
    /// `purge::memory_waiting`, which may allocate from this very heap.
    ///
    /// # Safety
    /// The caller owns the heap, and nothing of it is borrowed.
    pub(super) unsafe fn maybe_purge(&self) {
        // SAFETY: the caller owns the heap.
        let due = unsafe { self.with_local(|l| l.purge_due) };
        if due != 0 && now_ms() >= due {
            // SAFETY: the caller owns the heap.
            unsafe { self.purge(purge_delay_ms() == 0) };
        }
        // SAFETY: the caller owns the heap.
        if unsafe { self.with_local(|l| core::mem::take(&mut l.waiting_news)) } {
            crate::engine::purge::memory_waiting();
        }
    }

    /// A purge tick: decommits slices free for a whole period and unmaps segments empty for a
    /// whole period (`now`: everything free, at once).
    ///
    /// # Safety
    /// The caller owns the heap, and no borrow of its segment lists is live.
    pub(super) unsafe fn purge(&self, now: bool) {
        let guard = self.lock_segments();
        let purge_list = |lists: &mut SegmentLists| {
            let mut more = false;
            let mut seg = lists.segments.head;
            while !seg.is_null() {
                // SAFETY: `seg` is on the heap's list, so the heap owns it, and we hold the
                // segment lock.
                let next = unsafe { Segment::with_local(seg, |l| l.next) };
                // SAFETY: `seg` is a segment of this heap, under its segment lock.
                if unsafe { Segment::purge(seg, now) } {
                    // SAFETY: `seg` is on `segments`, and empty: nothing of it is referenced,
                    // so it may be unlinked and unmapped.
                    unsafe {
                        list_remove(&mut lists.segments, seg);
                        Segment::destroy(seg);
                    }
                } else {
                    // SAFETY: `seg` is a segment of this heap, under its segment lock.
                    more |= unsafe { Segment::has_dirty(seg) };
                }
                seg = next;
            }
            more
        };
        // SAFETY: we hold the lock and no other borrow of the lists is live (caller);
        // `purge_list` does not reach them but through its argument.
        let more = unsafe { guard.with_lists(purge_list) };
        drop(guard);
        let due = if more { now_ms() + purge_delay_ms() } else { 0 };
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| l.purge_due = due) };
    }

    /// Collects every page's remote frees, retires every empty page, and (if `release`) gives
    /// all free memory back to the OS now.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn collect(&self, release: bool) {
        if self.is_sentinel() {
            return;
        }
        // SAFETY: the caller owns the heap.
        unsafe {
            self.process_pending();
            self.fold_all();
        }
        for class in 0..CLASS_COUNT {
            // SAFETY: the caller owns the heap.
            let mut page_ptr = unsafe { self.with_local(|l| l.queues[class].first) };
            // SAFETY: pages on the heap's queue are its live page records.
            while let Some(page) = unsafe { page_ptr.as_ref() } {
                // SAFETY: the caller owns the heap and so its queued pages; each closure
                // only reads or collects the page's own lists.
                let (next, used) = unsafe {
                    let next = page.with_local(|l| l.next);
                    page.collect();
                    self.fold(page);
                    (next, page.with_local(|l| l.used))
                };
                page_ptr = next;
                if used == 0 && may_retire(page) {
                    // SAFETY: `page` is on queue `class` with no live block, and `may_retire`
                    // says its state is `NORMAL`.
                    unsafe {
                        self.queue_remove(class, page);
                        self.retire_page(page);
                    }
                }
            }
        }
        if release {
            // SAFETY: the caller owns the heap; no borrow of its lists is live.
            unsafe { self.purge(true) };
        }
    }

    /// Pages in use in this heap's segments (a walk; for tests and the heap map).
    ///
    /// # Safety
    /// The caller owns the heap.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    pub(crate) unsafe fn pages_in_use(&self) -> usize {
        let mut pages = 0;
        let guard = self.lock_segments();
        // SAFETY: we just took the lock, so no other borrow of the lists is live; the walk
        // changes no list.
        for seg in unsafe { guard.segments() } {
            // SAFETY: a listed segment of this heap (the caller's), under the lock.
            pages += unsafe { Segment::page_count(seg) };
        }
        pages
    }
}

/// Whether an empty page may be retired now: not while a remote freer holds its notification
/// (`NOTIFIED`: the page is about to be pushed on the pending stack and must still be this
/// page when it is popped). A test-only switch skips the check, for the loom model
/// `remote_free_races_retire_and_decommit` to catch.
#[inline]
pub(super) fn may_retire(page: &Page) -> bool {
    #[cfg(allocgator_mutation = "retire_notified_page")]
    let _ = page;
    #[cfg(allocgator_mutation = "retire_notified_page")]
    return true;
    #[cfg(not(allocgator_mutation = "retire_notified_page"))]
    return page.state() == STATE_NORMAL;
}
