//! Frees from other threads: folding a page's `thread_free` list in, and the pending stack of
//! full pages a remote free woke up (the protocol is on `Page`, in `engine::page`).

use super::*;

impl Heap {
    /// Adds the page's blocks handed out (or given back) since its last fold to this heap's
    /// live-block counter for its class.
    ///
    /// The fast paths do not count: they change only the page's `used`, and the slow paths fold
    /// a page whenever they touch it (refill, full, un-full, retire, remote collection), as do
    /// `collect` (thread exit, `trim`) and a snapshot of the caller's own heap. A snapshot
    /// therefore sees other running threads' figures as of their last slow path (jemalloc
    /// counts at tcache fill and flush the same way); counting on every operation cost about
    /// 15% on a random-size loop (W2-A).
    ///
    /// # Safety
    /// The caller owns the heap and the page.
    #[inline]
    pub(super) unsafe fn fold(&self, page: &Page) {
        // SAFETY: the caller owns the page; the closure reads only its own fields and the
        // heap's counters, not the page's local state again.
        let delta = unsafe {
            page.with_local(|local| {
                let delta = local.used.wrapping_sub(local.counted);
                if delta != 0 {
                    local.counted = local.used;
                }
                delta
            })
        };
        if delta != 0 {
            let class = page.class() as usize;
            debug_assert!(class <= CLASS_COUNT);
            // Sign-extend the 32-bit difference: the counter wraps as a signed figure.
            let blocks = delta as i32 as isize as usize;
            // SAFETY: a page's class is a size class or LARGE (`CLASS_COUNT`), in range.
            owner_add(unsafe { self.counters.live.get_unchecked(class) }, blocks);
            self.counters
                .note_live_bytes(blocks.wrapping_mul(page.block_size()));
        }
    }

    /// Folds every page of this heap (see [`fold`](Self::fold)): the heap's counters are then
    /// exact.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn fold_all(&self) {
        let guard = self.lock_segments();
        // SAFETY: no other borrow of the lists is live (we took the lock just now), and
        // folding changes no list.
        for seg in unsafe { guard.segments() } {
            // SAFETY: `seg` is a listed segment of this heap, which the caller owns, and so
            // are its pages.
            unsafe { Segment::for_each_page(seg, |page| self.fold(page)) };
        }
        self.counters.flush_pending();
    }

    /// Frees a block this heap does not own: huge blocks are unmapped, others pushed on their
    /// page's `thread_free` (notifying the owner if the page was full).
    ///
    /// Returns whether this heap is the sentinel (see [`free`](Self::free)).
    ///
    /// # Safety
    /// As for [`free`](Self::free); `seg` is `segment_of(p)`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe extern "C" fn free_remote(&self, p: *mut u8, seg: *mut Segment) -> bool {
        // Checks that cost nothing on the fast path (on by default): a header that is not
        // ours, or a pointer inside a huge block. (Read as a byte: a foreign header may hold
        // any value.)
        // SAFETY: the caller passes a block it got from an allocator, so the 4 MiB boundary
        // below it is mapped; if the header is ours, `kind` was written when it was created.
        let kind = unsafe { ptr::addr_of!((*seg).kind).cast::<u8>().read() };
        if kind == SegmentKind::Huge as u8 {
            // SAFETY: a huge segment's header: `map_base` and `block_offset` are written
            // before its block is handed out, and never change.
            let start = unsafe { (*seg).map_base.wrapping_add((*seg).block_offset) };
            if p != start {
                crate::engine::checked::report(
                    "free of an interior pointer (inside a huge block)",
                    p as usize,
                );
            }
            // SAFETY: `seg` is a huge segment whose block the caller frees (once, `# Safety`).
            unsafe { huge::free(seg) };
            return false;
        }
        if kind != SegmentKind::Pages as u8 {
            crate::engine::checked::report(
                "free of a pointer allocgator does not own (no segment header of ours at its \
                 4 MiB boundary)",
                p as usize,
            );
        }
        // SAFETY: a `Pages` segment, and `p` a live block in one of its pages (caller).
        let page = unsafe { Segment::page_of(seg, p) };
        #[cfg(all(feature = "hardened", not(loom)))]
        // SAFETY: `seg` is a live `Pages` segment of ours (`check_free` in `free_via` found it
        // in the segment map, and its kind is `Pages`), `p` lies in it, and `page` is its
        // slice map's record for `p`.
        unsafe {
            crate::engine::hardened::check_remote_free(seg, page, p.cast())
        };
        // Read what we need before the push: afterwards the owner may reuse the page.
        let class = page.class() as usize;
        let block_size = page.block_size();
        #[cfg(all(feature = "hardened", not(loom)))]
        // SAFETY: `p` is a block of `block_size` bytes that the caller frees (`# Safety`).
        unsafe {
            crate::engine::hardened::scrub(p.cast(), block_size)
        };
        let large_bytes = if class == LARGE { block_size } else { 0 };
        // Relaxed: fixed while the segment has live blocks (ours is one).
        // SAFETY: the header is mapped while the segment has live blocks (`p` is one).
        let owner = unsafe { (*seg).heap.load(Ordering::Relaxed) };
        // SAFETY: `p` is a live block of `page`, freed once, by a thread that is not its
        // owner (this heap does not own the segment).
        if unsafe { page.push_thread_free(p.cast()) } {
            // We took the page's notification: the page stays put until its owner pops it,
            // and heaps with notifiable pages are never unmapped.
            // SAFETY: our push saw `ARMED`, and `owner` is the heap the page belongs to,
            // kept alive by the notifiable page.
            unsafe { (*owner).push_pending(page) };
        }
        if self.is_sentinel() {
            // Shared by every thread without a heap: contended when several such threads
            // free at once, so the caller gives a thread that frees a heap of its own.
            let c = counters();
            // Relaxed: statistics.
            c.heapless_frees[class].fetch_add(1, Ordering::Relaxed);
            if large_bytes != 0 {
                c.heapless_large_bytes
                    .fetch_add(large_bytes, Ordering::Relaxed);
            }
            c.live_bytes.fetch_sub(block_size, Ordering::Relaxed);
            true
        } else {
            // SAFETY: `class <= CLASS_COUNT` (a size class or LARGE), in range.
            let live = unsafe { self.counters.live.get_unchecked(class) };
            owner_add(live, usize::MAX);
            owner_add(&self.counters.large_bytes, large_bytes.wrapping_neg());
            self.counters.note_remote_free(block_size);
            false
        }
    }

    /// Pushes a page onto this heap's pending stack (called by the remote freer that took the
    /// page's notification).
    ///
    /// # Safety
    /// The caller took `page`'s notification (its push saw `ARMED`) and the page belongs to
    /// this heap.
    pub(super) unsafe fn push_pending(&self, page: &Page) {
        // Relaxed: seeds the loop; the CAS publishes.
        let mut head = self.pending.load(Ordering::Relaxed);
        loop {
            // SAFETY: only the notifier writes `pending_next`, and the owner reads it only
            // after popping the page, which our CAS below happens-before.
            page.pending_next.with_mut(|next| unsafe { *next = head });
            const PUSH_ORDER: Ordering = crate::sync::weakened!(Release, "pending_push_relaxed");
            // Release: publishes `pending_next` (and our block push) to the owner's Acquire
            // swap.
            match self.pending.compare_exchange_weak(
                head,
                (page as *const Page).cast_mut(),
                PUSH_ORDER,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Takes the pending stack and brings its pages back: their remote frees are collected,
    /// full pages re-queued, empty ones retired.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn process_pending(&self) {
        // Relaxed peek: the common case has nothing pending.
        if self.pending.load(Ordering::Relaxed).is_null() {
            return;
        }
        // Acquire: pairs with `push_pending`'s Release, so each page's `pending_next` is
        // visible.
        let mut page_ptr: *const Page = self.pending.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: every page on the stack is one of ours, and
        // stays valid until we handle it (a NOTIFIED page is never retired before this point).
        while let Some(page) = unsafe { page_ptr.as_ref() } {
            // SAFETY: the notifier wrote `pending_next` before its Release push, which our
            // Acquire swap saw; nobody writes it again until the page is re-armed.
            page_ptr = page.pending_next.with(|next| unsafe { *next });
            // SAFETY: the caller owns the heap and so the page, which we just popped from the
            // pending stack; `remote` is the page's list, now ours.
            unsafe {
                let remote = page.take_all_and_reset();
                page.absorb_remote(remote);
                self.fold(page);
            }
            let class = page.class() as usize;
            // Each borrow of the page's local state ends within its statement: queue and
            // retire operations borrow it again.
            if class == LARGE {
                // SAFETY: the caller owns the heap, which owns the page. A large page is on
                // no queue, and was notified because its one block was freed: `used == 0`,
                // and `take_all_and_reset` left it `NORMAL`.
                unsafe {
                    page.with_local(|l| l.set_full(false));
                    self.retire_page(page);
                }
                continue;
            }
            // SAFETY: the caller owns the heap and its page; the closures touch only the
            // page's flags.
            if unsafe { page.with_local(|l| l.in_full()) } {
                // SAFETY: the caller owns the heap and its page; a page marked full is on no
                // queue, and joins its class's queue here.
                unsafe {
                    page.with_local(|l| l.set_full(false));
                    self.queue_push_back(class, page);
                }
            }
            // SAFETY: the caller owns the heap and its page; the page is now on its class's
            // queue, from which it is removed before it is retired.
            unsafe {
                if page.with_local(|l| l.used == 0 && !l.is_first()) {
                    self.queue_remove(class, page);
                    self.retire_page(page);
                }
            }
        }
    }
}
