//! The controls a server uses on the local allocators: allocation limits, `Arena` checkpoints
//! and scopes, `reserve`, `trim`, and `Drop` for boxes in an arena.
//!
//! Each test checks the allocator's own figures (committed bytes, chunks, live bytes, the
//! map) against what the operation promises, and that live blocks keep their contents.

use allocgator::allocator_api2::alloc::{AllocError, Allocator};
use allocgator::allocator_api2::{boxed::Box as ABox, vec::Vec as AVec};
use allocgator::{Arena, Pool, Slab, SyncPool};
use std::alloc::Layout;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Under Miri loops run fewer times.
fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// A request mix for limit tests: small blocks, blocks a pool serves from the engine
/// (fallback), large and huge ones.
const SIZES: [usize; 6] = [24, 64, 200, 5000, 300_000, 3 << 20];

/// Allocates from `a` until it refuses, checking `held()` against `limit` after every
/// request, then checks that every block kept its contents and that the refusal left them
/// alone. Returns the blocks (pointer, layout, fill byte).
fn fill_to_the_limit(
    a: &dyn Allocator,
    held: &dyn Fn() -> usize,
    limit: usize,
) -> Vec<(std::ptr::NonNull<u8>, Layout, u8)> {
    let mut live = Vec::new();
    let mut refused = 0;
    'outer: for round in 0..scaled(10_000, 40) {
        for (i, &size) in SIZES.iter().enumerate() {
            let layout = Layout::from_size_align(size, 8).unwrap();
            match a.allocate(layout) {
                Ok(p) => {
                    let fill = (round * 7 + i) as u8;
                    let p = p.cast::<u8>();
                    // SAFETY: a fresh block of at least `size` bytes.
                    unsafe { p.as_ptr().write_bytes(fill, size.min(64)) };
                    live.push((p, layout, fill));
                }
                Err(AllocError) => {
                    refused += 1;
                    if refused > 20 {
                        break 'outer;
                    }
                }
            }
            assert!(held() <= limit, "holds {} past its limit {limit}", held());
        }
    }
    assert!(refused > 0, "the limit never refused a request");
    for &(p, layout, fill) in &live {
        let n = layout.size().min(64);
        // SAFETY: a live block we filled.
        let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), n) };
        assert!(bytes.iter().all(|&b| b == fill), "a live block changed");
    }
    live
}

fn free_all(a: &dyn Allocator, live: Vec<(std::ptr::NonNull<u8>, Layout, u8)>) {
    for (p, layout, _) in live {
        // SAFETY: live blocks of `a`, freed once.
        unsafe { a.deallocate(p, layout) };
    }
}

#[test]
fn arena_limit_is_never_exceeded() {
    let limit = scaled(8 << 20, 1 << 20);
    let arena = Arena::new();
    arena.set_allocation_limit(Some(limit));
    let live = fill_to_the_limit(&&arena, &|| arena.allocated_bytes(), limit);
    assert!(arena.stats().limit_refusals() > 0);
    assert_eq!(arena.stats().allocation_limit(), Some(limit));
    // The helpers fail without touching anything.
    let before = arena.stats();
    assert!(arena.try_alloc_with(|| [0u8; 4 << 20]).is_err());
    assert!(arena.try_alloc_slice_copy(&vec![1u8; 4 << 20]).is_err());
    assert!(arena.try_alloc_str(&"x".repeat(4 << 20)).is_err());
    assert_eq!(arena.stats().live_bytes(), before.live_bytes());
    assert_eq!(arena.stats().committed_bytes(), before.committed_bytes());
    free_all(&&arena, live);
}

#[test]
fn arena_vec_growth_under_a_limit() {
    let limit = scaled(1 << 20, 64 << 10);
    let arena = Arena::new();
    arena.set_allocation_limit(Some(limit));
    let mut v: AVec<u64, &Arena> = AVec::new_in(&arena);
    let mut n = 0u64;
    while v.try_reserve(1).is_ok() {
        v.push(n);
        n += 1;
        assert!(arena.allocated_bytes() <= limit);
    }
    // At least a quarter of the limit holds elements (the rest: chunks a moved `Vec` left).
    assert!(n as usize * 8 >= limit / 4, "only {n} elements fit");
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
}

#[test]
fn arena_limit_below_what_is_held_fails_only_new_chunks() {
    let arena = Arena::with_capacity(64 * 1024);
    arena.alloc(1u64);
    arena.set_allocation_limit(Some(1));
    // Room in the current chunk is still used.
    for i in 0..1000u64 {
        assert!(arena.try_alloc(i).is_ok());
    }
    assert!(arena.try_alloc_with(|| [0u8; 128 * 1024]).is_err());
    let zero = Arena::new();
    zero.set_allocation_limit(Some(0));
    assert!(zero.try_alloc(1u8).is_err());
    assert!(ABox::try_new_in(1u8, &zero).is_err());
    assert_eq!(zero.allocated_bytes(), 0);
}

#[test]
fn pool_limit_is_never_exceeded() {
    let limit = scaled(8 << 20, 1 << 20);
    let pool = Pool::new(Layout::from_size_align(64, 8).unwrap());
    pool.set_allocation_limit(Some(limit));
    let live = fill_to_the_limit(&&pool, &|| pool.stats().committed_bytes(), limit);
    // A freed pool block is reused under the limit.
    let block = Layout::from_size_align(64, 8).unwrap();
    let (p, l, _) = live[0];
    assert_eq!(l, Layout::from_size_align(24, 8).unwrap());
    // SAFETY: a live pool block.
    unsafe { (&pool).deallocate(p, l) };
    assert!((&pool).allocate(block).is_ok());
    free_all(&&pool, live.into_iter().skip(1).collect());
}

#[test]
fn sync_pool_limit_holds_between_racing_threads() {
    let limit = scaled(16 << 20, 1 << 20);
    let pool = SyncPool::new(Layout::from_size_align(48, 16).unwrap());
    pool.set_allocation_limit(Some(limit));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let live = fill_to_the_limit(&&pool, &|| pool.stats().reserved_bytes(), limit);
                free_all(&&pool, live);
            });
        }
    });
    let st = pool.stats();
    assert!(st.reserved_bytes() <= limit);
    assert!(st.limit_refusals() > 0);
    assert_eq!(st.live_blocks(), 0);
}

#[test]
fn slab_limit_is_never_exceeded() {
    let limit = scaled(16 << 20, 4 << 20);
    let slab = Slab::new();
    slab.set_allocation_limit(Some(limit));
    let live = fill_to_the_limit(&&slab, &|| slab.held_bytes(), limit);
    assert!(slab.limit_refusals() > 0);
    free_all(&&slab, live);
    slab.trim();
    assert_eq!(slab.held_bytes(), 0);
}

#[test]
fn limits_can_be_raised_and_lifted() {
    let pool = Pool::for_type::<[u8; 256]>();
    pool.set_allocation_limit(Some(0));
    assert!(ABox::try_new_in([0u8; 256], &pool).is_err());
    pool.set_allocation_limit(Some(1 << 20));
    let b = ABox::try_new_in([1u8; 256], &pool).unwrap();
    pool.set_allocation_limit(None);
    assert_eq!(pool.allocation_limit(), None);
    let big: Vec<_> = (0..scaled(10_000, 100))
        .map(|_| ABox::new_in([2u8; 256], &pool))
        .collect();
    assert_eq!((b[0], big[big.len() - 1][0]), (1, 2));
    let sp = SyncPool::for_type::<u64>();
    sp.set_allocation_limit(Some(0));
    assert!(ABox::try_new_in(1u64, &sp).is_err());
    sp.set_allocation_limit(None);
    assert!(ABox::try_new_in(1u64, &sp).is_ok());
}

// ------------------------------------------------------------------ checkpoints and scopes

#[test]
fn reset_to_frees_exactly_what_came_after() {
    let mut arena = Arena::new();
    let kept: Vec<*const u64> = (0..1000u64).map(|i| arena.alloc(i) as *const u64).collect();
    let cp = arena.checkpoint();
    let before = (arena.stats(), arena.map());
    for round in 0..3 {
        for i in 0..scaled(50_000, 500) {
            arena.alloc([i as u64; 4]);
        }
        arena.alloc_str("after the checkpoint");
        assert!(arena.stats().live_bytes() > before.0.live_bytes());
        arena.reset_to(cp);
        let after = (arena.stats(), arena.map());
        assert_eq!(after.0.live_bytes(), before.0.live_bytes(), "round {round}");
        assert_eq!(after.0.live_blocks(), before.0.live_blocks());
        // The chunks before the checkpoint are the same chunks; at most one spare is kept.
        let chain: Vec<usize> = after.1.chunks().iter().map(|c| c.addr).collect();
        let old: Vec<usize> = before.1.chunks().iter().map(|c| c.addr).collect();
        assert_eq!(chain, old);
        assert!(after.0.chunks() <= before.0.chunks() + 1);
    }
    // SAFETY: allocated before the checkpoint: still live.
    assert!((0..1000).all(|i| unsafe { *kept[i] } == i as u64));
    // The next allocation reuses the checkpoint's position.
    let top = arena.checkpoint();
    let p = arena.alloc(7u64) as *mut u64 as usize;
    arena.reset_to(top);
    assert_eq!(arena.alloc(8u64) as *mut u64 as usize, p);
}

#[test]
fn reset_to_counts_allocator_blocks_after_the_checkpoint() {
    let mut arena = Arena::new();
    let a = ABox::new_in(1u32, &arena);
    std::mem::forget(a);
    let cp = arena.checkpoint();
    for i in 0..100 {
        std::mem::forget(ABox::new_in(i, &arena));
    }
    assert_eq!(arena.stats().live_blocks(), 101);
    arena.reset_to(cp);
    assert_eq!(arena.stats().live_blocks(), 1);
}

#[test]
fn a_checkpoint_on_an_empty_arena_empties_it() {
    let mut arena = Arena::new();
    let cp = arena.checkpoint();
    for i in 0..scaled(100_000, 1000) {
        arena.alloc(i);
    }
    arena.reset_to(cp);
    let s = arena.stats();
    assert_eq!((s.live_bytes(), s.live_blocks()), (0, 0));
    assert!(arena.map().chunks().is_empty());
    assert_eq!(s.chunks(), 1); // the spare
    arena.trim();
    assert_eq!(arena.allocated_bytes(), 0);
}

#[test]
fn scoped_frees_what_the_scope_allocated_and_keeps_one_chunk() {
    let mut arena = Arena::new();
    arena.alloc_str("before");
    let before = arena.stats();
    let mut committed = Vec::new();
    for request in 0..20 {
        let sum = arena.scoped(|a| {
            let v = a.alloc_slice_fill_with(scaled(100_000, 1000), |i| i * request);
            v.iter().sum::<usize>()
        });
        assert_eq!(sum, (0..scaled(100_000, 1000)).sum::<usize>() * request);
        assert_eq!(arena.stats().live_bytes(), before.live_bytes());
        committed.push(arena.allocated_bytes());
    }
    // After the first scope the arena takes no more engine memory.
    assert!(committed.windows(2).all(|w| w[1] <= w[0]), "{committed:?}");
}

#[test]
fn scoped_frees_on_unwind_too() {
    let mut arena = Arena::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        arena.scoped(|a| {
            a.alloc_slice_copy(&[1u8; 10_000]);
            panic!("request failed");
        })
    }));
    assert!(r.is_err());
    assert_eq!(arena.stats().live_bytes(), 0);
}

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn bad_checkpoints_are_rejected_with_a_message() {
    let mut a = Arena::new();
    let mut b = Arena::new();
    a.alloc(1u8);
    let from_a = a.checkpoint();
    let msg = panic_message(|| b.reset_to(from_a));
    assert!(msg.contains("another arena"), "{msg}");
    // Never checkpointed: still another arena's.
    let mut c = Arena::new();
    let msg = panic_message(|| c.reset_to(from_a));
    assert!(msg.contains("another arena"), "{msg}");

    a.reset();
    let msg = panic_message(|| a.reset_to(from_a));
    assert!(msg.contains("reset"), "{msg}");

    // A checkpoint taken after one the arena went back to.
    let early = a.checkpoint();
    for i in 0..scaled(10_000, 600) {
        a.alloc(i);
    }
    let late = a.checkpoint();
    a.reset_to(early);
    let msg = panic_message(|| a.reset_to(late));
    assert!(msg.contains("past the arena's position"), "{msg}");
    // The arena is unharmed and the good checkpoint still works.
    a.alloc(5u64);
    a.reset_to(early);
    assert_eq!(a.stats().live_bytes(), 0);
}

#[test]
fn blocks_before_a_checkpoint_stay_whole() {
    let mut arena = Arena::new();
    let l = Layout::from_size_align(100, 8).unwrap();
    let before = (&arena).allocate(l).unwrap().cast::<u8>();
    // SAFETY: a fresh block of 100 bytes.
    unsafe { before.as_ptr().write_bytes(1, 100) };
    let cp = arena.checkpoint();
    // The block below the checkpoint does not grow in place across it: it moves.
    // SAFETY: a live block of the arena fitting `l`.
    let grown = unsafe { (&arena).grow(before, l, Layout::from_size_align(200, 8).unwrap()) };
    assert_ne!(grown.unwrap().cast::<u8>(), before);
    // Freeing the most recent block below the checkpoint keeps the position.
    let mut arena2 = Arena::new();
    let a = (&arena2).allocate(l).unwrap();
    let cp2 = arena2.checkpoint();
    // SAFETY: a live block of `arena2`.
    unsafe { (&arena2).deallocate(a.cast(), l) };
    arena2.reset_to(cp2); // not "past the position"
    assert_eq!(arena2.stats().live_bytes(), 104);
    arena.reset_to(cp);
    // SAFETY: allocated before the checkpoint and never freed.
    assert!((0..100).all(|i| unsafe { before.as_ptr().add(i).read() } == 1));
}

#[test]
fn a_checkpoint_keeps_its_chunk_from_moving() {
    // A block alone in its chunk normally takes the chunk along when it grows (the engine's
    // realloc may move it); with a checkpoint at the chunk's start the block moves instead,
    // the chunk stays where the checkpoint names it, and `reset_to` accepts it.
    let mut arena = Arena::with_capacity(4096);
    let chunk = arena.map().chunks()[0].addr;
    let cp = arena.checkpoint();
    {
        let mut v: AVec<u8, &Arena> = AVec::new_in(&arena);
        for _ in 0..scaled(100_000, 5000) {
            v.push(3u8); // grows from 8 bytes, alone at the chunk's start
        }
        assert!(v.iter().all(|&b| b == 3));
    }
    assert_eq!(arena.map().chunks().last().unwrap().addr, chunk);
    arena.reset_to(cp);
    assert_eq!(arena.stats().live_bytes(), 0);
    assert_eq!(arena.map().chunks()[0].addr, chunk);
}

// ----------------------------------------------------------------------- reserve and trim

#[test]
fn reserve_takes_every_chunk_up_front() {
    let n = scaled(20_000, 300);
    let pool = Pool::for_type::<[u64; 3]>();
    pool.reserve(n).unwrap();
    let chunks = pool.stats().chunks();
    let boxes: Vec<_> = (0..n).map(|i| ABox::new_in([i as u64; 3], &pool)).collect();
    assert_eq!(pool.stats().chunks(), chunks);
    // Reserving again with free blocks and room counts them.
    drop(boxes);
    pool.reserve(n).unwrap();
    assert_eq!(pool.stats().chunks(), chunks);

    let sp = SyncPool::for_type::<[u64; 3]>();
    sp.reserve(n).unwrap();
    let chunks = sp.stats().chunks();
    let boxes: Vec<_> = (0..n).map(|i| ABox::new_in([i as u64; 3], &sp)).collect();
    assert_eq!(sp.stats().chunks(), chunks);
    assert_eq!(sp.stats().fallback_allocs(), 0);
    drop(boxes);
}

#[test]
fn reserve_in_a_half_carved_chunk_keeps_its_room() {
    // The current chunk's never-used blocks are not lost when `reserve` takes a new one.
    let pool = Pool::for_type::<u64>();
    let first = ABox::new_in(0u64, &pool);
    let capacity = pool.stats().capacity_blocks();
    pool.reserve(capacity * 4).unwrap();
    let chunks = pool.stats().chunks();
    let boxes: Vec<_> = (0..capacity * 4)
        .map(|i| ABox::new_in(i as u64, &pool))
        .collect();
    let s = pool.stats();
    // The reserved chunk was sized for what the first chunk's room lacked: that room serves too.
    assert_eq!(s.chunks(), chunks);
    assert_eq!(s.live_blocks(), capacity * 4 + 1);
    assert!(s.capacity_blocks() >= s.live_blocks());
    assert_eq!(*first, 0);
    drop(boxes);
}

#[test]
fn reserve_refuses_what_cannot_be() {
    let pool = Pool::for_type::<u64>();
    assert!(pool.reserve(usize::MAX).is_err());
    assert!(pool.reserve(usize::MAX / 8).is_err());
    pool.set_allocation_limit(Some(64 * 1024));
    assert!(pool.reserve(1 << 20).is_err());
    assert_eq!(
        pool.stats().committed_bytes(),
        0,
        "a refused reserve took memory"
    );
    assert_eq!(pool.stats().limit_refusals(), 1);
    assert!(pool.reserve(1000).is_ok());

    let sp = SyncPool::for_type::<u64>();
    assert!(sp.reserve(usize::MAX).is_err());
    sp.set_allocation_limit(Some(64 * 1024));
    assert!(sp.reserve(1 << 20).is_err());
    assert_eq!(sp.stats().committed_bytes(), 0);
    assert!(sp.reserve(1000).is_ok());
    assert!(sp.stats().committed_bytes() <= 64 * 1024);
}

#[test]
fn pool_trim_gives_back_empty_chunks_only() {
    let pool = Pool::for_type::<[u8; 64]>();
    let n = scaled(200_000, 1200);
    let mut boxes: Vec<_> = (0..n).map(|i| ABox::new_in([i as u8; 64], &pool)).collect();
    // Keep every 1000th block: the chunks holding them stay.
    let kept: Vec<_> = boxes
        .iter_mut()
        .step_by(1000)
        .map(|b| &**b as *const [u8; 64])
        .collect();
    let mut keep = Vec::new();
    for (i, b) in boxes.into_iter().enumerate() {
        if i % 1000 == 0 {
            keep.push(b);
        }
    }
    let held = pool.stats().committed_bytes();
    let released = pool.trim();
    let s = pool.stats();
    assert!(released > 0);
    assert_eq!(s.committed_bytes(), held - released);
    assert_eq!(s.live_blocks(), keep.len());
    for (i, b) in keep.iter().enumerate() {
        assert_eq!(&**b as *const _, kept[i]);
        assert_eq!(b[0], (i * 1000) as u8);
    }
    // Every remaining chunk holds a live block.
    let chunks_left = pool.map().chunks().len();
    assert!(chunks_left <= keep.len());
    // Allocation goes on after a trim, and a second trim finds nothing more.
    let more: Vec<_> = (0..1000).map(|_| ABox::new_in([9u8; 64], &pool)).collect();
    drop(more);
    drop(keep);
    pool.trim();
    assert_eq!(pool.stats().committed_bytes(), 0);
    assert_eq!(pool.stats().live_blocks(), 0);
}

#[test]
fn sync_pool_trim_lowers_committed_and_blocks_come_back() {
    let pool = SyncPool::for_type::<[u8; 128]>();
    let n = scaled(100_000, 400);
    let burst: Vec<_> = (0..n)
        .map(|i| ABox::new_in([i as u8; 128], &pool))
        .collect();
    let keep = ABox::new_in([7u8; 128], &pool);
    drop(burst);
    let before = pool.stats();
    let released = pool.trim();
    let after = pool.stats();
    assert!(released >= n * 128 / 2, "released {released}");
    assert_eq!(after.committed_bytes(), before.committed_bytes() - released);
    assert_eq!(after.reserved_bytes(), before.reserved_bytes());
    assert_eq!(after.live_blocks(), 1);
    assert_eq!(pool.trim(), 0); // nothing more
                                // The trimmed blocks serve again before any new chunk.
    let chunks = after.chunks();
    let again: Vec<_> = (0..n)
        .map(|i| ABox::new_in([i as u8; 128], &pool))
        .collect();
    assert_eq!(pool.stats().chunks(), chunks);
    assert!(again.iter().enumerate().all(|(i, b)| b[127] == i as u8));
    assert_eq!(pool.stats().live_blocks(), n + 1);
    assert_eq!(keep[0], 7);
}

#[test]
fn sync_pool_trim_races_with_allocating_threads() {
    let pool = SyncPool::for_type::<[u64; 2]>();
    let rounds = scaled(200, 4);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let pool = &pool;
            s.spawn(move || {
                for r in 0..rounds as u64 {
                    let v: Vec<_> = (0..500)
                        .map(|i| ABox::new_in([t, r * 1000 + i], pool))
                        .collect();
                    for (i, b) in v.iter().enumerate() {
                        assert_eq!(**b, [t, r * 1000 + i as u64]);
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..rounds {
                pool.trim();
            }
        });
    });
    assert_eq!(pool.stats().live_blocks(), 0);
}

#[test]
fn slab_trim_lowers_committed_bytes() {
    let slab = Slab::new();
    let keep = ABox::new_in(11u64, &slab);
    let n = scaled(100_000, 400);
    let burst: Vec<_> = (0..n).map(|i| ABox::new_in([i as u64; 4], &slab)).collect();
    drop(burst);
    let before = slab.stats().committed_bytes();
    let released = slab.trim();
    assert!(released > 0);
    assert_eq!(slab.stats().committed_bytes(), before - released);
    assert_eq!(*keep, 11);
    assert_eq!(slab.stats().live_blocks(), 1);
}

#[test]
fn arena_trim_drops_the_spare_and_shrinks_the_chunk() {
    let mut arena = Arena::new();
    let cp = arena.checkpoint();
    let big = scaled(1 << 20, 128 << 10);
    arena.alloc_slice_copy(&vec![0u8; big]);
    arena.reset_to(cp);
    assert!(arena.allocated_bytes() >= big); // the spare
    arena.trim();
    assert_eq!(arena.allocated_bytes(), 0);
    // A half-empty large chunk shrinks to what is used.
    let arena = &mut Arena::with_capacity(1 << 20);
    arena.alloc_slice_copy(&[1u8; 100]);
    let before = arena.allocated_bytes();
    arena.trim();
    assert!(
        arena.allocated_bytes() < before / 2,
        "{} of {before}",
        arena.allocated_bytes()
    );
    assert_eq!(arena.stats().live_bytes(), 104);
    // And it still serves.
    arena.alloc_slice_copy(&vec![2u8; scaled(100_000, 1000)]);
}

// ------------------------------------------------------------------------ drop in an arena

#[test]
fn boxes_in_an_arena_run_drop_values_do_not() {
    struct Counted<'a>(&'a Cell<usize>);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Cell::new(0);
    let arena = Arena::new();
    let b = ABox::new_in(Counted(&drops), &arena);
    assert_eq!(arena.stats().live_blocks(), 1);
    drop(b);
    assert_eq!(drops.get(), 1);
    assert_eq!(arena.stats().live_blocks(), 0);
    // The freed block was the most recent allocation: its bytes are reused.
    assert_eq!(arena.stats().live_bytes(), 0);
    arena.alloc(Counted(&drops));
    drop(arena);
    assert_eq!(drops.get(), 1, "a value placed with `alloc` was dropped");
}

#[test]
fn alloc_try_with_gives_the_room_back_on_error() {
    let arena = Arena::new();
    let ok: Result<&mut [u8; 64], Option<&str>> = arena.alloc_try_with(|| Ok([1u8; 64]));
    assert_eq!(ok.unwrap()[0], 1);
    let used = arena.stats().live_bytes();
    let err = arena.alloc_try_with(|| Err::<[u8; 64], _>("bad input"));
    assert_eq!(err.err(), Some(Some("bad input")));
    assert_eq!(arena.stats().live_bytes(), used);
    arena.set_allocation_limit(Some(0));
    let refused = arena.alloc_try_with(|| Ok::<_, ()>([0u8; 100_000]));
    assert_eq!(refused.err(), Some(None));
}
