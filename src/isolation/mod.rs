//! The steps inside the sandbox before `exec`: namespaces, mounts, rlimits,
//! capabilities, landlock, seccomp, and the minimal init that runs as pid 1.
//!
//! The supervisor clones a child into new namespaces and that child at once
//! executes the init, `sandbox-tui-init` (or this binary as `__init`; see
//! [`namespaces::spawn_init`]): the
//! only code that runs between `clone` and `exec` is a handful of
//! async-signal-safe calls, and everything else (mounts, rlimits, landlock,
//! seccomp) happens in a fresh, single-threaded process image that reads its
//! [`SandboxSpec`] from a socket, builds the sandbox, and starts the command
//! on the supervisor's go-ahead ([`GO_AHEAD`]).

pub mod bridge;
pub mod caps;
pub mod container_init;
pub mod init;
pub mod landlock;
pub mod mounts;
pub mod namespaces;
pub mod netns;
pub mod rlimits;
pub mod seccomp;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the init process needs, serialized as JSON over a pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub hostname: String,
    /// Host path of the workspace, bound read-write at `workdir`.
    pub workspace: PathBuf,
    pub workdir: PathBuf,
    pub read_only_paths: Vec<PathBuf>,
    pub writable_paths: Vec<PathBuf>,
    /// Binds the tool itself adds (the Python runner's files).
    pub binds: Vec<Bind>,
    pub allow_network: bool,
    pub rlimits: rlimits::Rlimits,
    pub tmp_size_bytes: u64,
    /// Refuse to run when a mechanism is missing, instead of degrading.
    pub require_isolation: bool,
    /// `allowed_hosts`: bridge a loopback port to the supervisor's proxy.
    #[serde(default)]
    pub proxy: Option<bridge::ProxyBridge>,
    /// A Python job: the write end of the supervisor's result pipe waits on
    /// [`RESULT_FD`] and the command gets it as [`COMMAND_RESULT_FD`].
    #[serde(default)]
    pub result_pipe: bool,
    /// The host uid, and gid of the same number, the command runs as (the
    /// sandbox's own, when run as root); `None`: the init's own (uid 0 of a
    /// user namespace, or of the host for a sandbox made before uids).
    #[serde(default)]
    pub uid: Option<u32>,
    /// Host path of an unpacked root (a profile's `rootfs` or `image`),
    /// bound read-only in place of the host's system directories and /etc.
    #[serde(default)]
    pub root: Option<PathBuf>,
}

/// The name the sandbox's uid has in its generated `/etc/passwd`.
pub const SANDBOX_USER: &str = "sandbox";

/// A host path bound at a path inside the sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub writable: bool,
}

/// Messages from the init to the supervisor on the status pipe, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InitMessage {
    /// A mechanism ran with less than asked; the supervisor decides whether that is fatal.
    Degraded { mechanism: String, reason: String },
    /// The sandbox is built; the command is about to be exec'd.
    Started { pid: i32 },
    /// The sandbox could not be set up.
    SetupError { message: String },
    /// The command could not be executed (not found, not executable).
    ExecError { message: String, exit_code: i32 },
    /// The command ended.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// File descriptor numbers inside the init process.
pub const SPEC_FD: i32 = 3;
pub const STATUS_FD: i32 = 4;
/// Where the write end of a Python job's result pipe reaches the init.
pub const RESULT_FD: i32 = 5;
/// Where the command finds it: the first descriptor after stderr.
pub const COMMAND_RESULT_FD: i32 = 3;

/// The supervisor's side of the init's control socket ([`SPEC_FD`]): the
/// spec as its length (8 bytes, little-endian) and JSON, then later one
/// [`GO_AHEAD`] byte. The init builds the whole sandbox between the two,
/// while the supervisor records the execution; it starts the command only
/// on the go-ahead, and ends with a setup error if the socket closes first.
pub const GO_AHEAD: u8 = b'!';

/// A spec longer than this is refused: nothing legitimate comes near it.
pub const MAX_SPEC_BYTES: u64 = 64 * 1024 * 1024;

/// The spec, framed as the init reads it.
pub fn frame_spec(json: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(8 + json.len());
    framed.extend_from_slice(&(json.len() as u64).to_le_bytes());
    framed.extend_from_slice(json);
    framed
}

/// Default `PATH` inside the sandbox when the profile does not set one.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
