//! The files API of a sandbox by name: `cp`, `files` and the dashboard's
//! viewer. The confinement itself (paths resolved beneath the workspace)
//! is `crate::files`, which knows nothing of sandboxes' records.

use std::ffi::OsStr;
use std::path::Path;

use super::{Manager, ManagerError};
use crate::files::{
    copy_in_as, copy_out, delete, list, read_head, remote, Copied, FileEntry, FileHead,
};
use crate::state::db::SandboxRecord;

impl Manager {
    fn files_sandbox(&self, name: &str) -> Result<SandboxRecord, ManagerError> {
        let sandbox = self.store().sandbox(name)?;
        if sandbox.state != "ready" {
            return Err(ManagerError::Invalid(format!(
                "sandbox {name:?} is {}",
                sandbox.state
            )));
        }
        Ok(sandbox)
    }

    /// Copy the host file `src` into sandbox `name` at `inside`, at most
    /// `max_file_size_mb` of its profile.
    pub fn copy_in(
        &self,
        name: &str,
        src: &Path,
        inside: impl AsRef<OsStr>,
    ) -> Result<Copied, ManagerError> {
        let sandbox = self.files_sandbox(name)?;
        let (bytes, written) = copy_in_as(
            &sandbox.workspace,
            src,
            inside,
            sandbox.profile.max_file_size_mb,
            super::run_as(&sandbox),
        )?;
        Ok(Copied {
            sandbox: sandbox.name.clone(),
            from: src.display().to_string(),
            to: remote(&sandbox.name, &written),
            bytes,
        })
    }

    /// Copy `inside` of sandbox `name` to the host path `dest`, at most
    /// `max_file_size_mb` of its profile.
    pub fn copy_out(
        &self,
        name: &str,
        inside: impl AsRef<OsStr>,
        dest: &Path,
    ) -> Result<Copied, ManagerError> {
        let sandbox = self.files_sandbox(name)?;
        let (bytes, written) = copy_out(
            &sandbox.workspace,
            &inside,
            dest,
            sandbox.profile.max_file_size_mb,
        )?;
        Ok(Copied {
            sandbox: sandbox.name.clone(),
            from: remote(&sandbox.name, &inside.as_ref().to_string_lossy()),
            to: written.display().to_string(),
            bytes,
        })
    }

    /// The workspace's directory `inside` ("" for its root).
    pub fn list_files(&self, name: &str, inside: &str) -> Result<Vec<FileEntry>, ManagerError> {
        let sandbox = self.files_sandbox(name)?;
        Ok(list(&sandbox.workspace, inside)?)
    }

    /// The first `max_bytes` (e.g. `VIEW_HEAD_BYTES`) of a workspace file.
    pub fn read_file_head(
        &self,
        name: &str,
        inside: &str,
        max_bytes: usize,
    ) -> Result<FileHead, ManagerError> {
        let sandbox = self.files_sandbox(name)?;
        Ok(read_head(&sandbox.workspace, inside, max_bytes)?)
    }

    /// Delete one file (or symlink) of the workspace.
    pub fn delete_file(&self, name: &str, inside: &str) -> Result<(), ManagerError> {
        let sandbox = self.files_sandbox(name)?;
        Ok(delete(&sandbox.workspace, inside)?)
    }
}
