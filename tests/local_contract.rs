//! The `Allocator` contract, one suite stamped out for every allocator of the crate: `Arena`,
//! `Pool` (two block geometries), `SyncPool`, its owned handle, `Slab` and `Allocgator`, and
//! the local allocators again under an allocation limit.
//!
//! The global allocator is not installed here; the suite calls each allocator directly.

mod common;
use allocgator::allocator_api2::alloc::Allocator;
use allocgator::allocator_api2::{boxed::Box as ABox, vec::Vec as AVec};
use allocgator::{Allocgator, Arena, Pool, Slab, SyncPool, SyncPoolHandle};
use common::{boundary_sizes, check, check_prefix, fill};
use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

/// An allocator under test: how to make one, how to get its `Allocator`, its live count.
trait Subject {
    type A<'a>: Allocator + Clone
    where
        Self: 'a;
    fn new() -> Self;
    fn alloc(&self) -> Self::A<'_>;
    /// Live blocks by the allocator's own statistics (`None`: no per-allocator figure).
    fn live(&self) -> Option<usize>;
}

impl Subject for Arena {
    type A<'a> = &'a Arena;
    fn new() -> Self {
        Arena::new()
    }
    fn alloc(&self) -> &Arena {
        self
    }
    fn live(&self) -> Option<usize> {
        Some(self.stats().live_blocks())
    }
}

/// A pool of 64-byte, 8-aligned blocks (a protocol message).
struct Pool64(Pool);
impl Subject for Pool64 {
    type A<'a> = &'a Pool;
    fn new() -> Self {
        Pool64(Pool::new(Layout::from_size_align(64, 8).unwrap()))
    }
    fn alloc(&self) -> &Pool {
        &self.0
    }
    fn live(&self) -> Option<usize> {
        Some(self.0.stats().live_blocks())
    }
}

/// A pool of 4 KiB, 4 KiB-aligned blocks (large alignment served by the free list).
struct PoolPage(Pool);
impl Subject for PoolPage {
    type A<'a> = &'a Pool;
    fn new() -> Self {
        PoolPage(Pool::new(Layout::from_size_align(4096, 4096).unwrap()))
    }
    fn alloc(&self) -> &Pool {
        &self.0
    }
    fn live(&self) -> Option<usize> {
        Some(self.0.stats().live_blocks())
    }
}

/// A shared pool of 48-byte blocks, used through `&SyncPool`.
struct Sync48(SyncPool);
impl Subject for Sync48 {
    type A<'a> = &'a SyncPool;
    fn new() -> Self {
        Sync48(SyncPool::new(Layout::from_size_align(48, 16).unwrap()))
    }
    fn alloc(&self) -> &SyncPool {
        &self.0
    }
    fn live(&self) -> Option<usize> {
        Some(self.0.stats().live_blocks())
    }
}

/// A shared pool of 64-byte blocks, used through owned handles (the pool itself is dropped
/// at once: the handle keeps it alive).
struct Handle64(SyncPoolHandle);
impl Subject for Handle64 {
    type A<'a> = SyncPoolHandle;
    fn new() -> Self {
        Handle64(SyncPool::new(Layout::from_size_align(64, 8).unwrap()).handle())
    }
    fn alloc(&self) -> SyncPoolHandle {
        self.0.clone()
    }
    fn live(&self) -> Option<usize> {
        Some(self.0.stats().live_blocks())
    }
}

impl Subject for Slab {
    type A<'a> = &'a Slab;
    fn new() -> Self {
        Slab::new()
    }
    fn alloc(&self) -> &Slab {
        self
    }
    fn live(&self) -> Option<usize> {
        Some(self.stats().live_blocks())
    }
}

/// The limited subjects: the same allocators under an allocation limit far above what the
/// suite uses, so every request goes through the limit's checks (the chunk-size clamp, the
/// pre- and post-checks, moves instead of in-place growth) and still succeeds.
const ROOMY_LIMIT: usize = 1 << 30;

/// A subject that can be put under an allocation limit.
trait Limitable: Subject {
    fn set_limit(&self, bytes: usize);
}

impl Limitable for Arena {
    fn set_limit(&self, bytes: usize) {
        self.set_allocation_limit(Some(bytes));
    }
}

impl Limitable for Pool64 {
    fn set_limit(&self, bytes: usize) {
        self.0.set_allocation_limit(Some(bytes));
    }
}

impl Limitable for Sync48 {
    fn set_limit(&self, bytes: usize) {
        self.0.set_allocation_limit(Some(bytes));
    }
}

impl Limitable for Slab {
    fn set_limit(&self, bytes: usize) {
        self.set_allocation_limit(Some(bytes));
    }
}

/// `S` under [`ROOMY_LIMIT`].
struct Limited<S>(S);
impl<S: Limitable> Subject for Limited<S> {
    type A<'a>
        = S::A<'a>
    where
        Self: 'a;
    fn new() -> Self {
        let s = S::new();
        s.set_limit(ROOMY_LIMIT);
        Limited(s)
    }
    fn alloc(&self) -> S::A<'_> {
        self.0.alloc()
    }
    fn live(&self) -> Option<usize> {
        self.0.live()
    }
}

type ArenaLimited = Limited<Arena>;
type Pool64Limited = Limited<Pool64>;
type Sync48Limited = Limited<Sync48>;
type SlabLimited = Limited<Slab>;

/// A 64-byte message with a pool of its own (`static_pool!`), used through its zero-sized
/// handle. The suite's tests run in parallel on the one static pool: no live count.
#[allow(dead_code)]
struct Msg64([u8; 64]);
allocgator::static_pool!(Msg64Pool, Msg64);
struct Static64;
impl Subject for Static64 {
    type A<'a> = Msg64Pool;
    fn new() -> Self {
        Static64
    }
    fn alloc(&self) -> Msg64Pool {
        Msg64Pool
    }
    fn live(&self) -> Option<usize> {
        None
    }
}

struct Global;
impl Subject for Global {
    type A<'a> = Allocgator;
    fn new() -> Self {
        Global
    }
    fn alloc(&self) -> Allocgator {
        Allocgator
    }
    fn live(&self) -> Option<usize> {
        None
    }
}

fn check_zero(p: *const u8, from: usize, to: usize) {
    // Under Miri: every 61st byte and the last 8 (see `MIRI`).
    let step = scaled(1, 61);
    let tail = to.saturating_sub(8).max(from);
    for i in (from..tail).step_by(step).chain(tail..to) {
        // SAFETY: `i < to`, inside a live block.
        let b = unsafe { p.add(i).read() };
        assert_eq!(b, 0, "block {p:p}: byte {i} of {from}..{to} not zeroed");
    }
}

/// Miri interprets every byte access, about a thousand times slower than native code: under
/// Miri the loops below run fewer times (`scaled`) and the biggest sizes are left out, keeping
/// each kind of operation and each allocator in the run.
const MIRI: bool = cfg!(miri);

/// `native` normally, `miri` under Miri.
fn scaled(native: usize, miri: usize) -> usize {
    if MIRI {
        miri
    } else {
        native
    }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

fn finish<S: Subject>(s: &S) {
    if let Some(live) = s.live() {
        assert_eq!(live, 0, "the allocator still counts live blocks");
    }
}

/// Every size-class boundary (±1, 2^k ± 1, 2^k ± 32, large and huge boundaries) at every
/// power-of-two alignment up to 64 KiB; both ends of the fit rule on deallocate.
fn boundaries<S: Subject>() {
    let mut sizes = boundary_sizes(1 << 20);
    sizes.extend([(2 << 20) - 1, 2 << 20, (2 << 20) + 1, (4 << 20) + 1]);
    let mut aligns: Vec<usize> = (0..=16).map(|k| 1 << k).collect();
    if MIRI {
        // Every 16th boundary size up to 64 KiB, one large size either side of the 2 MiB
        // page limit, one above a segment; two alignments (none, and a 64 KiB slice).
        sizes = (sizes.iter().enumerate())
            .filter(|&(i, &s)| i % 16 == 0 && s <= 64 * 1024)
            .map(|(_, &s)| s)
            .collect();
        sizes.extend([65 * 1024, (2 << 20) - 1, (2 << 20) + 1, (4 << 20) + 1]);
        aligns = vec![1, 64 * 1024];
    }
    for align in aligns {
        let s = S::new();
        let a = s.alloc();
        let mut live: Vec<(*mut u8, usize, usize, usize)> = Vec::new();
        for (seed, &size) in sizes.iter().enumerate() {
            if align > 8192 && size > 100_000 {
                continue; // keeps the biggest alignments quick
            }
            let block = a
                .allocate(layout(size, align))
                .unwrap_or_else(|_| panic!("allocate {size} align {align}"));
            let p = block.cast::<u8>().as_ptr();
            let len = block.len();
            assert!(len >= size, "size {size}: length {len}");
            assert_eq!(p as usize % align, 0, "size {size} align {align}: {p:p}");
            fill(p, size, seed);
            live.push((p, size, len, seed));
        }
        let mut sorted = live.clone();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            assert!(
                w[0].0.addr() + w[0].2 <= w[1].0.addr(),
                "overlap: {:x?} {:x?}",
                w[0],
                w[1]
            );
        }
        for (i, &(p, size, len, seed)) in live.iter().enumerate() {
            check(p, size, seed);
            // Both ends of the fit rule: the requested size and the returned length.
            let free_size = if i % 2 == 0 { size } else { len };
            // SAFETY: a live block of `a`, its layout fits.
            unsafe { a.deallocate(NonNull::new(p).unwrap(), layout(free_size, align)) };
        }
        drop(a);
        finish(&s);
    }
}

/// Sizes for the resize matrix: small classes, direct-table edge, medium, large, huge.
const RESIZE_SIZES: &[usize] = &[
    1,
    8,
    24,
    48,
    63,
    64,
    65,
    100,
    1000,
    1024,
    1025,
    4096,
    5000,
    70_000,
    300_000,
    3 << 20,
];

/// grow / shrink / grow_zeroed between every pair of sizes, with alignment changes; contents
/// checked, zeroing checked up to the returned length (after dirtying memory), old layout
/// given with the returned length (fit rule's upper end).
fn resize<S: Subject>() {
    let s = S::new();
    let a = s.alloc();
    let (sizes, aligns): (&[usize], &[(usize, usize)]) = if MIRI {
        (&[1, 65, 70_000], &[(16, 4096)])
    } else {
        (RESIZE_SIZES, &[(8, 8), (1, 64), (64, 8), (16, 4096)])
    };
    // Dirty some memory so zeroing is really tested.
    for &size in sizes {
        let l = layout(size, 8);
        let b = a.allocate(l).unwrap();
        // SAFETY: the whole returned block is ours.
        unsafe { std::ptr::write_bytes(b.cast::<u8>().as_ptr(), 0xAA, b.len()) };
        // SAFETY: live block, its layout.
        unsafe { a.deallocate(b.cast(), l) };
    }
    let mut seed = 0;
    for &from in sizes {
        for &to in sizes {
            for &(old_align, new_align) in aligns {
                seed += 1;
                let old = layout(from, old_align);
                let new = layout(to, new_align);

                // grow / shrink, the old layout given with the returned length when allowed.
                let b = a.allocate(old).unwrap();
                fill(b.cast::<u8>().as_ptr(), from, seed);
                let q = if to >= from {
                    let fit = layout(if b.len() <= to { b.len() } else { from }, old_align);
                    // SAFETY: live block fitting `fit`, `to >= fit.size()`.
                    unsafe { a.grow(b.cast(), fit, new) }
                        .unwrap_or_else(|_| panic!("grow {from} -> {to}"))
                } else {
                    // SAFETY: live block fitting its returned length, `to <= from`.
                    unsafe { a.shrink(b.cast(), layout(b.len(), old_align), new) }
                        .unwrap_or_else(|_| panic!("shrink {from} -> {to}"))
                };
                let qp = q.cast::<u8>().as_ptr();
                assert!(q.len() >= to, "{from} -> {to}: length {}", q.len());
                assert_eq!(
                    qp as usize % new_align,
                    0,
                    "{from} -> {to} align {new_align}"
                );
                check_prefix(qp, from, to, seed);
                // SAFETY: live block; freed with its returned length (fit rule).
                unsafe { a.deallocate(q.cast(), layout(q.len(), new_align)) };

                // grow_zeroed from a dirty block: zeros from the old size to the returned
                // length.
                if to >= from {
                    let b = a.allocate(old).unwrap();
                    // SAFETY: the whole returned block is ours.
                    unsafe { std::ptr::write_bytes(b.cast::<u8>().as_ptr(), 0xAA, b.len()) };
                    fill(b.cast::<u8>().as_ptr(), from, seed);
                    // SAFETY: live block fitting `old`, `to >= from`.
                    let q = unsafe { a.grow_zeroed(b.cast(), old, new) }
                        .unwrap_or_else(|_| panic!("grow_zeroed {from} -> {to}"));
                    let qp = q.cast::<u8>().as_ptr();
                    assert!(q.len() >= to);
                    assert_eq!(qp as usize % new_align, 0);
                    check(qp, from, seed);
                    check_zero(qp, from, q.len());
                    // SAFETY: live block, its requested layout.
                    unsafe { a.deallocate(q.cast(), new) };
                }
            }
        }
    }
    // allocate_zeroed after dirty reuse, at each size.
    for &size in sizes {
        let l = layout(size, 16);
        let b = a.allocate(l).unwrap();
        // SAFETY: ours.
        unsafe { std::ptr::write_bytes(b.cast::<u8>().as_ptr(), 0x55, b.len()) };
        // SAFETY: live, fits.
        unsafe { a.deallocate(b.cast(), l) };
        let z = a.allocate_zeroed(l).unwrap();
        check_zero(z.cast::<u8>().as_ptr(), 0, z.len());
        // SAFETY: live, fits.
        unsafe { a.deallocate(z.cast(), l) };
    }
    drop(a);
    finish(&s);
}

/// Growing one byte at a time (the "triangle"), then shrinking back.
fn triangle<S: Subject>() {
    let s = S::new();
    let a = s.alloc();
    let mut l = layout(1, 8);
    let mut b = a.allocate(l).unwrap();
    // SAFETY: ours.
    unsafe { b.cast::<u8>().as_ptr().write(0) };
    let top = scaled(3000, 300);
    for size in 2..=top {
        let new = layout(size, 8);
        // SAFETY: live block fitting `l`.
        b = unsafe { a.grow(b.cast(), l, new) }.unwrap();
        // SAFETY: inside the block.
        unsafe { b.cast::<u8>().as_ptr().add(size - 1).write(size as u8) };
        l = new;
    }
    for size in (1..top).rev().step_by(7) {
        let new = layout(size, 8);
        // SAFETY: live block fitting `l`.
        b = unsafe { a.shrink(b.cast(), l, new) }.unwrap();
        l = new;
    }
    let p = b.cast::<u8>().as_ptr();
    for i in 1..l.size() {
        // SAFETY: inside the block.
        assert_eq!(unsafe { p.add(i).read() }, (i + 1) as u8);
    }
    // SAFETY: live, fits.
    unsafe { a.deallocate(b.cast(), l) };
    drop(a);
    finish(&s);
}

/// Size 0: dangling and aligned (up to 1 << 63), deallocate a no-op, grow from and shrink to 0.
fn zero_size<S: Subject>() {
    let s = S::new();
    let a = s.alloc();
    for shift in 0..usize::BITS - 1 {
        let l = layout(0, 1 << shift);
        let b = a.allocate(l).unwrap();
        assert_eq!(b.len(), 0);
        assert_eq!(b.cast::<u8>().as_ptr() as usize % (1 << shift), 0);
        // SAFETY: a zero-size block of `a`.
        unsafe { a.deallocate(b.cast(), l) };
        let z = a.allocate_zeroed(l).unwrap();
        // SAFETY: as above.
        unsafe { a.deallocate(z.cast(), l) };
    }
    let l0 = layout(0, 8);
    let b = a.allocate(l0).unwrap();
    // SAFETY: zero-size block, growing to 10 bytes.
    let g = unsafe { a.grow_zeroed(b.cast(), l0, layout(10, 8)) }.unwrap();
    check_zero(g.cast::<u8>().as_ptr(), 0, g.len());
    // SAFETY: live block fitting (10, 8); shrink to 0.
    let z = unsafe { a.shrink(g.cast(), layout(10, 8), l0) }.unwrap();
    assert_eq!(z.len(), 0);
    // SAFETY: zero-size.
    unsafe { a.deallocate(z.cast(), l0) };
    drop(a);
    finish(&s);
}

/// Impossible layouts fail with `Err` (no panic); a failed grow leaves the block intact.
fn impossible<S: Subject>() {
    let s = S::new();
    let a = s.alloc();
    let cases = [
        layout(isize::MAX as usize - 4095, 4096),
        layout(1, 1 << 40),
        layout(isize::MAX as usize / 2, 8),
        layout(1 << 50, 4096),
    ];
    for l in cases {
        assert!(a.allocate(l).is_err(), "{l:?}");
        assert!(a.allocate_zeroed(l).is_err(), "{l:?}");
    }
    for (size, align) in [(24, 8), (100, 8), (5000, 64)] {
        let l = layout(size, align);
        let b = a.allocate(l).unwrap();
        fill(b.cast::<u8>().as_ptr(), size, 9);
        for new in [
            layout(isize::MAX as usize - 4095, 8),
            layout(size + 1, 1 << 40),
        ] {
            // SAFETY: live block fitting `l`, bigger new size.
            assert!(unsafe { a.grow(b.cast(), l, new) }.is_err());
            // SAFETY: as above.
            assert!(unsafe { a.grow_zeroed(b.cast(), l, new) }.is_err());
            check(b.cast::<u8>().as_ptr(), size, 9);
        }
        // SAFETY: still live.
        unsafe { a.deallocate(b.cast(), l) };
    }
    drop(a);
    finish(&s);
}

/// A seeded random sequence of allocate / allocate_zeroed / grow / grow_zeroed / shrink /
/// deallocate against a shadow model: blocks never overlap, contents stay intact.
fn random_ops<S: Subject>() {
    struct Live {
        size: usize,
        len: usize,
        align: usize,
        seed: usize,
    }
    let s = S::new();
    let a = s.alloc();
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) as usize
    };
    // Keyed by pointer (not address): the suite runs under Miri's strict provenance too.
    let mut model: BTreeMap<*mut u8, Live> = BTreeMap::new();
    let no_overlap = |model: &BTreeMap<*mut u8, Live>, p: *mut u8, len: usize| {
        if let Some((&q, l)) = model.range(..=p).next_back() {
            assert!(
                q.addr() + l.len.max(1) <= p.addr(),
                "{q:p}+{} overlaps {p:p}",
                l.len
            );
        }
        if let Some((&q, _)) = model.range(p..).next() {
            assert!(
                p.addr() + len.max(1) <= q.addr(),
                "{p:p}+{len} overlaps {q:p}"
            );
        }
    };
    let pick_size = |r: usize| match r % 16 {
        0..=9 => 1 + r / 16 % 128,
        10..=13 => 1 + r / 16 % 4096,
        14 => 1 + r / 16 % scaled(100_000, 20_000),
        _ => 0,
    };
    for step in 0..scaled(20_000, 60) {
        let r = next();
        let key = model.keys().nth(r / 7 % model.len().max(1)).copied();
        match (r % 10, key) {
            (0..=3, _) | (_, None) => {
                let size = pick_size(next());
                let align = 1 << (next() % 13);
                let l = layout(size, align);
                let zeroed = r % 3 == 0;
                let b = if zeroed {
                    a.allocate_zeroed(l).unwrap()
                } else {
                    a.allocate(l).unwrap()
                };
                if size == 0 {
                    // SAFETY: zero-size.
                    unsafe { a.deallocate(b.cast(), l) };
                    continue;
                }
                let p = b.cast::<u8>().as_ptr();
                assert_eq!(p as usize % align, 0);
                if zeroed {
                    check_zero(p, 0, b.len());
                }
                no_overlap(&model, p, b.len());
                fill(p, size, step);
                model.insert(
                    p,
                    Live {
                        size,
                        len: b.len(),
                        align,
                        seed: step,
                    },
                );
            }
            (4..=6, Some(k)) => {
                let l = model.remove(&k).unwrap();
                check(k, l.size, l.seed);
                let free = if r % 2 == 0 { l.size } else { l.len };
                // SAFETY: live, fitting.
                unsafe { a.deallocate(NonNull::new(k).unwrap(), layout(free, l.align)) };
            }
            (_, Some(k)) => {
                let l = model.remove(&k).unwrap();
                check(k, l.size, l.seed);
                let new_size = pick_size(next()).max(1);
                let new_align = if r % 5 == 0 {
                    1 << (next() % 13)
                } else {
                    l.align
                };
                let old = layout(l.size, l.align);
                let new = layout(new_size, new_align);
                let p = NonNull::new(k).unwrap();
                let zeroed = r % 4 == 0;
                // SAFETY: live block fitting `old`; grow/shrink chosen by size.
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
                }
                .unwrap();
                let qp = q.cast::<u8>().as_ptr();
                assert_eq!(qp as usize % new_align, 0);
                check_prefix(qp, l.size, new_size, l.seed);
                if zeroed && new_size >= l.size {
                    check_zero(qp, l.size, q.len());
                }
                no_overlap(&model, qp, q.len());
                fill(qp, new_size, step);
                model.insert(
                    qp,
                    Live {
                        size: new_size,
                        len: q.len(),
                        align: new_align,
                        seed: step,
                    },
                );
            }
        }
    }
    for (k, l) in std::mem::take(&mut model) {
        check(k, l.size, l.seed);
        // SAFETY: live, fitting.
        unsafe { a.deallocate(NonNull::new(k).unwrap(), layout(l.size, l.align)) };
    }
    drop(a);
    finish(&s);
}

/// `Vec`, `Box` and `hashbrown::HashMap` in the allocator.
fn collections<S: Subject>() {
    let s = S::new();
    {
        let a = s.alloc();
        let n = scaled(10_007, 300) as u64;
        let mut v: AVec<u64, _> = AVec::new_in(a.clone());
        for i in 0..n {
            v.push(i);
        }
        assert_eq!(v.iter().sum::<u64>(), (n - 1) * n / 2);
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v.len(), 10);

        // Boxes (their frees reach the engine's page headers; see docs/miri.md).
        {
            let boxes: Vec<ABox<[u8; 64], _>> = (0..scaled(1000, 50))
                .map(|i| ABox::new_in([i as u8; 64], a.clone()))
                .collect();
            for (i, b) in boxes.iter().enumerate() {
                assert!(b.iter().all(|&x| x == i as u8));
            }
            let big = ABox::new_in([7u64; 1000], a.clone());
            assert_eq!(big[999], 7);
        }

        let keys = scaled(10_000, 150) as u32;
        let mut m = hashbrown::HashMap::new_in(a.clone());
        for i in 0..keys {
            m.insert(i, i * 2);
        }
        for i in (0..keys).step_by(3) {
            m.remove(&i);
        }
        assert_eq!(m.len() as u32, keys - keys.div_ceil(3));
        assert_eq!(m[&1], 2);
        let mut strings: AVec<AVec<u8, _>, _> = AVec::new_in(a.clone());
        for i in 0..scaled(500, 20) {
            let mut s = AVec::new_in(a.clone());
            s.extend_from_slice(format!("string number {i}").as_bytes());
            strings.push(s);
        }
        assert_eq!(&strings[17][..], b"string number 17");
    }
    finish(&s);
}

macro_rules! contract_suite {
    ($($name:ident: $subject:ident,)*) => {$(
        mod $name {
            #[test]
            fn boundaries() {
                super::boundaries::<super::$subject>();
            }
            #[test]
            fn resize() {
                super::resize::<super::$subject>();
            }
            #[test]
            fn triangle() {
                super::triangle::<super::$subject>();
            }
            #[test]
            fn zero_size() {
                super::zero_size::<super::$subject>();
            }
            #[test]
            // Miri stops with "resource exhaustion" when the program asks its host for more
            // memory than it has (an allocator passing a 1 PiB request to the OS), where the
            // OS would return null.
            #[cfg_attr(miri, ignore = "Miri aborts on impossible host allocations")]
            fn impossible() {
                super::impossible::<super::$subject>();
            }
            #[test]
            fn random_ops() {
                super::random_ops::<super::$subject>();
            }
            #[test]
            fn collections() {
                super::collections::<super::$subject>();
            }
        }
    )*};
}

contract_suite! {
    arena: Arena,
    pool: Pool64,
    pool_page: PoolPage,
    sync_pool: Sync48,
    sync_pool_handle: Handle64,
    static_pool: Static64,
    slab: Slab,
    global_path: Global,
}

/// The suite again under a limit. Under Miri only the tests whose requests reach the limit's
/// checks in new ways run here (growth and moves, random sequences, impossible sizes,
/// collections); the others take the same paths as without a limit and run in the suite
/// above.
macro_rules! limited_contract_suite {
    ($($name:ident: $subject:ident,)*) => {$(
        mod $name {
            #[test]
            #[cfg_attr(miri, ignore = "same paths as the unlimited suite")]
            fn boundaries() {
                super::boundaries::<super::$subject>();
            }
            #[test]
            fn resize() {
                super::resize::<super::$subject>();
            }
            #[test]
            #[cfg_attr(miri, ignore = "same paths as the unlimited suite")]
            fn triangle() {
                super::triangle::<super::$subject>();
            }
            #[test]
            #[cfg_attr(miri, ignore = "same paths as the unlimited suite")]
            fn zero_size() {
                super::zero_size::<super::$subject>();
            }
            #[test]
            fn impossible() {
                // Refused by the limit before any host allocation, so Miri runs it too.
                super::impossible::<super::$subject>();
            }
            #[test]
            fn random_ops() {
                super::random_ops::<super::$subject>();
            }
            #[test]
            fn collections() {
                super::collections::<super::$subject>();
            }
        }
    )*};
}

limited_contract_suite! {
    arena_limited: ArenaLimited,
    pool_limited: Pool64Limited,
    sync_pool_limited: Sync48Limited,
    slab_limited: SlabLimited,
}

// ---------------------------------------------------------------- beyond the contract

/// Pool and SyncPool reuse the most recently freed block first (LIFO).
#[test]
fn pools_are_lifo() {
    let l = layout(64, 8);
    let pool = Pool::new(l);
    let sp = SyncPool::new(l);
    let check_lifo = |a: &dyn Allocator| {
        let blocks: Vec<_> = (0..10).map(|_| a.allocate(l).unwrap()).collect();
        let addrs: Vec<*mut u8> = blocks.iter().map(|b| b.cast::<u8>().as_ptr()).collect();
        for b in &blocks {
            // SAFETY: live, fitting.
            unsafe { a.deallocate(b.cast(), l) };
        }
        for &expect in addrs.iter().rev() {
            let b = a.allocate(l).unwrap();
            assert_eq!(b.cast::<u8>().as_ptr(), expect);
        }
        for &p in &addrs {
            // SAFETY: live again.
            unsafe { a.deallocate(NonNull::new(p).unwrap(), l) };
        }
    };
    check_lifo(&&pool);
    check_lifo(&&sp);
    assert_eq!(pool.stats().live_blocks(), 0);
    assert_eq!(sp.stats().live_blocks(), 0);
}

/// A pool's free path tells pool blocks from fallback blocks without the layout while fallback
/// blocks are live: every kind (small, page-sized, aligned, huge) freed in a shuffled order
/// among pool blocks, with the counts and LIFO reuse checked after every free.
#[test]
fn pools_tell_their_blocks_from_fallback_blocks() {
    let l = layout(64, 8);
    let pool = Pool::new(l);
    let sp = SyncPool::new(l);
    let fallback_layouts = [
        layout(65, 8),
        layout(64, 16),
        layout(4096, 4096),
        layout(100_000, 8),
        layout(scaled(3 << 20, 300_000), 64),
    ];
    let run = |a: &dyn Allocator, stats: &dyn Fn() -> (usize, usize)| {
        let mut live: Vec<(NonNull<u8>, Layout, usize)> = Vec::new();
        for round in 0..scaled(20, 4) {
            for (i, x) in [l, fallback_layouts[round % fallback_layouts.len()], l]
                .into_iter()
                .enumerate()
            {
                let p = a.allocate(x).unwrap().cast::<u8>();
                fill(p.as_ptr(), x.size(), 3 * round + i);
                live.push((p, x, 3 * round + i));
            }
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        while !live.is_empty() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let (p, pl, seed) = live.swap_remove(rng as usize % live.len());
            check(p.as_ptr(), pl.size(), seed);
            // SAFETY: live, allocated with `pl`.
            unsafe { a.deallocate(p, pl) };
            let pool_live = live.iter().filter(|(_, x, _)| *x == l).count();
            let fallback_live = live.len() - pool_live;
            assert_eq!(stats(), (pool_live + fallback_live, fallback_live));
            if pl == l {
                // A pool block went back to the free list (not to the engine): it comes next.
                let q = a.allocate(l).unwrap().cast::<u8>();
                assert_eq!(
                    q, p,
                    "a pool block freed among fallback blocks is reused first"
                );
                // SAFETY: live, allocated with `l`.
                unsafe { a.deallocate(q, l) };
            }
        }
    };
    run(&&pool, &|| {
        let s = pool.stats();
        (s.live_blocks(), s.fallback_live_blocks())
    });
    run(&&sp, &|| {
        let s = sp.stats();
        (s.live_blocks(), s.fallback_live_blocks())
    });
    #[allow(dead_code)]
    struct Tell64([u64; 8]);
    allocgator::static_pool!(Tell64Pool, Tell64);
    run(&Tell64Pool, &|| {
        let s = Tell64Pool::pool().stats();
        (s.live_blocks(), s.fallback_live_blocks())
    });
}

/// `static_pool!`: a one-word box (an enum of them two words, as with `Box<T>`), allocated on
/// one thread and freed on others, with the pool's counts exact afterwards.
#[test]
fn static_pool_boxes_are_one_word_and_free_anywhere() {
    #[allow(dead_code)]
    struct Ping(u64);
    #[allow(dead_code)]
    struct Blob([u8; 200]);
    allocgator::static_pool!(PingPool, Ping);
    allocgator::static_pool!(BlobPool, Blob);
    #[allow(dead_code)]
    enum Msg {
        Ping(ABox<Ping, PingPool>),
        Blob(ABox<Blob, BlobPool>),
    }
    assert_eq!(size_of::<ABox<Ping, PingPool>>(), size_of::<usize>());
    assert_eq!(size_of::<Msg>(), 2 * size_of::<usize>());
    assert_eq!(
        (PingPool::pool().block_size(), BlobPool::pool().block_size()),
        (8, 200)
    );
    let n = scaled(20_000, 200) as u64;
    let msgs: Vec<Msg> = (0..n)
        .map(|i| match i % 3 {
            0 => Msg::Blob(ABox::new_in(Blob([i as u8; 200]), BlobPool)),
            _ => Msg::Ping(ABox::new_in(Ping(i), PingPool)),
        })
        .collect();
    assert_eq!(
        PingPool::pool().stats().live_blocks() + BlobPool::pool().stats().live_blocks(),
        n as usize
    );
    let (evens, odds): (Vec<_>, Vec<_>) =
        msgs.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let sum = |v: Vec<(usize, Msg)>| {
        std::thread::spawn(move || {
            v.into_iter()
                .map(|(i, m)| match m {
                    Msg::Ping(p) => p.0,
                    Msg::Blob(b) => {
                        assert!(b.0.iter().all(|&x| x == i as u8));
                        i as u64
                    }
                })
                .sum::<u64>()
        })
    };
    let (a, b) = (sum(evens), sum(odds));
    assert_eq!(a.join().unwrap() + b.join().unwrap(), n * (n - 1) / 2);
    assert_eq!(PingPool::pool().stats().live_blocks(), 0);
    assert_eq!(BlobPool::pool().stats().live_blocks(), 0);
    // The freed blocks are reused: the pool did not grow for a second round.
    let chunks = BlobPool::pool().stats().chunks();
    let again: Vec<_> = (0..n / 3)
        .map(|_| ABox::new_in(Blob([1; 200]), BlobPool))
        .collect();
    assert_eq!(BlobPool::pool().stats().chunks(), chunks);
    drop(again);
}

/// SyncPool blocks allocated on one thread and freed on another, through handles moved into a
/// spawned thread.
#[test]
fn sync_pool_cross_thread() {
    let pool = SyncPool::for_type::<[u64; 8]>();
    let h = pool.handle();
    let boxes: Vec<ABox<[u64; 8], SyncPoolHandle>> = (0..scaled(10_000, 100) as u64)
        .map(|i| ABox::new_in([i; 8], h.clone()))
        .collect();
    let t = std::thread::spawn(move || {
        for (i, b) in boxes.into_iter().enumerate() {
            assert!(b.iter().all(|&x| x == i as u64));
        }
    });
    t.join().unwrap();
    assert_eq!(pool.stats().live_blocks(), 0);
    drop(h);
}

/// A 4-thread SyncPool stress with a transfer array (every word of a block carries a cookie
/// checked at free): concurrent pops and pushes. (Under Miri too: the free list's links
/// live out of line, so a pop never reads a block another thread may be writing.)
#[test]
#[allow(clippy::disallowed_types)] // plain std atomics in a test (not loom-modelled)
fn sync_pool_transfer_stress() {
    let pool = SyncPool::for_type::<[u64; 8]>();
    use std::sync::atomic::{AtomicPtr, Ordering};
    let slots: Vec<AtomicPtr<u64>> = (0..scaled(256, 32))
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect();
    let l = layout(64, 8);
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (pool, slots) = (&pool, &slots);
            s.spawn(move || {
                let a = pool;
                let mut rng = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t as u64 + 1);
                for _ in 0..scaled(100_000, 100) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let b = a.allocate(l).unwrap().cast::<u64>().as_ptr();
                    let cookie = (b.addr() as u64) ^ 0xC0FF_EE00;
                    for w in 0..8 {
                        // SAFETY: our fresh 64-byte block.
                        unsafe { b.add(w).write(cookie) };
                    }
                    let slot = &slots[rng as usize % slots.len()];
                    let old = slot.swap(b, Ordering::AcqRel);
                    if !old.is_null() {
                        for w in 0..8 {
                            // SAFETY: a live block handed over through the slot.
                            let v = unsafe { old.add(w).read() };
                            assert_eq!(v, (old.addr() as u64) ^ 0xC0FF_EE00, "corrupted block");
                        }
                        // SAFETY: live, fitting; freed once (taken out of the slot).
                        unsafe { a.deallocate(NonNull::new(old.cast()).unwrap(), l) };
                    }
                }
            });
        }
    });
    for slot in &slots {
        let p = slot.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: live, fitting.
            unsafe { (&pool).deallocate(NonNull::new(p.cast()).unwrap(), l) };
        }
    }
    assert_eq!(pool.stats().live_blocks(), 0);
}

/// Engine blocks allocated on two threads and freed on a third (the remote-free protocol: a
/// push on the page's `thread_free`, collected by the owner), while the owners keep
/// allocating; a `Slab` moved to another thread with its blocks. Small enough for Miri's
/// scheduler seeds (`-Zmiri-many-seeds`).
#[test]
fn engine_blocks_freed_across_threads() {
    use std::sync::mpsc;
    let rounds = scaled(2_000, 30);
    let (tx, rx) = mpsc::channel::<AVec<u64, Allocgator>>();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let tx = tx.clone();
            s.spawn(move || {
                let mut kept: Vec<AVec<u64, Allocgator>> = Vec::new();
                for i in 0..rounds as u64 {
                    let len = 1 + (i * 7 + t * 3) as usize % 600;
                    let mut v = AVec::with_capacity_in(len, Allocgator);
                    v.extend((0..len as u64).map(|k| k ^ (t << 32)));
                    if i % 3 == 0 {
                        kept.push(v); // freed later by its owner
                    } else {
                        tx.send(v).unwrap(); // freed by the consumer
                    }
                }
                for v in kept {
                    assert!(v
                        .iter()
                        .enumerate()
                        .all(|(k, &x)| x == k as u64 ^ (t << 32)));
                }
            });
        }
        drop(tx);
        s.spawn(move || {
            let mut n = 0;
            for v in rx {
                let t = v[0] >> 32;
                assert!(v
                    .iter()
                    .enumerate()
                    .all(|(k, &x)| x == k as u64 ^ (t << 32)));
                n += 1;
            }
            assert_eq!(n, 2 * (rounds - rounds.div_ceil(3)));
        });
    });
    // A slab (a private heap) and a vector in it, moved to another thread and used there.
    let slab = Slab::new();
    let handoff = std::thread::spawn(move || {
        {
            let mut v: AVec<u32, &Slab> = AVec::new_in(&slab);
            v.extend(0..scaled(1000, 50) as u32);
            assert_eq!(v[v.len() - 1] as usize, v.len() - 1);
        }
        assert_eq!(slab.stats().live_blocks(), 0);
        slab
    });
    let slab = handoff.join().unwrap();
    let v: AVec<u8, &Slab> = AVec::with_capacity_in(100, &slab);
    assert_eq!(slab.stats().live_blocks(), 1);
    drop(v);
}

/// `Arena::reset` reuses its memory: chunk bytes stay flat over many rounds.
#[test]
fn arena_reset_reuses_memory() {
    let mut arena = Arena::new();
    let mut first = 0;
    let n = scaled(10_007, 300) as u64;
    for round in 0..scaled(200, 5) {
        for i in 0..n {
            arena.alloc(i);
        }
        for i in 0..n {
            arena.alloc([i as u8; 32]);
        }
        {
            let mut v = AVec::new_in(&arena);
            v.extend(0..n / 2);
        }
        // Round 0 grows chunk by chunk, round 1 may need one more (reset keeps the largest);
        // from then on the memory is flat.
        if round == 2 {
            first = arena.allocated_bytes();
        } else if round > 2 {
            assert_eq!(arena.allocated_bytes(), first, "round {round}");
        }
        arena.reset();
        assert_eq!(arena.stats().chunks(), 1);
        assert_eq!(arena.stats().live_bytes(), 0);
    }
}

/// The most recent arena allocation grows and shrinks in place.
#[test]
fn arena_last_allocation_resizes_in_place() {
    let arena = Arena::with_capacity(1 << 20);
    let mut v: AVec<u64, &Arena> = AVec::new_in(&arena);
    v.push(1);
    let first = v.as_ptr();
    for i in 0..scaled(50_000, 2_000) as u64 {
        v.push(i);
    }
    assert_eq!(
        v.as_ptr(),
        first,
        "the vector moved while it was the last allocation"
    );
    assert_eq!(arena.stats().chunks(), 1);
}

/// A block alone in its chunk takes the chunk along when it outgrows it: a `Vec` growing from
/// an empty arena ends in one chunk, not one per doubling, with its contents intact; the same
/// through `grow_zeroed`; a block sharing its chunk still moves the old way.
#[test]
fn arena_block_alone_in_its_chunk_takes_the_chunk_along() {
    let n = scaled(300_000, 3_000) as u64;
    let arena = Arena::new();
    let mut v: AVec<u64, &Arena> = AVec::new_in(&arena);
    for i in 0..n {
        v.push(i * 3);
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
    let s = arena.stats();
    assert_eq!(s.chunks(), 1, "{s}");
    assert_eq!(s.live_blocks(), 1, "{s}");
    // One chunk, at most about twice what the vector needs (doubling).
    assert!(
        arena.allocated_bytes() <= 4 * n as usize * 8 + (64 << 10),
        "{} bytes for {} of vector",
        arena.allocated_bytes(),
        n * 8
    );
    drop(v);

    // grow_zeroed through the moving path: the new tail reads as zeros.
    let arena = Arena::new();
    let old = Layout::from_size_align(4000, 8).unwrap();
    let new = Layout::from_size_align(100_000, 8).unwrap();
    let p = (&arena).allocate(old).unwrap().cast::<u8>();
    // SAFETY: a fresh 4000-byte block.
    unsafe { p.as_ptr().write_bytes(0xAB, old.size()) };
    // SAFETY: a live block of `old`; `new` is larger.
    let q = unsafe { (&arena).grow_zeroed(p, old, new) }.unwrap();
    assert!(q.len() >= new.size());
    // SAFETY: the grown block is `q.len()` bytes.
    let bytes = unsafe { core::slice::from_raw_parts(q.cast::<u8>().as_ptr(), q.len()) };
    assert!(bytes[..old.size()].iter().all(|&b| b == 0xAB));
    assert!(bytes[old.size()..].iter().all(|&b| b == 0));
    assert_eq!(arena.stats().chunks(), 1);
    // SAFETY: the live block, with the layout it was grown to.
    unsafe { (&arena).deallocate(q.cast(), new) };
    assert_eq!(arena.stats().live_blocks(), 0);

    // Not alone: a value before it stays where it is, and so does its chunk.
    let arena = Arena::new();
    let keep = arena.alloc(0xFEED_u64) as *const u64;
    let mut v: AVec<u64, &Arena> = AVec::new_in(&arena);
    v.extend(0..10_000u64);
    // SAFETY: the value lives as long as the arena (never freed before reset).
    assert_eq!(unsafe { *keep }, 0xFEED);
    assert!(arena.stats().chunks() > 1);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
}

/// Statistics display as tables.
#[test]
fn stats_display() {
    let pool = Pool::for_type::<u64>();
    let b = ABox::new_in(1u64, &pool);
    let text = pool.stats().to_string();
    assert!(text.contains("live blocks"), "{text}");
    drop(b);
    let slab = Slab::new();
    let v: AVec<u8, &Slab> = AVec::with_capacity_in(100, &slab);
    let text = slab.stats().to_string();
    assert!(text.contains("live"), "{text}");
    drop(v);
}

/// Static pools' thread caches: a thread's cache goes back to the pool when the thread exits
/// (blocks reused, counts exact), more threads than a pool has caches and more pools than a
/// thread can cache still work (through the shared stacks), and a producer/consumer pair hands
/// blocks over in batches without losing one.
#[test]
fn static_pool_thread_caches() {
    #[allow(dead_code)]
    struct Cached([u64; 4]);
    allocgator::static_pool!(CachedPool, Cached);
    let pool = CachedPool::pool();
    let n = scaled(5000, 100);
    // Each thread frees into its own cache, then exits: everything comes back. (Joined by
    // hand: a scope's implicit join can return before a thread's thread-local destructors,
    // which give its caches back, have run.)
    let threads: Vec<_> = (0..scaled(80, 6))
        .map(|t| {
            std::thread::spawn(move || {
                let v: Vec<_> = (0..n)
                    .map(|i| ABox::new_in(Cached([(t * n + i) as u64; 4]), CachedPool))
                    .collect();
                for (i, b) in v.iter().enumerate() {
                    assert_eq!(b.0, [(t * n + i) as u64; 4]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.live_blocks(), 0, "{s}");
    let capacity = s.capacity_blocks();
    // What the exited threads gave back serves another thread (with a cache of its own): all
    // of the pool's blocks, and the pool does not grow.
    std::thread::spawn(move || {
        let again: Vec<_> = (0..capacity)
            .map(|_| ABox::new_in(Cached([2; 4]), CachedPool))
            .collect();
        assert_eq!(pool.stats().capacity_blocks(), capacity);
        assert_eq!(pool.stats().live_blocks(), capacity);
        drop(again);
    })
    .join()
    .unwrap();
    // Threads that come and go one after another (a churning thread pool) reuse what the
    // ones before them gave back. (At once, each would take a chain of its own: a cache holds
    // up to 32 KiB of blocks that other threads do not see.)
    for _ in 0..4 {
        std::thread::spawn(move || {
            drop(
                (0..n)
                    .map(|_| ABox::new_in(Cached([1; 4]), CachedPool))
                    .collect::<Vec<_>>(),
            )
        })
        .join()
        .unwrap();
    }
    assert_eq!(pool.stats().capacity_blocks(), capacity);
    // Producer/consumer: boxes made on one thread, dropped on another.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ABox<Cached, CachedPool>>>(2);
    let consumer = std::thread::spawn(move || {
        for batch in rx {
            for (i, b) in batch.iter().enumerate() {
                assert_eq!(b.0, [i as u64; 4]);
            }
        }
    });
    for _ in 0..scaled(200, 5) {
        tx.send(
            (0..256)
                .map(|i| ABox::new_in(Cached([i; 4]), CachedPool))
                .collect(),
        )
        .unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    assert_eq!(pool.stats().live_blocks(), 0);
}

/// More static pools than a thread's table holds: the pools past it work uncached.
#[test]
fn many_static_pools() {
    macro_rules! pools {
        ($($ty:ident $pool:ident),*) => {
            $(
                #[allow(dead_code)]
                struct $ty(u64);
                allocgator::static_pool!($pool, $ty);
            )*
            let mut live = Vec::new();
            for round in 0..3u64 {
                $(
                    for i in 0..scaled(100, 3) as u64 {
                        live.push(Box::new(ABox::new_in($ty(round * 1000 + i), $pool)) as Box<dyn std::any::Any>);
                    }
                )*
                live.truncate(live.len() / 2);
            }
            drop(live);
            $(assert_eq!($pool::pool().stats().live_blocks(), 0, stringify!($pool));)*
        };
    }
    pools!(
        A0 P0, A1 P1, A2 P2, A3 P3, A4 P4, A5 P5, A6 P6, A7 P7, A8 P8, A9 P9, B0 Q0, B1 Q1, B2 Q2,
        B3 Q3, B4 Q4, B5 Q5, B6 Q6, B7 Q7, B8 Q8, B9 Q9, C0 R0, C1 R1, C2 R2, C3 R3, C4 R4, C5 R5,
        C6 R6, C7 R7, C8 R8, C9 R9, D0 S0, D1 S1, D2 S2, D3 S3, D4 S4, D5 S5, D6 S6, D7 S7, D8 S8,
        D9 S9, E0 T0, E1 T1, E2 T2, E3 T3, E4 T4, E5 T5, E6 T6, E7 T7, E8 T8, E9 T9, F0 U0, F1 U1,
        F2 U2, F3 U3, F4 U4, F5 U5, F6 U6, F7 U7, F8 U8, F9 U9, G0 V0, G1 V1, G2 V2, G3 V3, G4 V4,
        G5 V5, G6 V6, G7 V7, G8 V8, G9 V9
    );
}
