//! The allocation slow path: refilling a size class from its queue, a new page, or the
//! segments; large blocks in pages of their own.

use super::*;

impl Heap {
    /// Everything the fast path does not do: other sizes and alignments, refilling, large and
    /// huge blocks.
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc).
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn alloc_slow(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { self.alloc_slow_unchecked(size, align, zero) };
        #[cfg(feature = "checked")]
        if !p.is_null() {
            // SAFETY: a block just taken, not yet handed out.
            unsafe { crate::engine::checked::on_alloc(p) };
        }
        p
    }

    /// The body of [`alloc_slow`](Self::alloc_slow) (which adds the `checked` bookkeeping).
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc).
    #[inline(always)]
    pub(super) unsafe fn alloc_slow_unchecked(
        &self,
        size: usize,
        align: usize,
        zero: bool,
    ) -> *mut u8 {
        if self.is_sentinel() || align > ALIGN_MAX {
            return ptr::null_mut();
        }
        let Some(rounded) = checked_round_up(size.max(1), align) else {
            return ptr::null_mut();
        };
        // SAFETY: owner (caller).
        unsafe {
            if rounded <= MEDIUM_MAX {
                // The class queue's head usually has a block (sizes past the direct table), or
                // its own frees waiting in `local_free` (a loop that allocates and frees).
                let class = class_of(rounded);
                if let Some(page) = self.with_local(|l| l.queues[class].first).as_ref() {
                    self.fold(page);
                    // Or the blocks other threads freed into it, and only then a few more
                    // never-used blocks carved from it (a page is carved about 4 KiB at a
                    // time, so a fresh page is not made resident all at once). Carving before
                    // collecting would make a page that other threads free into resident
                    // whole before any of their frees came back.
                    if page.take_local_free() || page.collect() != 0 || page.extend() {
                        return self.pop_counted(page, class, zero);
                    }
                }
            }
            self.alloc_refill(size, align, rounded, zero)
        }
    }

    /// The rest of the slow path, out of line so the refill from the queue head above keeps
    /// a small frame: collect pending pages, run a due purge tick, then a new page, a large
    /// block or a huge one.
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc); `rounded` is `size` rounded up to `align`.
    #[inline(never)]
    pub(super) unsafe fn alloc_refill(
        &self,
        size: usize,
        align: usize,
        rounded: usize,
        zero: bool,
    ) -> *mut u8 {
        // SAFETY: owner (caller).
        unsafe {
            self.process_pending();
            self.maybe_purge();
            if rounded <= MEDIUM_MAX {
                self.alloc_class(class_of(rounded), zero)
            } else if rounded <= LARGE_MAX && align <= LARGE_ALIGN_MAX {
                self.alloc_large(rounded, align, zero)
            } else {
                huge::alloc(size, align, zero)
            }
        }
    }

    /// Allocates a block of `class`.
    pub(super) unsafe fn alloc_class(&self, class: usize, zero: bool) -> *mut u8 {
        // SAFETY: owner (caller of the slow path); `find_page` returns a page with a block.
        unsafe {
            match self.find_page(class) {
                Some(page) => self.pop_counted(page, class, zero),
                None => ptr::null_mut(),
            }
        }
    }

    /// Pops the head of `page`'s non-empty free list and zeroes it if asked (the page's fold
    /// counts it later).
    ///
    /// # Safety
    /// The caller owns the page, whose `free` list is not empty; `class` is its class.
    #[inline(always)]
    pub(super) unsafe fn pop_counted(&self, page: &Page, class: usize, zero: bool) -> *mut u8 {
        // SAFETY: forwarded (caller).
        unsafe {
            let block = page.free_head();
            let was_zero = page.free_is_zero();
            page.pop_known(block);
            if zero {
                zero_block(block, was_zero, class_size(class));
            }
            block.cast()
        }
    }

    /// A page of `class` with a free block, moved to the front of its queue.
    pub(super) unsafe fn find_page(&self, class: usize) -> Option<&Page> {
        // SAFETY: owner (caller); every page on the queue is ours.
        unsafe {
            let mut page_ptr = self.with_local(|l| l.queues[class].first);
            while let Some(page) = page_ptr.as_ref() {
                page.collect();
                self.fold(page);
                if page.free_head().is_null() {
                    page.extend();
                }
                if !page.free_head().is_null() {
                    if !ptr::eq(self.with_local(|l| l.queues[class].first), page) {
                        self.queue_remove(class, page);
                        self.queue_push_front(class, page);
                    }
                    #[cfg(debug_assertions)]
                    page.check_invariant();
                    return Some(page);
                }
                let next = page.with_local(|l| l.next);
                if !self.make_full(class, page) {
                    continue; // a remote free just arrived: collect it
                }
                page_ptr = next;
            }
            self.new_page(class)
        }
    }

    /// Takes a page with no free block out of its queue. Returns false (page left in place) if
    /// a remote free arrived meanwhile.
    pub(super) unsafe fn make_full(&self, class: usize, page: &Page) -> bool {
        // SAFETY: owner (caller).
        unsafe {
            // A NOTIFIED page is (or will be) on the pending stack and comes back from there;
            // any other queued page is NORMAL and must be armed so the next remote free tells
            // us.
            if page.state() == STATE_NORMAL && !page.arm() {
                return false;
            }
            self.queue_remove(class, page);
            page.with_local(|l| l.set_full(true));
            true
        }
    }

    /// Sets up a fresh page for `class` at the front of its queue.
    pub(super) unsafe fn new_page(&self, class: usize) -> Option<&Page> {
        let slices = class_page_slices(class);
        // SAFETY: owner (caller); the span is free and ours.
        unsafe {
            let (page, seg, index, fresh) = self.take_span(slices, 1)?;
            page.init(
                Segment::slice_start(seg, index),
                slices,
                class as u8,
                class_size(class),
                fresh,
            );
            page.extend();
            self.queue_push_front(class, page);
            Some(page)
        }
    }

    /// A large block: a page of its own spanning `size / SLICE_SIZE` slices (rounded up).
    pub(super) unsafe fn alloc_large(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let slices = size.div_ceil(SLICE_SIZE);
        let align_slices = (align / SLICE_SIZE).max(1);
        // SAFETY: owner (caller); the span is free and ours.
        unsafe {
            let Some((page, seg, index, fresh)) = self.take_span(slices, align_slices) else {
                return ptr::null_mut();
            };
            let bytes = slices * SLICE_SIZE;
            let start = Segment::slice_start(seg, index);
            page.init(start, slices, LARGE as u8, bytes, fresh);
            page.extend();
            let block = page.free_head();
            page.pop_known(block);
            // The page is full from the start: arm it so a remote free notifies us. Nobody
            // else can hold the block yet, so arming cannot fail.
            let armed = page.arm();
            debug_assert!(armed);
            page.with_local(|l| l.set_full(true));
            self.fold(page);
            owner_add(&self.counters.large_bytes, bytes);
            if zero && !fresh {
                ptr::write_bytes(start, 0, bytes);
            } else if zero {
                Block::set_next(block, ptr::null_mut());
            }
            block.cast()
        }
    }
}

/// Zeroes a block just popped: only its link word if the rest is known to be zero.
///
/// # Safety
/// `block` is a block of `size` bytes the caller just allocated.
#[inline(always)]
pub(super) unsafe fn zero_block(block: *mut Block, rest_is_zero: bool, size: usize) {
    // SAFETY: the block is ours and `size` bytes long (caller).
    unsafe {
        if rest_is_zero {
            Block::set_next(block, ptr::null_mut());
        } else {
            ptr::write_bytes(block.cast::<u8>(), 0, size);
        }
    }
}
