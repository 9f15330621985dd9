//! Giving memory back: retiring empty pages, the owner's purge ticks, and `collect`.

use super::*;

impl Heap {
    /// Gives a page with no live block back to its segment.
    ///
    /// # Safety
    /// The caller owns the page; it is in no queue, has `used == 0` and state `NORMAL`.
    pub(super) unsafe fn retire_page(&self, page: &Page) {
        // SAFETY: owner (caller); the page record lives in its segment's header.
        unsafe {
            self.fold(page);
            // From the page's `start` (derived from the segment's own pointer), not from the
            // `&Page`: a reference only carries provenance for the page record.
            let (start, used, slice_count) = page.with_local(|l| {
                let record = (l.start, l.used, l.slice_count);
                *l = crate::engine::page::PageLocal::EMPTY;
                record
            });
            let (seg, index) = Segment::locate(start);
            debug_assert_eq!(used, 0);
            let slices = slice_count as usize;
            self.uncharge(slices * SLICE_SIZE);
            {
                let guard = self.lock_segments();
                Segment::release_span(seg, index, slices);
                if Segment::slices_without_page(seg) == slices {
                    // It was in the full list: it has room again.
                    guard.with_lists(|lists| {
                        list_remove(&mut lists.full_segments, seg);
                        list_push(&mut lists.segments, seg);
                    });
                }
            }
            self.with_local(|heap| {
                if heap.purge_due == 0 {
                    heap.purge_due = now_ms() + purge_delay_ms();
                    heap.waiting_news = heap.purged_in_background;
                }
            });
        }
    }

    /// Runs a purge tick if one is due.
    ///
    /// Called only where the heap is consistent and nothing of it is borrowed (the start of
    /// the allocation refill, the end of a local free's slow path), since it may also tell
    /// `purge::memory_waiting`, which may allocate from this very heap.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(super) unsafe fn maybe_purge(&self) {
        // SAFETY: owner (caller).
        unsafe {
            let due = self.with_local(|l| l.purge_due);
            if due != 0 && now_ms() >= due {
                self.purge(purge_delay_ms() == 0);
            }
            if self.with_local(|l| core::mem::take(&mut l.waiting_news)) {
                crate::engine::purge::memory_waiting();
            }
        }
    }

    /// A purge tick: decommits slices free for a whole period and unmaps segments empty for a
    /// whole period (`now`: everything free, at once).
    pub(super) unsafe fn purge(&self, now: bool) {
        let guard = self.lock_segments();
        // SAFETY: owner (caller), holding the segment lock; listed segments are ours.
        unsafe {
            let more = guard.with_lists(|lists| {
                let mut more = false;
                let mut seg = lists.segments.head;
                while !seg.is_null() {
                    let next = Segment::with_local(seg, |l| l.next);
                    if Segment::purge(seg, now) {
                        list_remove(&mut lists.segments, seg);
                        Segment::destroy(seg);
                    } else {
                        more |= Segment::has_dirty(seg);
                    }
                    seg = next;
                }
                more
            });
            drop(guard);
            let due = if more { now_ms() + purge_delay_ms() } else { 0 };
            self.with_local(|l| l.purge_due = due);
        }
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
        // SAFETY: owner (caller).
        unsafe {
            self.process_pending();
            self.fold_all();
            for class in 0..CLASS_COUNT {
                let mut page_ptr = self.with_local(|l| l.queues[class].first);
                while let Some(page) = page_ptr.as_ref() {
                    page_ptr = page.with_local(|l| l.next);
                    page.collect();
                    self.fold(page);
                    if page.with_local(|l| l.used) == 0 && may_retire(page) {
                        self.queue_remove(class, page);
                        self.retire_page(page);
                    }
                }
            }
            if release {
                self.purge(true);
            }
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
        // SAFETY: owner (caller), holding the segment lock; the walk changes no list.
        for seg in unsafe { guard.segments() } {
            // SAFETY: a listed segment of ours, under the lock.
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
