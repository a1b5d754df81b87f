//! Capped head+tail capture of one output stream.
//!
//! A sandboxed child may write without bound (`yes` for minutes), so the
//! supervisor keeps at most `cap` bytes per stream: the first half verbatim
//! ("head"), the most recent half in a ring ("tail"), and only a count of
//! what fell in between. Buffers are grown lazily and never past their share
//! of the cap, so a quiet stream costs almost nothing and a noisy one costs
//! at most `cap` bytes.

pub mod forward;
pub mod logfile;

/// Keeps the first `cap / 2` and the last `cap - cap / 2` bytes of a stream.
#[derive(Debug, Clone)]
pub struct CappedCapture {
    cap: usize,
    head_cap: usize,
    tail_cap: usize,
    head: Vec<u8>,
    /// Ring buffer. While `tail.len() < tail_cap` it is filled linearly and
    /// `tail_start` stays 0; once full, `tail_start` is the oldest byte.
    tail: Vec<u8>,
    tail_start: usize,
    total: u64,
}

impl CappedCapture {
    pub fn new(cap_bytes: usize) -> Self {
        let head_cap = cap_bytes / 2;
        Self {
            cap: cap_bytes,
            head_cap,
            tail_cap: cap_bytes - head_cap,
            head: Vec::new(),
            tail: Vec::new(),
            tail_start: 0,
            total: 0,
        }
    }

    /// The configured cap in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len() as u64);

        let room = self.head_cap - self.head.len();
        let n = room.min(chunk.len());
        if n > 0 {
            grow_bounded(&mut self.head, n, self.head_cap);
            self.head.extend_from_slice(&chunk[..n]);
        }
        let rest = &chunk[n..];
        if !rest.is_empty() {
            self.push_tail(rest);
        }
    }

    fn push_tail(&mut self, mut data: &[u8]) {
        if self.tail_cap == 0 {
            return;
        }
        // Only the last `tail_cap` bytes of this chunk can survive; skipping the
        // rest up front keeps a huge chunk O(cap) instead of O(chunk).
        if data.len() >= self.tail_cap {
            data = &data[data.len() - self.tail_cap..];
            self.tail.clear();
            grow_bounded(&mut self.tail, self.tail_cap, self.tail_cap);
            self.tail.extend_from_slice(data);
            self.tail_start = 0;
            return;
        }

        if self.tail.len() < self.tail_cap {
            let n = (self.tail_cap - self.tail.len()).min(data.len());
            grow_bounded(&mut self.tail, n, self.tail_cap);
            self.tail.extend_from_slice(&data[..n]);
            data = &data[n..];
            if data.is_empty() {
                return;
            }
        }

        // Ring is full: overwrite the oldest bytes, wrapping at most once
        // because `data.len() < tail_cap`.
        let first = (self.tail_cap - self.tail_start).min(data.len());
        self.tail[self.tail_start..self.tail_start + first].copy_from_slice(&data[..first]);
        let second = data.len() - first;
        self.tail[..second].copy_from_slice(&data[first..]);
        self.tail_start = (self.tail_start + data.len()) % self.tail_cap;
    }

    /// Every byte ever pushed, kept or not.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    pub fn truncated(&self) -> bool {
        self.total > self.cap as u64
    }

    pub fn dropped_bytes(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// Head, then a marker line if anything was dropped, then tail. Raw bytes:
    /// the stream may be binary or cut mid UTF-8 sequence.
    pub fn to_bytes(&self) -> Vec<u8> {
        let marker = self.marker();
        let mut out = Vec::with_capacity(
            self.head.len() + self.tail.len() + marker.as_ref().map_or(0, Vec::len),
        );
        out.extend_from_slice(&self.head);
        if let Some(m) = marker {
            out.extend_from_slice(&m);
        }
        out.extend_from_slice(&self.tail[self.tail_start..]);
        out.extend_from_slice(&self.tail[..self.tail_start]);
        out
    }

    /// The bytes of the tail ring from stream offset `from` on (or from
    /// the ring's oldest byte if that is later), with their offset.
    pub fn tail_from(&self, from: u64) -> (u64, Vec<u8>) {
        let tail_at = self.total - self.tail.len() as u64;
        let start = from.max(tail_at).min(self.total);
        let mut ordered = Vec::with_capacity(self.tail.len());
        ordered.extend_from_slice(&self.tail[self.tail_start..]);
        ordered.extend_from_slice(&self.tail[..self.tail_start]);
        let skip = ((start - tail_at) as usize).min(ordered.len());
        ordered.drain(..skip);
        (start, ordered)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        if self.dropped_bytes() == 0 && self.tail.is_empty() {
            return self.head;
        }
        self.to_bytes()
    }

    fn marker(&self) -> Option<Vec<u8>> {
        let dropped = self.dropped_bytes();
        (dropped > 0).then(|| format!("\n[... {dropped} bytes omitted ...]\n").into_bytes())
    }
}

/// Make room for `additional` more bytes, growing geometrically for amortised
/// O(1) pushes but never allocating past `limit`.
fn grow_bounded(buf: &mut Vec<u8>, additional: usize, limit: usize) {
    let needed = buf.len() + additional;
    if needed <= buf.capacity() {
        return;
    }
    let target = needed
        .max(buf.capacity().saturating_mul(2))
        .max(64)
        .min(limit);
    buf.reserve_exact(target - buf.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn small_output_kept_exactly() {
        let mut c = CappedCapture::new(100);
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.total_bytes(), 11);
        assert!(!c.truncated());
        assert_eq!(c.dropped_bytes(), 0);
        assert_eq!(c.to_bytes(), b"hello world");
        assert_eq!(c.into_bytes(), b"hello world");
    }

    #[test]
    fn exactly_cap_is_not_truncated() {
        let data = pattern(100);
        let mut c = CappedCapture::new(100);
        c.push(&data);
        assert!(!c.truncated());
        assert_eq!(c.dropped_bytes(), 0);
        assert_eq!(c.into_bytes(), data);
    }

    #[test]
    fn over_cap_keeps_exact_head_and_tail() {
        let data = pattern(10_000);
        let mut c = CappedCapture::new(100);
        for chunk in data.chunks(37) {
            c.push(chunk);
        }
        assert!(c.truncated());
        assert_eq!(c.total_bytes(), 10_000);
        assert_eq!(c.dropped_bytes(), 9_900);
        let out = c.into_bytes();
        let marker = b"\n[... 9900 bytes omitted ...]\n";
        let mut expected = data[..50].to_vec();
        expected.extend_from_slice(marker);
        expected.extend_from_slice(&data[10_000 - 50..]);
        assert_eq!(out, expected);
    }

    #[test]
    fn odd_cap_splits_head_and_tail() {
        let data = pattern(1000);
        let mut c = CappedCapture::new(7);
        c.push(&data);
        let out = c.to_bytes();
        assert_eq!(&out[..3], &data[..3]);
        assert_eq!(&out[out.len() - 4..], &data[996..]);
        assert_eq!(c.dropped_bytes(), 993);
    }

    #[test]
    fn chunking_does_not_change_result() {
        let data = pattern(5_000);
        for cap in [0usize, 1, 2, 3, 10, 99, 100, 4_999, 5_000, 5_001, 10_000] {
            let mut one = CappedCapture::new(cap);
            one.push(&data);
            let mut tiny = CappedCapture::new(cap);
            for b in data.chunks(1) {
                tiny.push(b);
            }
            let mut mixed = CappedCapture::new(cap);
            let mut rest = &data[..];
            let mut step = 1;
            while !rest.is_empty() {
                let n = step.min(rest.len());
                mixed.push(&rest[..n]);
                rest = &rest[n..];
                step = step * 3 % 211 + 1;
            }
            let expected = one.to_bytes();
            assert_eq!(tiny.to_bytes(), expected, "cap {cap}");
            assert_eq!(mixed.to_bytes(), expected, "cap {cap}");
            assert_eq!(tiny.dropped_bytes(), one.dropped_bytes());
            assert_eq!(mixed.total_bytes(), 5_000);
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let cap = 4096;
        let mut c = CappedCapture::new(cap);
        let chunk = vec![b'y'; 1000];
        for i in 0..20_000 {
            c.push(&chunk[..(i % 1000) + 1]);
            assert!(c.head.capacity() <= cap / 2);
            assert!(c.tail.capacity() <= cap - cap / 2);
        }
        let huge = vec![b'n'; 10 << 20];
        c.push(&huge);
        assert!(c.head.capacity() <= cap / 2);
        assert!(c.tail.capacity() <= cap - cap / 2);
        assert!(c.to_bytes().len() <= cap + 64);
    }

    #[test]
    fn binary_bytes_survive() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut c = CappedCapture::new(512);
        c.push(&data[..1]);
        c.push(&data[1..]);
        let out = c.into_bytes();
        assert_eq!(&out[..256], &data[..256]);
        assert_eq!(&out[out.len() - 256..], &data[3000 - 256..]);

        let mut small = CappedCapture::new(512);
        small.push(&[0xff, 0x00, 0xfe, b'\n', 0xc3]);
        assert_eq!(small.into_bytes(), vec![0xff, 0x00, 0xfe, b'\n', 0xc3]);
    }

    #[test]
    fn the_tail_from_an_offset() {
        let data = pattern(1000);
        let mut c = CappedCapture::new(100);
        for chunk in data.chunks(33) {
            c.push(chunk);
        }
        assert_eq!(c.tail_from(0), (950, data[950..].to_vec()));
        assert_eq!(c.tail_from(990), (990, data[990..].to_vec()));
        assert_eq!(c.tail_from(5000), (1000, Vec::new()));
        let mut small = CappedCapture::new(100);
        small.push(b"abc");
        assert_eq!(small.tail_from(100), (3, Vec::new()));
    }

    #[test]
    fn zero_cap_only_counts() {
        let mut c = CappedCapture::new(0);
        c.push(b"abc");
        assert!(c.truncated());
        assert_eq!(c.dropped_bytes(), 3);
        assert_eq!(c.into_bytes(), b"\n[... 3 bytes omitted ...]\n");
    }
}
