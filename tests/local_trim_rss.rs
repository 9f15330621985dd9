//! `trim()` on the local allocators gives memory back to the OS, measured in RSS: each
//! allocator serves a burst of about 100 MiB, the burst is freed (RSS stays: the pools keep
//! their chunks, the slab its pages, a reset arena its largest chunk), then `trim()` brings
//! RSS back to within 10% of the burst of where it started.
//!
//! Runs in a child process (RSS is per process, and other tests would allocate meanwhile); the
//! child prints its samples, the parent checks them.

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod common;

use allocgator::allocator_api2::alloc::Allocator;
use allocgator::allocator_api2::boxed::Box as ABox;
use allocgator::{Arena, Pool, Slab, SyncPool};
use std::process::Command;

/// Bytes of blocks in each burst.
const BURST: usize = 100 << 20;
/// Block size of the burst.
const BLOCK: usize = 256;

/// RSS samples (bytes) of one allocator's run.
#[derive(Debug)]
struct Samples {
    base: usize,
    peak: usize,
    dropped: usize,
    trimmed: usize,
    /// Bytes the allocator is known to keep resident after the frees (the used part of a
    /// reset arena's largest chunk), or 0.
    kept: usize,
}

/// Frees what the process's own heaps hold (the `Vec` of boxes went there), then reads RSS.
fn rss() -> usize {
    allocgator::trim();
    common::rss_bytes()
}

/// A burst of boxes in `a`, touched; RSS at the peak; the boxes freed; RSS again.
fn burst<A: Allocator + Clone>(a: A) -> (usize, usize) {
    let boxes: Vec<ABox<[u8; BLOCK], A>> = (0..BURST / BLOCK)
        .map(|i| ABox::new_in([i as u8; BLOCK], a.clone()))
        .collect();
    let peak = rss();
    drop(boxes);
    (peak, rss())
}

fn child(kind: &str) {
    let base = rss();
    let mut kept = 0;
    let (peak, dropped, released) = match kind {
        "pool" => {
            let pool = Pool::for_type::<[u8; BLOCK]>();
            let (peak, dropped) = burst(&pool);
            (peak, dropped, pool.trim())
        }
        "sync_pool" => {
            let pool = SyncPool::for_type::<[u8; BLOCK]>();
            let (peak, dropped) = burst(&pool);
            (peak, dropped, pool.trim())
        }
        "slab" => {
            let slab = Slab::new();
            let (peak, dropped) = burst(&slab);
            (peak, dropped, slab.trim())
        }
        "arena" => {
            let mut arena = Arena::new();
            for i in 0..BURST / BLOCK {
                arena.alloc([i as u8; BLOCK]);
            }
            let peak = rss();
            // `reset` keeps the largest chunk, and what was written of it stays resident.
            // (Its size depends on the build: the hardened one's guard pages make chunks
            // past 64 KiB a slice larger, and the last one less used.)
            let map = arena.map();
            let largest = map.chunks().iter().max_by_key(|c| c.bytes).unwrap();
            kept = largest.used_bytes.unwrap_or(0);
            arena.reset();
            let dropped = rss();
            let before = arena.allocated_bytes();
            arena.trim();
            (peak, dropped, before - arena.allocated_bytes())
        }
        other => panic!("unknown kind {other}"),
    };
    let trimmed = rss();
    println!(
        "rss: base= {base} peak= {peak} dropped= {dropped} trimmed= {trimmed} kept= {kept} released= {released}"
    );
}

fn run(kind: &str) -> Samples {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("ALLOCGATOR_TEST_CHILD", kind);
    let keys = ["base=", "peak=", "dropped=", "trimmed=", "kept="];
    let f = common::child_fields(child, "rss:", &keys);
    Samples {
        base: f[0],
        peak: f[1],
        dropped: f[2],
        trimmed: f[3],
        kept: f[4],
    }
}

/// `held_percent`: how much of the burst must still be resident after the frees, before
/// `trim` (the pools keep it all; a slab purges some pages on its own as they empty), unless
/// the child reports what it keeps (an arena's `reset` keeps its largest chunk: 90% of its
/// used bytes).
fn check(kind: &str, held_percent: usize) {
    let s = run(kind);
    let grew = s.peak.saturating_sub(s.base);
    eprintln!(
        "{kind}: base {} MiB, peak {} MiB, freed {} MiB, trimmed {} MiB",
        s.base >> 20,
        s.peak >> 20,
        s.dropped >> 20,
        s.trimmed >> 20
    );
    assert!(
        grew >= BURST * 8 / 10,
        "{kind}: the burst did not happen: {s:?}"
    );
    // Freed memory stays in the allocator: only `trim` gives it back.
    let held = if s.kept > 0 {
        s.kept / 10 * 9
    } else {
        grew / 100 * held_percent
    };
    assert!(
        s.dropped.saturating_sub(s.base) >= held,
        "{kind}: RSS fell before trim: {s:?}"
    );
    assert!(
        s.trimmed.saturating_sub(s.base) * 10 <= grew,
        "{kind}: RSS after trim is over 10% of the burst above the start: {s:?}"
    );
}

#[test]
fn pool_trim_returns_memory() {
    check("pool", 90);
}

#[test]
fn sync_pool_trim_returns_memory() {
    check("sync_pool", 90);
}

#[test]
fn slab_trim_returns_memory() {
    // The slab's own heap purges pages as they empty during the frees (its delay starts
    // then), so part of the burst may be gone before `trim`.
    check("slab", 25);
}

#[test]
fn arena_trim_returns_memory() {
    check("arena", 0);
}

/// The child's body (does nothing unless run as a child).
#[test]
fn child_entry() {
    if let Ok(kind) = std::env::var("ALLOCGATOR_TEST_CHILD") {
        child(&kind);
    }
}
