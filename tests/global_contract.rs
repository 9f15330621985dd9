//! The `GlobalAlloc` contract, called directly on `Allocgator` (not installed as the global
//! allocator here, so the test harness's own allocations do not disturb the checks).

mod common;
use allocgator::Allocgator;
use common::{boundary_sizes, check, check_prefix, fill, probe_offsets};
use std::alloc::{GlobalAlloc, Layout};

const MAX_SIZE: usize = 9 << 20;

#[test]
fn every_boundary_size_at_every_alignment() {
    let sizes = boundary_sizes(MAX_SIZE);
    let mut align = 1usize;
    while align <= 2 << 20 {
        let mut live: Vec<(usize, usize, usize)> = Vec::new();
        for (seed, &size) in sizes.iter().enumerate() {
            // Keep the largest alignments to moderate sizes so the test stays quick.
            if align >= 64 * 1024 && size > 3 << 20 {
                continue;
            }
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size.
            let p = unsafe { Allocgator.alloc(layout) };
            assert!(!p.is_null(), "alloc {size} align {align} failed");
            assert_eq!(p as usize % align, 0, "size {size} align {align}: {p:p}");
            fill(p, size, seed);
            live.push((p as usize, size, seed));
        }
        // No two live blocks overlap, and nothing was overwritten.
        live.sort_unstable();
        for w in live.windows(2) {
            assert!(
                w[0].0 + w[0].1 <= w[1].0,
                "overlap: {:x?} {:x?}",
                w[0],
                w[1]
            );
        }
        for &(p, size, seed) in &live {
            check(p as *const u8, size, seed);
            // SAFETY: a live block allocated with this layout.
            unsafe {
                Allocgator.dealloc(p as *mut u8, Layout::from_size_align(size, align).unwrap())
            };
        }
        align *= 2;
    }
}

#[test]
fn huge_alignments_beyond_a_segment() {
    for align in [4usize << 20, 8 << 20, 64 << 20] {
        for size in [1usize, 4096, 5 << 20] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size.
            let p = unsafe { Allocgator.alloc(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0);
            fill(p, size, 3);
            check(p, size, 3);
            // SAFETY: live block, same layout.
            unsafe { Allocgator.dealloc(p, layout) };
        }
    }
}

#[test]
fn impossible_layouts_return_null() {
    let cases = [
        Layout::from_size_align(1, 1 << 40).unwrap(),
        Layout::from_size_align(isize::MAX as usize - (1 << 20), 1 << 20).unwrap(),
        Layout::from_size_align(isize::MAX as usize / 2, 8).unwrap(),
        Layout::from_size_align(1 << 50, 4096).unwrap(),
    ];
    for layout in cases {
        // SAFETY: non-zero size.
        let p = unsafe { Allocgator.alloc(layout) };
        assert!(p.is_null(), "{layout:?} gave {p:p}");
        // SAFETY: as above.
        let p = unsafe { Allocgator.alloc_zeroed(layout) };
        assert!(p.is_null(), "{layout:?} gave {p:p}");
    }
    // A failed realloc keeps the old block intact.
    let layout = Layout::from_size_align(100, 8).unwrap();
    // SAFETY: non-zero size; then realloc/dealloc of that live block.
    unsafe {
        let p = Allocgator.alloc(layout);
        fill(p, 100, 9);
        let q = Allocgator.realloc(p, layout, isize::MAX as usize - 4096);
        assert!(q.is_null());
        check(p, 100, 9);
        Allocgator.dealloc(p, layout);
    }
}

#[test]
fn realloc_between_every_pair_of_classes() {
    let mut sizes: Vec<usize> = (0..88)
        .map(|c| {
            if c < 8 {
                (c + 1) * 8
            } else {
                let b = 6 + (c - 8) / 8;
                (9 + (c - 8) % 8) << (b - 3)
            }
        })
        .collect();
    sizes.extend([100_000, 1 << 20, (2 << 20) + 1, 5 << 20]);
    for (i, &from) in sizes.iter().enumerate() {
        for (j, &to) in sizes.iter().enumerate() {
            for align in [8usize, 64] {
                let layout = Layout::from_size_align(from, align).unwrap();
                let seed = i * 1000 + j;
                // SAFETY: non-zero size; realloc of a live block with its layout.
                unsafe {
                    let p = Allocgator.alloc(layout);
                    assert!(!p.is_null());
                    fill(p, from, seed);
                    let q = Allocgator.realloc(p, layout, to);
                    assert!(!q.is_null(), "realloc {from} -> {to}");
                    assert_eq!(q as usize % align, 0);
                    check_prefix(q, from, from.min(to), seed);
                    Allocgator.dealloc(q, Layout::from_size_align(to, align).unwrap());
                }
            }
        }
    }
}

#[test]
fn realloc_growing_one_byte_at_a_time() {
    let mut layout = Layout::from_size_align(1, 1).unwrap();
    // SAFETY: a live block reallocated with its current layout each step.
    unsafe {
        let mut p = Allocgator.alloc(layout);
        p.write(0);
        for size in 2..=20_000usize {
            p = Allocgator.realloc(p, layout, size);
            assert!(!p.is_null());
            p.add(size - 1).write((size % 251) as u8);
            layout = Layout::from_size_align(size, 1).unwrap();
        }
        for i in 1..20_000usize {
            assert_eq!(p.add(i).read(), ((i + 1) % 251) as u8);
        }
        Allocgator.dealloc(p, layout);
    }
}

#[test]
fn alloc_zeroed_is_zero_on_reused_memory() {
    for size in [
        8usize,
        24,
        100,
        1000,
        1024,
        1025,
        5000,
        40_000,
        100_000,
        1 << 20,
        3 << 20,
        6 << 20,
    ] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // Dirty a batch of blocks, free them, then ask for zeroed ones: they reuse the memory.
        // SAFETY: non-zero sizes; each block freed once with its layout.
        unsafe {
            let dirty: Vec<*mut u8> = (0..16).map(|_| Allocgator.alloc(layout)).collect();
            for &p in &dirty {
                assert!(!p.is_null());
                std::ptr::write_bytes(p, 0xA5, size);
            }
            for &p in &dirty {
                Allocgator.dealloc(p, layout);
            }
            let zeroed: Vec<*mut u8> = (0..16).map(|_| Allocgator.alloc_zeroed(layout)).collect();
            for &p in &zeroed {
                assert!(!p.is_null());
                for i in probe_offsets(size) {
                    assert_eq!(p.add(i).read(), 0, "size {size} offset {i}");
                }
            }
            for &p in &zeroed {
                Allocgator.dealloc(p, layout);
            }
        }
    }
}

#[test]
fn many_blocks_of_one_size_are_distinct_and_intact() {
    for size in [16usize, 48, 256, 3000, 20_000, 70_000] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        let count = (8 << 20) / size;
        // SAFETY: non-zero size; each block freed once.
        unsafe {
            let blocks: Vec<*mut u8> = (0..count).map(|_| Allocgator.alloc(layout)).collect();
            for (k, &p) in blocks.iter().enumerate() {
                assert!(!p.is_null());
                (p as *mut usize).write_unaligned(k);
                p.add(size - 1).write(k as u8);
            }
            for (k, &p) in blocks.iter().enumerate() {
                assert_eq!((p as *mut usize).read_unaligned(), k);
                assert_eq!(p.add(size - 1).read(), k as u8);
            }
            // Free in an interleaved order to exercise partial pages.
            for &p in blocks
                .iter()
                .step_by(2)
                .chain(blocks.iter().skip(1).step_by(2))
            {
                Allocgator.dealloc(p, layout);
            }
        }
    }
}

#[test]
fn freed_huge_mappings_are_reused_and_rezeroed() {
    let layout = Layout::from_size_align(5 << 20, 64).unwrap();
    // SAFETY: non-zero size; each block freed once with its layout.
    unsafe {
        let p = Allocgator.alloc(layout);
        assert!(!p.is_null());
        std::ptr::write_bytes(p, 0xEE, layout.size());
        Allocgator.dealloc(p, layout);
        // The same layout again right away: the cached mapping comes back (another test's
        // thread may take it first, so only the contents are asserted strictly).
        let q = Allocgator.alloc_zeroed(layout);
        assert!(!q.is_null());
        for i in probe_offsets(layout.size()) {
            assert_eq!(q.add(i).read(), 0, "offset {i}");
        }
        Allocgator.dealloc(q, layout);
    }
}
