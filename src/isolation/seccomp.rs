//! TEMP STUB
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct SeccompError;
pub struct SeccompProgram;
pub fn build_filter() -> Result<SeccompProgram, SeccompError> {
    Ok(SeccompProgram)
}
impl SeccompProgram {
    pub fn install(&self) -> Result<(), nix::errno::Errno> {
        Ok(())
    }
}
pub fn denied_syscalls() -> &'static [&'static str] {
    &[]
}
