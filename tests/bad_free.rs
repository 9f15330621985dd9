//! Bad frees abort with a message naming the problem and the address.
//!
//! Each case runs in a child process (this test binary re-run with `BAD_FREE_CASE` set): the
//! child prints the address it is about to misuse, then makes the bad call; the parent checks
//! that the child died of SIGABRT and that stderr names the problem and that address. Cases
//! in `engine` need the `checked` or the `hardened` feature (`cargo test --features hardened
//! --test bad_free`: the hardened build finds them through the encoded free-list links and
//! the segment map, the checked one through its live bitmap); those in `checked` need that
//! feature (the local allocators' checks); the others are checks that are on by default.

mod common;

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

use allocgator::allocator_api2::alloc::{Allocator, Global};
use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;

const CASE_VAR: &str = "BAD_FREE_CASE";

/// Tells the parent which address the bad call uses.
fn announce(p: *mut u8) {
    eprintln!("BAD-ADDRESS 0x{:x}", p as usize);
}

/// Announces `p`, then frees it as a `layout` block: the deliberate bad call.
///
/// # Safety
/// None: the free is the bad call.
unsafe fn free_announced(p: *mut u8, layout: Layout) {
    announce(p);
    // SAFETY: none (see above).
    unsafe { dealloc(p, layout) };
}

/// Frees `p`, a `layout` block, on a thread of its own (which has no heap of its own yet).
///
/// # Safety
/// As for `dealloc`, unless the call is a deliberate bad one.
unsafe fn free_on_another_thread(p: *mut u8, layout: Layout) {
    let p = p as usize;
    // SAFETY: as for this function.
    std::thread::spawn(move || unsafe { dealloc(p as *mut u8, layout) })
        .join()
        .unwrap();
}

/// Allocates a `layout` block from `a`, frees it, announces it and frees it again.
///
/// # Safety
/// None: the second free is the deliberate bad call.
unsafe fn double_free_in_a_row(a: impl Allocator, layout: Layout) {
    let p = a.allocate(layout).unwrap().cast::<u8>();
    // SAFETY: the block just allocated, with its layout.
    unsafe { a.deallocate(p, layout) };
    announce(p.as_ptr());
    // SAFETY: none (see above).
    unsafe { a.deallocate(p, layout) };
}

/// Runs the bad call of `case` (in the child).
fn run_case(case: &str) {
    let small = Layout::from_size_align(64, 8).unwrap();
    let block = Layout::new::<[u64; 4]>(); // the pool cases' block
                                           // SAFETY: none — these are the deliberately wrong calls the allocator must catch (each
                                           // aborts the child process before anything else runs).
    unsafe {
        match case {
            "double_free_local" => double_free_in_a_row(Global, small),
            "double_free_remote" => {
                let p = alloc(small);
                free_on_another_thread(p, small);
                announce(p);
                free_on_another_thread(p, small);
            }
            "double_free_later" => {
                // Freed, then others freed after it (it is no longer the list's head), while
                // a block of the page stays live.
                let p = alloc(small);
                // p's neighbour, carved from the same page (`black_box`: an unused allocation
                // may be optimised away).
                std::hint::black_box(alloc(small));
                let others: Vec<*mut u8> = (0..5).map(|_| alloc(small)).collect();
                dealloc(p, small);
                for &q in &others {
                    dealloc(q, small);
                }
                free_announced(p, small);
            }
            "double_free_remote_later" => {
                // Freed by another thread, which then frees others of the page too.
                let p = alloc(small) as usize;
                let others: Vec<usize> = (0..5).map(|_| alloc(small) as usize).collect();
                std::thread::spawn(move || {
                    dealloc(p as *mut u8, small);
                    for &q in &others {
                        dealloc(q as *mut u8, small);
                    }
                })
                .join()
                .unwrap();
                announce(p as *mut u8);
                free_on_another_thread(p as *mut u8, small);
            }
            "double_free_large" => {
                double_free_in_a_row(Global, Layout::from_size_align(1 << 20, 8).unwrap())
            }
            "double_free_huge" => {
                double_free_in_a_row(Global, Layout::from_size_align(16 << 20, 8).unwrap())
            }
            "never_returned_stack" => {
                let mut local = [0u64; 8];
                let p = local.as_mut_ptr().cast::<u8>();
                free_announced(p, small);
            }
            "never_returned_static" => {
                static mut STATIC_BLOCK: [u64; 8] = [0; 8];
                let p = std::ptr::addr_of_mut!(STATIC_BLOCK).cast::<u8>();
                free_announced(p, small);
            }
            "misaligned" => {
                let p = alloc(small);
                free_announced(p.add(1), small);
            }
            "never_returned_libc" => {
                let p = libc::malloc(64).cast::<u8>();
                free_announced(p, small);
            }
            "interior_small" => {
                let p = alloc(small);
                free_announced(p.add(8), small);
            }
            "interior_huge" => {
                let layout = Layout::from_size_align(16 << 20, 8).unwrap();
                let p = alloc(layout);
                free_announced(p.add(4096), layout);
            }
            "foreign_mapping" => {
                // A 4 MiB-aligned mapping that is not ours: its "header" is zeros.
                let size = 8 << 20;
                let raw = libc::mmap(
                    std::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                ) as usize;
                assert_ne!(raw, libc::MAP_FAILED as usize);
                let aligned = (raw + (4 << 20) - 1) & !((4 << 20) - 1);
                let p = (aligned + 4096) as *mut u8;
                free_announced(p, small);
            }
            "pool_wrong_size" => {
                let pool = allocgator::Pool::for_type::<[u64; 4]>();
                let p = (&pool).allocate(block).unwrap().cast::<u8>();
                announce(p.as_ptr());
                (&pool).deallocate(p, Layout::from_size_align(64, 8).unwrap());
            }
            "pool_foreign_block" => {
                let pool = allocgator::Pool::for_type::<[u64; 4]>();
                let _keep = (&pool).allocate(block).unwrap();
                let p = alloc(block);
                announce(p);
                (&pool).deallocate(NonNull::new(p).unwrap(), block);
            }
            "sync_pool_wrong_size" => {
                let pool = allocgator::SyncPool::for_type::<[u64; 4]>();
                let p = (&pool).allocate(block).unwrap().cast::<u8>();
                announce(p.as_ptr());
                (&pool).deallocate(p, Layout::from_size_align(128, 8).unwrap());
            }
            "pool_double_free_in_a_row" => {
                double_free_in_a_row(&allocgator::Pool::for_type::<[u64; 4]>(), block)
            }
            "sync_pool_double_free_in_a_row" => {
                double_free_in_a_row(&allocgator::SyncPool::for_type::<[u64; 4]>(), block)
            }
            "static_pool_double_free_in_a_row" => {
                #[allow(dead_code)] // payload only
                struct Msg([u64; 4]);
                allocgator::static_pool!(MsgPool, Msg);
                // Through the thread's cache: the block is the cache's head when freed again.
                double_free_in_a_row(MsgPool, block)
            }
            "pool_double_free_later" => {
                let pool = allocgator::Pool::for_type::<[u64; 4]>();
                let a = (&pool).allocate(block).unwrap().cast::<u8>();
                let b = (&pool).allocate(block).unwrap().cast::<u8>();
                (&pool).deallocate(a, block);
                (&pool).deallocate(b, block);
                announce(a.as_ptr());
                (&pool).deallocate(a, block);
            }
            "sync_pool_double_free_from_another_thread" => {
                let pool = allocgator::SyncPool::for_type::<[u64; 4]>();
                let a = (&pool).allocate(block).unwrap().cast::<u8>();
                let b = (&pool).allocate(block).unwrap().cast::<u8>();
                (&pool).deallocate(a, block);
                (&pool).deallocate(b, block);
                announce(a.as_ptr());
                let a = a.as_ptr() as usize;
                let pool = &pool;
                std::thread::scope(|s| {
                    s.spawn(move || {
                        pool.deallocate(NonNull::new(a as *mut u8).unwrap(), block);
                    });
                });
            }
            "pool_corrupted_link" => {
                let pool = allocgator::Pool::for_type::<[u64; 4]>();
                let a = (&pool).allocate(block).unwrap().cast::<u8>();
                (&pool).deallocate(a, block);
                // A write after free: the free block's first word (its link) now points at
                // a stack slot. Handing out `a` follows the link; handing out the next block
                // must not.
                let mut local = [0u64; 4];
                let bogus = local.as_mut_ptr().cast::<u8>();
                a.as_ptr().cast::<*mut u8>().write(bogus);
                let again = (&pool).allocate(block).unwrap();
                assert_eq!(again.cast::<u8>(), a);
                announce(bogus);
                let _ = (&pool).allocate(block);
            }
            other => panic!("unknown case {other}"),
        }
    }
    eprintln!("BAD-FREE-NOT-DETECTED");
}

/// Runs `case` in a child and checks it aborted naming `problem` and the announced address.
fn expect_abort(case: &str, problem: &str) {
    common::expect_abort(CASE_VAR, case, "BAD-ADDRESS ", problem);
}

/// The child side: does nothing unless run by `expect_abort`.
#[test]
fn child_runner() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run_case(&case);
    }
}

// On by default: checks on the remote-free path, which cost the fast paths nothing, and the
// pools' "freed twice in a row" check (one compare with the free-list head in hand).

#[test]
fn interior_pointer_into_a_huge_block() {
    expect_abort("interior_huge", "interior pointer");
}

#[test]
fn pointer_into_a_mapping_that_is_not_ours() {
    expect_abort("foreign_mapping", "does not own");
}

#[test]
fn pool_double_free_in_a_row() {
    expect_abort("pool_double_free_in_a_row", "double free of a Pool block");
}

#[test]
fn sync_pool_double_free_in_a_row() {
    expect_abort(
        "sync_pool_double_free_in_a_row",
        "double free of a SyncPool block",
    );
}

#[test]
fn static_pool_double_free_in_a_row() {
    // Without `checked` the cache's head catches it; with it, the shared stacks' free bits.
    let problem = if cfg!(feature = "checked") {
        "double free of a SyncPool block"
    } else {
        "double free of a static pool block"
    };
    expect_abort("static_pool_double_free_in_a_row", problem);
}

// Features `checked` or `hardened`: the engine's own checks.

#[cfg(any(feature = "checked", feature = "hardened"))]
mod engine {
    use super::expect_abort;

    #[test]
    fn double_free_on_the_same_thread() {
        expect_abort("double_free_local", "double free");
    }

    #[test]
    fn double_free_after_other_frees() {
        expect_abort("double_free_later", "double free");
    }

    #[test]
    fn double_free_from_another_thread() {
        expect_abort("double_free_remote", "double free");
    }

    #[test]
    fn double_free_from_another_thread_after_other_frees() {
        expect_abort("double_free_remote_later", "double free");
    }

    #[test]
    fn double_free_of_a_large_block() {
        expect_abort("double_free_large", "double free");
    }

    #[test]
    fn double_free_of_a_huge_block() {
        expect_abort("double_free_huge", "huge block freed twice");
    }

    #[test]
    fn free_of_a_stack_address() {
        expect_abort("never_returned_stack", "does not own");
    }

    #[test]
    fn free_of_a_static_address() {
        expect_abort("never_returned_static", "does not own");
    }

    #[test]
    fn free_of_a_libc_malloc_block() {
        expect_abort("never_returned_libc", "does not own");
    }

    #[test]
    fn free_of_an_interior_pointer() {
        expect_abort("interior_small", "interior pointer");
    }

    #[test]
    fn free_of_a_misaligned_pointer() {
        expect_abort("misaligned", "misaligned");
    }
}

// Feature `checked`: the local allocators' checks.

#[cfg(feature = "checked")]
mod checked {
    use super::expect_abort;

    #[test]
    fn pool_deallocate_with_the_wrong_size() {
        expect_abort("pool_wrong_size", "wrong size");
    }

    #[test]
    fn pool_deallocate_of_a_block_it_did_not_hand_out() {
        expect_abort("pool_foreign_block", "did not hand out");
    }

    #[test]
    fn pool_double_free_of_a_block_freed_earlier() {
        expect_abort("pool_double_free_later", "double free of a Pool block");
    }

    #[test]
    fn sync_pool_double_free_from_another_thread() {
        expect_abort(
            "sync_pool_double_free_from_another_thread",
            "double free of a SyncPool block",
        );
    }

    // With `hardened` too, the overwritten link is caught one step earlier, when it is
    // followed, with the hardened build's message (`tests/hardened.rs` has that case).
    #[cfg(not(feature = "hardened"))]
    #[test]
    fn pool_free_list_link_overwritten_after_free() {
        expect_abort("pool_corrupted_link", "free list corrupted");
    }

    #[test]
    fn sync_pool_deallocate_with_the_wrong_size() {
        expect_abort("sync_pool_wrong_size", "wrong size");
    }
}
