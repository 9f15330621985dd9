//! `Allocator` implementations, written once.
//!
//! Each allocator front end implements [`RawAllocator`] (four primitives); the helpers here turn
//! that into the `Allocator` contract — zero-size requests get a dangling aligned pointer, the
//! returned length is the block's usable size (so any size between the request and that length
//! is accepted back), `*_zeroed` zero up to the returned length, a failed grow leaves the old
//! block intact — and [`impl_allocator!`] stamps the allocator-api2 trait (and, with the
//! `nightly` feature, `core::alloc::Allocator`) onto the front end.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// The primitives an allocator front end provides.
pub(crate) trait RawAllocator {
    /// Allocates a block for a layout of non-zero size; null on failure. If `zeroed`, the
    /// whole usable block reads as zeros.
    ///
    /// # Safety
    /// `layout.size() != 0`.
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator; `layout` fits it (Allocator contract).
    unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout);

    /// Usable bytes of a live block.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator allocated with `layout`'s alignment.
    unsafe fn raw_usable(&self, ptr: *mut u8, layout: Layout) -> usize;

    /// Resizes without copying: the (possibly moved, contents intact) block, or null if the
    /// caller must allocate, copy and free.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator that fits `old`.
    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8;

    /// Grows a block when [`raw_resize_in_place`](Self::raw_resize_in_place) could not, by a
    /// cheaper route than allocate + copy + free if the front end has one (an arena moves a
    /// chunk holding only this block with the engine's `realloc`): the moved block, contents
    /// intact, aligned to `new.align()`, usable for at least `new.size()` bytes; or null, and
    /// the block is untouched.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator that fits `old`; `new.size() >= old.size()`.
    #[inline(always)]
    unsafe fn raw_grow_moving(&self, ptr: *mut u8, old: Layout, new: Layout) -> *mut u8 {
        let _ = (ptr, old, new);
        ptr::null_mut()
    }
}

/// Any allocation failure, before it is turned into a trait's error type.
#[derive(Debug)]
pub(crate) struct Failed;

/// A dangling, aligned, empty block.
#[inline]
fn dangling(align: usize) -> NonNull<[u8]> {
    // `align` is a non-zero power of two, so this is a valid non-null address.
    let p = ptr::without_provenance_mut::<u8>(align);
    // SAFETY: `align != 0`.
    NonNull::slice_from_raw_parts(unsafe { NonNull::new_unchecked(p) }, 0)
}

/// `Allocator::allocate` / `allocate_zeroed`.
#[inline(always)]
pub(crate) fn allocate_impl<A: RawAllocator + ?Sized>(
    a: &A,
    layout: Layout,
    zeroed: bool,
) -> Result<NonNull<[u8]>, Failed> {
    if layout.size() == 0 {
        return Ok(dangling(layout.align()));
    }
    // SAFETY: non-zero size.
    let p = NonNull::new(unsafe { a.raw_alloc(layout, zeroed) }).ok_or(Failed)?;
    // SAFETY: `p` was just allocated with `layout`.
    let len = unsafe { a.raw_usable(p.as_ptr(), layout) };
    Ok(NonNull::slice_from_raw_parts(p, len))
}

/// `Allocator::deallocate`.
///
/// # Safety
/// The Allocator contract.
#[inline(always)]
pub(crate) unsafe fn deallocate_impl<A: RawAllocator + ?Sized>(
    a: &A,
    ptr: NonNull<u8>,
    layout: Layout,
) {
    if layout.size() != 0 {
        // SAFETY: the Allocator contract: `ptr` is a live block of `a` fitting `layout`; a
        // non-zero size, so a real block (zero-sized ones are dangling and never freed).
        unsafe { a.raw_free(ptr.as_ptr(), layout) }
    }
}

/// `Allocator::grow` / `grow_zeroed`.
///
/// # Safety
/// The Allocator contract: `ptr` is live and fits `old`, `new.size() >= old.size()`.
pub(crate) unsafe fn grow_impl<A: RawAllocator + ?Sized>(
    a: &A,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
    zeroed: bool,
) -> Result<NonNull<[u8]>, Failed> {
    debug_assert!(new.size() >= old.size());
    if old.size() == 0 {
        return allocate_impl(a, new, zeroed);
    }
    let mut q = ptr::null_mut();
    if ptr.as_ptr() as usize & (new.align() - 1) == 0 {
        // SAFETY: live block fitting `old` (caller).
        q = unsafe { a.raw_resize_in_place(ptr.as_ptr(), old, new.size()) };
    }
    if q.is_null() {
        // SAFETY: live block fitting `old` (caller), not resized above.
        q = unsafe { a.raw_grow_moving(ptr.as_ptr(), old, new) };
    }
    if let Some(q) = NonNull::new(q) {
        // SAFETY: `q` is the same block, resized or moved; its usable length is at least
        // `new.size()`; bytes past `old.size()` may be stale and are zeroed if asked.
        unsafe {
            let len = a.raw_usable(q.as_ptr(), new);
            if zeroed {
                ptr::write_bytes(q.as_ptr().add(old.size()), 0, len - old.size());
            }
            return Ok(NonNull::slice_from_raw_parts(q, len));
        }
    }
    let fresh = allocate_impl(a, new, zeroed)?;
    // SAFETY: distinct live blocks, the old one `old.size()` bytes long, the new one longer;
    // on success the old block is freed exactly once.
    unsafe {
        ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr().cast::<u8>(), old.size());
        a.raw_free(ptr.as_ptr(), old);
    }
    Ok(fresh)
}

/// `Allocator::shrink`.
///
/// # Safety
/// The Allocator contract: `ptr` is live and fits `old`, `new.size() <= old.size()`.
pub(crate) unsafe fn shrink_impl<A: RawAllocator + ?Sized>(
    a: &A,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Result<NonNull<[u8]>, Failed> {
    debug_assert!(new.size() <= old.size());
    if new.size() == 0 {
        // SAFETY: the Allocator contract: `ptr` is a live block of `a` fitting `old`.
        unsafe { deallocate_impl(a, ptr, old) };
        return Ok(dangling(new.align()));
    }
    if ptr.as_ptr() as usize & (new.align() - 1) == 0 {
        // SAFETY: live block fitting `old` (caller).
        let q = unsafe { a.raw_resize_in_place(ptr.as_ptr(), old, new.size()) };
        if let Some(q) = NonNull::new(q) {
            // SAFETY: the same block, resized.
            let len = unsafe { a.raw_usable(q.as_ptr(), new) };
            return Ok(NonNull::slice_from_raw_parts(q, len));
        }
    }
    let fresh = allocate_impl(a, new, false)?;
    // SAFETY: distinct live blocks, the new one at least `new.size()` long.
    unsafe {
        ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr().cast::<u8>(), new.size());
        a.raw_free(ptr.as_ptr(), old);
    }
    Ok(fresh)
}

/// Implements allocator-api2's `Allocator` (and, with `nightly`, core's) for a type that
/// implements [`RawAllocator`].
macro_rules! impl_allocator {
    (impl [$($g:tt)*] $ty:ty) => {
        $crate::api::impl_allocator!(@one [$($g)*] $ty, ::allocator_api2::alloc::Allocator, ::allocator_api2::alloc::AllocError);
        #[cfg(feature = "nightly")]
        $crate::api::impl_allocator!(@one [$($g)*] $ty, ::core::alloc::Allocator, ::core::alloc::AllocError);
    };
    ($ty:ty) => {
        $crate::api::impl_allocator!(@one [] $ty, ::allocator_api2::alloc::Allocator, ::allocator_api2::alloc::AllocError);
        #[cfg(feature = "nightly")]
        $crate::api::impl_allocator!(@one [] $ty, ::core::alloc::Allocator, ::core::alloc::AllocError);
    };
    (@one [$($g:tt)*] $ty:ty, $trait:path, $err:path) => {
        // SAFETY: blocks stay valid until freed and while the allocator lives (moving it does
        // not matter: blocks live in the engine, not in the value); every method keeps the
        // trait's contract through the shared helpers in `api`.
        unsafe impl<$($g)*> $trait for $ty {
            #[inline(always)]
            fn allocate(&self, layout: ::core::alloc::Layout) -> Result<::core::ptr::NonNull<[u8]>, $err> {
                $crate::api::allocate_impl(self, layout, false).map_err(|_| $err)
            }

            #[inline]
            fn allocate_zeroed(&self, layout: ::core::alloc::Layout) -> Result<::core::ptr::NonNull<[u8]>, $err> {
                $crate::api::allocate_impl(self, layout, true).map_err(|_| $err)
            }

            #[inline(always)]
            unsafe fn deallocate(&self, ptr: ::core::ptr::NonNull<u8>, layout: ::core::alloc::Layout) {
                // SAFETY: the trait's contract: `ptr` is a block of this allocator fitting `layout`.
                unsafe { $crate::api::deallocate_impl(self, ptr, layout) }
            }

            #[inline]
            unsafe fn grow(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $err> {
                // SAFETY: the trait's contract: `ptr` fits `old`, and `new.size() >= old.size()`.
                unsafe { $crate::api::grow_impl(self, ptr, old, new, false) }.map_err(|_| $err)
            }

            #[inline]
            unsafe fn grow_zeroed(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $err> {
                // SAFETY: the trait's contract: `ptr` fits `old`, and `new.size() >= old.size()`.
                unsafe { $crate::api::grow_impl(self, ptr, old, new, true) }.map_err(|_| $err)
            }

            #[inline]
            unsafe fn shrink(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $err> {
                // SAFETY: the trait's contract: `ptr` fits `old`, and `new.size() <= old.size()`.
                unsafe { $crate::api::shrink_impl(self, ptr, old, new) }.map_err(|_| $err)
            }
        }
    };
}
pub(crate) use impl_allocator;
