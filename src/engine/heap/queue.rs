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
            let old = self.with_local(|l| core::mem::replace(&mut l.queues[class].first, first));
            if let Some(old) = old.as_ref() {
                old.with_local(|l| l.set_first(false));
            }
            let target = match first.as_ref() {
                Some(page) => {
                    page.with_local(|l| l.set_first(true));
                    first
                }
                None => &self.empty_page as *const Page,
            };
            let (a, b) = DIRECT_RANGES[class];
            self.with_local(|l| {
                for slot in a as usize..b as usize {
                    l.direct[slot] = target;
                }
            });
        }
    }

    pub(super) unsafe fn queue_push_front(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); queue pages are ours. Each borrow of the heap's or a page's
        // local state ends within its statement.
        unsafe {
            let first = self.with_local(|l| l.queues[class].first);
            page.with_local(|pl| {
                pl.prev = ptr::null();
                pl.next = first;
            });
            match first.as_ref() {
                Some(old) => old.with_local(|l| l.prev = page),
                None => self.with_local(|l| l.queues[class].last = page),
            }
            self.set_first(class, page);
        }
    }

    pub(super) unsafe fn queue_push_back(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); queue pages are ours. Each borrow of the heap's or a page's
        // local state ends within its statement.
        unsafe {
            let last = self.with_local(|l| l.queues[class].last);
            page.with_local(|pl| {
                pl.next = ptr::null();
                pl.prev = last;
            });
            self.with_local(|l| l.queues[class].last = page);
            match last.as_ref() {
                Some(old) => old.with_local(|l| l.next = page),
                None => self.set_first(class, page),
            }
        }
    }

    pub(super) unsafe fn queue_remove(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); `page` is on this queue. Each borrow of the heap's or a
        // page's local state ends within its statement.
        unsafe {
            let (prev, next) = page.with_local(|pl| {
                let links = (pl.prev, pl.next);
                pl.prev = ptr::null();
                pl.next = ptr::null();
                links
            });
            match next.as_ref() {
                Some(n) => n.with_local(|l| l.prev = prev),
                None => self.with_local(|l| l.queues[class].last = prev),
            }
            match prev.as_ref() {
                Some(p) => p.with_local(|l| l.next = next),
                None => self.set_first(class, next),
            }
        }
    }
}
