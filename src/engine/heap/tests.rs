//! Unit tests of the heap: private heaps, boundaries, growth in place, counts, remote frees.

use super::*;
use crate::engine::size_class::CLASS_SIZES;

/// A private heap (the engine of a `Slab`) serves every class, large and huge blocks,
/// frees them, and gives everything back when destroyed.
#[test]
fn private_heap_serves_and_releases_everything() {
    let heap = Heap::create();
    assert!(!heap.is_null());
    // SAFETY: we own the heap; every block is freed once, before the heap is destroyed.
    unsafe {
        let h = &*heap;
        let mut blocks = Vec::new();
        let sizes = CLASS_SIZES
            .iter()
            .copied()
            .chain([100_000, 1 << 20, 3 << 20]);
        for (i, size) in sizes.enumerate() {
            for k in 0..4 {
                let p = h.alloc(size, 8);
                assert!(!p.is_null(), "size {size}");
                assert!(Heap::usable_size(p) >= size);
                p.write((i + k) as u8);
                blocks.push((p, (i + k) as u8));
            }
        }
        for &(p, v) in &blocks {
            assert_eq!(p.read(), v);
        }
        for &(p, _) in blocks.iter() {
            h.free(p);
        }
        // Every page is retired once its blocks are freed and collected.
        h.collect(true);
        assert_eq!(h.pages_in_use(), 0);
        // Destroying with live blocks is allowed: the memory goes back at once.
        for size in [24, 5000, 300_000] {
            assert!(!h.alloc(size, 8).is_null());
        }
        assert_eq!(h.pages_in_use(), 3);
        Heap::destroy(heap);
    }
    // That destroying gives the memory back is asserted on process-wide figures in its own
    // test binary (`tests/local_slab_release.rs`): here other tests map memory in parallel.
}

/// `fresh_usable` predicts a new block's usable length exactly, for every class size and
/// its neighbours, large sizes and the alignments local allocators use; huge sizes are
/// not predicted.
#[test]
fn fresh_usable_matches_the_heap() {
    use crate::engine::size_class::fresh_usable;
    let heap = Heap::create();
    // SAFETY: we own the heap; each block is freed once, before the heap is destroyed.
    unsafe {
        let h = &*heap;
        let sizes = CLASS_SIZES.iter().flat_map(|&s| [s - 1, s, s + 1]).chain([
            100_000,
            65_537,
            1 << 20,
            (2 << 20) - 1,
            2 << 20,
        ]);
        for size in sizes {
            for align in [8, 16, 64, 4096] {
                let p = h.alloc(size, align);
                assert!(!p.is_null());
                assert_eq!(
                    fresh_usable(size, align),
                    Some(Heap::usable_size(p)),
                    "size {size} align {align}"
                );
                h.free(p);
            }
        }
        assert_eq!(fresh_usable((2 << 20) + 1, 8), None);
        assert_eq!(fresh_usable(usize::MAX, 16), None);
        Heap::destroy(heap);
    }
}

/// A large block grows into the free slices after it (no move, no copy) and gives slices
/// back when it shrinks to less than half.
#[test]
fn large_blocks_grow_and_shrink_in_place() {
    let heap = Heap::create();
    // SAFETY: we own the heap; one block, freed before the heap is destroyed.
    unsafe {
        let h = &*heap;
        let p = h.alloc(100_000, 8);
        for i in 0..100_000 {
            p.add(i).write(i as u8);
        }
        for size in [200_000, 500_000, 1_000_000, 2 << 20] {
            assert_eq!(h.resize(p, size), p, "grow to {size} moved");
            assert!(Heap::usable_size(p) >= size);
        }
        assert!((0..100_000).all(|i| p.add(i).read() == i as u8));
        let seg = segment_of(p);
        let free_before = Segment::slices_without_page(seg);
        assert_eq!(h.resize(p, 300_000), p);
        // Spans of 2 MiB and 300,000 bytes (plus the hardened build's guard page).
        let slices = |bytes: usize| (bytes + crate::engine::GUARD_PAGE).div_ceil(SLICE_SIZE);
        assert_eq!(
            Segment::slices_without_page(seg),
            free_before + slices(2 << 20) - slices(300_000)
        );
        assert!(Heap::usable_size(p) >= 300_000);
        assert!((0..100_000).all(|i| p.add(i).read() == i as u8));
        h.free(p);
        h.collect(true);
        assert_eq!(h.pages_in_use(), 0);
        Heap::destroy(heap);
    }
}

/// Live-block counts stay exact across local frees, remote frees and their collection,
/// whichever comes first (folds happen only on slow paths and in `fold_all`).
#[test]
fn live_counts_are_exact_after_folding() {
    let (owner, other) = (Heap::create(), Heap::create());
    let live = |heaps: &[*mut Heap]| -> isize {
        let mut sum = 0usize;
        for &h in heaps {
            // SAFETY: this thread owns both heaps.
            unsafe { (*h).fold_all() };
            // SAFETY: valid heaps.
            for c in unsafe { &(*h).counters.live } {
                sum = sum.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        sum as isize
    };
    // SAFETY: this thread owns both heaps; every block is freed once.
    unsafe {
        let (o, r) = (&*owner, &*other);
        // Fewer under Miri (each allocation is interpreted); the same proportions.
        let n = if cfg!(miri) { 1200 } else { 3000 };
        let blocks: Vec<*mut u8> = (0..n)
            .map(|i| o.alloc([24, 200, 5000, 100_000][i % 4], 8))
            .collect();
        assert_eq!(live(&[owner, other]), n as isize);
        let (third, half) = (n / 3, n / 2);
        for &p in &blocks[..third] {
            o.free(p); // local
        }
        assert_eq!(live(&[owner, other]), (n - third) as isize);
        for &p in &blocks[third..half] {
            r.free(p); // remote: counted by `other` at once, collected by `owner` later
        }
        assert_eq!(live(&[owner, other]), half as isize);
        o.collect(false);
        assert_eq!(live(&[owner, other]), half as isize);
        let more: Vec<*mut u8> = (0..n / 4).map(|_| o.alloc(200, 8)).collect();
        assert_eq!(live(&[owner, other]), (half + n / 4) as isize);
        for &p in blocks[half..].iter().chain(&more) {
            o.free(p);
        }
        assert_eq!(live(&[owner, other]), 0);
        Heap::destroy(owner);
        Heap::destroy(other);
    }
}

/// Remote frees into a full page come back to the owner through the pending stack.
#[test]
fn remote_frees_into_full_pages_are_collected() {
    let owner = Heap::create();
    let other = Heap::create();
    // SAFETY: each heap is used by this thread only; blocks are freed once.
    unsafe {
        let (o, r) = (&*owner, &*other);
        // Fill several pages of the 64-byte class completely (a 64 KiB page holds 1024; under
        // Miri, where each allocation is interpreted, two full pages and part of a third).
        let n = if cfg!(miri) { 2500 } else { 5000 };
        let blocks: Vec<*mut u8> = (0..n).map(|_| o.alloc(64, 8)).collect();
        for &p in &blocks {
            r.free(p); // remote: `r` does not own them
        }
        assert!(
            !o.pending.load(Ordering::Relaxed).is_null(),
            "no page was notified"
        );
        // The owner gets the same memory back instead of mapping more.
        let again: Vec<*mut u8> = (0..n).map(|_| o.alloc(64, 8)).collect();
        let slices = |v: &[*mut u8]| {
            let mut s: Vec<usize> = v.iter().map(|&p| p as usize & !(SLICE_SIZE - 1)).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        assert_eq!(
            slices(&again),
            slices(&blocks),
            "the owner did not reuse the pages of the remotely freed blocks"
        );
        Heap::destroy(owner);
        Heap::destroy(other);
    }
}

/// A page that other threads freed blocks into hands those blocks out again before it carves
/// never-used ones, so a page that is freed into remotely does not become resident whole.
#[test]
fn remote_frees_are_reused_before_fresh_blocks_are_carved() {
    let owner = Heap::create();
    let other = Heap::create();
    // SAFETY: each heap is used by this thread only; blocks are freed once.
    unsafe {
        let (o, r) = (&*owner, &*other);
        // 512 B goes through the direct table, 2 KiB through the class queue; a fresh page
        // is carved 4 KiB (and at least 4 blocks) at a time.
        for (size, carved) in [(512, 8), (2048, 4)] {
            let first: Vec<*mut u8> = (0..carved).map(|_| o.alloc(size, 8)).collect();
            for &p in &first {
                r.free(p); // remote: onto the page's `thread_free`
            }
            let again: Vec<*mut u8> = (0..carved).map(|_| o.alloc(size, 8)).collect();
            let sorted = |v: &[*mut u8]| {
                let mut a: Vec<usize> = v.iter().map(|p| p.addr()).collect();
                a.sort_unstable();
                a
            };
            assert_eq!(
                sorted(&again),
                sorted(&first),
                "{size} B: the owner carved new blocks instead of taking the remotely freed ones"
            );
            for &p in &again {
                o.free(p);
            }
        }
        Heap::destroy(owner);
        Heap::destroy(other);
    }
}

/// A new page takes slices that are still committed, in whichever segment they are, before
/// decommitted or never-used ones (no page faults, and no memory made resident while warm
/// slices wait for a purge).
#[test]
fn new_pages_take_committed_slices_in_any_segment() {
    let heap = Heap::create();
    // SAFETY: we own the heap; every block is freed at most once, before the heap is
    // destroyed.
    unsafe {
        let h = &*heap;
        // A large block: a page of four slices of its own.
        let size = 200_000;
        let alloc = || {
            let p = h.alloc(size, 8);
            assert!(!p.is_null());
            p
        };
        // Fill a first segment and put two blocks in a second.
        let mut first = vec![alloc()];
        let mut second = Vec::new();
        while second.len() < 2 {
            let p = alloc();
            if segment_of(p) == segment_of(first[0]) {
                first.push(p);
            } else {
                second.push(p);
            }
        }
        assert!(first.len() >= 4);
        // Two runs in the first segment, freed and given back to the OS: cold, as are the
        // second segment's never-used slices.
        h.free(first.pop().unwrap());
        h.free(first.pop().unwrap());
        h.collect(true);
        // With only cold runs, the first segment searched takes the next block; the other one
        // gets a warm run, of the same size, which the next block must take.
        let probe = alloc();
        let other = if segment_of(probe) == segment_of(first[0]) {
            &mut second
        } else {
            &mut first
        };
        let warm = other.pop().unwrap();
        h.free(warm);
        let next = alloc();
        assert_eq!(next, warm, "a cold run was taken while a warm one was free");
        for p in first.into_iter().chain(second).chain([probe, next]) {
            h.free(p);
        }
        Heap::destroy(heap);
    }
}
