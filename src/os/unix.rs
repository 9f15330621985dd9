//! `mmap`-based OS layer for Unix.
//!
//! Every call here leaves `errno` as it found it (see [`super::errno`]): `free` must not
//! change it, and a failed `mremap` in place is an ordinary step of a successful `realloc`.

use super::errno::KeepErrno;
use super::{OsMemory, OS_PAGE};

/// Address space straight from `mmap`.
pub(crate) struct Unix;

/// Maps `size` bytes anywhere; null on failure.
fn mmap_anywhere(size: usize) -> *mut u8 {
    #[cfg(target_os = "linux")]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        core::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps a range; failure is ignored (it can only mean the range was not ours to begin with).
///
/// # Safety
/// The range is mapped and unused.
unsafe fn munmap(ptr: *mut u8, size: usize) {
    if size != 0 {
        // SAFETY: the caller guarantees the range is mapped and no longer used.
        unsafe { libc::munmap(ptr.cast(), size) };
    }
}

impl OsMemory for Unix {
    const DECOMMIT_ZEROES: bool = true;

    unsafe fn map(size: usize, align: usize) -> *mut u8 {
        let _errno = KeepErrno::new();
        if align <= OS_PAGE {
            return mmap_anywhere(size);
        }
        // Over-reserve and trim both ends: the kernel gives no aligned mmap.
        let Some(padded) = size.checked_add(align - OS_PAGE) else {
            return core::ptr::null_mut();
        };
        let raw = mmap_anywhere(padded);
        if raw.is_null() {
            return raw;
        }
        let aligned_addr = (raw as usize + align - 1) & !(align - 1);
        let head = aligned_addr - raw as usize;
        let tail = padded - head - size;
        // SAFETY: head and tail are the parts of our fresh mapping outside the aligned range.
        unsafe {
            munmap(raw, head);
            munmap(raw.add(head + size), tail);
        }
        raw.wrapping_add(head)
    }

    unsafe fn unmap(ptr: *mut u8, size: usize, _align: usize) {
        let _errno = KeepErrno::new();
        // SAFETY: `ptr..ptr + size` is a mapping of ours that nothing uses any more (this
        // function's `# Safety`, from `Os::unmap`).
        unsafe { munmap(ptr, size) }
    }

    unsafe fn decommit(ptr: *mut u8, size: usize) {
        let _errno = KeepErrno::new();
        // SAFETY: the caller guarantees the range is ours and its contents are dead.
        // MADV_DONTNEED (not MADV_FREE): RSS drops at once, and the range reads back as zeros,
        // which lets `alloc_zeroed` skip its memset on purged pages.
        unsafe { libc::madvise(ptr.cast(), size, libc::MADV_DONTNEED) };
    }

    unsafe fn protect(ptr: *mut u8, size: usize, guard: bool) -> bool {
        let _errno = KeepErrno::new();
        let access = if guard {
            libc::PROT_NONE
        } else {
            libc::PROT_READ | libc::PROT_WRITE
        };
        // SAFETY: the range is page-aligned inside a mapping of ours, and nothing in it is
        // used while it is a guard (caller).
        unsafe { libc::mprotect(ptr.cast(), size, access) == 0 }
    }

    #[cfg(target_os = "linux")]
    unsafe fn remap(ptr: *mut u8, old_size: usize, new_size: usize, align: usize) -> *mut u8 {
        let _errno = KeepErrno::new();
        // First in place (always works for a shrink).
        // SAFETY: `ptr..ptr+old_size` is one of our mappings (caller); flags 0 never moves it.
        let same = unsafe { libc::mremap(ptr.cast(), old_size, new_size, 0) };
        if same != libc::MAP_FAILED {
            return same.cast();
        }
        // Otherwise reserve an aligned target and move the pages there without copying.
        // SAFETY: sizes and alignment are as `map` requires (caller).
        let target = unsafe { Self::map(new_size, align) };
        if target.is_null() {
            return target;
        }
        // SAFETY: MREMAP_FIXED replaces our own fresh mapping at `target`; the old range is
        // ours (caller) and is unmapped by the kernel on success.
        let moved = unsafe {
            libc::mremap(
                ptr.cast(),
                old_size,
                new_size,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                target,
            )
        };
        if moved == libc::MAP_FAILED {
            // SAFETY: `target` is the mapping we just made; the old one is untouched.
            unsafe { munmap(target, new_size) };
            return core::ptr::null_mut();
        }
        moved.cast()
    }

    #[cfg(not(target_os = "linux"))]
    unsafe fn remap(_ptr: *mut u8, _old: usize, _new: usize, _align: usize) -> *mut u8 {
        core::ptr::null_mut()
    }
}
