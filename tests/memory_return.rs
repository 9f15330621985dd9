//! Freed memory goes back to the OS without `trim()`: a burst of ~600 MiB of small blocks is
//! freed, and 2 s later the process's RSS is at most 10% of its peak — whether the program
//! keeps allocating on the fast paths, sleeps, or ran the burst on a thread that has exited.
//!
//! Each case runs in a child process (RSS is per process) with the default options, so the
//! test sees what a program that sets nothing sees (one more case turns the background purger
//! off). The child prints its RSS samples; the parent checks them.

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

/// Blocks in the burst: 4 Mi blocks of 16–256 bytes, about 600 MiB resident.
const BLOCKS: usize = 4 << 20;

/// RSS samples of one child: at the peak, then 1 s and 2 s after the frees (bytes).
#[derive(Debug)]
struct Samples {
    peak: usize,
    after_1s: usize,
    after_2s: usize,
}

/// Runs this binary's `child` test in `mode` with the default options (or the background
/// purger off).
fn run_child(mode: &str, purger_off: bool) -> Samples {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("ALLOCGATOR_TEST_CHILD", mode)
        .env_remove("ALLOCGATOR_PURGE_DELAY_MS")
        .env_remove("ALLOCGATOR_BACKGROUND_PURGE")
        .envs(purger_off.then_some(("ALLOCGATOR_BACKGROUND_PURGE", "0")));
    let f = common::child_fields(child, "rss:", &["peak=", "after_1s=", "after_2s="]);
    Samples {
        peak: f[0],
        after_1s: f[1],
        after_2s: f[2],
    }
}

/// Checks the bound: 2 s after the frees, RSS is at most 10% of the peak.
fn check(mode: &str, purger_off: bool) {
    let s = run_child(mode, purger_off);
    let purger = if purger_off { "no purger" } else { "default" };
    eprintln!(
        "{mode} ({purger}): peak {} MiB, after 1 s {} MiB ({:.1}%), after 2 s {} MiB ({:.1}%)",
        s.peak >> 20,
        s.after_1s >> 20,
        100.0 * s.after_1s as f64 / s.peak as f64,
        s.after_2s >> 20,
        100.0 * s.after_2s as f64 / s.peak as f64,
    );
    assert!(
        s.peak > 400 << 20,
        "{mode}: the burst did not happen: {s:?}"
    );
    assert!(
        s.after_2s * 10 <= s.peak,
        "{mode} ({purger}): RSS 2 s after the frees is over 10% of the peak: {s:?}"
    );
}

#[test]
fn freed_memory_leaves_while_the_program_keeps_allocating() {
    check("busy", false);
}

#[test]
fn freed_memory_leaves_while_the_program_sleeps() {
    check("idle", false);
}

#[test]
fn freed_memory_of_an_exited_thread_leaves() {
    check("exited", false);
}

/// Without the background purger, a thread that exits gives its free memory back itself.
#[test]
fn freed_memory_of_an_exited_thread_leaves_without_the_purger() {
    check("exited", true);
}

/// Allocates the burst, notes the peak RSS, frees it all; returns the peak.
fn burst() -> usize {
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(BLOCKS);
    let mut x = 0x9e37_79b9_u32;
    for _ in 0..BLOCKS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let size = 16 + (x as usize % 241);
        let mut v = Vec::with_capacity(size);
        v.push(size as u8);
        blocks.push(v);
    }
    let peak = common::rss_bytes();
    drop(blocks);
    peak
}

/// The child side: does nothing unless run by `run_child`.
#[test]
fn child() {
    let Ok(mode) = std::env::var("ALLOCGATOR_TEST_CHILD") else {
        return;
    };
    let peak = match mode.as_str() {
        "exited" => std::thread::spawn(burst).join().unwrap(),
        _ => burst(),
    };
    let freed = Instant::now();
    let mut samples = [0usize; 2];
    for (i, sample) in samples.iter_mut().enumerate() {
        let until = Duration::from_secs(i as u64 + 1);
        if mode == "busy" {
            // Small blocks allocated and freed in a loop: the fast paths only.
            let mut n = 0u64;
            while freed.elapsed() < until {
                for _ in 0..1000 {
                    let b = std::hint::black_box(Box::new(n));
                    n = n.wrapping_add(*b);
                }
            }
            std::hint::black_box(n);
        } else if let Some(left) = until.checked_sub(freed.elapsed()) {
            std::thread::sleep(left);
        }
        *sample = common::rss_bytes();
    }
    println!(
        "rss: peak= {peak} after_1s= {} after_2s= {}",
        samples[0], samples[1]
    );
}
