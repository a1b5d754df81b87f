//! TEMP STUB
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpu_quota_cores: Option<f64>,
}
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub cpu_ns: u64,
    pub memory_bytes: u64,
    pub peak_memory_bytes: u64,
    pub oom_kills: u64,
    pub pids_current: u64,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct CgroupError;
pub struct Hierarchy;
impl Hierarchy {
    pub fn create(&self, _rel: &str, _l: &Limits) -> Result<Cgroup, CgroupError> {
        Err(CgroupError)
    }
}
pub struct Cgroup;
impl Cgroup {
    pub fn add_process(&self, _pid: i32) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn usage(&self) -> Result<Usage, CgroupError> {
        Err(CgroupError)
    }
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn remove(&self) -> Result<(), CgroupError> {
        Ok(())
    }
}
impl Hierarchy {
    pub fn detect(_root: &str) -> Result<Hierarchy, CgroupError> {
        Err(CgroupError)
    }
    pub fn open(&self, _rel: &str) -> Result<Cgroup, CgroupError> {
        Err(CgroupError)
    }
}
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub memory: bool,
    pub memory_swap: bool,
    pub pids: bool,
    pub cpu: bool,
    pub cpuacct: bool,
    pub freezer: bool,
    pub kill: bool,
    pub notes: Vec<String>,
}
#[derive(Debug)]
pub enum Flavor {
    V2,
}
impl Hierarchy {
    pub fn report(&self) -> Report {
        Report::default()
    }
    pub fn flavor(&self) -> Flavor {
        Flavor::V2
    }
}
pub fn group_dirs(_root: &str, _rel: &str) -> Vec<std::path::PathBuf> {
    vec![]
}
