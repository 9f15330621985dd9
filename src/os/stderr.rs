//! Messages to stderr without allocating: a stack buffer written with `write(2)`.
//!
//! The engine writes from places where allocating is not allowed (inside `malloc`, an `atexit`
//! handler, a bad-free report): no `std::io`, no lock, and a message that cannot be written
//! (stderr closed) is dropped.

/// Writes to stderr through a stack buffer with `libc::write` (no allocation, no lock).
pub(crate) struct Writer {
    buf: [u8; 512],
    len: usize,
}

impl Writer {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; 512],
            len: 0,
        }
    }

    pub(crate) fn write_bytes(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let take = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + take].copy_from_slice(&s[..take]);
            self.len += take;
            s = &s[take..];
        }
    }

    pub(crate) fn flush(&mut self) {
        write_all(&self.buf[..self.len]);
        self.len = 0;
    }
}

/// Writes `bytes` to stderr (fd 2) with `write(2)`, retrying short writes; a message that
/// cannot be written (stderr closed or broken) is dropped.
pub(crate) fn write_all(bytes: &[u8]) {
    let mut done = 0;
    while done < bytes.len() {
        let rest = &bytes[done..];
        // SAFETY: `rest` is a valid buffer of `rest.len()` initialised bytes.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
}

impl core::fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
