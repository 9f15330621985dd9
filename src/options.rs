//! Options read once from the environment, without allocating.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ALLOCGATOR_PURGE_DELAY_MS` | 10 | how long free memory stays committed before it goes back to the OS (0: at the next slow path) |
//! | `ALLOCGATOR_VERBOSE` | 0 | 1: print the global statistics to stderr at process exit |
//! | `ALLOCGATOR_BACKGROUND_PURGE` | 1 | 0: no background purger thread (free memory then goes back only when the thread that owns it reaches a slow path, or at `trim()`) |
//! | `ALLOCGATOR_SHUFFLE` | 1 | hardened build only: 0 carves fresh blocks in address order, not shuffled (faster for programs that walk what they allocated in order; see the README's hardened section) |
//!
//! They are read on the first call of any accessor (the global path and `Slab` call one before
//! they create their first heap) with a `getenv` that does not allocate; a value that does not
//! parse is reported on stderr once (a stack buffer and `write(2)`) and the default is used.
//! Under Miri and loom the defaults are used and the environment is not read.
//!
//! This module only parses and stores: the purge delay goes to the engine
//! (`engine::purge::set_delay_ms`), as does the hardened build's shuffle switch
//! (`engine::hardened::set_shuffle`); the rest stays here for the global path to read (its
//! purger, and the statistics it prints at exit for `ALLOCGATOR_VERBOSE=1`).
//!
//! Like every `getenv`, the first read races with a `std::env::set_var` on another thread at
//! the same moment; the engine reads at its first heap, normally before `main` has threads.

use crate::engine::purge;
use crate::sync::{AtomicU8, AtomicUsize, Ordering};

/// Default purge delay (ms).
pub(crate) const DEFAULT_PURGE_DELAY_MS: u64 = purge::DEFAULT_DELAY_MS;

/// Not read yet / being read / ready.
const UNREAD: u8 = 0;
const READING: u8 = 1;
const READY: u8 = 2;

/// The effective options: the environment's values, or the defaults.
///
/// ```
/// let o = allocgator::options();
/// // Without ALLOCGATOR_PURGE_DELAY_MS in the environment, the default:
/// if std::env::var_os("ALLOCGATOR_PURGE_DELAY_MS").is_none() {
///     assert_eq!(o.purge_delay_ms(), 10);
/// }
/// println!("{o:?}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    purge_delay_ms: u64,
    verbose: u8,
    background_purge: bool,
    shuffle: bool,
}

impl Options {
    /// Milliseconds free memory stays committed before a purge gives it back
    /// (`ALLOCGATOR_PURGE_DELAY_MS`; 0 = at the next slow path).
    ///
    /// ```
    /// assert!(allocgator::options().purge_delay_ms() <= 600_000);
    /// ```
    pub fn purge_delay_ms(&self) -> u64 {
        self.purge_delay_ms
    }

    /// `ALLOCGATOR_VERBOSE`: 0 (quiet) or 1 (global statistics on stderr at exit).
    ///
    /// ```
    /// assert!(allocgator::options().verbose() <= 1);
    /// ```
    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// `ALLOCGATOR_BACKGROUND_PURGE`: whether the background purger may start (default
    /// true; see [`set_background_purge`](crate::set_background_purge)).
    ///
    /// ```
    /// if std::env::var_os("ALLOCGATOR_BACKGROUND_PURGE").is_none() {
    ///     assert!(allocgator::options().background_purge());
    /// }
    /// ```
    pub fn background_purge(&self) -> bool {
        self.background_purge
    }

    /// `ALLOCGATOR_SHUFFLE`: whether fresh blocks are carved in a shuffled order. Only the
    /// `hardened` build shuffles (default true there); without the feature this is always
    /// false, whatever the environment says.
    ///
    /// ```
    /// let o = allocgator::options();
    /// if !cfg!(feature = "hardened") {
    ///     assert!(!o.shuffle());
    /// } else if std::env::var_os("ALLOCGATOR_SHUFFLE").is_none() {
    ///     assert!(o.shuffle());
    /// }
    /// ```
    pub fn shuffle(&self) -> bool {
        self.shuffle
    }
}

/// The options in effect (read from the environment on first use).
#[cfg(not(loom))]
///
/// ```
/// let o = allocgator::options();
/// assert_eq!(o, allocgator::options()); // read once
/// ```
pub fn options() -> Options {
    ensure_read();
    Options {
        purge_delay_ms: purge_delay_ms(),
        // Relaxed: published by `ensure_read`'s Acquire.
        verbose: VERBOSE.load(Ordering::Relaxed) as u8,
        background_purge: background_purge(),
        shuffle: shuffle(),
    }
}

/// Whether fresh blocks are carved shuffled: the hardened build's setting (after the
/// environment is read), never in the default build.
#[cfg(not(loom))]
fn shuffle() -> bool {
    #[cfg(feature = "hardened")]
    return crate::engine::hardened::shuffle();
    #[cfg(not(feature = "hardened"))]
    false
}

#[cfg(not(loom))]
static STATE: AtomicU8 = AtomicU8::new(UNREAD);
#[cfg(not(loom))]
static VERBOSE: AtomicUsize = AtomicUsize::new(0);
#[cfg(not(loom))]
static BACKGROUND_PURGE: AtomicUsize = AtomicUsize::new(1);

/// Whether the background purger may run (`ALLOCGATOR_BACKGROUND_PURGE`, default 1).
#[cfg(not(loom))]
#[inline]
pub(crate) fn background_purge() -> bool {
    ensure_read();
    // Relaxed: published by `ensure_read`'s Acquire.
    BACKGROUND_PURGE.load(Ordering::Relaxed) != 0
}

/// The purge delay under loom: the default (models do not read the environment).
#[cfg(loom)]
#[inline]
pub(crate) fn purge_delay_ms() -> u64 {
    DEFAULT_PURGE_DELAY_MS
}

/// Nothing to read under loom.
#[cfg(loom)]
pub(crate) fn ensure_read() {}

/// The purge delay in milliseconds (slow paths only).
#[cfg(not(loom))]
#[inline]
pub(crate) fn purge_delay_ms() -> u64 {
    ensure_read();
    purge::delay_ms()
}

/// Whether `ALLOCGATOR_VERBOSE` asks for the statistics at exit.
#[cfg(not(loom))]
pub(crate) fn verbose() -> bool {
    ensure_read();
    // Relaxed: published by `ensure_read`'s Acquire.
    VERBOSE.load(Ordering::Relaxed) != 0
}

/// Reads the environment if nobody has yet; returns once the options are ready.
#[cfg(not(loom))]
#[inline]
pub(crate) fn ensure_read() {
    // Acquire: pairs with the reader's Release store of READY, so the values are visible.
    if STATE.load(Ordering::Acquire) != READY {
        read_slow();
    }
}

#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn read_slow() {
    // Acquire on success: nothing to see yet, we are about to write. Acquire on failure: if
    // READY, the values are visible.
    match STATE.compare_exchange(UNREAD, READING, Ordering::Acquire, Ordering::Acquire) {
        Ok(_) => {
            #[cfg(all(unix, not(miri)))]
            environment::read();
            // Release: publishes the values stored above to every Acquire load of STATE.
            STATE.store(READY, Ordering::Release);
        }
        Err(_) => {
            // Another thread is reading (a few microseconds: getenv and maybe one write).
            // Acquire: as above.
            while STATE.load(Ordering::Acquire) != READY {
                crate::sync::spin_hint();
            }
        }
    }
}

/// Reading the environment and reporting on stderr: only on Unix outside Miri and loom
/// (elsewhere the defaults stand and nothing is printed).
#[cfg(all(unix, not(miri), not(loom)))]
mod environment {
    use super::{purge, Ordering, BACKGROUND_PURGE, DEFAULT_PURGE_DELAY_MS, VERBOSE};
    use crate::os::env::getenv;

    /// Largest purge delay accepted (ten minutes); larger values are reported as bad.
    const MAX_PURGE_DELAY_MS: u64 = 600_000;

    /// Reads the options into the statics (before the READY store publishes them).
    pub(super) fn read() {
        if let Some(value) = getenv(c"ALLOCGATOR_PURGE_DELAY_MS") {
            match parse_u64(value).filter(|&v| v <= MAX_PURGE_DELAY_MS) {
                // Published by the READY store.
                Some(ms) => purge::set_delay_ms(ms),
                None => report_bad(
                    "ALLOCGATOR_PURGE_DELAY_MS",
                    value,
                    "milliseconds, 0 to 600000",
                    DEFAULT_PURGE_DELAY_MS,
                ),
            }
        }
        if let Some(value) = getenv(c"ALLOCGATOR_VERBOSE") {
            match parse_u64(value).filter(|&v| v <= 1) {
                // Relaxed: published by the READY store.
                Some(v) => VERBOSE.store(v as usize, Ordering::Relaxed),
                None => report_bad("ALLOCGATOR_VERBOSE", value, "0 or 1", 0),
            }
        }
        if let Some(value) = getenv(c"ALLOCGATOR_BACKGROUND_PURGE") {
            match parse_u64(value).filter(|&v| v <= 1) {
                // Relaxed: published by the READY store.
                Some(v) => BACKGROUND_PURGE.store(v as usize, Ordering::Relaxed),
                None => report_bad("ALLOCGATOR_BACKGROUND_PURGE", value, "0 or 1", 1),
            }
        }
        #[cfg(feature = "hardened")]
        if let Some(value) = getenv(c"ALLOCGATOR_SHUFFLE") {
            match parse_u64(value).filter(|&v| v <= 1) {
                // Published by the READY store.
                Some(v) => crate::engine::hardened::set_shuffle(v == 1),
                None => report_bad("ALLOCGATOR_SHUFFLE", value, "0 or 1", 1),
            }
        }
    }

    /// A decimal number with optional surrounding spaces; `None` if anything else is there.
    fn parse_u64(s: &[u8]) -> Option<u64> {
        let s = s.trim_ascii();
        if s.is_empty() || s.len() > 19 {
            return None;
        }
        let mut v = 0u64;
        for &b in s {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u64::from(b - b'0');
        }
        Some(v)
    }

    /// Reports a bad option value on stderr (once: the environment is read once).
    fn report_bad(name: &str, value: &[u8], expected: &str, default: u64) {
        use core::fmt::Write;
        let mut out = crate::os::stderr::Writer::new();
        let shown = &value[..value.len().min(64)];
        let _ = write!(out, "allocgator: ignoring {name}=");
        out.write_bytes(shown);
        let _ = writeln!(out, " (expected {expected}); using the default, {default}");
        out.flush();
    }

    #[cfg(test)]
    mod tests {
        use super::parse_u64;

        #[test]
        fn parses_plain_decimal_numbers_only() {
            assert_eq!(parse_u64(b"0"), Some(0));
            assert_eq!(parse_u64(b" 250 "), Some(250));
            assert_eq!(parse_u64(b"18446744073709551615"), None); // 20 digits: refused
            assert_eq!(
                parse_u64(b"9999999999999999999"),
                Some(9_999_999_999_999_999_999)
            );
            for bad in [&b""[..], b"abc", b"-1", b"1.5", b"10ms", b"0x10", b" "] {
                assert_eq!(parse_u64(bad), None, "{:?}", core::str::from_utf8(bad));
            }
        }
    }
}
