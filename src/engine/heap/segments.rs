//! A heap's segments: the span search that finds free slices for a new page, the segment
//! lists, and the one walk over every segment.

use super::*;

impl Heap {
    /// Takes a free run of `slices` slices (start a multiple of `align_slices`), in an
    /// existing segment or a new one: its page record (not yet set up), segment and index, and
    /// whether it reads as zeros.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(super) unsafe fn take_span(
        &self,
        slices: usize,
        align_slices: usize,
    ) -> Option<(&Page, *mut Segment, usize, bool)> {
        // SAFETY: the caller owns the heap.
        if !unsafe { self.charge(slices * SLICE_SIZE) } {
            // SAFETY: the caller owns the heap.
            unsafe { self.refuse() };
            return None;
        }
        loop {
            let guard = self.lock_segments();
            // SAFETY: we hold the lock and no other borrow of the lists is live; the caller
            // owns the heap, which `find_span` asks, and it reaches the lists only through
            // its argument.
            let span =
                unsafe { guard.with_lists(|lists| self.find_span(lists, slices, align_slices)) };
            match span {
                Span::Found(seg, index) => {
                    // SAFETY: the heap owns `seg`, we hold its segment lock, and the run at
                    // `index` was just found free.
                    let (page, fresh) = unsafe { Segment::take_span(seg, index, slices) };
                    return Some((page, seg, index, fresh));
                }
                Span::None => {
                    drop(guard);
                    // SAFETY: the caller owns the heap; these bytes were charged above.
                    unsafe { self.uncharge(slices * SLICE_SIZE) };
                    return None;
                }
                Span::Claimed => {}
            }
            // The background purger is decommitting some of our free slices: rather than map
            // a new segment (or fail, under an address-space limit), wait for it to finish
            // (one batch of `madvise` calls) and look again.
            drop(guard);
            crate::sync::yield_thread();
        }
    }

    /// A free run of `slices` slices (start a multiple of `align_slices`), in an existing
    /// segment or a new one — or `Claimed` if none is free but the background purger holds
    /// claims in these segments (the caller waits for them rather than map a segment).
    ///
    /// # Safety
    /// The caller owns the heap and holds its segment lock (`local` is its lists).
    pub(super) unsafe fn find_span(
        &self,
        local: &mut SegmentLists,
        slices: usize,
        align_slices: usize,
    ) -> Span {
        let mut claims = false;
        // The first run found in a segment's decommitted (or never used) slices, taken only if
        // no segment has a committed one: reusing slices that are still resident costs no
        // page faults and leaves the cold ones untouched. (Taking the first segment's run, a
        // heap that retires and makes pages in turn, as rptest's threads do, could make fresh
        // slices resident in one segment while warm ones waited for the purge in another.)
        let mut cold = None;
        let mut seg = local.segments.head;
        while !seg.is_null() {
            // SAFETY: `seg` is on the heap's list, so the heap (the caller's) owns it, and the
            // caller holds the segment lock.
            let next = unsafe { Segment::with_local(seg, |l| l.next) };
            // SAFETY: as for `next`: a segment of this heap, under its lock.
            match unsafe { Segment::find_free_run(seg, slices, align_slices) } {
                // SAFETY: `seg` is on the heap's list, under the caller's lock, and the run was
                // just found free.
                Some((index, true)) => return unsafe { Self::found(local, seg, index, slices) },
                Some((index, false)) => cold = cold.or(Some((seg, index))),
                None => {}
            }
            // SAFETY: as for `next` above.
            claims |= unsafe { Segment::with_local(seg, |l| l.purging != 0) };
            seg = next;
        }
        if let Some((seg, index)) = cold {
            // SAFETY: `seg` is on the heap's list (found in the walk above, which changed no
            // list), under the caller's lock, and its run is free.
            return unsafe { Self::found(local, seg, index, slices) };
        }
        if claims {
            return Span::Claimed;
        }
        // SAFETY: the caller owns the heap and holds its segment lock.
        let seg = unsafe { Segment::create(self) };
        if seg.is_null() {
            return Span::None;
        }
        // SAFETY: a fresh segment of this heap, under the lock.
        let Some((index, _)) = (unsafe { Segment::find_free_run(seg, slices, align_slices) })
        else {
            return Span::None;
        };
        // SAFETY: the fresh segment is on no list.
        unsafe { list_push(&mut local.segments, seg) };
        Span::Found(seg, index)
    }

    /// The run of `slices` slices at `index` in `seg` is the one to take: moves `seg` out of
    /// the searched list if the run fills its last free slices.
    ///
    /// # Safety
    /// `seg` is on `local.segments`, owned by the caller's heap, under its segment lock, and
    /// the run is free.
    unsafe fn found(
        local: &mut SegmentLists,
        seg: *mut Segment,
        index: usize,
        slices: usize,
    ) -> Span {
        // SAFETY: the caller owns `seg` and holds its lock.
        if slices == unsafe { Segment::slices_without_page(seg) } {
            // This span fills the segment: move it out of the searched list.
            // SAFETY: the heap owns `seg`, which is on `segments` (caller).
            unsafe { local.set_full(seg, true) };
        }
        Span::Found(seg, index)
    }

    /// Calls `f` for each of this heap's segments (for the heap map and page states).
    ///
    /// # Safety
    /// The caller owns the heap, and `f` does not allocate from or free into it.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn for_each_segment(&self, mut f: impl FnMut(*mut Segment)) {
        let guard = self.lock_segments();
        // SAFETY: we just took the lock, so no other borrow of the lists is live; `f` neither
        // allocates from nor frees into the heap (caller), so no list changes during the walk.
        for seg in unsafe { guard.segments() } {
            f(seg);
        }
    }

    /// This heap's segments and the bytes committed in them, by a walk (for `Slab::stats`).
    ///
    /// # Safety
    /// The caller owns the heap.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn footprint(&self) -> (usize, usize) {
        let (mut segments, mut committed) = (0, 0);
        let guard = self.lock_segments();
        // SAFETY: we just took the lock, so no other borrow of the lists is live; the walk
        // changes no list.
        for seg in unsafe { guard.segments() } {
            // SAFETY: a listed segment of this heap (the caller's), under the lock.
            let uncommitted = unsafe { Segment::with_local(seg, |l| l.uncommitted) };
            segments += 1;
            committed += (!uncommitted).count_ones() as usize * SLICE_SIZE;
        }
        (segments, committed)
    }
}

impl SegmentLists {
    /// Moves `seg` between the two lists: onto `full_segments` when it has just lost its last
    /// free slice (`full`), back onto `segments` when it has one again.
    ///
    /// # Safety
    /// The caller owns `seg`, which is on the other list.
    pub(super) unsafe fn set_full(&mut self, seg: *mut Segment, full: bool) {
        let (from, to) = if full {
            (&mut self.segments, &mut self.full_segments)
        } else {
            (&mut self.full_segments, &mut self.segments)
        };
        // SAFETY: the caller owns `seg`, which is on `from` (the other list).
        unsafe { list_remove(from, seg) };
        // SAFETY: the caller owns `seg`, now on no list.
        unsafe { list_push(to, seg) };
    }
}

/// Pushes a segment on the front of a list.
///
/// # Safety
/// The caller owns the segment, which is on no list.
unsafe fn list_push(list: &mut SegmentList, seg: *mut Segment) {
    let head = list.head;
    // SAFETY: the caller owns `seg`.
    unsafe {
        Segment::with_local(seg, |l| {
            l.prev = ptr::null_mut();
            l.next = head;
        })
    };
    if !head.is_null() {
        // SAFETY: `head` is another segment (a segment is never pushed onto a list it is
        // on) of the same owner's list.
        unsafe { Segment::with_local(head, |l| l.prev = seg) };
    }
    list.head = seg;
}

/// Unlinks a segment from a list it is on.
///
/// # Safety
/// The caller owns the segment, which is on `list`.
pub(super) unsafe fn list_remove(list: &mut SegmentList, seg: *mut Segment) {
    // SAFETY: the caller owns `seg`.
    let (prev, next) = unsafe {
        Segment::with_local(seg, |l| {
            let links = (l.prev, l.next);
            l.next = ptr::null_mut();
            l.prev = ptr::null_mut();
            links
        })
    };
    if prev.is_null() {
        list.head = next;
    } else {
        // SAFETY: `prev` is another segment of the list, which the same owner owns.
        unsafe { Segment::with_local(prev, |l| l.next = next) };
    }
    if !next.is_null() {
        // SAFETY: as for `prev`.
        unsafe { Segment::with_local(next, |l| l.prev = prev) };
    }
}
