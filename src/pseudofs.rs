//! Reading the kernel's pseudo files (/proc, /sys/fs/cgroup) cheaply.
//!
//! `fs::read` and `fs::read_to_string` first ask `statx` for a size these
//! files never report; the dashboard reads hundreds of them a second.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Replace `buf` with the whole content of `path`.
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut file = File::open(path)?;
    let mut chunk = [0u8; 4096];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A pseudo file as text; anything not UTF-8 is an error, as with `fs::read_to_string`.
pub fn read_string(path: &Path) -> io::Result<String> {
    let mut buf = Vec::new();
    read_into(path, &mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_files_whole() {
        let text = read_string(Path::new("/proc/self/status")).expect("status");
        assert!(text.starts_with("Name:"), "{text}");
        assert!(
            text.contains("\nVmRSS:") || text.contains("\nThreads:"),
            "{text}"
        );
        let mut buf = Vec::new();
        read_into(Path::new("/proc/self/stat"), &mut buf).expect("stat");
        assert_eq!(buf.last(), Some(&b'\n'));
        assert!(read_string(Path::new("/proc/self/no-such-file")).is_err());
    }
}
