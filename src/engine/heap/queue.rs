//! The size-class page queues and the direct table that points into them.

use super::*;

impl Heap {
    /// Makes `first` the head of `class`'s queue: moves the `is_first` mark and points the
    /// direct-table slots of `class` at it (or at the empty page).
    ///
    /// # Safety
    /// The caller owns the heap and the pages.
    #[inline]
    pub(super) unsafe fn set_first(&self, class: usize, first: *const Page) {
        // SAFETY: owner (caller); queued pages are ours.
        unsafe {
            let local = self.local();
            let q = &mut local.queues[class];
            if let Some(old) = q.first.as_ref() {
                old.local().set_first(false);
            }
            q.first = first;
            let target = match first.as_ref() {
                Some(page) => {
                    page.local().set_first(true);
                    first
                }
                None => &self.empty_page as *const Page,
            };
            let (a, b) = DIRECT_RANGES[class];
            for slot in a as usize..b as usize {
                local.direct[slot] = target;
            }
        }
    }

    pub(super) unsafe fn queue_push_front(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); queue pages are ours.
        unsafe {
            let q = &mut self.local().queues[class];
            let pl = page.local();
            pl.prev = ptr::null();
            pl.next = q.first;
            if let Some(first) = q.first.as_ref() {
                first.local().prev = page;
            } else {
                q.last = page;
            }
            self.set_first(class, page);
        }
    }

    pub(super) unsafe fn queue_push_back(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); queue pages are ours.
        unsafe {
            let q = &mut self.local().queues[class];
            let pl = page.local();
            pl.next = ptr::null();
            pl.prev = q.last;
            if let Some(last) = q.last.as_ref() {
                last.local().next = page;
                q.last = page;
            } else {
                q.last = page;
                self.set_first(class, page);
            }
        }
    }

    pub(super) unsafe fn queue_remove(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); `page` is on this queue.
        unsafe {
            let q = &mut self.local().queues[class];
            let pl = page.local();
            let (prev, next) = (pl.prev, pl.next);
            match next.as_ref() {
                Some(n) => n.local().prev = prev,
                None => q.last = prev,
            }
            pl.next = ptr::null();
            pl.prev = ptr::null();
            match prev.as_ref() {
                Some(p) => p.local().next = next,
                None => self.set_first(class, next),
            }
        }
    }
}
