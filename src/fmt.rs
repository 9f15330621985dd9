//! Formatting without allocating, for statistics and maps that print from inside the
//! allocator (an `atexit` handler, `Display` on a snapshot): a short human byte figure and a
//! fixed-capacity string on the stack. A leaf: it uses nothing else of the crate.

use core::fmt;

/// Bytes as a short human figure (`12.5 MiB`).
pub(crate) struct HumanBytes(pub(crate) usize);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let (v, unit) = if b >= (1u64 << 30) as f64 {
            (b / (1u64 << 30) as f64, "GiB")
        } else if b >= (1 << 20) as f64 {
            (b / (1 << 20) as f64, "MiB")
        } else if b >= 1024.0 {
            (b / 1024.0, "KiB")
        } else {
            return write!(f, "{} B", self.0);
        };
        write!(f, "{v:.1} {unit}")
    }
}

/// A fixed-capacity string on the stack (formatting without allocating).
pub(crate) struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    /// Formats `args` into the buffer, truncating if it does not fit.
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Self {
        let mut s = Self {
            buf: [0; N],
            len: 0,
        };
        let _ = fmt::write(&mut s, args);
        s
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

impl<const N: usize> core::ops::Deref for StackStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        // Only whole UTF-8 sequences are ever copied in (see `write_str`).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Display for StackStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self)
    }
}
