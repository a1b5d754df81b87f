//! TEMP STUB
use std::path::PathBuf;
pub struct LandlockPlan {
    pub writable: Vec<PathBuf>,
    pub read_only_roots: Vec<PathBuf>,
    pub devices: Vec<PathBuf>,
    pub block_network_tcp: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandlockOutcome {
    Full,
    Partial,
    NotSupported,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct LandlockError;
pub fn restrict_self(_plan: &LandlockPlan) -> Result<LandlockOutcome, LandlockError> {
    Ok(LandlockOutcome::NotSupported)
}
pub fn kernel_abi() -> i32 {
    0
}
