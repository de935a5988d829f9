//! Large per-site buffers backed by 2 MiB pages where the OS allows it.
//!
//! A kMC hop touches a few hundred bytes scattered over several arrays of up to ~100 MB; with
//! 4 KiB pages nearly every access is a TLB miss. Linux's transparent huge pages in
//! `madvise` mode (the common default) give 2 MiB pages to regions that ask for them.

/// A zero-initialised vector of `n` elements whose pages are advised as huge before first
/// touch. `T` must be valid when all-zero (plain numbers and arrays of them).
pub fn zeroed_vec<T: Clone + Default>(n: usize) -> Vec<T> {
    let mut v = vec![T::default(); 0];
    v.reserve_exact(n);
    advise_huge_pages(v.spare_capacity_mut().as_mut_ptr() as usize, n * std::mem::size_of::<T>());
    v.resize(n, T::default());
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < 2 * HUGE {
        return;
    }
    let start = (addr + HUGE - 1) & !(HUGE - 1);
    let end = (addr + bytes) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside an allocation we own; MADV_HUGEPAGE only changes how
        // the kernel backs it and never invalidates its contents. Failure is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _bytes: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_vec_is_zero_and_sized() {
        let v: Vec<f64> = super::zeroed_vec(1 << 20);
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&x| x == 0.0));
    }
}
