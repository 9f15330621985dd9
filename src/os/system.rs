//! Fallback OS layer over `std::alloc::System`, for Miri, loom and non-Unix targets.
//!
//! `System` is the platform allocator (never the `#[global_allocator]`), so using it from inside
//! a global allocator does not recurse.

extern crate std;

use super::OsMemory;
use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

/// Address space borrowed from the platform allocator.
#[cfg_attr(all(unix, not(miri), not(loom)), allow(dead_code))] // used under Miri/loom, and by tests
pub(crate) struct SystemFallback;

impl OsMemory for SystemFallback {
    // Nothing is given back, so decommitted memory keeps its old contents.
    const DECOMMIT_ZEROES: bool = false;

    unsafe fn map(size: usize, align: usize) -> *mut u8 {
        let p = match Layout::from_size_align(size, align) {
            // SAFETY: the layout has a non-zero size (caller).
            Ok(layout) => unsafe { System.alloc_zeroed(layout) },
            Err(_) => core::ptr::null_mut(),
        };
        #[cfg(miri)]
        if !p.is_null() && !roots::add(p, size) {
            // SAFETY: just allocated with this layout.
            unsafe { System.dealloc(p, Layout::from_size_align_unchecked(size, align)) };
            return core::ptr::null_mut();
        }
        p
    }

    unsafe fn unmap(ptr: *mut u8, size: usize, align: usize) {
        #[cfg(miri)]
        roots::remove(ptr);
        // SAFETY: `ptr` came from `map(size, align)` (caller), which built this same layout.
        unsafe { System.dealloc(ptr, Layout::from_size_align_unchecked(size, align)) }
    }

    unsafe fn protect(_ptr: *mut u8, _size: usize, _guard: bool) -> bool {
        true
    }

    unsafe fn decommit(_ptr: *mut u8, _size: usize) {
        // Under loom, decommitted memory is poisoned (real decommit would lose it), so a model
        // sees a slice decommitted while a block in it was live; and the call is a point
        // where other threads may run, as a system call is.
        #[cfg(loom)]
        {
            loom::thread::yield_now();
            // SAFETY: the range lies inside one live mapping and holds nothing anyone needs
            // (the trait's contract).
            unsafe { core::ptr::write_bytes(_ptr, 0xDD, _size) };
        }
    }

    unsafe fn remap(_ptr: *mut u8, _old: usize, _new: usize, _align: usize) -> *mut u8 {
        core::ptr::null_mut()
    }
}

/// Under Miri: the pointer each mapping was made with, so the engine can reach a segment
/// header with the mapping's own provenance rather than through a block pointer it was handed.
///
/// A block pointer may carry permission for the block only (a `Box`'s pointer comes from a
/// reference to its value), so reading the segment header through it — what masking the
/// address does on real hardware — is out of bounds for Stacked and Tree Borrows. Under Miri,
/// `segment_of` asks here for the mapping that contains the address and uses its root pointer
/// with that address. (A fixed table behind a spin lock: Miri programs map few segments, and
/// this must not allocate.)
#[cfg(miri)]
pub(crate) mod roots {
    use crate::sync::{AtomicBool, Ordering, UnsafeCell};

    const SLOTS: usize = 4096;

    struct Table {
        lock: AtomicBool,
        entries: UnsafeCell<[(*mut u8, usize); SLOTS]>,
    }

    // SAFETY: `entries` is only touched under `lock`.
    unsafe impl Sync for Table {}

    static TABLE: Table = Table {
        lock: AtomicBool::new(false),
        entries: UnsafeCell::new([(core::ptr::null_mut(), 0); SLOTS]),
    };

    fn with<R>(f: impl FnOnce(&mut [(*mut u8, usize); SLOTS]) -> R) -> R {
        // Acquire / Release: the lock hands the table from holder to holder.
        while TABLE
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            crate::sync::spin_hint();
        }
        // SAFETY: we hold the lock.
        let r = TABLE.entries.with_mut(|t| f(unsafe { &mut *t }));
        TABLE.lock.store(false, Ordering::Release);
        r
    }

    /// Records a new mapping; false if the table is full.
    pub(crate) fn add(base: *mut u8, size: usize) -> bool {
        with(|t| match t.iter_mut().find(|e| e.0.is_null()) {
            Some(e) => {
                *e = (base, size);
                true
            }
            None => false,
        })
    }

    /// Forgets a mapping.
    pub(crate) fn remove(base: *mut u8) {
        with(|t| {
            if let Some(e) = t.iter_mut().find(|e| e.0 == base) {
                *e = (core::ptr::null_mut(), 0);
            }
        })
    }

    /// `addr` with the provenance of the mapping that contains it; null if none does.
    pub(crate) fn pointer_to(addr: usize) -> *mut u8 {
        with(|t| {
            t.iter()
                .find(|e| addr.wrapping_sub(e.0 as usize) < e.1)
                .map_or(core::ptr::null_mut(), |e| e.0.with_addr(addr))
        })
    }
}
