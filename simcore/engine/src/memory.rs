//! Huge pages for the large tables read at random.
//!
//! Spike delivery reads each spike's synapses, and adds to their targets' states, at random
//! places in tables of megabytes to hundreds of megabytes. With 4 KiB pages nearly every such
//! read also misses the TLB, and under virtualisation a page walk costs many memory accesses:
//! delivery then waits on walks more than on the data. 2 MiB pages cover such a table with a
//! few hundred TLB entries.
//!
//! [`advise`] asks Linux to back a buffer with transparent huge pages when it is first touched
//! (`madvise(MADV_HUGEPAGE)`, which takes effect where the system's setting is `madvise` or
//! `always`). It is a hint: elsewhere, or when refused, nothing changes but speed.

/// Below this many bytes a buffer is left alone (it spans few huge pages anyway).
const MIN_BYTES: usize = 2 << 20;

/// Asks for huge pages behind the capacity of `v`; call it before the buffer is written.
pub(crate) fn advise<T>(v: &mut Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes >= MIN_BYTES {
        hint(v.as_mut_ptr() as *mut u8, bytes);
    }
}

/// A vector of `len` zeros (default values) backed by huge pages where the system allows.
pub(crate) fn zeroed<T: Copy + Default>(len: usize) -> Vec<T> {
    collect((0..len).map(|_| T::default()))
}

/// Collects `items` (of known length) into a vector backed by huge pages where the system
/// allows.
pub(crate) fn collect<T>(items: impl ExactSizeIterator<Item = T>) -> Vec<T> {
    let mut v = Vec::with_capacity(items.len());
    advise(&mut v);
    v.extend(items);
    v
}

#[cfg(target_os = "linux")]
fn hint(start: *mut u8, bytes: usize) {
    const MADV_HUGEPAGE: i32 = 14;
    const PAGE: usize = 4096;
    extern "C" {
        fn madvise(addr: *mut u8, len: usize, advice: i32) -> i32;
    }
    // madvise takes page-aligned ranges: advise the whole pages inside the buffer.
    let first = (start as usize).next_multiple_of(PAGE);
    let end = (start as usize + bytes) / PAGE * PAGE;
    if end > first {
        // SAFETY: the range lies inside one live allocation; MADV_HUGEPAGE changes only how
        // the kernel backs those pages, never their contents. A failure is only a lost hint.
        let _ = unsafe { madvise(first as *mut u8, end - first, MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn hint(_start: *mut u8, _bytes: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_vectors_are_zero_whatever_their_size() {
        for len in [0, 10, 3 << 20] {
            let v: Vec<u32> = super::zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0));
        }
    }
}
