//! A heap's allocation limit (`Slab::set_allocation_limit`): the bytes of page slices and
//! huge mappings it holds, charged where memory is taken and refused past the cap.

use super::*;

impl Heap {
    /// Sets or lifts (`usize::MAX`) the cap on the bytes this heap holds in pages (and what
    /// its owner charges); a page or large block past it is refused.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn set_limit(&self, limit: usize) {
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| l.limit = limit) };
    }

    /// The bytes the limit counts, the limit, and the requests it refused.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn limit_figures(&self) -> (usize, usize, usize) {
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| (l.held, l.limit, l.limit_refusals)) }
    }

    /// Counts `bytes` more as held if that stays within the limit; false if not (the
    /// caller counts the refusal with [`refuse`](Self::refuse) if the request fails for it).
    ///
    /// # Safety
    /// The caller owns the heap.
    #[inline]
    pub(crate) unsafe fn charge(&self, bytes: usize) -> bool {
        // SAFETY: the caller owns the heap.
        unsafe {
            self.with_local(|local| match local.held.checked_add(bytes) {
                Some(held) if held <= local.limit => {
                    local.held = held;
                    true
                }
                _ => false,
            })
        }
    }

    /// Counts a request refused by the limit.
    ///
    /// # Safety
    /// The caller owns the heap.
    #[cold]
    pub(crate) unsafe fn refuse(&self) {
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| l.limit_refusals += 1) };
    }

    /// Stops counting `bytes` as held.
    ///
    /// # Safety
    /// The caller owns the heap; `bytes` were charged.
    #[inline]
    pub(crate) unsafe fn uncharge(&self, bytes: usize) {
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| l.held = l.held.wrapping_sub(bytes)) };
    }
}
