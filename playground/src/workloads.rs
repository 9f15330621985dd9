//! The workloads (W1–W7, L1–L3; described in `playground/README.md`) and their registry.
//!
//! Every workload does a fixed amount of work `n` (its unit is in
//! [`Workload::unit`]) so all allocators do identical work and times compare
//! directly. `n` is `full_n` at `--full` and divided by 10 (`--quick`) or
//! 1000 (`--smoke`), never below `min_n`.

// The workspace's clippy.toml bans std atomics in favour of the library's loom
// facade; the harness is not loom-tested and uses plain std atomics.
#![allow(clippy::disallowed_types)]

use std::alloc::{alloc, alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::boxed::Box as ABox;
use allocator_api2::vec::Vec as AVec;

use crate::locals::{Arena, BumpScope, Local};
use crate::sys;

/// Result of one run inside a worker.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Operations done (see [`Workload::unit`]).
    pub ops: u64,
    /// Wall time of the measured part.
    pub elapsed_ns: u64,
    /// Workload-specific figures (key, value).
    pub extras: Vec<(&'static str, f64)>,
}

/// How an extra figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraKind {
    /// A size in KiB.
    Kib,
    /// A plain ratio.
    Ratio,
}

/// A workload-specific figure reported next to the timing table.
#[derive(Clone, Copy, Debug)]
pub struct Extra {
    /// Key in the worker's result line.
    pub key: &'static str,
    /// Column header.
    pub header: &'static str,
    /// Formatting.
    pub kind: ExtraKind,
}

/// Which implementation a worker runs a workload with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// The process's `#[global_allocator]`.
    Global,
    /// A local allocator.
    Local(Local),
    /// W1's loop without any allocation (callgrind overhead baseline).
    Empty,
}

impl Impl {
    /// Parses a worker `--impl` value.
    pub fn parse(s: &str) -> Option<Impl> {
        match s {
            "global" => Some(Impl::Global),
            "empty" => Some(Impl::Empty),
            _ => Local::from_impl_tag(s).map(Impl::Local),
        }
    }
}

/// One entry of the registry.
#[derive(Debug)]
pub struct Workload {
    /// Id used by `--filter` and in the tables, e.g. `w2-a`.
    pub id: &'static str,
    /// One-line description.
    pub title: &'static str,
    /// What one counted operation is.
    pub unit: &'static str,
    /// Work at `--full`.
    pub full_n: u64,
    /// Lower bound after scaling.
    pub min_n: u64,
    /// Whether there is a row per global allocator.
    pub globals: bool,
    /// Local allocator rows.
    pub locals: &'static [Local],
    /// Extra figures reported by the worker.
    pub extras: &'static [Extra],
    /// Runs the workload in the current process.
    pub run: fn(Impl, u64) -> Result<Outcome, String>,
}

impl Workload {
    /// Work for the given divisor (see [`crate::args::Mode::divisor`]).
    pub fn n_for(&self, divisor: u64) -> u64 {
        (self.full_n / divisor.max(1)).max(self.min_n)
    }
}

const ARENAS: &[Local] = &[Local::Bumpalo, Local::BumpScope, Local::AllocgatorArena];
const W7_EXTRAS: &[Extra] = &[
    Extra {
        key: "rss_alloc",
        header: "RSS after alloc",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "rss_free90",
        header: "after free 90%",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "rss_alloc2",
        header: "after 2nd alloc",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "rss_free_all",
        header: "after free all",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "rss_idle",
        header: "after 1 s idle",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "rss_trim",
        header: "after trim",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "peak_live",
        header: "peak live",
        kind: ExtraKind::Kib,
    },
    Extra {
        key: "rss_per_live",
        header: "peak RSS/live",
        kind: ExtraKind::Ratio,
    },
];

/// All workloads, in report order.
pub static WORKLOADS: &[Workload] = &[
    w1_entry(
        "w1-16",
        "W1 hot pair: malloc+free of 16 B in a loop",
        w1::<16>,
    ),
    w1_entry(
        "w1-64",
        "W1 hot pair: malloc+free of 64 B in a loop",
        w1::<64>,
    ),
    w1_entry(
        "w1-256",
        "W1 hot pair: malloc+free of 256 B in a loop",
        w1::<256>,
    ),
    w1_entry(
        "w1-1024",
        "W1 hot pair: malloc+free of 1024 B in a loop",
        w1::<1024>,
    ),
    Workload {
        id: "w2-a",
        title: "W2-A random mixed: LCG, 256 slots, 16..1024 B, seed 42",
        unit: "iterations",
        full_n: 50_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[],
        extras: &[],
        run: w2_a,
    },
    Workload {
        id: "w2-b",
        title: "W2-B random mixed: LCG, 400 slots, 16..32768 B, seed 42",
        unit: "iterations",
        full_n: 10_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[],
        extras: &[],
        run: w2_b,
    },
    Workload {
        id: "w3-1t",
        title: "W3 glibc-thread, 1 thread: 1024 slots, inverse-square 4..32K, touch every byte",
        unit: "iterations",
        full_n: 36_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[],
        extras: &[],
        run: w3_1t,
    },
    Workload {
        id: "w3-2t",
        title: "W3 glibc-thread, 2 threads (same work per thread as w3-1t)",
        unit: "iterations",
        full_n: 36_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[],
        extras: &[],
        run: w3_2t,
    },
    Workload {
        id: "w4-larson",
        title: "W4 larson: 2 threads, 8..1000 B, 5000 slots, 100 rounds/thread, successor threads",
        unit: "iterations",
        full_n: 80_000_000,
        min_n: 20_000,
        globals: true,
        locals: &[],
        extras: &[],
        run: w4_larson,
    },
    Workload {
        id: "w5-xmalloc",
        title: "W5 xmalloc: producer allocates 64 B in batches of 4096, consumer frees",
        unit: "objects",
        full_n: 40_000_000,
        min_n: 8192,
        globals: true,
        locals: &[],
        extras: &[],
        run: w5_xmalloc,
    },
    Workload {
        id: "w6-mstress",
        title: "W6 mstress: 2 threads, scale 100, thread churn + shared transfer array",
        unit: "allocations",
        full_n: 50,
        min_n: 1,
        globals: true,
        locals: &[],
        extras: &[],
        run: w6_mstress,
    },
    Workload {
        id: "w6-cache-scratch",
        title: "W6 cache-scratch: 2 threads free main's objects, then 1000 × alloc/write/free",
        unit: "writes",
        full_n: 2_000_000_000,
        min_n: 2_000,
        globals: true,
        locals: &[],
        extras: &[],
        run: w6_cache_scratch,
    },
    Workload {
        id: "w7-rss",
        title: "W7 RSS phases: 4 × [n × 16..512 B, free 90%, n/5 × 1..4 KiB, free all], then 1 s idle, then the allocator's trim; n = 1M at --full",
        unit: "allocations",
        full_n: 1_000_000,
        min_n: 1_000,
        globals: true,
        locals: &[],
        extras: W7_EXTRAS,
        run: w7_rss,
    },
    Workload {
        id: "l1-reset",
        title: "L1 arena: 10,007 × u64 + 10,007 × [u8; 32], then reset (global: Box + drop)",
        unit: "allocations",
        full_n: 6_000,
        min_n: 10,
        globals: true,
        locals: ARENAS,
        extras: &[],
        run: l1_reset,
    },
    Workload {
        id: "l1-grow",
        title: "L1 arena from empty: new arena each round, same allocations (global: Box + drop)",
        unit: "allocations",
        full_n: 6_000,
        min_n: 10,
        globals: true,
        locals: ARENAS,
        extras: &[],
        run: l1_grow,
    },
    Workload {
        id: "l2-pool",
        title: "L2 protocol pool: 4096 live 64 B messages, random replacement (Box<Msg, A>)",
        unit: "replacements",
        full_n: 20_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[Local::AllocgatorPool],
        extras: &[],
        run: l2_pool,
    },
    Workload {
        id: "l2-protocol",
        title: "L2 protocol, four message types (8-200 B), one pool each: 4096 live, random replacement",
        unit: "replacements",
        full_n: 20_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[Local::AllocgatorPool, Local::AllocgatorStaticPool],
        extras: &[],
        run: l2_protocol,
    },
    Workload {
        id: "l2-pool-2t",
        title: "L2 protocol pool, 2 threads: producer boxes messages, consumer drops them",
        unit: "messages",
        full_n: 10_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[Local::AllocgatorSyncPool],
        extras: &[],
        run: l2_pool_2t,
    },
    Workload {
        id: "l3-push",
        title: "L3 Vec::new_in growth: push × 10,007 u64",
        unit: "pushes",
        full_n: 200_000_000,
        min_n: 10_007,
        globals: true,
        locals: ARENAS,
        extras: &[],
        run: l3_push,
    },
    Workload {
        id: "l3-reserve1",
        title: "L3 Vec::new_in growth: reserve_exact(1) + push × 10,007 u64",
        unit: "pushes",
        full_n: 2_000_000,
        min_n: 10_007,
        globals: true,
        locals: ARENAS,
        extras: &[],
        run: l3_reserve1,
    },
    Workload {
        id: "l3-push-1m",
        title: "L3 Vec::new_in growth: push 2^20 u64",
        unit: "pushes",
        full_n: 400 << 20,
        min_n: 1 << 20,
        globals: true,
        locals: ARENAS,
        extras: &[],
        run: l3_push_1m,
    },
];

const fn w1_entry(
    id: &'static str,
    title: &'static str,
    run: fn(Impl, u64) -> Result<Outcome, String>,
) -> Workload {
    Workload {
        id,
        title,
        unit: "pairs",
        full_n: 20_000_000,
        min_n: 10_000,
        globals: true,
        locals: &[],
        extras: &[],
        run,
    }
}

/// Looks a workload up by exact id.
pub fn find(id: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.id == id)
}

// ---------------------------------------------------------------- helpers

fn unsupported(imp: Impl) -> Result<Outcome, String> {
    Err(format!(
        "implementation {imp:?} is not supported by this workload"
    ))
}

fn global_only(imp: Impl) -> Result<(), String> {
    match imp {
        Impl::Global => Ok(()),
        other => unsupported(other).map(|_| ()),
    }
}

fn timed(ops: u64, f: impl FnOnce()) -> Outcome {
    let t = Instant::now();
    f();
    Outcome {
        ops,
        elapsed_ns: t.elapsed().as_nanos() as u64,
        extras: Vec::new(),
    }
}

#[inline]
fn layout(size: usize) -> Layout {
    // Align 8 like a C malloc of small objects; sizes are never zero here.
    Layout::from_size_align(size.max(1), 8).expect("valid layout")
}

#[inline]
fn raw_alloc(l: Layout) -> *mut u8 {
    // SAFETY: `l` has a non-zero size (see `layout`).
    let p = unsafe { alloc(l) };
    if p.is_null() {
        handle_alloc_error(l);
    }
    p
}

#[inline]
fn raw_free(p: *mut u8, l: Layout) {
    // SAFETY: every caller passes a pointer from `raw_alloc` with the same layout.
    unsafe { dealloc(p, l) }
}

/// The 32-bit LCG of W2 (Numerical Recipes constants).
#[derive(Clone, Copy)]
struct Lcg32(u32);
impl Lcg32 {
    #[inline]
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0
    }
}

/// xorshift64 for the other workloads.
#[derive(Clone, Copy)]
struct XorShift(u64);
impl XorShift {
    fn new(seed: u64) -> Self {
        // Mix the seed so small seeds do not start in a low-entropy state.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    #[inline]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A raw pointer that may be moved to another thread (the workloads hand
/// blocks between threads on purpose).
struct SendPtr<T>(T);
// SAFETY: the wrapped pointers are owned by exactly one thread at a time.
unsafe impl<T> Send for SendPtr<T> {}

// ---------------------------------------------------------------- W1

fn w1<const SIZE: usize>(imp: Impl, n: u64) -> Result<Outcome, String> {
    let l = layout(SIZE);
    match imp {
        Impl::Global => Ok(timed(n, || {
            for _ in 0..n {
                let p = black_box(raw_alloc(l));
                raw_free(p, l);
            }
        })),
        Impl::Empty => Ok(timed(n, || {
            // Same loop shape, no allocator call: the harness overhead.
            let mut x = 0usize;
            for _ in 0..n {
                x = black_box(x);
            }
        })),
        other => unsupported(other),
    }
}

// ---------------------------------------------------------------- W2

fn w2(n: u64, ws: u32, min: u32, max: u32, seed: u32) -> Outcome {
    let mut slots: Vec<(*mut u8, usize)> = vec![(ptr::null_mut(), 0); ws as usize];
    let range = max - min;
    let mut r = Lcg32(seed);
    timed(n, || {
        for _ in 0..n {
            let x = r.next();
            let slot = &mut slots[(x % ws) as usize];
            if slot.0.is_null() {
                let size = (min + x % range) as usize;
                let p = black_box(raw_alloc(layout(size)));
                *slot = (p, size);
            } else {
                raw_free(slot.0, layout(slot.1));
                slot.0 = ptr::null_mut();
            }
        }
        for (p, size) in slots.drain(..) {
            if !p.is_null() {
                raw_free(p, layout(size));
            }
        }
    })
}

fn w2_a(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    Ok(w2(n, 256, 16, 1024, 42))
}

fn w2_b(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    Ok(w2(n, 400, 16, 32768, 42))
}

// ---------------------------------------------------------------- W3

/// 8000 sizes in 4..=32768 drawn with probability proportional to 1/size².
fn inverse_square_sizes() -> Vec<u32> {
    let (a, b) = (4.0f64, 32768.0f64);
    let mut rng = XorShift::new(7);
    (0..8000)
        .map(|_| {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            // Inverse CDF of p(s) ∝ 1/s² on [a, b].
            let s = 1.0 / (1.0 / a - u * (1.0 / a - 1.0 / b));
            (s as u32).clamp(4, 32768)
        })
        .collect()
}

fn w3_thread(sizes: &[u32], n: u64, seed: u64) {
    const SLOTS: usize = 1024;
    let mut slots: Vec<(*mut u8, usize)> = vec![(ptr::null_mut(), 0); SLOTS];
    let mut rng = XorShift::new(seed);
    for _ in 0..n {
        let r = rng.next();
        let slot = &mut slots[(r % SLOTS as u64) as usize];
        if !slot.0.is_null() {
            raw_free(slot.0, layout(slot.1));
        }
        let size = sizes[((r >> 20) % sizes.len() as u64) as usize] as usize;
        let p = raw_alloc(layout(size));
        // SAFETY: `p` points to `size` writable bytes.
        unsafe { ptr::write_bytes(p, (r >> 40) as u8, size) };
        *slot = (black_box(p), size);
    }
    for (p, size) in slots {
        if !p.is_null() {
            raw_free(p, layout(size));
        }
    }
}

fn w3(threads: u64, n: u64) -> Outcome {
    let sizes = inverse_square_sizes();
    let sizes = &sizes;
    timed(n * threads, || {
        thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || w3_thread(sizes, n, 1000 + t));
            }
        })
    })
}

fn w3_1t(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    Ok(w3(1, n))
}

fn w3_2t(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    Ok(w3(2, n))
}

// ---------------------------------------------------------------- W4

const LARSON_SLOTS: usize = 5000;
const LARSON_GEN: u64 = 100 * LARSON_SLOTS as u64; // 100 rounds × 5000 slots per thread

struct Lineage {
    slots: Vec<(*mut u8, usize)>,
    rng: Lcg32,
    remaining: u64,
}

fn larson_generation(mut lin: SendPtr<Lineage>, done: mpsc::Sender<SendPtr<Lineage>>) {
    let l = &mut lin.0;
    let todo = l.remaining.min(LARSON_GEN);
    for _ in 0..todo {
        let victim = (l.rng.next() % LARSON_SLOTS as u32) as usize;
        let slot = &mut l.slots[victim];
        raw_free(slot.0, layout(slot.1));
        let size = (8 + l.rng.next() % (1000 - 8)) as usize;
        let p = raw_alloc(layout(size));
        // SAFETY: size >= 8, so the first two bytes are writable ("write something").
        unsafe {
            p.write_volatile(b'a');
            p.add(1).write_volatile(b'b');
        }
        *slot = (p, size);
    }
    l.remaining -= todo;
    if l.remaining == 0 {
        let _ = done.send(lin);
    } else {
        // Like larson: the finishing thread starts its successor, which inherits the
        // array and so frees blocks allocated by a thread that has exited.
        thread::spawn(move || larson_generation(lin, done));
    }
}

fn w4_larson(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    const THREADS: u64 = 2;
    let per = n.div_ceil(THREADS);
    // The main thread fills the arrays first (larson's warm-up), so the first
    // frees of every worker are frees of another thread's blocks.
    let lineages: Vec<Lineage> = (0..THREADS)
        .map(|t| {
            let mut rng = Lcg32(4141 + t as u32);
            let slots = (0..LARSON_SLOTS)
                .map(|_| {
                    let size = (8 + rng.next() % (1000 - 8)) as usize;
                    (raw_alloc(layout(size)), size)
                })
                .collect();
            Lineage {
                slots,
                rng,
                remaining: per,
            }
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let mut finished = Vec::new();
    let out = timed(per * THREADS, || {
        for lin in lineages {
            let tx = tx.clone();
            let lin = SendPtr(lin);
            thread::spawn(move || larson_generation(lin, tx));
        }
        for _ in 0..THREADS {
            finished.push(rx.recv().expect("larson lineage finished"));
        }
    });
    for lin in finished {
        for (p, size) in lin.0.slots {
            raw_free(p, layout(size));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- W5

fn w5_xmalloc(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    const BATCH: usize = 4096;
    let batches = n.div_ceil(BATCH as u64);
    type Batch = Vec<Box<[u8; 64]>>;
    let (tx, rx) = mpsc::sync_channel::<Batch>(4);
    let (back_tx, back_rx) = mpsc::channel::<Batch>();
    // Pre-allocate the batch vectors so only the 64 B objects are measured.
    for _ in 0..6 {
        back_tx.send(Vec::with_capacity(BATCH)).expect("send");
    }
    Ok(timed(batches * BATCH as u64, || {
        thread::scope(|s| {
            s.spawn(move || {
                for mut v in rx {
                    v.clear(); // the consumer frees the producer's objects
                    if back_tx.send(v).is_err() {
                        break;
                    }
                }
            });
            for b in 0..batches {
                let mut v = back_rx.recv().expect("batch vector");
                for i in 0..BATCH {
                    v.push(black_box(Box::new([(b as usize ^ i) as u8; 64])));
                }
                tx.send(v).expect("consumer alive");
            }
            drop(tx);
        })
    }))
}

// ---------------------------------------------------------------- W6

const MSTRESS_TRANSFERS: usize = 1000;
const MSTRESS_COOKIE: u64 = 0xbf58_476d_1ce4_e5b9;

#[inline]
fn chance(perc: u64, r: &mut XorShift) -> bool {
    r.next() % 100 <= perc
}

/// mimalloc's `alloc_items`: `items` words, zeroed then filled with a
/// checkable pattern whose first word also records the length.
fn ms_alloc_items(mut items: usize, r: &mut XorShift) -> *mut u64 {
    if chance(1, r) {
        items *= 100; // 1% large objects
    }
    if items == 40 {
        items += 1;
    }
    let items = items.max(1);
    let l = Layout::array::<u64>(items).expect("layout");
    // SAFETY: non-zero size.
    let p = unsafe { alloc_zeroed(l) } as *mut u64;
    if p.is_null() {
        handle_alloc_error(l);
    }
    for i in 0..items {
        // SAFETY: `i < items`.
        unsafe {
            assert_eq!(*p.add(i), 0, "mstress: calloc'd memory is not zero");
            *p.add(i) = (items - i) as u64 ^ MSTRESS_COOKIE;
        }
    }
    p
}

fn ms_free_items(p: *mut u64) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `ms_alloc_items`, whose first word encodes the length.
    unsafe {
        let items = (*p ^ MSTRESS_COOKIE) as usize;
        assert!(
            items > 0 && items < 1 << 30,
            "mstress: corrupted block header"
        );
        for i in 0..items {
            assert_eq!(
                *p.add(i) ^ MSTRESS_COOKIE,
                (items - i) as u64,
                "mstress: memory corrupted (block overwritten while live)"
            );
        }
        dealloc(p as *mut u8, Layout::array::<u64>(items).expect("layout"));
    }
}

fn ms_stress(tid: u64, scale: u64, transfer: &[AtomicPtr<u64>]) -> u64 {
    let mut r = XorShift::new((tid + 1) * 43);
    const MAX_ITEM_SHIFT: u64 = 5; // 128 words
    const MAX_ITEM_RETAINED_SHIFT: u64 = MAX_ITEM_SHIFT + 2;
    let mut allocs = 100 * scale * (tid % 8 + 1);
    let mut retain = allocs / 2;
    let total = allocs + retain;
    let mut data: Vec<*mut u64> = Vec::new();
    let mut retained: Vec<*mut u64> = Vec::with_capacity(retain as usize);
    while allocs > 0 || retain > 0 {
        if retain == 0 || (chance(50, &mut r) && allocs > 0) {
            allocs -= 1;
            let items = 1usize << (r.next() % MAX_ITEM_SHIFT);
            data.push(ms_alloc_items(items, &mut r));
        } else {
            let items = 1usize << (r.next() % MAX_ITEM_RETAINED_SHIFT);
            retained.push(ms_alloc_items(items, &mut r));
            retain -= 1;
        }
        if chance(66, &mut r) && !data.is_empty() {
            let idx = (r.next() % data.len() as u64) as usize;
            ms_free_items(data[idx]);
            data[idx] = ptr::null_mut();
        }
        if chance(25, &mut r) && !data.is_empty() {
            let idx = (r.next() % data.len() as u64) as usize;
            let t = (r.next() % MSTRESS_TRANSFERS as u64) as usize;
            data[idx] = transfer[t].swap(data[idx], Ordering::AcqRel);
        }
    }
    for p in retained.into_iter().chain(data) {
        ms_free_items(p);
    }
    total
}

fn w6_mstress(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    const THREADS: u64 = 2;
    const SCALE: u64 = 100;
    let transfer: Vec<AtomicPtr<u64>> = (0..MSTRESS_TRANSFERS)
        .map(|_| AtomicPtr::new(ptr::null_mut()))
        .collect();
    let transfer = &transfer;
    let mut r = XorShift::new(12345);
    let mut ops = 0;
    let t0 = Instant::now();
    for iter in 0..n {
        ops += thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|tid| s.spawn(move || ms_stress(tid, SCALE, transfer)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("mstress thread"))
                .sum::<u64>()
        });
        for slot in transfer.iter() {
            if chance(50, &mut r) || iter + 1 == n {
                ms_free_items(slot.swap(ptr::null_mut(), Ordering::AcqRel));
            }
        }
    }
    Ok(Outcome {
        ops,
        elapsed_ns: t0.elapsed().as_nanos() as u64,
        extras: Vec::new(),
    })
}

fn w6_cache_scratch(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    const THREADS: u64 = 2;
    const ITERATIONS: u64 = 1000;
    let reps = n.div_ceil(THREADS).div_ceil(ITERATIONS).max(1);
    let obj = layout(1);
    // The main thread allocates one tiny object per thread, back to back: they
    // probably share a cache line. Each thread frees "its" object first; an
    // allocator that hands it straight back to that thread causes false sharing.
    let objs: Vec<SendPtr<*mut u8>> = (0..THREADS).map(|_| SendPtr(raw_alloc(obj))).collect();
    Ok(timed(THREADS * ITERATIONS * reps, || {
        thread::scope(|s| {
            for given in objs {
                s.spawn(move || {
                    let given = given;
                    raw_free(given.0, obj);
                    for _ in 0..ITERATIONS {
                        let p = raw_alloc(obj);
                        for j in 0..reps {
                            // SAFETY: `p` is a live 1-byte block.
                            unsafe {
                                p.write_volatile(j as u8);
                                black_box(p.read_volatile().wrapping_add(1));
                            }
                        }
                        raw_free(p, obj);
                    }
                });
            }
        })
    }))
}

// ---------------------------------------------------------------- W7

fn w7_rss(imp: Impl, n: u64) -> Result<Outcome, String> {
    global_only(imp)?;
    let n1 = n as usize;
    let n2 = (n / 5) as usize;
    let mut rng = XorShift::new(77);
    let mut live: u64 = 0;
    let mut peak_live: u64 = 0;
    let mut small: Vec<(*mut u8, usize)> = Vec::with_capacity(n1);
    let mut big: Vec<(*mut u8, usize)> = Vec::with_capacity(n2);
    let mut rss = [0u64; 4];
    let mut ops = 0;
    let t0 = Instant::now();
    for _round in 0..4 {
        for _ in 0..n1 {
            let size = 16 + (rng.next() % (512 - 16 + 1)) as usize;
            let p = raw_alloc(layout(size));
            // SAFETY: `p` has `size` writable bytes; touching them makes them resident.
            unsafe { ptr::write_bytes(p, 1, size) };
            small.push((p, size));
            live += size as u64;
        }
        ops += n1 as u64;
        peak_live = peak_live.max(live);
        rss[0] = sys::current_rss_kib();
        // Free 90%: keep every tenth block, so the survivors pin scattered pages.
        let mut kept = Vec::with_capacity(n1 / 10 + 1);
        for (i, (p, size)) in small.drain(..).enumerate() {
            if i % 10 == 0 {
                kept.push((p, size));
            } else {
                raw_free(p, layout(size));
                live -= size as u64;
            }
        }
        small = kept;
        rss[1] = sys::current_rss_kib();
        for _ in 0..n2 {
            let size = 1 + (rng.next() % 4096) as usize;
            let p = raw_alloc(layout(size));
            // SAFETY: as above.
            unsafe { ptr::write_bytes(p, 2, size) };
            big.push((p, size));
            live += size as u64;
        }
        ops += n2 as u64;
        peak_live = peak_live.max(live);
        rss[2] = sys::current_rss_kib();
        for (p, size) in small.drain(..).chain(big.drain(..)) {
            raw_free(p, layout(size));
            live -= size as u64;
        }
        rss[3] = sys::current_rss_kib();
    }
    let elapsed_ns = t0.elapsed().as_nanos() as u64;
    // What the program holds when it stops allocating: after an idle second (free memory an
    // allocator gives back on its own), then after its own trim call, if it has one.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let rss_idle = sys::current_rss_kib();
    let rss_trim = crate::worker::trim_now().then(sys::current_rss_kib);
    let peak_live_kib = peak_live as f64 / 1024.0;
    let hwm = sys::peak_rss_kib() as f64;
    Ok(Outcome {
        ops,
        elapsed_ns,
        extras: vec![
            ("rss_alloc", rss[0] as f64),
            ("rss_free90", rss[1] as f64),
            ("rss_alloc2", rss[2] as f64),
            ("rss_free_all", rss[3] as f64),
            ("rss_idle", rss_idle as f64),
        ]
        .into_iter()
        .chain(rss_trim.map(|kib| ("rss_trim", kib as f64)))
        .chain([
            ("peak_live", peak_live_kib),
            ("rss_per_live", hwm / peak_live_kib),
        ])
        .collect(),
    })
}

// ---------------------------------------------------------------- L1

const L1_N: u64 = 10_007;

fn l1_arena<A: Arena>(rounds: u64, grow: bool) -> Outcome
where
    for<'a> &'a A: Allocator,
{
    let mut arena = A::new();
    timed(rounds * 2 * L1_N, || {
        for _ in 0..rounds {
            if grow {
                arena = A::new(); // drops the previous arena and its chunks
            }
            for i in 0..L1_N {
                black_box(arena.alloc_u64(i));
            }
            for i in 0..L1_N {
                black_box(arena.alloc_32([i as u8; 32]));
            }
            if !grow {
                arena.reset();
            }
        }
        drop(arena);
    })
}

fn l1_global(rounds: u64) -> Outcome {
    let mut a: Vec<Box<u64>> = Vec::with_capacity(L1_N as usize);
    let mut b: Vec<Box<[u8; 32]>> = Vec::with_capacity(L1_N as usize);
    timed(rounds * 2 * L1_N, || {
        for _ in 0..rounds {
            for i in 0..L1_N {
                a.push(black_box(Box::new(i)));
            }
            for i in 0..L1_N {
                b.push(black_box(Box::new([i as u8; 32])));
            }
            a.clear();
            b.clear();
        }
    })
}

fn l1(imp: Impl, rounds: u64, grow: bool) -> Result<Outcome, String> {
    match imp {
        Impl::Global => Ok(l1_global(rounds)),
        Impl::Local(Local::Bumpalo) => Ok(l1_arena::<bumpalo::Bump>(rounds, grow)),
        Impl::Local(Local::BumpScope) => Ok(l1_arena::<BumpScope>(rounds, grow)),
        #[cfg(feature = "allocgator")]
        Impl::Local(Local::AllocgatorArena) => Ok(l1_arena::<allocgator::Arena>(rounds, grow)),
        other => unsupported(other),
    }
}

fn l1_reset(imp: Impl, n: u64) -> Result<Outcome, String> {
    l1(imp, n, false)
}

fn l1_grow(imp: Impl, n: u64) -> Result<Outcome, String> {
    l1(imp, n, true)
}

// ---------------------------------------------------------------- L2

/// A 64-byte protocol message.
#[derive(Clone, Copy, Debug)]
pub enum Msg {
    /// Keep-alive.
    Ping {
        /// Sequence number.
        seq: u64,
    },
    /// Acknowledgement.
    Ack {
        /// Acknowledged id.
        id: u64,
        /// Timestamp.
        ts: u64,
    },
    /// Payload.
    Data {
        /// Message id.
        id: u64,
        /// Body.
        body: [u64; 6],
    },
}

const _: () = assert!(std::mem::size_of::<Msg>() == 64);

impl Msg {
    #[inline]
    fn from_random(r: u64) -> Msg {
        match r % 4 {
            0 => Msg::Ping { seq: r },
            1 => Msg::Ack { id: r, ts: r >> 3 },
            _ => Msg::Data {
                id: r,
                body: [r; 6],
            },
        }
    }
}

const L2_LIVE: usize = 4096;

fn l2_pool_with<A: Allocator + Clone>(a: A, n: u64) -> Outcome {
    let mut rng = XorShift::new(2);
    let mut slots: Vec<ABox<Msg, A>> = (0..L2_LIVE)
        .map(|i| ABox::new_in(Msg::Ping { seq: i as u64 }, a.clone()))
        .collect();
    let out = timed(n, || {
        for _ in 0..n {
            let r = rng.next();
            let idx = (r >> 32) as usize % L2_LIVE;
            // No `black_box` around the new box: it escapes into `slots` (black-boxed below),
            // so nothing can be elided, and a `black_box` would cost a `Box<Msg, &Pool>` (16
            // bytes) a store-forwarding stall that a `Box<Msg>` (8 bytes) does not pay: two
            // 8-byte stores to the stack read back as one 16-byte load.
            slots[idx] = ABox::new_in(Msg::from_random(r), a.clone());
        }
    });
    drop(black_box(slots));
    out
}

fn l2_pool(imp: Impl, n: u64) -> Result<Outcome, String> {
    match imp {
        Impl::Global => Ok(l2_pool_with(Global, n)),
        #[cfg(feature = "allocgator")]
        Impl::Local(Local::AllocgatorPool) => {
            let pool = allocgator::Pool::for_type::<Msg>();
            Ok(l2_pool_with(&pool, n))
        }
        other => unsupported(other),
    }
}

fn l2_pool_2t_with<A: Allocator + Clone + Send>(a: A, n: u64) -> Outcome {
    const BATCH: usize = 256;
    let batches = n.div_ceil(BATCH as u64);
    let (tx, rx) = mpsc::sync_channel::<AVec<ABox<Msg, A>, Global>>(8);
    let (back_tx, back_rx) = mpsc::channel::<AVec<ABox<Msg, A>, Global>>();
    for _ in 0..10 {
        back_tx
            .send(AVec::with_capacity_in(BATCH, Global))
            .expect("send");
    }
    timed(batches * BATCH as u64, || {
        thread::scope(|s| {
            s.spawn(move || {
                for mut v in rx {
                    v.clear(); // messages die on the consumer thread
                    if back_tx.send(v).is_err() {
                        break;
                    }
                }
            });
            let mut rng = XorShift::new(3);
            for _ in 0..batches {
                let mut v = back_rx.recv().expect("batch vector");
                for _ in 0..BATCH {
                    v.push(ABox::new_in(Msg::from_random(rng.next()), a.clone()));
                }
                tx.send(v).expect("consumer alive");
            }
            drop(tx);
        })
    })
}

fn l2_pool_2t(imp: Impl, n: u64) -> Result<Outcome, String> {
    match imp {
        Impl::Global => Ok(l2_pool_2t_with(Global, n)),
        #[cfg(feature = "allocgator")]
        Impl::Local(Local::AllocgatorSyncPool) => {
            let pool = allocgator::SyncPool::for_type::<Msg>();
            Ok(l2_pool_2t_with(&pool, n))
        }
        other => unsupported(other),
    }
}

/// The L2 protocol's message types (those of `examples/protocol.rs`).
mod proto {
    /// Keep-alive.
    #[allow(dead_code)]
    pub struct Ping(pub u64);
    /// Acknowledgement.
    #[allow(dead_code)]
    pub struct Ack(pub u64, pub u64);
    /// A small payload.
    #[allow(dead_code)]
    pub struct Data(pub u64, pub [u64; 6]);
    /// A larger payload.
    #[allow(dead_code)]
    pub struct Blob(pub u64, pub [u8; 192]);

    #[cfg(feature = "allocgator")]
    allocgator::static_pool!(pub PingPool, Ping);
    #[cfg(feature = "allocgator")]
    allocgator::static_pool!(pub AckPool, Ack);
    #[cfg(feature = "allocgator")]
    allocgator::static_pool!(pub DataPool, Data);
    #[cfg(feature = "allocgator")]
    allocgator::static_pool!(pub BlobPool, Blob);
}

/// A protocol message: each variant boxes its payload in its own allocator.
#[allow(dead_code)]
enum Proto<P: Allocator, Q: Allocator, R: Allocator, S: Allocator> {
    Ping(ABox<proto::Ping, P>),
    Ack(ABox<proto::Ack, Q>),
    Data(ABox<proto::Data, R>),
    Blob(ABox<proto::Blob, S>),
}

/// L2 protocol: `examples/protocol.rs`'s loop (3/8 pings, 2/8 acks, 2/8 data, 1/8 blobs).
fn l2_protocol_with<P, Q, R, S>(ping: P, ack: Q, data: R, blob: S, n: u64) -> Outcome
where
    P: Allocator + Clone,
    Q: Allocator + Clone,
    R: Allocator + Clone,
    S: Allocator + Clone,
{
    let make = |r: u64| -> Proto<P, Q, R, S> {
        match r % 8 {
            0..=2 => Proto::Ping(ABox::new_in(proto::Ping(r), ping.clone())),
            3..=4 => Proto::Ack(ABox::new_in(proto::Ack(r, r >> 3), ack.clone())),
            5..=6 => Proto::Data(ABox::new_in(proto::Data(r, [r; 6]), data.clone())),
            _ => Proto::Blob(ABox::new_in(proto::Blob(r, [r as u8; 192]), blob.clone())),
        }
    };
    let mut rng = XorShift::new(4);
    let mut slots: Vec<Proto<P, Q, R, S>> = (0..L2_LIVE).map(|_| make(rng.next())).collect();
    let out = timed(n, || {
        for _ in 0..n {
            let r = rng.next();
            let idx = (r >> 40) as usize % L2_LIVE;
            // As in `l2_pool_with`, no `black_box` around the new message.
            slots[idx] = make(r);
        }
    });
    drop(black_box(slots));
    out
}

fn l2_protocol(imp: Impl, n: u64) -> Result<Outcome, String> {
    match imp {
        Impl::Global => Ok(l2_protocol_with(Global, Global, Global, Global, n)),
        #[cfg(feature = "allocgator")]
        Impl::Local(Local::AllocgatorPool) => {
            use allocgator::Pool;
            let (p, q, r, s) = (
                Pool::for_type::<proto::Ping>(),
                Pool::for_type::<proto::Ack>(),
                Pool::for_type::<proto::Data>(),
                Pool::for_type::<proto::Blob>(),
            );
            Ok(l2_protocol_with(&p, &q, &r, &s, n))
        }
        #[cfg(feature = "allocgator")]
        Impl::Local(Local::AllocgatorStaticPool) => Ok(l2_protocol_with(
            proto::PingPool,
            proto::AckPool,
            proto::DataPool,
            proto::BlobPool,
            n,
        )),
        other => unsupported(other),
    }
}

// ---------------------------------------------------------------- L3

#[derive(Clone, Copy)]
enum Growth {
    Push(u64),
    Reserve1(u64),
}

#[inline(never)]
fn grow_vec<A: Allocator>(a: A, g: Growth) {
    let mut v: AVec<u64, A> = AVec::new_in(a);
    match g {
        Growth::Push(n) => {
            for i in 0..n {
                v.push(i);
            }
        }
        Growth::Reserve1(n) => {
            for i in 0..n {
                v.reserve_exact(1);
                v.push(i);
            }
        }
    }
    black_box(v.as_ptr());
}

fn growth_len(g: Growth) -> u64 {
    match g {
        Growth::Push(n) | Growth::Reserve1(n) => n,
    }
}

fn l3_arena<A: Arena>(rounds: u64, g: Growth) -> Outcome
where
    for<'a> &'a A: Allocator,
{
    let mut arena = A::new();
    timed(rounds * growth_len(g), || {
        for _ in 0..rounds {
            grow_vec(&arena, g);
            arena.reset();
        }
    })
}

fn l3(imp: Impl, n: u64, per_round: u64, reserve1: bool) -> Result<Outcome, String> {
    let rounds = (n / per_round).max(1);
    let g = if reserve1 {
        Growth::Reserve1(per_round)
    } else {
        Growth::Push(per_round)
    };
    match imp {
        Impl::Global => Ok(timed(rounds * per_round, || {
            for _ in 0..rounds {
                grow_vec(Global, g);
            }
        })),
        Impl::Local(Local::Bumpalo) => Ok(l3_arena::<bumpalo::Bump>(rounds, g)),
        Impl::Local(Local::BumpScope) => Ok(l3_arena::<BumpScope>(rounds, g)),
        #[cfg(feature = "allocgator")]
        Impl::Local(Local::AllocgatorArena) => Ok(l3_arena::<allocgator::Arena>(rounds, g)),
        other => unsupported(other),
    }
}

fn l3_push(imp: Impl, n: u64) -> Result<Outcome, String> {
    l3(imp, n, L1_N, false)
}

fn l3_reserve1(imp: Impl, n: u64) -> Result<Outcome, String> {
    l3(imp, n, L1_N, true)
}

fn l3_push_1m(imp: Impl, n: u64) -> Result<Outcome, String> {
    l3(imp, n, 1 << 20, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_unique_and_scaling() {
        let mut ids: Vec<_> = WORKLOADS.iter().map(|w| w.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), WORKLOADS.len());
        let w = find("w2-a").unwrap();
        assert_eq!(w.n_for(1), 50_000_000);
        assert_eq!(w.n_for(10), 5_000_000);
        assert_eq!(w.n_for(1_000_000_000), w.min_n);
    }

    #[test]
    fn tiny_runs_of_every_workload() {
        for w in WORKLOADS {
            let out = (w.run)(Impl::Global, w.min_n).unwrap();
            assert!(out.ops >= w.min_n.min(1), "{}", w.id);
            for l in w.locals.iter().filter(|l| l.available()) {
                (w.run)(Impl::Local(*l), w.min_n).unwrap();
            }
        }
    }

    #[test]
    fn inverse_square_is_skewed_small() {
        let s = inverse_square_sizes();
        let small = s.iter().filter(|&&x| x < 16).count();
        assert!(small > s.len() / 2, "most sizes are tiny: {small}");
        assert!(s.iter().all(|&x| (4..=32768).contains(&x)));
    }
}
