//! `allocgator::raw`: the global path without layouts, as the C ABI uses it.
use allocgator::raw;

fn errno() -> i32 {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: i32) {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() = v };
}

#[test]
fn sizes_and_alignments_round_trip_with_usable_sizes() {
    for align in [1usize, 8, 16, 64, 4096, 1 << 16, 1 << 21] {
        for size in [0usize, 1, 8, 24, 100, 1000, 5000, 70_000, 1 << 20, 5 << 20] {
            let p = raw::alloc(size, align);
            assert!(!p.is_null(), "size {size} align {align}");
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: a live block of the global path; its usable size may all be written.
            unsafe {
                let usable = raw::usable_size(p);
                assert!(usable >= size.max(1), "size {size}: usable {usable}");
                p.write_bytes(0x5A, usable);
                raw::free(p);
            }
        }
    }
}

#[test]
fn realloc_keeps_contents_through_every_kind_of_block() {
    let mut p = raw::alloc(10, 8);
    // SAFETY: `p` is live with at least `len` bytes at each step; after a successful realloc
    // only the new pointer is used.
    unsafe {
        for i in 0..10 {
            *p.add(i) = i as u8;
        }
        let mut len = 10;
        for size in [40, 500, 9000, 100_000, 3 << 20, 9 << 20, 600, 16] {
            let q = raw::realloc(p, size, 16);
            assert!(!q.is_null());
            assert_eq!(q as usize % 16, 0);
            for i in 0..len.min(size) {
                assert_eq!(
                    *q.add(i),
                    (i % 251) as u8,
                    "byte {i} after realloc to {size}"
                );
            }
            for i in len.min(size)..size {
                *q.add(i) = (i % 251) as u8;
            }
            len = size;
            p = q;
        }
        // A failed realloc leaves the block alone.
        assert!(raw::realloc(p, 1 << 48, 16).is_null());
        assert!(raw::realloc(p, usize::MAX, 16).is_null());
        assert_eq!(*p.add(15), 15);
        raw::free(p);
    }
    // SAFETY: null reallocs allocate.
    let q = unsafe { raw::realloc(core::ptr::null_mut(), 100, 8) };
    assert!(!q.is_null());
    // SAFETY: a live block.
    unsafe { raw::free(q) };
}

#[test]
fn bad_requests_are_null() {
    assert!(raw::alloc(8, 0).is_null());
    assert!(raw::alloc(8, 24).is_null());
    assert!(raw::alloc(usize::MAX, 8).is_null());
    assert!(raw::alloc(isize::MAX as usize, 8).is_null());
    assert!(raw::alloc_zeroed(usize::MAX - 7, 8).is_null());
    // SAFETY: null is accepted.
    assert_eq!(unsafe { raw::usable_size(core::ptr::null()) }, 0);
}

#[test]
fn a_failed_allocation_sets_enomem_and_free_keeps_errno() {
    set_errno(0);
    assert!(raw::alloc(1 << 48, 8).is_null()); // more than the address space
    assert_eq!(errno(), libc::ENOMEM);
    // Frees of every kind, including ones that unmap or decommit, keep errno.
    for size in [16usize, 3000, 100_000, 2 << 20, 12 << 20, 80 << 20] {
        let p = raw::alloc(size, 16);
        set_errno(4242);
        // SAFETY: a live block, freed once.
        unsafe { raw::free(p) };
        assert_eq!(errno(), 4242, "size {size}");
    }
    set_errno(77);
    allocgator::trim();
    assert_eq!(errno(), 77);
}

#[test]
fn blocks_move_between_raw_and_other_threads() {
    let blocks: Vec<usize> = (0..1000)
        .map(|i| raw::alloc(16 + i % 300, 8) as usize)
        .collect();
    std::thread::spawn(move || {
        for b in blocks {
            // SAFETY: live blocks of the global path, freed once, on another thread.
            unsafe { raw::free(b as *mut u8) };
        }
    })
    .join()
    .unwrap();
}
