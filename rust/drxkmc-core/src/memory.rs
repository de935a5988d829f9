//! Large per-site buffers backed by 2 MiB pages where the OS allows it.
//!
//! A kMC hop touches a few hundred bytes scattered over several arrays of up to ~100 MB; with
//! 4 KiB pages nearly every access is a TLB miss. Linux's transparent huge pages in
//! `madvise` mode (the common default) give 2 MiB pages to regions that ask for them, but
//! only to whole 2 MiB-aligned pages: `HugeBuf` aligns large buffers to 2 MiB so that all of
//! a buffer, not just its aligned interior, can be backed by huge pages.
//!
//! Memory policy (no size may abort the process): every constructor that allocates per-site
//! buffers (configuration, kMC engine, percolation, annealer) first estimates its peak
//! allocation and calls [`require_available`], which refuses with [`Error::OutOfMemory`] when
//! the estimate exceeds [`available_bytes`] (the smallest of the address-space limit's
//! headroom, the RAM the kernel can give without swapping and the cgroup's headroom); the
//! buffers themselves are then allocated fallibly ([`HugeBuf::try_zeroed`], [`try_filled`],
//! [`try_collect`]), so an allocation the estimate missed still becomes an error, not an abort.

use crate::error::{Error, Result};
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
    /// `n` zero elements; aborts if the allocation fails (use [`HugeBuf::try_zeroed`] for
    /// anything sized by user input).
    pub fn zeroed(n: usize) -> Self {
        Self::allocate(n).unwrap_or_else(|_| handle_alloc_error(Layout::array::<T>(n).unwrap_or(Layout::new::<T>())))
    }

    /// `n` zero elements, or [`Error::OutOfMemory`] (about `field`) if they cannot be allocated.
    pub fn try_zeroed(n: usize, field: &str) -> Result<Self> {
        Self::allocate(n).map_err(|bytes| allocation_failed(field, bytes))
    }

    /// The buffer, or the bytes it would need when they cannot be allocated.
    fn allocate(n: usize) -> std::result::Result<Self, usize> {
        let wanted = n.saturating_mul(std::mem::size_of::<T>());
        let bytes = n.checked_mul(std::mem::size_of::<T>()).ok_or(wanted)?;
        // A large buffer spans whole huge pages: the tail of the last one is address space
        // only, never touched, so never resident.
        let (size, align) = if bytes >= HUGE_PAGE {
            (bytes.checked_next_multiple_of(HUGE_PAGE).ok_or(wanted)?, HUGE_PAGE)
        } else {
            (bytes, std::mem::align_of::<T>())
        };
        let layout = Layout::from_size_align(size, align).map_err(|_| wanted)?;
        if bytes == 0 {
            return Ok(HugeBuf { ptr: NonNull::dangling(), len: n, layout });
        }
        // Not `alloc_zeroed`: with a large alignment it zeroes by writing, which faults every
        // page in as a small one before it can be advised.
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let ptr = NonNull::new(raw as *mut T).ok_or(wanted)?;
        advise_huge_pages(raw as usize, size);
        // SAFETY: the allocation holds `bytes` bytes; the first touch happens here, after the
        // advice, and all-zero is a valid T (`Zeroable`).
        unsafe { std::ptr::write_bytes(raw, 0, bytes) };
        Ok(HugeBuf { ptr, len: n, layout })
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

// ----- fallible allocation and the memory budget ---------------------------------------------

fn allocation_failed(field: &str, bytes: usize) -> Error {
    Error::out_of_memory(
        field,
        format!("could not allocate {} (the system refused the memory)", format_bytes(bytes as u64)),
    )
}

/// A vector of `n` copies of `value`, or [`Error::OutOfMemory`] about `field`.
pub fn try_filled<T: Clone>(n: usize, value: T, field: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| allocation_failed(field, n.saturating_mul(std::mem::size_of::<T>())))?;
    v.resize(n, value);
    Ok(v)
}

/// The `n` items of `items` as a vector (its exact size, reserved up front), or
/// [`Error::OutOfMemory`] about `field`.
pub fn try_collect<T>(n: usize, items: impl Iterator<Item = T>, field: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| allocation_failed(field, n.saturating_mul(std::mem::size_of::<T>())))?;
    v.extend(items);
    Ok(v)
}

/// "1.5 GB"-style size (decimal units, as `free -h --si` and most users count).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// "the 800×800×800 lattice (2,048,000,000 cation sites)", for memory errors.
pub fn describe_lattice(lattice: &crate::lattice::Lattice) -> String {
    let [x, y, z] = lattice.size();
    let digits = lattice.n_cations().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("the {x}×{y}×{z} lattice ({grouped} cation sites)")
}

/// One bound on the memory this process may still allocate: bytes and where the bound comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    pub source: &'static str,
}

/// The tightest known bound on the bytes this process can still allocate and touch without
/// failing or swapping, or None where the OS says nothing (non-Linux). The smallest of:
/// * the address-space limit (`ulimit -v`, `RLIMIT_AS`) minus the address space in use;
/// * `MemAvailable` of `/proc/meminfo`: RAM the kernel can hand out without swapping;
/// * the cgroup v2 limit (`memory.max` − `memory.current`), which containers and batch
///   schedulers (SLURM, Kubernetes) set.
pub fn available_bytes() -> Option<Budget> {
    os::budgets().into_iter().flatten().min_by_key(|b| b.bytes)
}

/// Refuse with [`Error::OutOfMemory`] about `field` when `bytes` (an estimate of the peak
/// allocation of `what`, e.g. "a kMC engine for 2,048,000,000 cation sites") exceed
/// [`available_bytes`].
pub fn require_available(field: &str, what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
    match available_bytes() {
        Some(budget) if bytes > budget.bytes => Err(Error::out_of_memory(
            field,
            format!(
                "{} needs about {} but only {} are available ({}); use a smaller lattice",
                what(),
                format_bytes(bytes),
                format_bytes(budget.bytes),
                budget.source
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(target_os = "linux")]
mod os {
    use super::Budget;

    /// The value (kB) of one `Key: value kB` line of a /proc file.
    fn proc_kb(text: &str, key: &str) -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    }

    fn address_space() -> Option<Budget> {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
            return None;
        }
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let used = proc_kb(&status, "VmSize:")? * 1024;
        #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on x86-64 Linux, not everywhere
        let limit = lim.rlim_cur as u64;
        Some(Budget { bytes: limit.saturating_sub(used), source: "address-space limit RLIMIT_AS" })
    }

    fn ram() -> Option<Budget> {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        Some(Budget { bytes: proc_kb(&info, "MemAvailable:")? * 1024, source: "MemAvailable of /proc/meminfo" })
    }

    fn cgroup() -> Option<Budget> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let path = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
        let dir = format!("/sys/fs/cgroup{path}");
        let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).ok();
        let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max": no limit
        let current: u64 = read("memory.current")?.trim().parse().ok()?;
        Some(Budget { bytes: max.saturating_sub(current), source: "cgroup memory.max" })
    }

    pub(super) fn budgets() -> [Option<Budget>; 3] {
        [address_space(), ram(), cgroup()]
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) fn budgets() -> [Option<super::Budget>; 0] {
        []
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

    #[test]
    fn impossible_allocations_are_errors_not_aborts() {
        // 2^61 bytes exceed any address space; an overflowing length exceeds usize.
        let e = HugeBuf::<u64>::try_zeroed(1 << 58, "size").unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { .. }) && e.field() == "size", "{e}");
        assert!(HugeBuf::<u64>::try_zeroed(usize::MAX / 2, "size").is_err());
        assert!(try_filled(usize::MAX / 4, 0u32, "size").is_err());
        assert!(try_collect(usize::MAX / 2, (0..).map(|x: u64| x), "size").is_err());
        assert_eq!(try_filled(3, 7u8, "size").unwrap(), vec![7, 7, 7]);
        assert_eq!(try_collect(2, [1, 2].into_iter(), "size").unwrap(), vec![1, 2]);
    }

    #[test]
    fn estimates_cover_what_is_kept() {
        use crate::config::Configuration;
        use crate::engine::Kmc;
        use crate::lattice::{Geometry, Lattice};
        use crate::model::BarrierModel;
        let l = Lattice::new([4, 6, 8], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(l, 300, &[200], vec!["Mn".into()], 20, 0, 1).unwrap();
        assert!(Configuration::memory_estimate(&l, false) >= cfg.grid().len() as u64);
        let kmc = Kmc::new(&cfg, &BarrierModel::default(), 300.0, 1).unwrap();
        // The estimate is the kept buffers plus the set-up's temporaries.
        let (est, kept) = (Kmc::memory_estimate(&l), kmc.memory_bytes() + 16 * l.n_cations());
        assert!(est >= kept, "{est} < {kept}");
        assert_eq!(describe_lattice(&l), "the 4×6×8 lattice (768 cation sites)");
    }

    #[test]
    fn the_budget_refuses_what_exceeds_it_and_names_the_field() {
        if let Some(budget) = available_bytes() {
            assert!(require_available("size", || "a test".into(), budget.bytes / 2).is_ok());
            let e = require_available("size", || "a test".into(), u64::MAX).unwrap_err();
            assert_eq!(e.field(), "size");
            assert!(e.to_string().contains("a test needs about"), "{e}");
        }
        assert_eq!(format_bytes(999), "999 bytes");
        assert_eq!(format_bytes(4_097_835_008), "4.1 GB");
    }
}
