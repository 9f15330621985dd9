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
        match Layout::from_size_align(size, align) {
            // SAFETY: the layout has a non-zero size (caller).
            Ok(layout) => unsafe { System.alloc_zeroed(layout) },
            Err(_) => core::ptr::null_mut(),
        }
    }

    unsafe fn unmap(ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: `ptr` came from `map(size, align)` (caller), which built this same layout.
        unsafe { System.dealloc(ptr, Layout::from_size_align_unchecked(size, align)) }
    }

    unsafe fn decommit(_ptr: *mut u8, _size: usize) {}

    unsafe fn remap(_ptr: *mut u8, _old: usize, _new: usize, _align: usize) -> *mut u8 {
        core::ptr::null_mut()
    }
}
