//! Large per-site buffers backed by 2 MiB pages where the OS allows it.
//!
//! A kMC hop touches a few hundred bytes scattered over several arrays of up to ~100 MB; with
//! 4 KiB pages nearly every access is a TLB miss. Linux's transparent huge pages in
//! `madvise` mode (the common default) give 2 MiB pages to regions that ask for them, but
//! only to whole 2 MiB-aligned pages: `HugeBuf` aligns large buffers to 2 MiB so that all of
//! a buffer, not just its aligned interior, can be backed by huge pages.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

const HUGE_PAGE: usize = 2 << 20;

/// Types for which the all-zero bit pattern is a valid value.
///
/// # Safety
/// Implement only for plain data (numbers and arrays or `repr(C)` structs of them).
pub unsafe trait Zeroable: Copy {}

// SAFETY: zero is a valid value of every primitive number and of arrays of them.
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for u16 {}
unsafe impl Zeroable for u32 {}
unsafe impl Zeroable for u64 {}
unsafe impl Zeroable for i32 {}
unsafe impl Zeroable for i64 {}
unsafe impl Zeroable for f32 {}
unsafe impl Zeroable for f64 {}
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// A fixed-length, zero-initialised buffer, aligned to 2 MiB and advised as huge pages
/// before first touch when it is at least one huge page long.
pub struct HugeBuf<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    /// Layout of the allocation (size 0: nothing allocated).
    layout: Layout,
}

// SAFETY: HugeBuf owns its elements like a Vec does.
unsafe impl<T: Zeroable + Send> Send for HugeBuf<T> {}
unsafe impl<T: Zeroable + Sync> Sync for HugeBuf<T> {}

impl<T: Zeroable> HugeBuf<T> {
    /// `n` zero elements.
    pub fn zeroed(n: usize) -> Self {
        let bytes = n.checked_mul(std::mem::size_of::<T>()).expect("buffer size overflows usize");
        // A large buffer spans whole huge pages: the tail of the last one is address space
        // only, never touched, so never resident.
        let (size, align) = if bytes >= HUGE_PAGE {
            (bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE, HUGE_PAGE)
        } else {
            (bytes, std::mem::align_of::<T>())
        };
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        if bytes == 0 {
            return HugeBuf { ptr: NonNull::dangling(), len: n, layout };
        }
        // Not `alloc_zeroed`: with a large alignment it zeroes by writing, which faults every
        // page in as a small one before it can be advised.
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw as *mut T) else { handle_alloc_error(layout) };
        advise_huge_pages(raw as usize, size);
        // SAFETY: the allocation holds `bytes` bytes; the first touch happens here, after the
        // advice, and all-zero is a valid T (`Zeroable`).
        unsafe { std::ptr::write_bytes(raw, 0, bytes) };
        HugeBuf { ptr, len: n, layout }
    }

    /// Bytes the elements occupy (the rounding to whole huge pages is not counted: it is
    /// never touched).
    pub fn memory_bytes(&self) -> usize {
        self.len * std::mem::size_of::<T>()
    }
}

impl<T: Zeroable> Drop for HugeBuf<T> {
    fn drop(&mut self) {
        if self.layout.size() > 0 {
            // SAFETY: allocated in `zeroed` with this layout.
            unsafe { dealloc(self.ptr.as_ptr() as *mut u8, self.layout) }
        }
    }
}

impl<T: Zeroable> Deref for HugeBuf<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to len initialised (zeroed or since written) elements.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for HugeBuf<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Clone for HugeBuf<T> {
    fn clone(&self) -> Self {
        let mut out = HugeBuf::zeroed(self.len);
        out.copy_from_slice(self);
        out
    }
}

impl<T: Zeroable + std::fmt::Debug> std::fmt::Debug for HugeBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeBuf").field("len", &self.len).finish_non_exhaustive()
    }
}

/// Ask the CPU to start loading the cache line holding address `p` (a hint: `p` need not
/// point into an allocation; no-op off x86-64).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes no program state.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, size: usize) {
    if size >= HUGE_PAGE && addr % HUGE_PAGE == 0 {
        // SAFETY: the range is exactly an allocation we own; MADV_HUGEPAGE only changes how the
        // kernel backs it and never invalidates its contents. Failure is harmless.
        unsafe {
            libc::madvise(addr as *mut libc::c_void, size, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _bytes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_buffers_are_zero_sized_and_aligned() {
        let v: HugeBuf<f64> = HugeBuf::zeroed(1 << 20);
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&x| x == 0.0));
        assert_eq!(v.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(v.memory_bytes(), 8 << 20);
        let mut small: HugeBuf<[i32; 3]> = HugeBuf::zeroed(3);
        small[2] = [1, 2, 3];
        let copy = small.clone();
        assert_eq!(&copy[..], &[[0; 3], [0; 3], [1, 2, 3]]);
        assert!(HugeBuf::<u8>::zeroed(0).is_empty());
    }
}
