//! The OS refuses memory: every allocator reports it (`AllocError`, a null pointer, `None`),
//! keeps every block it had, intact, and works again once memory is back.
//!
//! The refusal is real, not simulated: `setrlimit(RLIMIT_AS)` caps the process's address
//! space a little above what it already uses, so the engine's `mmap`s fail with `ENOMEM`
//! (segments, huge blocks, `mremap` of a growing huge block, a new heap).
//!
//! Each case runs in a child process of this binary (`harness = false` in Cargo.toml): the
//! limit, and whatever the engine keeps mapped, cannot leak from one case into the next, and
//! an abort is reported as that case's failure. Under the limit a case only calls allocation
//! APIs that can fail and writes into memory prepared before; it checks what it saw after the
//! limit is lifted (a failed `assert!` allocates its message).
//!
//! `cargo test --test os_failure`; arguments filter the cases by name.
#![allow(clippy::disallowed_types)] // plain std types in a test (the facade rule is for the library)

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod common;

/// The environment variable that tells a child process which case to run.
const CASE_VAR: &str = "ALLOCGATOR_OS_FAILURE_CASE";

#[cfg(target_os = "linux")]
mod cases {
    use super::common::{check, fill};
    use allocgator::allocator_api2::alloc::Allocator;
    use allocgator::allocator_api2::vec::Vec as AVec;
    use allocgator::{Allocgator, Arena, Pool, Slab, SyncPool};
    use std::alloc::{GlobalAlloc, Layout};
    use std::ptr::NonNull;

    /// Address space a case may map beyond what the process uses when the limit is set.
    const HEADROOM: usize = 48 << 20;
    /// Far more than the headroom: must be refused.
    const HUGE: usize = 1 << 30;
    /// The blocks a case allocates until refused.
    const BLOCK: Layout = match Layout::from_size_align(1024, 8) {
        Ok(l) => l,
        Err(_) => panic!("valid layout"),
    };
    /// Room for the pointers of one fill (more than `HEADROOM / BLOCK` blocks).
    const MAX_BLOCKS: usize = 1 << 17;

    /// The process's address space in bytes (`/proc/self/statm`, first field).
    fn address_space() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
        let pages: usize = statm
            .split_whitespace()
            .next()
            .and_then(|f| f.parse().ok())
            .expect("statm size field");
        // SAFETY: sysconf is always safe to call.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    /// Caps the address space at what the process uses now plus `headroom` bytes.
    fn limit(headroom: usize) {
        let cap = (address_space() + headroom) as libc::rlim_t;
        set_soft_limit(cap);
    }

    /// Lifts the cap (back to the hard limit).
    fn lift() {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit to write into.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut old) }, 0);
        set_soft_limit(old.rlim_max);
    }

    fn set_soft_limit(cap: libc::rlim_t) {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit to write into.
        let got = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) };
        lim.rlim_cur = cap.min(lim.rlim_max);
        // SAFETY: a valid rlimit; lowering or restoring the soft limit needs no privilege.
        let set = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
        if got != 0 || set != 0 {
            // No allocation here: the limit may be set.
            std::process::abort();
        }
    }

    /// Allocates `BLOCK`s from `a` until it refuses or `blocks` is full (it never grows), each
    /// filled with its pattern. Returns whether `a` refused.
    fn fill_until_refused<A: Allocator>(a: &A, blocks: &mut Vec<NonNull<u8>>) -> bool {
        while blocks.len() < blocks.capacity() {
            match a.allocate(BLOCK) {
                Ok(p) => {
                    let p = p.cast::<u8>();
                    fill(p.as_ptr(), BLOCK.size(), p.as_ptr() as usize);
                    blocks.push(p);
                }
                Err(_) => return true,
            }
        }
        false
    }

    /// Checks every block's pattern and frees it.
    fn check_and_free<A: Allocator>(a: &A, blocks: &mut Vec<NonNull<u8>>) {
        for p in blocks.drain(..) {
            check(p.as_ptr(), BLOCK.size(), p.as_ptr() as usize);
            // SAFETY: a live block of `a`, allocated with `BLOCK`.
            unsafe { a.deallocate(p, BLOCK) };
        }
    }

    /// What one allocator did under the limit.
    #[derive(Debug)]
    struct Seen {
        huge_refused: bool,
        grow_refused: bool,
        first_fill: usize,
        first_refused: bool,
        second_fill: usize,
        second_refused: bool,
    }

    /// The scenario every `Allocator` goes through: a block allocated before the limit; under
    /// it, a huge request and growing that block to huge are refused, blocks are allocated
    /// until refused, freed, and allocated again (the memory is reused, not lost); after it,
    /// the kept block is intact and a huge request succeeds.
    fn refusal_scenario<A: Allocator>(name: &str, a: &A) {
        let mut blocks = Vec::with_capacity(MAX_BLOCKS);
        let kept = a.allocate(BLOCK).expect("before the limit").cast::<u8>();
        fill(kept.as_ptr(), BLOCK.size(), 7);
        let huge = Layout::from_size_align(HUGE, 8).expect("layout");

        limit(HEADROOM);
        let huge_refused = a.allocate(huge).is_err();
        // SAFETY: `kept` is live, allocated with `BLOCK`; the new layout is larger.
        let grow_refused = unsafe { a.grow(kept, BLOCK, huge) }.is_err();
        let first_refused = fill_until_refused(a, &mut blocks);
        let first_fill = blocks.len();
        for p in blocks.drain(..) {
            // SAFETY: live blocks of `a`, allocated with `BLOCK`.
            unsafe { a.deallocate(p, BLOCK) };
        }
        let second_refused = fill_until_refused(a, &mut blocks);
        let second_fill = blocks.len();
        lift();

        let seen = Seen {
            huge_refused,
            grow_refused,
            first_fill,
            first_refused,
            second_fill,
            second_refused,
        };
        println!("  {name}: {seen:?}");
        assert!(seen.huge_refused && seen.grow_refused, "{name}: {seen:?}");
        assert!(
            seen.first_refused && seen.second_refused,
            "{name}: {seen:?}"
        );
        assert!(seen.first_fill > 0, "{name}: {seen:?}");
        // Everything freed under the limit can be allocated again under it (nothing leaked;
        // a few blocks' worth of slack for the engine's bookkeeping).
        assert!(
            seen.second_fill >= seen.first_fill - seen.first_fill / 16,
            "{name}: {seen:?}"
        );
        check(kept.as_ptr(), BLOCK.size(), 7);
        check_and_free(a, &mut blocks);
        let p = a
            .allocate(huge)
            .expect("a huge block once the limit is lifted");
        // SAFETY: live blocks of `a` with these layouts.
        unsafe {
            a.deallocate(p.cast(), huge);
            a.deallocate(kept, BLOCK);
        }
    }

    pub fn global() {
        refusal_scenario("Allocgator", &Allocgator);

        // The `GlobalAlloc` face: null, never an abort; a failed realloc keeps the block.
        let huge = Layout::from_size_align(HUGE, 8).expect("layout");
        let small = Layout::from_size_align(100, 8).expect("layout");
        // A huge block (its own mapping), to grow through `mremap`.
        let big = Layout::from_size_align(8 << 20, 8).expect("layout");
        // SAFETY: non-zero layouts; the blocks are freed below with the same layouts.
        unsafe {
            let p = Allocgator.alloc(small);
            let q = Allocgator.alloc(big);
            assert!(!p.is_null() && !q.is_null());
            fill(p, small.size(), 1);
            fill(q, big.size(), 2);
            let mut v: Vec<u64> = (0..1000).collect();
            limit(HEADROOM);
            let alloc_null = Allocgator.alloc(huge).is_null();
            let zeroed_null = Allocgator.alloc_zeroed(huge).is_null();
            let realloc_small_null = Allocgator.realloc(p, small, HUGE).is_null();
            let realloc_big_null = Allocgator.realloc(q, big, HUGE).is_null();
            let reserve_failed = v.try_reserve_exact(HUGE).is_err();
            lift();
            println!(
                "  GlobalAlloc: alloc {alloc_null}, alloc_zeroed {zeroed_null}, realloc small \
                 {realloc_small_null}, realloc huge {realloc_big_null}, Vec::try_reserve \
                 failed {reserve_failed}"
            );
            assert!(alloc_null && zeroed_null && realloc_small_null && realloc_big_null);
            assert!(reserve_failed);
            check(p, small.size(), 1);
            check(q, big.size(), 2);
            assert!(v.iter().copied().eq(0..1000));
            Allocgator.dealloc(p, small);
            Allocgator.dealloc(q, big);
        }
    }

    pub fn pool() {
        let pool = Pool::new(BLOCK);
        refusal_scenario("Pool", &&pool);
        let s = pool.stats();
        assert_eq!((s.live_blocks(), s.fallback_live_blocks()), (0, 0), "{s}");
    }

    pub fn sync_pool() {
        let pool = SyncPool::new(BLOCK);
        refusal_scenario("SyncPool", &&pool);
        let handle = pool.handle();
        refusal_scenario("SyncPoolHandle", &handle);
        drop(handle);
        let s = pool.stats();
        assert_eq!((s.live_blocks(), s.fallback_live_blocks()), (0, 0), "{s}");
    }

    pub fn slab() {
        let slab = Slab::new();
        refusal_scenario("Slab", &&slab);
        assert_eq!(slab.stats().live_blocks(), 0);

        // No room at all: a new slab's heap cannot be mapped.
        limit(0);
        let refused = Slab::try_new().is_none();
        lift();
        assert!(refused, "Slab::try_new with no address space left");
        assert!(Slab::try_new().is_some());
    }

    pub fn arena() {
        let mut arena = Arena::new();
        let huge = Layout::from_size_align(HUGE, 8).expect("layout");
        let mut blocks: Vec<NonNull<u8>> = Vec::with_capacity(MAX_BLOCKS);
        let first = arena.alloc_slice_copy(&[1u64, 2, 3]) as *mut [u64];
        let mut v: AVec<u32, &Arena> = AVec::with_capacity_in(1000, &arena);
        v.extend(0..1000);

        limit(HEADROOM);
        let huge_refused = arena.try_alloc_layout(huge).is_none();
        let api_refused = (&arena).allocate(huge).is_err();
        let reserve_failed = v.try_reserve_exact(HUGE).is_err();
        let refused = fill_until_refused(&&arena, &mut blocks);
        let filled = blocks.len();
        // A value of the size just refused: a block of another size class may still be free
        // in a page of the heap (which one depends on the build's chunk sizes).
        let value_back = arena.try_alloc([0u8; BLOCK.size()]).is_err();
        lift();

        println!(
            "  Arena: huge refused {huge_refused}/{api_refused}, Vec::try_reserve failed \
             {reserve_failed}, {filled} blocks then refused {refused}, try_alloc gave the \
             value back {value_back}"
        );
        assert!(huge_refused && api_refused && reserve_failed && refused && value_back);
        assert!(filled > 0);
        assert!(v.iter().copied().eq(0..1000));
        // SAFETY: the slice lives as long as the arena, which is not reset yet.
        assert_eq!(unsafe { &*first }, &[1, 2, 3]);
        for &p in &blocks {
            check(p.as_ptr(), BLOCK.size(), p.as_ptr() as usize);
        }
        drop(v);
        blocks.clear();

        // A reset arena serves again, under the limit, from the chunk it kept.
        arena.reset();
        limit(HEADROOM);
        let again = fill_until_refused(&&arena, &mut blocks);
        lift();
        assert!(
            again && !blocks.is_empty(),
            "after reset: {} blocks",
            blocks.len()
        );
    }

    pub fn thread_heap() {
        // A new thread's first allocation maps its heap; with no address space left, that
        // allocation fails (null), and the thread's next one, after the lift, succeeds. A bare
        // pthread: nothing may allocate on the thread before the limit is set, and std's
        // thread start does not promise that.
        extern "C" fn start(cap: *mut libc::c_void) -> *mut libc::c_void {
            let small = Layout::from_size_align(64, 8).expect("layout");
            set_soft_limit(cap as libc::rlim_t);
            // SAFETY: a non-zero layout; freed below.
            let p = unsafe { Allocgator.alloc(small) };
            lift();
            // SAFETY: as above.
            let q = unsafe { Allocgator.alloc(small) };
            // SAFETY: blocks from `alloc` with `small` (or null, which is not freed).
            unsafe {
                if !p.is_null() {
                    Allocgator.dealloc(p, small);
                }
                if !q.is_null() {
                    Allocgator.dealloc(q, small);
                }
            }
            // Bit 0: the first allocation was refused; bit 1: the second was served.
            (usize::from(p.is_null()) | usize::from(!q.is_null()) << 1) as *mut libc::c_void
        }
        // SAFETY: zeroed storage for a pthread_t, written by pthread_create.
        let mut thread: libc::pthread_t = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::c_void = std::ptr::null_mut();
        // The cap is measured here: `address_space` allocates, which would map the new
        // thread's heap before the limit. It is below what the process uses once the thread's
        // stack is mapped, so every mapping fails.
        let cap = address_space();
        // SAFETY: default attributes, a start routine that takes the cap as its argument; the
        // thread is joined below, and its result read from `result`.
        unsafe {
            let created = libc::pthread_create(
                &mut thread,
                std::ptr::null(),
                start,
                cap as *mut libc::c_void,
            );
            assert_eq!(created, 0, "pthread_create");
            assert_eq!(libc::pthread_join(thread, &mut result), 0, "pthread_join");
        }
        let (refused, later) = (result as usize & 1 != 0, result as usize & 2 != 0);
        println!("  new thread's heap: first allocation refused {refused}, served after the lift {later}");
        assert!(refused && later);
    }
}

/// The cases, by name.
#[cfg(target_os = "linux")]
const CASES: &[(&str, fn())] = &[
    ("global", cases::global),
    ("pool", cases::pool),
    ("sync_pool", cases::sync_pool),
    ("slab", cases::slab),
    ("arena", cases::arena),
    ("thread_heap", cases::thread_heap),
];

#[cfg(target_os = "linux")]
fn main() {
    if let Ok(name) = std::env::var(CASE_VAR) {
        let (_, run) = CASES
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a known case");
        // The background purger runs through every case (it releases memory while the limit
        // holds), started before the limit: started under it, its thread's stack would take
        // address space the second fill then misses.
        if std::env::var_os("NOPURGER").is_none() {
            allocgator::set_background_purge(true);
        }
        run();
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let exe = std::env::current_exe().expect("this test's path");
    let mut failed = Vec::new();
    for (name, _) in CASES {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let out = std::process::Command::new(&exe)
            .env(CASE_VAR, name)
            .output()
            .expect("run a case");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if out.status.success() {
            println!("test {name} ... ok");
        } else {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            println!("test {name} ... FAILED ({})", out.status);
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[cfg(not(target_os = "linux"))]
fn main() {
    let _ = CASE_VAR;
    println!("os_failure: Linux only (RLIMIT_AS and /proc/self/statm); skipped");
}
