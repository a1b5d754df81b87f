//! TEMP STUB
pub struct CappedCapture {
    cap: usize,
    data: Vec<u8>,
    total: u64,
}
impl CappedCapture {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            data: Vec::new(),
            total: 0,
        }
    }
    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.cap.saturating_sub(self.data.len());
        self.data.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    pub fn total_bytes(&self) -> u64 {
        self.total
    }
    pub fn truncated(&self) -> bool {
        self.total > self.cap as u64
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
}
