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
        // SAFETY: the caller owns the heap.
        let old =
            unsafe { self.with_local(|l| core::mem::replace(&mut l.queues[class].first, first)) };
        // SAFETY: a queue's head is a live page record of this heap, or null.
        if let Some(old) = unsafe { old.as_ref() } {
            // SAFETY: the caller owns the heap's pages; the closure touches only this one.
            unsafe { old.with_local(|l| l.set_first(false)) };
        }
        // SAFETY: `first` is a page record of this heap, or null (caller).
        let target = match unsafe { first.as_ref() } {
            Some(page) => {
                // SAFETY: the caller owns the page; the closure touches only it.
                unsafe { page.with_local(|l| l.set_first(true)) };
                first
            }
            None => &self.empty_page as *const Page,
        };
        let (a, b) = DIRECT_RANGES[class];
        // SAFETY: the caller owns the heap.
        unsafe {
            self.with_local(|l| {
                for slot in a as usize..b as usize {
                    l.direct[slot] = target;
                }
            })
        };
    }

    /// Puts `page` at the front of `class`'s queue.
    ///
    /// # Safety
    /// The caller owns the heap and the page, which is on no queue.
    pub(super) unsafe fn queue_push_front(&self, class: usize, page: &Page) {
        // Each borrow of the heap's or a page's local state ends within its statement.
        // SAFETY: the caller owns the heap.
        let first = unsafe { self.with_local(|l| l.queues[class].first) };
        // SAFETY: the caller owns the page.
        unsafe {
            page.with_local(|pl| {
                pl.prev = ptr::null();
                pl.next = first;
            })
        };
        // SAFETY: a queue's head is a live page record of this heap, or null.
        match unsafe { first.as_ref() } {
            // SAFETY: the caller owns the heap's pages, and `old` is not `page` (on no queue).
            Some(old) => unsafe { old.with_local(|l| l.prev = page) },
            // SAFETY: the caller owns the heap.
            None => unsafe { self.with_local(|l| l.queues[class].last = page) },
        }
        // SAFETY: the caller owns the heap and `page`, now linked at the front.
        unsafe { self.set_first(class, page) };
    }

    /// Puts `page` at the back of `class`'s queue.
    ///
    /// # Safety
    /// The caller owns the heap and the page, which is on no queue.
    pub(super) unsafe fn queue_push_back(&self, class: usize, page: &Page) {
        // Each borrow of the heap's or a page's local state ends within its statement.
        // SAFETY: the caller owns the heap.
        let last = unsafe { self.with_local(|l| l.queues[class].last) };
        // SAFETY: the caller owns the page.
        unsafe {
            page.with_local(|pl| {
                pl.next = ptr::null();
                pl.prev = last;
            })
        };
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| l.queues[class].last = page) };
        // SAFETY: a queue's tail is a live page record of this heap, or null.
        match unsafe { last.as_ref() } {
            // SAFETY: the caller owns the heap's pages, and `old` is not `page` (on no queue).
            Some(old) => unsafe { old.with_local(|l| l.next = page) },
            // SAFETY: the caller owns the heap and `page`, the queue's only page.
            None => unsafe { self.set_first(class, page) },
        }
    }

    /// Unlinks `page` from `class`'s queue.
    ///
    /// # Safety
    /// The caller owns the heap and the page, which is on queue `class`.
    pub(super) unsafe fn queue_remove(&self, class: usize, page: &Page) {
        // Each borrow of the heap's or a page's local state ends within its statement.
        // SAFETY: the caller owns the page.
        let (prev, next) = unsafe {
            page.with_local(|pl| {
                let links = (pl.prev, pl.next);
                pl.prev = ptr::null();
                pl.next = ptr::null();
                links
            })
        };
        // SAFETY: the page's queue neighbours are live page records of this heap, or null.
        match unsafe { next.as_ref() } {
            // SAFETY: the caller owns the heap's pages; `n` is another page than `page`.
            Some(n) => unsafe { n.with_local(|l| l.prev = prev) },
            // SAFETY: the caller owns the heap.
            None => unsafe { self.with_local(|l| l.queues[class].last = prev) },
        }
        // SAFETY: as for `next`.
        match unsafe { prev.as_ref() } {
            // SAFETY: the caller owns the heap's pages; `p` is another page than `page`.
            Some(p) => unsafe { p.with_local(|l| l.next = next) },
            // SAFETY: the caller owns the heap; `next` is a page of the queue, or null.
            None => unsafe { self.set_first(class, next) },
        }
    }
}
