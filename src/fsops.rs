//! File-system steps that layers with nothing else in common share.

use std::path::Path;

/// An atomic rename that fails rather than replace `to`: of two processes
/// renaming onto the same `to` (taking the same spare, giving one back into
/// the same slot), one wins.
pub fn rename_no_replace(from: &Path, to: &Path) -> nix::Result<()> {
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        from,
        nix::fcntl::AT_FDCWD,
        to,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    )
}
