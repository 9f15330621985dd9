//! The hardened build (`--features hardened`): free-list links are stored encoded and checked
//! when followed, so a write after free or an overflow into a free block's link aborts with a
//! message naming the block, instead of handing out an address of the attacker's choosing.
//!
//! Guard pages: a linear overflow past a large or huge block, or a write running back from a
//! segment's first page into its header, faults (SIGSEGV) on a page mapped without access.
//!
//! Each attack runs in a child process (this test binary re-run with `HARDENED_CASE` set),
//! which prints the address of the block whose link it corrupts, then allocates until the
//! engine follows that link; the parent checks that the child died of SIGABRT with a report
//! naming the problem and that address.

#![cfg(feature = "hardened")]

mod common;

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

use std::alloc::{alloc, dealloc, Layout};

const CASE_VAR: &str = "HARDENED_CASE";
const SMALL: Layout = match Layout::from_size_align(64, 8) {
    Ok(l) => l,
    Err(_) => panic!(),
};

/// Allocates 64-byte blocks until the engine follows the corrupted link (it aborts) or gives
/// up after far more blocks than a page holds.
fn allocate_until_the_link_is_followed() {
    let mut kept = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        // SAFETY: a valid, non-zero layout.
        kept.push(unsafe { alloc(SMALL) } as usize);
    }
    eprintln!("CORRUPTION-NOT-DETECTED");
    std::process::exit(3);
}

/// Runs the attack of `case` (in the child).
fn run_case(case: &str) {
    // Blocks of one fresh page, carved in address order.
    let blocks: Vec<*mut u8> = (0..64)
        // SAFETY: a valid, non-zero layout.
        .map(|_| unsafe { alloc(SMALL) })
        .collect();
    match case {
        "write_after_free" => {
            let victim = blocks[10];
            // SAFETY: a live block of SMALL, freed once.
            unsafe { dealloc(victim, SMALL) };
            eprintln!("CORRUPTED 0x{:x}", victim as usize);
            // SAFETY: none — the deliberate write after free (the memory stays mapped).
            unsafe { victim.cast::<u64>().write_volatile(0x4141_4141_4141_4141) };
        }
        "overflow_into_a_free_block" => {
            // Two neighbours: the one after is freed, then the one before overflows by 8 bytes.
            let (before, after) = blocks
                .iter()
                .find_map(|&p| {
                    let next = p.wrapping_add(64);
                    blocks.contains(&next).then_some((p, next))
                })
                .expect("64 blocks of a fresh page include two neighbours");
            // SAFETY: a live block of SMALL, freed once.
            unsafe { dealloc(after, SMALL) };
            eprintln!("CORRUPTED 0x{:x}", after as usize);
            // SAFETY: none — the deliberate overflow: 72 bytes into a 64-byte block.
            unsafe { before.write_bytes(0x41, 72) };
        }
        "overflow_past_a_large_block" | "overflow_past_a_huge_block" => {
            let size = if case == "overflow_past_a_large_block" {
                200 << 10
            } else {
                16 << 20
            };
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a valid, non-zero layout.
            let p = unsafe { alloc(layout) };
            // SAFETY: `p` is a live block of ours.
            let usable = unsafe { allocgator::raw::usable_size(p) };
            // The whole usable block is writable...
            // SAFETY: `usable` bytes from `p` are the block's.
            unsafe { p.write_bytes(0x41, usable) };
            eprintln!("OVERFLOWING");
            // ...and the byte after it is the guard page.
            // SAFETY: none — the deliberate linear overflow, one byte past the block.
            unsafe { p.add(usable).write_volatile(0x41) };
            eprintln!("OVERFLOW-NOT-CAUGHT");
            std::process::exit(3);
        }
        "underflow_into_a_segment_header" => {
            // SAFETY: a valid, non-zero layout.
            let p = unsafe { alloc(SMALL) } as usize;
            // The last byte before the segment's first page: the header slice's guard.
            let header_end = (p & !((4 << 20) - 1)) + (64 << 10) - 1;
            eprintln!("OVERFLOWING");
            // SAFETY: none — the deliberate write below the first page, into the header's
            // slice.
            unsafe { (header_end as *mut u8).write_volatile(0x41) };
            eprintln!("OVERFLOW-NOT-CAUGHT");
            std::process::exit(3);
        }
        "overflow_by_1_then_free"
        | "overflow_by_8_then_free"
        | "overflow_then_free_remotely"
        | "overflow_after_shrinking_in_place"
        | "c_sized_overflow_by_1" => {
            // 200 bytes in a 224-byte class: a 16-byte gap before the canary's tail word.
            // A C-style request (20 bytes at 16: a 32-byte class, a 4-byte gap) for the last.
            let (layout, by) = match case {
                "overflow_by_8_then_free" => (CANARIED, 8),
                "c_sized_overflow_by_1" => (Layout::from_size_align(20, 16).unwrap(), 1),
                _ => (CANARIED, 1),
            };
            // SAFETY: a valid, non-zero layout.
            let mut p = unsafe { alloc(layout) };
            let mut size = layout.size();
            if case == "overflow_after_shrinking_in_place" {
                size = 150;
                // SAFETY: a live block of `layout`; the new size is non-zero.
                let q = unsafe { std::alloc::realloc(p, layout, size) };
                assert_eq!(q, p, "a shrink to 150 of 224 bytes stays in place");
                p = q;
            }
            eprintln!("CORRUPTED 0x{:x}", p as usize);
            // SAFETY: none — the deliberate overflow, `by` bytes past the requested size
            // (inside the block's slack).
            unsafe { p.write_bytes(0x41, size + by) };
            let layout = Layout::from_size_align(size, layout.align()).unwrap();
            let p = p as usize;
            let free = move || {
                // SAFETY: a live block of `layout` (its memory overwritten), freed once.
                unsafe { dealloc(p as *mut u8, layout) }
            };
            if case == "overflow_then_free_remotely" {
                std::thread::spawn(free).join().unwrap();
            } else {
                free();
            }
            eprintln!("OVERFLOW-NOT-DETECTED");
            std::process::exit(3);
        }
        // A local allocator's own list (a `Pool`'s, a static pool's thread cache): the block
        // freed last is redirected to a live block, then the allocator allocates.
        "pool_write_after_free" => redirect_the_last_freed_link(&allocgator::Pool::new(SMALL)),
        "static_pool_write_after_free" => redirect_the_last_freed_link(FramePool),
        "count_neighbours" => {
            // 48-byte blocks from fresh pages: how many consecutive allocations are
            // neighbours in memory.
            let layout = Layout::from_size_align(48, 8).unwrap();
            let blocks: Vec<usize> = (0..80)
                // SAFETY: a valid, non-zero layout.
                .map(|_| unsafe { alloc(layout) } as usize)
                .collect();
            let neighbours = blocks.windows(2).filter(|w| w[1] == w[0] + 48).count();
            eprintln!("NEIGHBOURS {neighbours}");
            eprintln!("SHUFFLE {}", allocgator::options().shuffle());
            std::process::exit(0);
        }
        other => panic!("unknown case {other}"),
    }
    allocate_until_the_link_is_followed();
}

/// Frees two blocks of `a`, overwrites the link of the one freed last with a live block's
/// address (a forged link an attacker would want followed), then allocates from `a` (in the
/// child: it must abort before a fourth allocation returns).
fn redirect_the_last_freed_link(a: impl allocgator::allocator_api2::alloc::Allocator + Copy) {
    let layout = SMALL;
    let [keep, first, last] = [0; 3].map(|_| a.allocate(layout).unwrap().cast::<u8>());
    // SAFETY: live blocks of `a` with this layout, each freed once.
    unsafe {
        a.deallocate(first, layout);
        a.deallocate(last, layout);
    }
    eprintln!("CORRUPTED 0x{:x}", last.as_ptr() as usize);
    // SAFETY: none — the deliberate write after free (the allocator's chunks stay allocated).
    unsafe {
        last.as_ptr()
            .cast::<usize>()
            .write_volatile(keep.as_ptr() as usize)
    };
    for _ in 0..4 {
        let _ = a.allocate(layout);
    }
    eprintln!("CORRUPTION-NOT-DETECTED");
    std::process::exit(3);
}

/// A message type with a static pool of its own (each test process has its own pool).
#[allow(dead_code)]
struct Frame([u64; 8]);
allocgator::static_pool!(FramePool, Frame);

/// A size whose class (224 bytes) leaves room for a canary: a 16-byte gap before its tail.
const CANARIED: Layout = match Layout::from_size_align(200, 8) {
    Ok(l) => l,
    Err(_) => panic!(),
};

/// Runs `case` in a child and checks that it aborted at the free, naming the overflowed
/// block.
fn expect_overflow_report(case: &str) {
    common::expect_abort(CASE_VAR, case, "CORRUPTED ", "heap overflow");
}

/// Runs `case` in a child and checks that it aborted naming the corrupted block.
fn expect_abort(case: &str) {
    common::expect_abort(CASE_VAR, case, "CORRUPTED ", "free-list link overwritten");
}

/// The child side: does nothing unless run by `expect_abort`.
#[test]
fn child_runner() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run_case(&case);
    }
}

#[test]
fn a_linear_overflow_past_a_large_block_faults_on_its_guard_page() {
    common::expect_fault(CASE_VAR, "overflow_past_a_large_block", "OVERFLOWING");
}

#[test]
fn a_linear_overflow_past_a_huge_block_faults_on_its_guard_page() {
    common::expect_fault(CASE_VAR, "overflow_past_a_huge_block", "OVERFLOWING");
}

#[test]
fn a_write_below_a_segments_first_page_faults_before_the_header() {
    common::expect_fault(CASE_VAR, "underflow_into_a_segment_header", "OVERFLOWING");
}

#[test]
fn a_link_overwritten_after_free_is_caught_before_it_is_followed() {
    expect_abort("write_after_free");
}

#[test]
fn an_overflow_into_a_free_neighbours_link_is_caught() {
    expect_abort("overflow_into_a_free_block");
}

#[test]
fn a_pool_link_overwritten_after_free_is_caught_before_it_is_followed() {
    expect_abort("pool_write_after_free");
}

/// A local allocator's freed block does not hold the next free block's address, and a block
/// it hands out again does not show the encoded link.
fn the_last_freed_link_is_not_in_the_clear(
    a: impl allocgator::allocator_api2::alloc::Allocator + Copy,
) {
    let [_keep, first, second] = [0; 3].map(|_| a.allocate(SMALL).unwrap().cast::<u8>());
    // SAFETY: live blocks of `a` with this layout, each freed once; `second` first, so
    // `first` links to it.
    unsafe {
        a.deallocate(second, SMALL);
        a.deallocate(first, SMALL);
    }
    // SAFETY: the allocator's chunks stay allocated; reading a freed block is what an
    // attacker does.
    let link = unsafe { first.as_ptr().cast::<usize>().read_volatile() };
    assert_ne!(
        link,
        second.as_ptr() as usize,
        "the link is stored in the clear"
    );
    assert_ne!(link, 0);
    let again = a.allocate(SMALL).unwrap().cast::<u8>();
    assert_eq!(again, first, "LIFO: the block freed last comes back first");
    // SAFETY: a live block of 64 bytes.
    let word = unsafe { again.as_ptr().cast::<usize>().read() };
    assert_eq!(
        word, 0,
        "the encoded link is cleared before the block is handed out"
    );
    assert_eq!(a.allocate(SMALL).unwrap().cast::<u8>(), second);
}

#[test]
fn a_freed_pool_block_does_not_hold_the_next_blocks_address() {
    the_last_freed_link_is_not_in_the_clear(&allocgator::Pool::new(SMALL));
}

// Feature `checked` gives static pools no thread caches (every block goes through the
// `SyncPool` stacks, whose links are out of the blocks' reach): these two cases need caches.
#[cfg(not(feature = "checked"))]
#[test]
fn a_static_pool_cache_link_overwritten_after_free_is_caught_before_it_is_followed() {
    common::expect_abort(
        CASE_VAR,
        "static_pool_write_after_free",
        "CORRUPTED ",
        "static pool cache link overwritten",
    );
}

/// The same for a static pool's thread cache, on a thread of its own (its cache then holds
/// only these blocks).
#[cfg(not(feature = "checked"))]
#[test]
fn a_cached_static_pool_block_does_not_hold_the_next_blocks_address() {
    std::thread::spawn(|| the_last_freed_link_is_not_in_the_clear(FramePool))
        .join()
        .unwrap();
}

/// A freed block does not give away where the next free block is: its first word is not the
/// next block's address (it is in the default build).
#[test]
fn a_freed_block_does_not_hold_the_next_blocks_address() {
    let blocks: Vec<*mut u8> = (0..16)
        // SAFETY: a valid, non-zero layout.
        .map(|_| unsafe { alloc(SMALL) })
        .collect();
    let (first, second) = (blocks[4], blocks[5]);
    // SAFETY: live blocks of SMALL, each freed once; `second` first, so `first` links to it.
    unsafe {
        dealloc(second, SMALL);
        dealloc(first, SMALL);
    }
    // SAFETY: the block's memory stays mapped (engine pages are not unmapped while the page
    // has live blocks: the other 14 are); reading a freed block is what an attacker does.
    let link = unsafe { first.cast::<usize>().read_volatile() };
    assert_ne!(link, second as usize, "the link is stored in the clear");
    assert_ne!(link, 0);
    for &p in blocks.iter().filter(|&&p| p != first && p != second) {
        // SAFETY: one of the remaining live blocks, freed once.
        unsafe { dealloc(p, SMALL) };
    }
}

/// Zeroed allocations still read as zeros: the link word is cleared with a plain zero, not an
/// encoded null.
#[test]
fn zeroed_blocks_are_zero_including_their_first_word() {
    for size in [8usize, 16, 64, 1024, 40_000, 1 << 20] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        for _ in 0..100 {
            // SAFETY: a valid, non-zero layout.
            let p = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!p.is_null());
            // SAFETY: `size` bytes just allocated.
            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(
                bytes.iter().all(|&b| b == 0),
                "{size}-byte block not zeroed"
            );
            // SAFETY: allocated above with `layout`.
            unsafe { dealloc(p, layout) };
        }
    }
}

/// Consecutive allocations from a fresh page are not neighbours in memory: the hardened build
/// carves each batch of fresh blocks in a shuffled order (the default build carves in address
/// order, so every step below would be one block).
#[test]
fn fresh_blocks_are_handed_out_in_a_shuffled_order() {
    // 48-byte blocks: a class the other tests here do not use, so its pages are fresh.
    let layout = Layout::from_size_align(48, 8).unwrap();
    let blocks: Vec<usize> = (0..80)
        // SAFETY: a valid, non-zero layout.
        .map(|_| unsafe { alloc(layout) } as usize)
        .collect();
    let neighbours = blocks.windows(2).filter(|w| w[1] == w[0] + 48).count();
    // In a uniform shuffle of n blocks, about one consecutive pair in n is adjacent.
    assert!(
        neighbours < 10,
        "{neighbours} of 79 consecutive allocations were neighbours"
    );
    let mut sorted = blocks.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), blocks.len(), "a block was handed out twice");
    for &p in &blocks {
        // SAFETY: allocated above with `layout`, freed once.
        unsafe { dealloc(p as *mut u8, layout) };
    }
}

#[test]
fn an_overflow_by_one_byte_is_reported_at_free() {
    expect_overflow_report("overflow_by_1_then_free");
}

#[test]
fn an_overflow_by_eight_bytes_is_reported_at_free() {
    expect_overflow_report("overflow_by_8_then_free");
}

#[test]
fn an_overflowed_block_freed_by_another_thread_is_reported() {
    expect_overflow_report("overflow_then_free_remotely");
}

#[test]
fn the_canary_moves_with_a_shrink_in_place() {
    expect_overflow_report("overflow_after_shrinking_in_place");
}

#[test]
fn a_c_sized_request_gets_a_canary_in_its_alignment_slack() {
    expect_overflow_report("c_sized_overflow_by_1");
}

/// A block with a canary reports its requested size as usable (so a caller that writes all of
/// it never reaches the canary); one whose class leaves less than 9 bytes reports the class.
#[test]
fn usable_size_is_the_requested_size_when_a_canary_fits() {
    for (size, align, usable) in [(200, 8, 200), (220, 8, 224), (20, 16, 20), (40, 8, 40)] {
        let p = allocgator::raw::alloc(size, align);
        assert!(!p.is_null());
        // SAFETY: a live block of the global path.
        let got = unsafe { allocgator::raw::usable_size(p) };
        assert_eq!(got, usable, "{size}@{align}");
        // SAFETY: the whole usable size is the caller's; then freed once.
        unsafe {
            p.write_bytes(0x5a, usable);
            allocgator::raw::free(p);
        }
    }
}

/// Valid programs never trip a canary: every size up to 2 KiB at 8 and 16, written in full,
/// grown and shrunk in place and moved by realloc, freed here or on another thread.
#[test]
fn blocks_written_to_their_requested_size_never_trip_a_canary() {
    let mut remote = Vec::new();
    for align in [8usize, 16] {
        for size in 1..2048usize {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a valid, non-zero layout.
            let p = unsafe { alloc(layout) };
            assert!(!p.is_null());
            // SAFETY: `size` bytes are the caller's.
            unsafe { p.write_bytes(0x77, size) };
            // Grown by 1 to 8 bytes: in place when the class has room, which moves (or
            // clears) the canary; the contents must survive it.
            let grown = size + 1 + size % 8;
            // SAFETY: a live block of `layout`; then `grown` bytes are the caller's.
            let q = unsafe { std::alloc::realloc(p, layout, grown) };
            assert!(!q.is_null());
            // SAFETY: the first `size` bytes were kept by the realloc.
            let kept = unsafe { std::slice::from_raw_parts(q, size) };
            assert!(
                kept.iter().all(|&b| b == 0x77),
                "realloc {size} -> {grown} at {align} lost the contents"
            );
            // SAFETY: as above.
            unsafe { q.write_bytes(0x78, grown) };
            let layout = Layout::from_size_align(grown, align).unwrap();
            if size % 3 == 0 {
                remote.push(q as usize);
            } else {
                // SAFETY: a live block of `layout`, freed once.
                unsafe { dealloc(q, layout) };
            }
        }
    }
    std::thread::spawn(move || {
        for p in remote {
            // SAFETY: a live block of the global path, freed once (the size does not matter
            // to the engine's free).
            unsafe { allocgator::raw::free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();
}

/// A freed block reads as zeros past its first word (the link), up to its 64th byte (the
/// whole block if smaller), until it is handed out again.
#[test]
fn a_freed_block_is_zeroed_at_its_start() {
    for size in [16usize, 48, 400] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        let blocks: Vec<*mut u8> = (0..8)
            // SAFETY: a valid, non-zero layout.
            .map(|_| unsafe { alloc(layout) })
            .collect();
        for &p in &blocks {
            // SAFETY: `size` bytes are the caller's.
            unsafe { p.write_bytes(0xa5, size) };
        }
        let victim = blocks[3];
        // SAFETY: a live block of `layout`, freed once.
        unsafe { dealloc(victim, layout) };
        let after: Vec<u8> = (8..size.min(64))
            // SAFETY: the block's page stays mapped (its 7 neighbours are live); reading a
            // freed block is what a use after free does.
            .map(|i| unsafe { victim.add(i).read_volatile() })
            .collect();
        assert!(
            after.iter().all(|&b| b == 0),
            "a freed {size}-byte block still holds its data: {after:?}"
        );
        for &p in blocks.iter().filter(|&&p| p != victim) {
            // SAFETY: the remaining live blocks, each freed once.
            unsafe { dealloc(p, layout) };
        }
    }
}

/// `ALLOCGATOR_SHUFFLE=0` turns shuffled carving off: fresh blocks come in address order
/// again (and the default keeps it on).
#[test]
fn allocgator_shuffle_0_carves_in_address_order() {
    // The child's count of neighbours, and what `options()` reported to it.
    let neighbours = |env: &[(&str, &str)]| -> (usize, bool) {
        let out = common::run_child_with(CASE_VAR, "count_neighbours", env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = |prefix: &str| {
            stderr
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix}line from the child:\n{stderr}"))
                .to_owned()
        };
        (
            line("NEIGHBOURS ").parse().unwrap(),
            line("SHUFFLE ") == "true",
        )
    };
    let (off, reported_off) = neighbours(&[("ALLOCGATOR_SHUFFLE", "0")]);
    assert!(off >= 70, "{off} of 79 neighbours with the shuffle off");
    assert!(
        !reported_off,
        "options() says the shuffle is on under ALLOCGATOR_SHUFFLE=0"
    );
    let (on, reported_on) = neighbours(&[]);
    assert!(on < 10, "{on} of 79 neighbours with the shuffle on");
    assert!(reported_on, "options() says the shuffle is off by default");
}
