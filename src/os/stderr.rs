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
        let mut done = 0;
        while done < self.len {
            // SAFETY: a valid buffer of `len - done` initialised bytes.
            let n = unsafe { libc::write(2, self.buf[done..].as_ptr().cast(), self.len - done) };
            if n <= 0 {
                break; // stderr closed or broken: drop the message
            }
            done += n as usize;
        }
        self.len = 0;
    }
}

impl core::fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
