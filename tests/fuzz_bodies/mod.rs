//! Fuzz target bodies: op sequences read from bytes, run against a shadow model.
//!
//! One body per allocator: the engine through `Allocgator` (alloc / alloc_zeroed / realloc /
//! free / cross-thread free / blocks of exited threads), `Arena` (with `reset`, checkpoints and
//! `reset_to`, `trim`), `Pool` (with `reserve` and `trim`), `SyncPool` (with frees and
//! allocations on other threads, `reserve` and `trim`) and `Slab` (with `reset`, drop and
//! `trim`); every local allocator's body also sets and lifts allocation limits, after which a
//! refused request must leave every block as it was and the held memory must stay under the
//! limit (or what was held when it was set). Each checks that live blocks never overlap, that every block's fill pattern is intact
//! when it is freed, resized or handed over, that zeroing is honoured up to the returned length
//! and that alignment is kept; the local allocators' own live counts must come back to 0.
//!
//! Included with `#[path]` by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and by
//! `tests/fuzz_replay.rs`, which runs every body on fixed pseudo-random inputs in `cargo test`.
#![allow(dead_code)]
#![allow(clippy::disallowed_types)] // plain std atomics in a test (the facade rule is for the library)

use allocgator::allocator_api2::alloc::Allocator;
use allocgator::{Allocgator, Arena, LocalStats, Pool, Slab, SyncPool};
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::mpsc;

/// Reads op codes and operands from the fuzzer's bytes; zeros once they run out.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> usize {
        usize::from(self.byte()) | usize::from(self.byte()) << 8
    }
    /// A size: mostly small, sometimes medium, large or huge (0 allowed).
    pub fn size(&mut self) -> usize {
        let kind = self.byte();
        let n = self.u16();
        match kind % 32 {
            0 => 0,
            1..=17 => 1 + n % 128,
            18..=25 => 1 + n % 1024,
            26..=28 => 1 + n % 16_384,
            29 | 30 => 16_384 + n * 4, // to 272 KiB: medium and large
            _ => (2 << 20) - 64 + (n % 64) * 65_536, // around and above 2 MiB: huge
        }
    }
    /// An alignment: mostly 8 or less, up to 64 KiB.
    pub fn align(&mut self) -> usize {
        let b = self.byte();
        if b < 200 {
            1 << (b % 4)
        } else {
            1 << (b % 17)
        }
    }
}

/// A live block in the shadow model.
#[derive(Clone, Copy, Debug)]
pub struct Live {
    /// Requested size and alignment (the layout it was allocated with).
    pub size: usize,
    pub align: usize,
    /// Length the allocator returned (`>= size`).
    pub len: usize,
    /// Seed of its fill pattern.
    pub seed: u8,
}

/// Offsets a pattern covers, in increasing order: every byte of a small block, the ends and
/// every 4 KiB of a big one (generated directly: a huge block has millions of offsets).
fn offsets(size: usize) -> impl Iterator<Item = usize> {
    let (head, tail) = if size <= 4096 {
        (size, size)
    } else {
        (64, size - 64)
    };
    let middle = (4096..tail).step_by(4096).filter(move |&i| i >= head);
    (0..head).chain(middle).chain(tail..size)
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(31)) ^ (i >> 8) as u8
}

/// Writes `seed`'s pattern over the first `size` bytes of `p`.
pub fn fill(p: *mut u8, size: usize, seed: u8) {
    for i in offsets(size) {
        // SAFETY: the caller passes a live block of at least `size` bytes.
        unsafe { p.add(i).write(pattern(seed, i)) };
    }
}

/// Checks the pattern `fill(p, size, seed)` wrote, below `len`.
pub fn check(p: *const u8, size: usize, len: usize, seed: u8) {
    for i in offsets(size).take_while(|&i| i < len) {
        // SAFETY: the caller passes a live block of at least `len` bytes.
        let b = unsafe { p.add(i).read() };
        assert_eq!(
            b,
            pattern(seed, i),
            "block {p:p}: byte {i} of {size} overwritten"
        );
    }
}

/// Checks bytes `from..to` of `p` are zero (every byte up to 64 KiB, then every 512th).
pub fn check_zero(p: *const u8, from: usize, to: usize) {
    let step = if to - from > 65_536 { 512 } else { 1 };
    for i in (from..to).step_by(step).chain((to > from).then(|| to - 1)) {
        // SAFETY: the caller passes a live block of at least `to` bytes.
        let b = unsafe { p.add(i).read() };
        assert_eq!(b, 0, "block {p:p}: byte {i} of {from}..{to} not zero");
    }
}

/// The shadow model: live blocks by address.
#[derive(Default)]
pub struct Model {
    pub live: BTreeMap<usize, Live>,
    /// An allocation limit is (or was) set: requests may be refused, and a refused one must
    /// leave every block as it was.
    pub refusals_allowed: bool,
}

impl Model {
    /// Records a new block after checking its alignment and that it overlaps no live block.
    pub fn insert(&mut self, p: *mut u8, l: Live) {
        let a = p as usize;
        assert_eq!(a % l.align, 0, "{a:#x} is not aligned to {}", l.align);
        assert!(
            l.len >= l.size,
            "{a:#x}: length {} below size {}",
            l.len,
            l.size
        );
        if let Some((&q, o)) = self.live.range(..=a).next_back() {
            assert!(
                q + o.len <= a,
                "{a:#x} (+{}) overlaps {q:#x} (+{})",
                l.len,
                o.len
            );
        }
        if let Some((&q, _)) = self.live.range(a..).next() {
            assert!(a + l.len <= q, "{a:#x} (+{}) overlaps {q:#x}", l.len);
        }
        self.live.insert(a, l);
    }
    /// The key of the `n`-th live block (wrapping), if any.
    pub fn pick(&self, n: usize) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        self.live.keys().nth(n % self.live.len()).copied()
    }
    /// Removes a block, checking its pattern.
    pub fn take(&mut self, a: usize) -> Live {
        let l = self.live.remove(&a).unwrap();
        check(a as *const u8, l.size, l.size, l.seed);
        l
    }
}

// ---------------------------------------------------------------- Allocator bodies

/// One `Allocator` operation chosen by `op`: allocate, allocate_zeroed, grow, grow_zeroed,
/// shrink, deallocate (at either end of the fit rule).
fn allocator_op<A: Allocator>(a: &A, op: u8, input: &mut Input<'_>, m: &mut Model, seed: u8) {
    let size = input.size();
    let align = input.align();
    let n = input.u16();
    let layout = Layout::from_size_align(size, align).unwrap();
    match (op % 8, m.pick(n)) {
        (0..=2, _) | (_, None) => {
            let zeroed = op % 8 == 2;
            let b = match if zeroed {
                a.allocate_zeroed(layout)
            } else {
                a.allocate(layout)
            } {
                Ok(b) => b,
                Err(_) if m.refusals_allowed => return,
                Err(_) => panic!("allocate {layout:?}"),
            };
            let p = b.cast::<u8>().as_ptr();
            assert!(b.len() >= size);
            if zeroed {
                check_zero(p, 0, b.len());
            }
            if size == 0 {
                assert_eq!(p as usize % align, 0);
                // SAFETY: a zero-size block of `a`.
                unsafe { a.deallocate(b.cast(), layout) };
                return;
            }
            fill(p, size, seed);
            m.insert(
                p,
                Live {
                    size,
                    align,
                    len: b.len(),
                    seed,
                },
            );
        }
        (3..=5, Some(k)) => {
            let l = m.take(k);
            let old = Layout::from_size_align(l.size, l.align).unwrap();
            let new_size = size.max(1);
            let new = Layout::from_size_align(new_size, align).unwrap();
            let zeroed = op % 8 == 4;
            let p = NonNull::new(k as *mut u8).unwrap();
            // SAFETY: a live block of `a` fitting `old`; grow or shrink chosen by size.
            let q = unsafe {
                if new_size >= l.size {
                    if zeroed {
                        a.grow_zeroed(p, old, new)
                    } else {
                        a.grow(p, old, new)
                    }
                } else {
                    a.shrink(p, old, new)
                }
            };
            let q = match q {
                Ok(q) => q,
                Err(_) if m.refusals_allowed => {
                    // Refused: the block stays as it was.
                    check(k as *const u8, l.size, l.size, l.seed);
                    m.insert(k as *mut u8, l);
                    return;
                }
                Err(_) => panic!("resize {old:?} -> {new:?}"),
            };
            let qp = q.cast::<u8>().as_ptr();
            assert!(q.len() >= new_size);
            check(qp, l.size, new_size, l.seed);
            if zeroed && new_size >= l.size {
                check_zero(qp, l.size, q.len());
            }
            fill(qp, new_size, seed);
            m.insert(
                qp,
                Live {
                    size: new_size,
                    align,
                    len: q.len(),
                    seed,
                },
            );
        }
        (_, Some(k)) => {
            let l = m.take(k);
            // Either end of the fit rule: the requested size or the returned length.
            let free_size = if op & 0x80 != 0 { l.len } else { l.size };
            let fit = Layout::from_size_align(free_size, l.align).unwrap();
            // SAFETY: a live block of `a` fitting `fit`.
            unsafe { a.deallocate(NonNull::new(k as *mut u8).unwrap(), fit) };
        }
    }
}

/// Frees every block of the model into `a`.
fn free_all<A: Allocator>(a: &A, m: &mut Model) {
    for (k, l) in std::mem::take(&mut m.live) {
        check(k as *const u8, l.size, l.size, l.seed);
        // SAFETY: a live block of `a`, its layout.
        unsafe {
            a.deallocate(
                NonNull::new(k as *mut u8).unwrap(),
                Layout::from_size_align(l.size, l.align).unwrap(),
            )
        };
    }
}

/// Checks every live block's pattern (before a reset or drop makes them invalid).
fn check_all(m: &Model) {
    for (&k, l) in &m.live {
        check(k as *const u8, l.size, l.size, l.seed);
    }
}

/// An input-chosen allocation limit: none, or up to 16 MiB in 256-byte steps.
fn limit_from(input: &mut Input<'_>) -> Option<usize> {
    let n = input.u16();
    (n % 4 != 0).then_some(n * 256)
}

/// `Arena`: allocator ops, `alloc` of values, `reset`, limits, checkpoints (`reset_to` frees
/// exactly the blocks born after the checkpoint) and `trim`.
pub fn arena(data: &[u8]) {
    let mut input = Input::new(data);
    let mut arena = if input.byte() % 2 == 0 {
        Arena::new()
    } else {
        Arena::with_capacity(input.u16() * 16)
    };
    let mut m = Model::default();
    let mut seed = 0u8;
    // When each live block was born (a clock tick per op), and the checkpoints still valid.
    let mut born: BTreeMap<usize, u64> = BTreeMap::new();
    let mut checkpoints: Vec<(allocgator::Checkpoint, u64)> = Vec::new();
    let mut clock = 0u64;
    while !input.is_empty() {
        seed = seed.wrapping_add(1);
        clock += 1;
        let held = arena.allocated_bytes();
        let op = input.byte();
        match op % 16 {
            0 => {
                check_all(&m);
                m.live.clear();
                arena.reset();
                checkpoints.clear();
                assert_eq!(arena.stats().live_bytes(), 0);
            }
            2 => {
                let limit = limit_from(&mut input);
                m.refusals_allowed |= limit.is_some();
                arena.set_allocation_limit(limit);
                assert_eq!(arena.allocation_limit(), limit);
            }
            3 => checkpoints.push((arena.checkpoint(), clock)),
            4 if !checkpoints.is_empty() => {
                let i = input.u16() % checkpoints.len();
                let (cp, at) = checkpoints[i];
                checkpoints.truncate(i + 1);
                check_all(&m);
                let after: Vec<usize> = (born.iter())
                    .filter(|&(_, &b)| b > at)
                    .map(|(&k, _)| k)
                    .collect();
                for k in after {
                    m.live.remove(&k);
                }
                arena.reset_to(cp);
            }
            5 => {
                check_all(&m);
                let before = arena.allocated_bytes();
                if m.live.is_empty() {
                    checkpoints.clear(); // a trim of an empty arena invalidates them
                }
                arena.trim();
                assert!(arena.allocated_bytes() <= before);
            }
            1 => {
                // `alloc` would abort on a refusal: its fallible twin, under a limit.
                let v = match arena.try_alloc([seed; 24]) {
                    Ok(v) => v,
                    Err(_) => {
                        assert!(m.refusals_allowed, "alloc refused without a limit");
                        continue;
                    }
                };
                let p = v.as_mut_ptr();
                // An `alloc`ed value is a block like any other in the model.
                fill(p, 24, seed);
                m.insert(
                    p,
                    Live {
                        size: 24,
                        align: 1,
                        len: 24,
                        seed,
                    },
                );
            }
            _ => allocator_op(&&arena, op, &mut input, &mut m, seed),
        }
        born.retain(|k, _| m.live.contains_key(k));
        for &k in m.live.keys() {
            born.entry(k).or_insert(clock);
        }
        // A limit set below what is held refuses new chunks: memory only grows up to it.
        if let Some(limit) = arena.allocation_limit() {
            let now = arena.allocated_bytes();
            assert!(
                now <= limit.max(held),
                "{now} bytes under a limit of {limit} ({held} held)"
            );
        }
    }
    check_all(&m);
    free_all(&&arena, &mut m);
}

/// `Pool` with a layout from the input: blocks that fit the pool and any other layout.
pub fn pool(data: &[u8]) {
    let mut input = Input::new(data);
    let block = Layout::from_size_align(1 + input.u16() % 4096, 1 << (input.byte() % 13)).unwrap();
    let pool = Pool::new(block);
    let mut m = Model::default();
    let mut seed = 0u8;
    while !input.is_empty() {
        seed = seed.wrapping_add(1);
        let op = input.byte();
        let held = pool.stats().committed_bytes();
        if op % 16 == 1 {
            let limit = limit_from(&mut input);
            m.refusals_allowed |= limit.is_some();
            pool.set_allocation_limit(limit);
        } else if op % 16 == 5 {
            // Up to 2047 blocks: the per-op `stats` below walks the free list.
            let n = input.u16() % 2048;
            if pool.reserve(n).is_ok() {
                // The next `n` pool blocks need no chunk.
                let chunks = pool.stats().chunks();
                let mut got = Vec::new();
                for _ in 0..n.min(64) {
                    got.push((&pool).allocate(block).unwrap());
                }
                assert_eq!(pool.stats().chunks(), chunks);
                for b in got {
                    // SAFETY: a block just allocated from the pool.
                    unsafe { (&pool).deallocate(b.cast(), block) };
                }
            }
        } else if op % 16 == 9 {
            check_all(&m);
            let released = pool.trim();
            let after = pool.stats();
            assert_eq!(after.committed_bytes(), held - released);
            check_all(&m);
        } else if op % 4 == 0 {
            // The pool's own layout: the free-list path.
            let Ok(b) = (&pool).allocate(block) else {
                assert!(m.refusals_allowed, "allocate {block:?}");
                continue;
            };
            let p = b.cast::<u8>().as_ptr();
            fill(p, block.size(), seed);
            m.insert(
                p,
                Live {
                    size: block.size(),
                    align: block.align(),
                    len: b.len(),
                    seed,
                },
            );
        } else {
            allocator_op(&&pool, op, &mut input, &mut m, seed);
        }
        let s = pool.stats();
        assert_eq!(s.live_blocks(), m.live.len());
        if let Some(limit) = s.allocation_limit() {
            assert!(s.committed_bytes() <= limit.max(held), "{s}");
        }
    }
    free_all(&&pool, &mut m);
    assert_eq!(pool.stats().live_blocks(), 0);
}

/// `SyncPool`: as `pool`, plus frees on another thread and blocks allocated by threads that
/// exit at once.
pub fn sync_pool(data: &[u8]) {
    let mut input = Input::new(data);
    let block = Layout::from_size_align(1 + input.u16() % 1024, 1 << (input.byte() % 8)).unwrap();
    let pool = SyncPool::new(block);
    let mut m = Model::default();
    let mut seed = 0u8;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Live)>();
        let pool_ref = &pool;
        let freer = s.spawn(move || {
            for (k, l) in rx {
                check(k as *const u8, l.size, l.size, l.seed);
                let fit = Layout::from_size_align(l.size, l.align).unwrap();
                // SAFETY: a live block of the pool, handed over; its layout.
                unsafe { pool_ref.deallocate(NonNull::new(k as *mut u8).unwrap(), fit) };
            }
        });
        while !input.is_empty() {
            seed = seed.wrapping_add(1);
            let op = input.byte();
            match op % 8 {
                3 if op % 32 == 3 => {
                    let limit = limit_from(&mut input);
                    m.refusals_allowed |= limit.is_some();
                    pool.set_allocation_limit(limit);
                }
                3 if op % 32 == 11 => {
                    let _ = pool.reserve(input.u16());
                }
                3 if op % 32 == 19 => {
                    // The freeing thread may be racing with it.
                    check_all(&m);
                    pool.trim();
                    check_all(&m);
                }
                0 => {
                    let Ok(b) = (&pool).allocate(block) else {
                        assert!(m.refusals_allowed, "allocate {block:?}");
                        continue;
                    };
                    let p = b.cast::<u8>().as_ptr();
                    fill(p, block.size(), seed);
                    let l = Live {
                        size: block.size(),
                        align: block.align(),
                        len: b.len(),
                        seed,
                    };
                    m.insert(p, l);
                }
                1 => {
                    // Free on the other thread.
                    if let Some(k) = m.pick(input.u16()) {
                        let l = m.live.remove(&k).unwrap();
                        tx.send((k, l)).unwrap();
                    }
                }
                2 => {
                    // A thread allocates a few blocks and exits; they are ours now.
                    let count = 1 + input.byte() as usize % 8;
                    let blocks = s
                        .spawn(move || {
                            (0..count)
                                .filter_map(|_| {
                                    let b = pool_ref.allocate(block).ok()?;
                                    let p = b.cast::<u8>().as_ptr();
                                    fill(p, block.size(), seed);
                                    Some((p as usize, b.len()))
                                })
                                .collect::<Vec<_>>()
                        })
                        .join()
                        .unwrap();
                    assert!(blocks.len() == count || m.refusals_allowed);
                    for (p, len) in blocks {
                        let l = Live {
                            size: block.size(),
                            align: block.align(),
                            len,
                            seed,
                        };
                        m.insert(p as *mut u8, l);
                    }
                }
                _ => allocator_op(&&pool, op, &mut input, &mut m, seed),
            }
        }
        drop(tx);
        freer.join().unwrap();
    });
    assert_eq!(pool.stats().live_blocks(), m.live.len());
    free_all(&&pool, &mut m);
    assert_eq!(pool.stats().live_blocks(), 0);
}

/// Message types with pools of their own, for `static_pool` (a static pool's block is fixed at
/// compile time, so the input picks one of these).
#[allow(dead_code)]
mod statics {
    pub struct B8(u64);
    pub struct B24([u64; 3]);
    #[repr(align(16))]
    pub struct B48([u8; 48]);
    pub struct B200([u8; 200]);
    #[repr(align(4096))]
    pub struct B4096([u8; 4096]);
    allocgator::static_pool!(pub P8, B8);
    allocgator::static_pool!(pub P24, B24);
    allocgator::static_pool!(pub P48, B48);
    allocgator::static_pool!(pub P200, B200);
    allocgator::static_pool!(pub P4096, B4096);
}

/// `static_pool!`: as `sync_pool`, through a zero-sized handle, with per-thread caches: frees
/// on another thread, and threads that allocate and exit (their caches go back).
pub fn static_pool(data: &[u8]) {
    use statics::*;
    let mut input = Input::new(data);
    match input.byte() % 5 {
        0 => static_pool_with(P8, Layout::new::<B8>(), || P8::pool().stats(), &mut input),
        1 => static_pool_with(
            P24,
            Layout::new::<B24>(),
            || P24::pool().stats(),
            &mut input,
        ),
        2 => static_pool_with(
            P48,
            Layout::new::<B48>(),
            || P48::pool().stats(),
            &mut input,
        ),
        3 => static_pool_with(
            P200,
            Layout::new::<B200>(),
            || P200::pool().stats(),
            &mut input,
        ),
        _ => static_pool_with(
            P4096,
            Layout::new::<B4096>(),
            || P4096::pool().stats(),
            &mut input,
        ),
    }
}

fn static_pool_with<A: Allocator + Copy + Send + 'static>(
    pool: A,
    block: Layout,
    stats: fn() -> LocalStats,
    input: &mut Input<'_>,
) {
    // Static pools outlive each input: count from where this one starts.
    let base = stats().live_blocks();
    let mut m = Model::default();
    let mut seed = 0u8;
    let (tx, rx) = mpsc::channel::<(usize, Live)>();
    let freer = std::thread::spawn(move || {
        for (k, l) in rx {
            check(k as *const u8, l.size, l.size, l.seed);
            let fit = Layout::from_size_align(l.size, l.align).unwrap();
            // SAFETY: a live block of the pool, handed over; its layout.
            unsafe { pool.deallocate(NonNull::new(k as *mut u8).unwrap(), fit) };
        }
    });
    while !input.is_empty() {
        seed = seed.wrapping_add(1);
        let op = input.byte();
        match op % 8 {
            0 => {
                let b = pool.allocate(block).unwrap();
                let p = b.cast::<u8>().as_ptr();
                fill(p, block.size(), seed);
                let l = Live {
                    size: block.size(),
                    align: block.align(),
                    len: b.len(),
                    seed,
                };
                m.insert(p, l);
            }
            1 => {
                // Free on the other thread (into its cache).
                if let Some(k) = m.pick(input.u16()) {
                    let l = m.live.remove(&k).unwrap();
                    tx.send((k, l)).unwrap();
                }
            }
            2 => {
                // A thread allocates and frees a few blocks, keeps some, and exits: its cache
                // goes back to the pool, and the kept blocks are ours now.
                let count = 1 + input.byte() as usize % 8;
                let blocks = std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..count {
                        let b = pool.allocate(block).unwrap();
                        let p = b.cast::<u8>().as_ptr();
                        fill(p, block.size(), seed);
                        if i % 2 == 0 {
                            kept.push((p as usize, b.len()));
                        } else {
                            // SAFETY: the block just allocated, with its layout.
                            unsafe { pool.deallocate(b.cast(), block) };
                        }
                    }
                    kept
                })
                .join()
                .unwrap();
                for (p, len) in blocks {
                    let l = Live {
                        size: block.size(),
                        align: block.align(),
                        len,
                        seed,
                    };
                    m.insert(p as *mut u8, l);
                }
            }
            _ => allocator_op(&pool, op, input, &mut m, seed),
        }
    }
    drop(tx);
    freer.join().unwrap();
    assert_eq!(stats().live_blocks(), base + m.live.len());
    free_all(&pool, &mut m);
    assert_eq!(stats().live_blocks(), base);
}

/// `Slab`: allocator ops (every size class, large, huge), `reset`, drop with live blocks.
pub fn slab(data: &[u8]) {
    let mut input = Input::new(data);
    let mut slab = Slab::new();
    let mut m = Model::default();
    let mut seed = 0u8;
    while !input.is_empty() {
        seed = seed.wrapping_add(1);
        let op = input.byte();
        let held = slab.held_bytes();
        match op % 32 {
            0 => {
                check_all(&m);
                m.live.clear();
                slab.reset();
                assert_eq!(slab.stats().live_blocks(), 0);
            }
            1 => {
                // Dropped with its live blocks: all its memory goes at once.
                check_all(&m);
                m.live.clear();
                slab = Slab::new();
            }
            2 => {
                let limit = limit_from(&mut input).map(|l| l * 16);
                m.refusals_allowed |= limit.is_some();
                slab.set_allocation_limit(limit);
            }
            3 => {
                check_all(&m);
                slab.trim();
                check_all(&m);
            }
            _ => allocator_op(&&slab, op, &mut input, &mut m, seed),
        }
        if let Some(limit) = slab.allocation_limit() {
            assert!(slab.held_bytes() <= limit.max(held));
        }
        assert_eq!(slab.stats().live_blocks(), m.live.len());
    }
    free_all(&&slab, &mut m);
    assert_eq!(slab.stats().live_blocks(), 0);
}

// ---------------------------------------------------------------- the engine

/// Frees a model block through `GlobalAlloc`, checking its pattern first.
fn engine_free(k: usize, l: Live) {
    check(k as *const u8, l.size, l.size, l.seed);
    // SAFETY: a live engine block with that layout.
    unsafe {
        Allocgator.dealloc(
            k as *mut u8,
            Layout::from_size_align(l.size, l.align).unwrap(),
        )
    };
}

/// The engine through `GlobalAlloc`: alloc, alloc_zeroed, realloc, free, frees on another
/// (long-lived) thread, blocks of threads that exit at once, blocks freed by a thread whose
/// first operation is that free.
pub fn engine(data: &[u8]) {
    let mut input = Input::new(data);
    let mut m = Model::default();
    let mut seed = 0u8;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Live)>();
        let freer = s.spawn(move || {
            for (k, l) in rx {
                engine_free(k, l);
            }
        });
        while !input.is_empty() {
            seed = seed.wrapping_add(1);
            let op = input.byte();
            let size = input.size().max(1);
            let align = input.align();
            let n = input.u16();
            let layout = Layout::from_size_align(size, align).unwrap();
            match (op % 16, m.pick(n)) {
                (0..=4, _) | (_, None) => {
                    let zeroed = op % 16 == 0;
                    // SAFETY: non-zero size.
                    let p = unsafe {
                        if zeroed {
                            Allocgator.alloc_zeroed(layout)
                        } else {
                            Allocgator.alloc(layout)
                        }
                    };
                    assert!(!p.is_null(), "alloc {layout:?}");
                    if zeroed {
                        check_zero(p, 0, size);
                    }
                    fill(p, size, seed);
                    let l = Live {
                        size,
                        align,
                        len: size,
                        seed,
                    };
                    m.insert(p, l);
                }
                (5..=7, Some(k)) => {
                    let l = m.take(k);
                    let old = Layout::from_size_align(l.size, l.align).unwrap();
                    // SAFETY: a live block with layout `old`; non-zero new size.
                    let q = unsafe { Allocgator.realloc(k as *mut u8, old, size) };
                    assert!(!q.is_null(), "realloc {old:?} -> {size}");
                    let new = Live {
                        size,
                        align: l.align,
                        len: size,
                        seed,
                    };
                    check(q, l.size, size, l.seed);
                    fill(q, size, seed);
                    m.insert(q, new);
                }
                (8..=11, Some(k)) => {
                    let l = m.take(k);
                    engine_free(k, l);
                }
                (12, Some(k)) => {
                    // Freed on the long-lived other thread.
                    let l = m.live.remove(&k).unwrap();
                    tx.send((k, l)).unwrap();
                }
                (13, Some(k)) => {
                    // Freed by a new thread whose first operation it is; the thread exits.
                    let l = m.live.remove(&k).unwrap();
                    s.spawn(move || engine_free(k, l)).join().unwrap();
                }
                _ => {
                    // A thread allocates blocks and exits; its heap goes to the pool with them.
                    let count = 1 + n % 16;
                    let blocks = s
                        .spawn(move || {
                            (0..count)
                                .map(|i| {
                                    let size = 1 + (size + i * 24) % 4096;
                                    let l = Layout::from_size_align(size, align).unwrap();
                                    // SAFETY: non-zero size.
                                    let p = unsafe { Allocgator.alloc(l) };
                                    assert!(!p.is_null());
                                    fill(p, size, seed);
                                    (p as usize, size)
                                })
                                .collect::<Vec<_>>()
                        })
                        .join()
                        .unwrap();
                    for (p, size) in blocks {
                        let l = Live {
                            size,
                            align,
                            len: size,
                            seed,
                        };
                        m.insert(p as *mut u8, l);
                    }
                }
            }
        }
        drop(tx);
        freer.join().unwrap();
    });
    for (k, l) in std::mem::take(&mut m.live) {
        engine_free(k, l);
    }
}

/// A fuzz target body.
pub type Body = fn(&[u8]);

/// Every body by name, for the replay test.
pub const BODIES: &[(&str, Body)] = &[
    ("engine", engine),
    ("arena", arena),
    ("pool", pool),
    ("sync_pool", sync_pool),
    ("static_pool", static_pool),
    ("slab", slab),
];
