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
        // SAFETY: the caller owns the heap (or it is the sentinel) and passes a valid layout,
        // which is all `alloc_slow_unchecked` asks.
        let p = unsafe { self.alloc_slow_unchecked(size, align, zero) };
        #[cfg(all(feature = "hardened", not(loom)))]
        // SAFETY: `p` is null or a block just taken, live.
        if let Some(block_size) = unsafe { Self::class_block_size(p) } {
            // SAFETY: a block of a size-class page, of `block_size` bytes, just taken for
            // `size` bytes (a zero-size request gets one, as everywhere) and not yet handed
            // out.
            unsafe { crate::engine::canary::set(p, block_size, size.max(1)) };
        }
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
        if rounded <= MEDIUM_MAX {
            // The class queue's head usually has a block (sizes past the direct table), or
            // its own frees waiting in `local_free` (a loop that allocates and frees).
            let class = class_of(rounded);
            // SAFETY: the caller owns the heap (not the sentinel: checked above).
            let first = unsafe { self.with_local(|l| l.queues[class].first) };
            // SAFETY: a queued page is a live page record of this heap.
            if let Some(page) = unsafe { first.as_ref() } {
                // SAFETY: the caller owns the heap and so its queued page.
                unsafe { self.fold(page) };
                // Or the blocks other threads freed into it, and only then a few more
                // never-used blocks carved from it (a page is carved about 4 KiB at a time,
                // so a fresh page is not made resident all at once). Carving before
                // collecting would make a page that other threads free into resident whole
                // before any of their frees came back.
                // SAFETY: the caller owns the page; `extend` runs only when `free` is still
                // empty (neither of the first two found a block).
                if unsafe { page.take_local_free() || page.collect() != 0 || page.extend() } {
                    // SAFETY: the caller owns the page, whose `free` now has a block, and
                    // `class` is its class.
                    return unsafe { self.pop_counted(page, class, zero) };
                }
            }
        }
        // SAFETY: as for this function; `rounded` is `size` rounded up to `align`.
        unsafe { self.alloc_refill(size, align, rounded, zero) }
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
        // SAFETY: the caller owns the heap, and nothing of it is borrowed here (the purge
        // tick's condition).
        unsafe {
            self.process_pending();
            self.maybe_purge();
        }
        if rounded <= MEDIUM_MAX {
            // SAFETY: the caller owns the heap; `class_of` gives a size class.
            unsafe { self.alloc_class(class_of(rounded), zero) }
        } else if crate::engine::fits_large(rounded, align) {
            // SAFETY: the caller owns the heap; `rounded` fits a large page and `align` its
            // alignment limit (both checked here).
            unsafe { self.alloc_large(rounded, align, zero) }
        } else {
            huge::alloc(size, align, zero)
        }
    }

    /// Allocates a block of `class`.
    ///
    /// # Safety
    /// The caller owns the heap; `class` is a size class (`< CLASS_COUNT`).
    pub(super) unsafe fn alloc_class(&self, class: usize, zero: bool) -> *mut u8 {
        // SAFETY: the caller owns the heap; `class` is a size class.
        match unsafe { self.find_page(class) } {
            // SAFETY: `find_page` returns a page of this heap and class with a free block.
            Some(page) => unsafe { self.pop_counted(page, class, zero) },
            None => ptr::null_mut(),
        }
    }

    /// Pops the head of `page`'s non-empty free list and zeroes it if asked (the page's fold
    /// counts it later).
    ///
    /// # Safety
    /// The caller owns the page, whose `free` list is not empty; `class` is its class.
    #[inline(always)]
    pub(super) unsafe fn pop_counted(&self, page: &Page, class: usize, zero: bool) -> *mut u8 {
        let block = page.free_head();
        // SAFETY: the caller owns the page, and `block` is the head of its non-empty `free`.
        let was_zero = unsafe {
            let was_zero = page.free_is_zero();
            page.pop_known(block);
            was_zero
        };
        if zero {
            // SAFETY: `block` was just popped, and blocks of `class` are `class_size(class)`
            // bytes.
            unsafe { zero_block(block, was_zero, class_size(class)) };
        }
        block.cast()
    }

    /// A page of `class` with a free block, moved to the front of its queue.
    ///
    /// # Safety
    /// The caller owns the heap; `class` is a size class.
    pub(super) unsafe fn find_page(&self, class: usize) -> Option<&Page> {
        // SAFETY: the caller owns the heap.
        let mut page_ptr = unsafe { self.with_local(|l| l.queues[class].first) };
        // SAFETY: every page on the heap's queue is a live page record of this heap.
        while let Some(page) = unsafe { page_ptr.as_ref() } {
            // SAFETY: the caller owns the heap and so its queued page; `extend` runs only
            // when `free` is empty.
            unsafe {
                page.collect();
                self.fold(page);
                if page.free_head().is_null() {
                    page.extend();
                }
            }
            if !page.free_head().is_null() {
                // SAFETY: the caller owns the heap.
                let first = unsafe { self.with_local(|l| l.queues[class].first) };
                if !ptr::eq(first, page) {
                    // SAFETY: `page` is on queue `class`; moved to its front.
                    unsafe {
                        self.queue_remove(class, page);
                        self.queue_push_front(class, page);
                    }
                }
                #[cfg(debug_assertions)]
                // SAFETY: the caller owns the page.
                unsafe {
                    page.check_invariant()
                };
                return Some(page);
            }
            // SAFETY: the caller owns the page.
            let next = unsafe { page.with_local(|l| l.next) };
            // SAFETY: `page` is on queue `class` with no free block.
            if !unsafe { self.make_full(class, page) } {
                continue; // a remote free just arrived: collect it
            }
            page_ptr = next;
        }
        // SAFETY: the caller owns the heap; `class` is a size class.
        unsafe { self.new_page(class) }
    }

    /// Takes a page with no free block out of its queue. Returns false (page left in place) if
    /// a remote free arrived meanwhile.
    ///
    /// # Safety
    /// The caller owns the heap; `page` is on queue `class`.
    pub(super) unsafe fn make_full(&self, class: usize, page: &Page) -> bool {
        // A NOTIFIED page is (or will be) on the pending stack and comes back from there; any
        // other queued page is NORMAL and must be armed so the next remote free tells us.
        // SAFETY: the caller owns the page.
        if page.state() == STATE_NORMAL && !unsafe { page.arm() } {
            return false;
        }
        // SAFETY: `page` is on queue `class` (caller), and the caller owns it.
        unsafe {
            self.queue_remove(class, page);
            page.with_local(|l| l.set_full(true));
        }
        true
    }

    /// Sets up a fresh page for `class` at the front of its queue.
    ///
    /// # Safety
    /// The caller owns the heap; `class` is a size class.
    pub(super) unsafe fn new_page(&self, class: usize) -> Option<&Page> {
        let slices = class_page_slices(class);
        // SAFETY: the caller owns the heap.
        let (page, seg, index, fresh) = unsafe { self.take_span(slices, 1)? };
        // SAFETY: `take_span` gave a page record not in use, of this heap, for the free run of
        // `slices` slices at `index` (`fresh`: whether it reads as zeros); once set up, its
        // `free` is empty for `extend`, and it joins no queue before this one.
        unsafe {
            page.init(
                Segment::slice_start(seg, index),
                slices,
                class as u8,
                class_size(class),
                fresh,
            );
            page.extend();
            self.queue_push_front(class, page);
        }
        Some(page)
    }

    /// A large block: a page of its own spanning `size / SLICE_SIZE` slices (rounded up).
    ///
    /// # Safety
    /// The caller owns the heap; `MEDIUM_MAX < size <= LARGE_MAX` and `align` is a power of
    /// two no larger than `LARGE_ALIGN_MAX`.
    pub(super) unsafe fn alloc_large(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        // The hardened build keeps the span's last OS page as the block's guard.
        let slices = (size + GUARD_PAGE).div_ceil(SLICE_SIZE);
        let align_slices = (align / SLICE_SIZE).max(1);
        // SAFETY: the caller owns the heap.
        let Some((page, seg, index, fresh)) = (unsafe { self.take_span(slices, align_slices) })
        else {
            return ptr::null_mut();
        };
        let bytes = slices * SLICE_SIZE - GUARD_PAGE;
        let start = Segment::slice_start(seg, index);
        // SAFETY: the span's last OS page, past the block's `bytes`: ours, and unused.
        unsafe { protect_large_guard(start, bytes, true) };
        // SAFETY: `take_span` gave a page record not in use, of this heap, for the free run of
        // `slices` slices at `start`; set up, its `free` is empty for `extend`, which carves
        // its one block, popped at once.
        let block = unsafe {
            page.init(start, slices, LARGE as u8, bytes, fresh);
            page.extend();
            let block = page.free_head();
            page.pop_known(block);
            block
        };
        // The page is full from the start: arm it so a remote free notifies us. Nobody else
        // can hold the block yet, so arming cannot fail.
        // SAFETY: this heap owns the page (the caller owns the heap).
        let armed = unsafe { page.arm() };
        debug_assert!(armed);
        // SAFETY: this heap owns the page; a large page goes on no queue, so marking it full
        // unlinks nothing.
        unsafe {
            page.with_local(|l| l.set_full(true));
            self.fold(page);
        }
        owner_add(&self.counters.large_bytes, bytes);
        if zero && !fresh {
            // SAFETY: the block is the page's whole span, `bytes` bytes from `start`, ours.
            unsafe { ptr::write_bytes(start, 0, bytes) };
        } else if zero {
            // SAFETY: `block` is ours; only its link word may be non-zero in fresh memory.
            unsafe { Block::clear_link(block) };
        }
        block.cast()
    }
}

/// Makes the OS page at `start + bytes` (a large block's guard, past its `bytes`) a guard,
/// or ordinary memory again before its span is given back or resized. Hardened build only;
/// nothing in other builds.
///
/// If the OS refuses to make a guard the block just has none; if it refuses to lift one, the
/// span cannot be reused safely, and the process aborts with a report (mprotect fails only
/// for want of kernel memory, and lifting a guard merges mappings rather than splitting them).
///
/// # Safety
/// The page lies inside a span of ours, past the block's usable bytes; while it is a guard,
/// nothing uses it.
#[inline]
pub(super) unsafe fn protect_large_guard(start: *mut u8, bytes: usize, guard: bool) {
    if GUARD_PAGE == 0 {
        return;
    }
    let page = start.wrapping_add(bytes);
    // SAFETY: an OS page inside our span, unused while a guard (caller).
    if !unsafe { Os::protect(page, GUARD_PAGE, guard) } && !guard {
        crate::engine::checked::report(
            "could not lift the guard page after a large block",
            page.addr(),
        );
    }
}

/// Zeroes a block just popped: only its link word if the rest is known to be zero.
///
/// # Safety
/// `block` is a block of `size` bytes the caller just allocated.
#[inline(always)]
pub(super) unsafe fn zero_block(block: *mut Block, rest_is_zero: bool, size: usize) {
    if rest_is_zero {
        // SAFETY: the block is the caller's, so its first word is ours to write.
        unsafe { Block::clear_link(block) };
    } else {
        // SAFETY: the block is the caller's, and `size` bytes long (caller).
        unsafe { ptr::write_bytes(block.cast::<u8>(), 0, size) };
    }
}
