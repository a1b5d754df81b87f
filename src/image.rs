//! Image roots: OCI layouts and docker-archive tars unpacked once into the
//! state directory (`STATE/images/<digest>/rootfs`), keyed by the sha256 of
//! the image's manifest, for profiles that set `image`.
//!
//! An archive is untrusted: every entry is written beneath the root's
//! descriptor (`openat2` with `RESOLVE_IN_ROOT`, so a symlink an earlier
//! entry made resolves inside the root, never on the host), leaf names are
//! created with `O_EXCL | O_NOFOLLOW`, absolute names and `..` are refused,
//! device nodes and FIFOs are skipped, setuid/setgid bits are stripped, hard
//! links must point at a regular file inside, and the unpacked size is capped
//! before a byte of an entry is read.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most bytes an image may unpack to (file contents, as the headers declare).
pub const MAX_IMAGE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Most entries over all layers.
const MAX_ENTRIES: u64 = 1_000_000;
/// Largest JSON document (index, manifest) read from an archive.
const MAX_JSON_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "image too large: more than {MAX_IMAGE_BYTES} bytes or {MAX_ENTRIES} entries unpacked"
    )]
    TooLarge,
    #[error("no image matches '{0}' (`sandbox-tui image ls` lists them)")]
    NotFound(String),
    #[error("'{0}' matches more than one image: give more of the digest")]
    Ambiguous(String),
}

fn io_err(what: &'static str, path: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let path = path.into();
    move |source| ImageError::Io { what, path, source }
}

fn entry_err(path: &Path, why: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid(format!("refused entry {}: {why}", path.display()))
}

/// Where an image comes from, as written in a profile or given to `image import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `oci:/dir[:tag]`: an OCI image layout directory.
    Oci { dir: PathBuf, tag: Option<String> },
    /// `docker-archive:/file.tar`: what `docker save` writes.
    DockerArchive(PathBuf),
}

/// A profile's `image`: a source, or an imported image by digest or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Source(Source),
    /// `sha256:HEX` or a prefix of the hex digits, or an image's name.
    Imported(String),
}

/// Parse an `image` value; the paths must be absolute (their existence is
/// checked when the image is imported).
pub fn parse_reference(s: &str) -> Result<Reference, String> {
    if let Some(rest) = s.strip_prefix("oci:") {
        // The tag is after the last ':' when no '/' follows it.
        let (dir, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if !dir.starts_with('/') {
            return Err(format!("oci: needs an absolute path (got '{dir}')"));
        }
        if tag.is_some_and(str::is_empty) {
            return Err("empty tag after ':'".into());
        }
        return Ok(Reference::Source(Source::Oci {
            dir: PathBuf::from(dir),
            tag: tag.map(str::to_owned),
        }));
    }
    if let Some(file) = s.strip_prefix("docker-archive:") {
        if !file.starts_with('/') {
            return Err(format!(
                "docker-archive: needs an absolute path (got '{file}')"
            ));
        }
        return Ok(Reference::Source(Source::DockerArchive(PathBuf::from(
            file,
        ))));
    }
    if s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(
            "expected oci:/dir[:tag], docker-archive:/file.tar, sha256:DIGEST or an imported image's name"
                .into(),
        );
    }
    Ok(Reference::Imported(s.to_owned()))
}

/// What `image ls` shows of one image; kept as `meta.json` beside its root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// `sha256:` and the hex sha256 of the manifest's bytes.
    pub digest: String,
    /// `name:tag` from the archive (docker's RepoTags, OCI's ref.name), or
    /// the file name when it has none.
    pub name: String,
    /// The reference it was imported from.
    pub source: String,
    /// Bytes of file contents unpacked.
    pub size: u64,
    /// Seconds since the epoch.
    pub created: u64,
    /// Entries refused or skipped (device nodes, FIFOs, unsafe names).
    #[serde(default)]
    pub skipped: u64,
}

pub fn images_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("images")
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The unpacked root of the image `digest` (`sha256:HEX`).
pub fn root_dir(state_dir: &Path, digest: &str) -> PathBuf {
    images_dir(state_dir).join(hex_of(digest)).join("rootfs")
}

fn is_hex_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every imported image, by digest.
pub fn list(state_dir: &Path) -> Result<Vec<ImageInfo>, ImageError> {
    let dir = images_dir(state_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", dir.display().to_string())(e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| is_hex_digest(n)) else {
            continue;
        };
        let meta = dir.join(name).join("meta.json");
        let Ok(bytes) = read_capped(&meta, MAX_JSON_BYTES) else {
            continue;
        };
        if let Ok(info) = serde_json::from_slice::<ImageInfo>(&bytes) {
            out.push(info);
        }
    }
    out.sort_by(|a, b| (a.created, &a.digest).cmp(&(b.created, &b.digest)));
    Ok(out)
}

/// The imported image a profile's `image` names: by digest (or a prefix of
/// at least 6 hex digits), by name, or by the source it was imported from.
pub fn find(state_dir: &Path, reference: &str) -> Result<ImageInfo, ImageError> {
    let images = list(state_dir)?;
    let hex = hex_of(reference);
    let by_digest: Vec<&ImageInfo> = if hex.len() >= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        images
            .iter()
            .filter(|i| hex_of(&i.digest).starts_with(hex))
            .collect()
    } else {
        Vec::new()
    };
    let matches: Vec<&ImageInfo> = if by_digest.is_empty() {
        // The newest import of a name or a source wins.
        images
            .iter()
            .rev()
            .filter(|i| i.name == reference || i.source == reference)
            .take(1)
            .collect()
    } else {
        by_digest
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ImageError::NotFound(reference.to_owned())),
        _ => Err(ImageError::Ambiguous(reference.to_owned())),
    }
}

/// The digest a profile's `image` stands for, importing a source that was
/// not imported yet (unpacked once: later launches find it by its source).
pub fn pin(state_dir: &Path, reference: &str) -> Result<String, ImageError> {
    match find(state_dir, reference) {
        Ok(info) => Ok(info.digest),
        Err(ImageError::NotFound(_)) => match parse_reference(reference) {
            Ok(Reference::Source(_)) => Ok(import(state_dir, reference, None)?.digest),
            _ => Err(ImageError::NotFound(reference.to_owned())),
        },
        Err(e) => Err(e),
    }
}

/// Remove what an interrupted `image rm` (`.rm-HEX-PID`) or import
/// (`.import-HEX-PID`) left in the images directory, when the process that
/// made it is gone. Returns how many were removed.
pub fn sweep_leftovers(state_dir: &Path) -> usize {
    let dir = images_dir(state_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name
            .strip_prefix(".rm-")
            .or_else(|| name.strip_prefix(".import-"))
        else {
            continue;
        };
        let Some(pid) = rest
            .rsplit_once('-')
            .filter(|(hex, _)| is_hex_digest(hex))
            .and_then(|(_, pid)| pid.parse::<i32>().ok())
            .filter(|pid| *pid > 0)
        else {
            continue;
        };
        // One still at work (this process's own included) is left alone.
        let alive = !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        );
        if alive {
            continue;
        }
        if crate::state::layout::remove_tree(&dir.join(name)).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Remove an imported image.
pub fn remove(state_dir: &Path, digest: &str) -> Result<(), ImageError> {
    sweep_leftovers(state_dir);
    let hex = hex_of(digest);
    if !is_hex_digest(hex) {
        return Err(ImageError::NotFound(digest.to_owned()));
    }
    let dir = images_dir(state_dir).join(hex);
    // Renamed first, so a half-removed image is never found by a launch.
    let doomed = images_dir(state_dir).join(format!(".rm-{hex}-{}", std::process::id()));
    std::fs::rename(&dir, &doomed).map_err(io_err("removing", dir.display().to_string()))?;
    crate::state::layout::remove_tree(&doomed)
        .map_err(|e| ImageError::Invalid(format!("removing {}: {e}", doomed.display())))?;
    Ok(())
}

/// Import `reference` (a source) into the state directory. An image already
/// there under the same digest is not unpacked again.
pub fn import(
    state_dir: &Path,
    reference: &str,
    name: Option<&str>,
) -> Result<ImageInfo, ImageError> {
    let source = match parse_reference(reference).map_err(ImageError::Invalid)? {
        Reference::Source(s) => s,
        Reference::Imported(_) => {
            return Err(ImageError::Invalid(format!(
                "'{reference}' is not a source: expected oci:/dir[:tag] or docker-archive:/file.tar"
            )))
        }
    };
    let archive = match &source {
        Source::Oci { dir, tag } => open_oci(dir, tag.as_deref())?,
        Source::DockerArchive(file) => open_docker(file)?,
    };
    let digest = format!("sha256:{}", hex(&Sha256::digest(&archive.manifest)));
    crate::state::layout::make_state_dir(state_dir)
        .map_err(io_err("creating", state_dir.display().to_string()))?;
    let images = images_dir(state_dir);
    std::fs::create_dir_all(&images).map_err(io_err("creating", images.display().to_string()))?;
    let final_dir = images.join(hex_of(&digest));
    let shown_name = name.map(str::to_owned).unwrap_or(archive.name.clone());
    if final_dir.join("meta.json").exists() {
        // Unpacked already: only the name and source are brought up to date.
        let mut info = find(state_dir, &digest)?;
        info.name = shown_name;
        info.source = reference.to_owned();
        write_meta(&final_dir, &info)?;
        return Ok(info);
    }
    let tmp = images.join(format!(
        ".import-{}-{}",
        hex_of(&digest),
        std::process::id()
    ));
    let _ = crate::state::layout::remove_tree(&tmp);
    std::fs::create_dir(&tmp).map_err(io_err("creating", tmp.display().to_string()))?;
    let unpacked = (|| {
        let rootfs = tmp.join("rootfs");
        std::fs::create_dir(&rootfs).map_err(io_err("creating", rootfs.display().to_string()))?;
        let mut unpacker = Unpacker::new(&rootfs)?;
        for layer in &archive.layers {
            let reader = layer.open()?;
            unpacker.layer(reader, &layer.label, layer.digest.as_deref())?;
        }
        let info = ImageInfo {
            digest: digest.clone(),
            name: shown_name.clone(),
            source: reference.to_owned(),
            size: unpacker.bytes,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            skipped: unpacker.skipped,
        };
        write_meta(&tmp, &info)?;
        Ok(info)
    })();
    match unpacked {
        Ok(info) => {
            if let Err(e) = std::fs::rename(&tmp, &final_dir) {
                let _ = crate::state::layout::remove_tree(&tmp);
                // Another import of the same image won the race.
                if final_dir.join("meta.json").exists() {
                    return find(state_dir, &digest);
                }
                return Err(io_err("renaming", final_dir.display().to_string())(e));
            }
            Ok(info)
        }
        Err(e) => {
            let _ = crate::state::layout::remove_tree(&tmp);
            Err(e)
        }
    }
}

fn write_meta(dir: &Path, info: &ImageInfo) -> Result<(), ImageError> {
    let path = dir.join("meta.json");
    let tmp = dir.join("meta.json.tmp");
    let json = serde_json::to_vec_pretty(info).map_err(|e| ImageError::Invalid(e.to_string()))?;
    std::fs::write(&tmp, json).map_err(io_err("writing", tmp.display().to_string()))?;
    std::fs::rename(&tmp, &path).map_err(io_err("writing", path.display().to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ImageError> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err("reading", path.display().to_string()))?;
    read_all_capped(file, cap, path)
}

use std::os::unix::fs::OpenOptionsExt;

fn read_all_capped(reader: impl Read, cap: u64, label: &Path) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("reading", label.display().to_string()))?;
    if bytes.len() as u64 > cap {
        return Err(ImageError::Invalid(format!(
            "{}: larger than {cap} bytes",
            label.display()
        )));
    }
    Ok(bytes)
}

/// An archive opened: its manifest's bytes (what the digest is of), its
/// name, and its layers in order, bottom first.
struct Archive {
    manifest: Vec<u8>,
    name: String,
    layers: Vec<Layer>,
}

struct Layer {
    file: PathBuf,
    /// Offset and length inside `file` (a layer inside a docker-archive).
    range: Option<(u64, u64)>,
    label: String,
    /// The sha256 the layer's bytes must have (OCI blobs).
    digest: Option<String>,
}

impl Layer {
    fn open(&self) -> Result<Box<dyn Read>, ImageError> {
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.file)
            .map_err(io_err("opening", self.file.display().to_string()))?;
        Ok(match self.range {
            Some((offset, len)) => {
                file.seek(SeekFrom::Start(offset))
                    .map_err(io_err("reading", self.label.clone()))?;
                Box::new(file.take(len))
            }
            None => Box::new(file),
        })
    }
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf, ImageError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| is_hex_digest(h))
        .ok_or_else(|| ImageError::Invalid(format!("unsupported digest '{digest}'")))?;
    Ok(dir.join("blobs").join("sha256").join(hex))
}

/// A blob whose bytes must hash to its digest.
fn read_blob(dir: &Path, digest: &str) -> Result<Vec<u8>, ImageError> {
    let path = blob_path(dir, digest)?;
    let bytes = read_capped(&path, MAX_JSON_BYTES)?;
    if format!("sha256:{}", hex(&Sha256::digest(&bytes))) != digest {
        return Err(ImageError::Invalid(format!(
            "{}: content does not match its digest",
            path.display()
        )));
    }
    Ok(bytes)
}

fn open_oci(dir: &Path, tag: Option<&str>) -> Result<Archive, ImageError> {
    let index_bytes = read_capped(&dir.join("index.json"), MAX_JSON_BYTES)?;
    let index: OciIndex = serde_json::from_slice(&index_bytes)
        .map_err(|e| ImageError::Invalid(format!("{}/index.json: {e}", dir.display())))?;
    let chosen = match tag {
        Some(tag) => index
            .manifests
            .iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
            .ok_or_else(|| ImageError::Invalid(format!("{}: no tag '{tag}'", dir.display())))?,
        None => match index.manifests.as_slice() {
            [one] => one,
            [] => {
                return Err(ImageError::Invalid(format!(
                    "{}: no manifest",
                    dir.display()
                )))
            }
            _ => {
                return Err(ImageError::Invalid(format!(
                    "{}: several manifests: name one with oci:DIR:TAG",
                    dir.display()
                )))
            }
        },
    };
    let tag_name = chosen.annotations.get(REF_NAME).cloned();
    let mut digest = chosen.digest.clone();
    let mut bytes = read_blob(dir, &digest)?;
    let mut manifest: OciManifest = serde_json::from_slice(&bytes)
        .map_err(|e| ImageError::Invalid(format!("manifest {digest}: {e}")))?;
    // A nested index (several platforms): this machine's, else the first.
    if manifest.media_type.ends_with("image.index.v1+json") || !manifest.manifests.is_empty() {
        let next = manifest
            .manifests
            .first()
            .ok_or_else(|| ImageError::Invalid(format!("index {digest}: no manifest")))?;
        digest = next.digest.clone();
        bytes = read_blob(dir, &digest)?;
        manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Invalid(format!("manifest {digest}: {e}")))?;
    }
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let name = format!("{base}:{}", tag_name.as_deref().unwrap_or("latest"));
    let layers = manifest
        .layers
        .iter()
        .map(|d| {
            if d.media_type.contains("zstd") {
                return Err(ImageError::Invalid(format!(
                    "layer {}: zstd layers are not supported",
                    d.digest
                )));
            }
            Ok(Layer {
                file: blob_path(dir, &d.digest)?,
                range: None,
                label: d.digest.clone(),
                digest: Some(d.digest.clone()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Archive {
        manifest: bytes,
        name,
        layers,
    })
}

#[derive(Deserialize)]
struct DockerManifest {
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn open_docker(file: &Path) -> Result<Archive, ImageError> {
    let label = file.display().to_string();
    let handle = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
        .map_err(io_err("opening", label.clone()))?;
    let mut outer = tar::Archive::new(handle);
    let mut members: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut manifest_bytes = None;
    for entry in outer.entries().map_err(io_err("reading", label.clone()))? {
        let entry = entry.map_err(io_err("reading", label.clone()))?;
        let path = entry.path_bytes();
        let name = String::from_utf8_lossy(&path)
            .trim_start_matches("./")
            .to_owned();
        if name == "manifest.json" {
            manifest_bytes = Some(read_all_capped(entry, MAX_JSON_BYTES, file)?);
            continue;
        }
        if entry.header().entry_type().is_file() {
            let size = entry.size();
            members.insert(name, (entry.raw_file_position(), size));
        }
    }
    let manifest_bytes =
        manifest_bytes.ok_or_else(|| ImageError::Invalid(format!("{label}: no manifest.json")))?;
    let manifests: Vec<DockerManifest> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ImageError::Invalid(format!("{label}: manifest.json: {e}")))?;
    let manifest = match manifests.as_slice() {
        [one] => one,
        _ => {
            return Err(ImageError::Invalid(format!(
                "{label}: manifest.json must hold exactly one image"
            )))
        }
    };
    let name = manifest
        .repo_tags
        .as_ref()
        .and_then(|t| t.first().cloned())
        .unwrap_or_else(|| {
            file.file_stem()
                .map(|n| format!("{}:latest", n.to_string_lossy()))
                .unwrap_or_else(|| "image:latest".into())
        });
    let layers = manifest
        .layers
        .iter()
        .map(|l| {
            let range = members
                .get(l.trim_start_matches("./"))
                .copied()
                .ok_or_else(|| ImageError::Invalid(format!("{label}: no layer {l}")))?;
            Ok(Layer {
                file: file.to_path_buf(),
                range: Some(range),
                label: format!("{label}:{l}"),
                digest: None,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    Ok(Archive {
        manifest: manifest_bytes,
        name,
        layers,
    })
}

/// Hashes what passes through, for a blob whose digest is checked at its end.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes layers into one root, confined beneath its descriptor.
struct Unpacker {
    root: OwnedFd,
    bytes: u64,
    entries: u64,
    skipped: u64,
}

fn c_name(name: &OsStr) -> Result<CString, Errno> {
    CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)
}

/// An entry's name made safe, or why not: relative, no `..`, `./` dropped.
fn clean_path(raw: &Path) -> Result<Option<PathBuf>, String> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("absolute path".into()),
            Component::ParentDir => return Err("'..' in the path".into()),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

impl Unpacker {
    fn new(rootfs: &Path) -> Result<Self, ImageError> {
        let root = nix::fcntl::open(
            rootfs,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| io_err("opening", rootfs.display().to_string())(e.into()))?;
        Ok(Unpacker {
            root,
            bytes: 0,
            entries: 0,
            skipped: 0,
        })
    }

    /// The directory that holds `path` (made if missing), and its leaf name.
    fn parent_of<'p>(&self, path: &'p Path) -> Result<(OwnedFd, &'p OsStr), ImageError> {
        let name = path
            .file_name()
            .ok_or_else(|| entry_err(path, "no file name"))?;
        let parent = path.parent().unwrap_or(Path::new(""));
        // Every prefix is resolved from the root, so an absolute symlink
        // on the way means what it will mean inside the sandbox.
        match crate::files::openat2_in_root(
            self.root.as_fd(),
            &Path::new(".").join(parent),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        ) {
            Ok(dir) => return Ok((dir, name)),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(entry_err(path, e)),
        }
        let mut dir = self.open_dir(Path::new("."))?;
        let mut prefix = PathBuf::from(".");
        for part in parent.components() {
            let Component::Normal(part) = part else {
                continue;
            };
            prefix.push(part);
            dir = match crate::files::openat2_in_root(
                self.root.as_fd(),
                &prefix,
                OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            ) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    // EEXIST: a symlink whose target is missing inside the root.
                    mkdirat(dir.as_fd(), part, 0o755).map_err(|e| match e {
                        Errno::EEXIST => {
                            entry_err(path, "through a symlink to a missing directory")
                        }
                        e => entry_err(path, e),
                    })?;
                    crate::files::openat2_in_root(
                        dir.as_fd(),
                        Path::new(part),
                        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                    )
                    .map_err(|e| entry_err(path, e))?
                }
                Err(e) => return Err(entry_err(path, e)),
            };
        }
        Ok((dir, name))
    }

    fn open_dir(&self, path: &Path) -> Result<OwnedFd, ImageError> {
        crate::files::openat2_in_root(
            self.root.as_fd(),
            path,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        )
        .map_err(|e| entry_err(path, e))
    }

    fn layer(
        &mut self,
        reader: Box<dyn Read>,
        label: &str,
        digest: Option<&str>,
    ) -> Result<(), ImageError> {
        let mut hashing = Hashing {
            inner: reader,
            hasher: Sha256::new(),
        };
        {
            let mut buffered = io::BufReader::new(&mut hashing);
            let gzip = {
                use io::BufRead;
                let head = buffered.fill_buf().map_err(io_err("reading", label))?;
                head.starts_with(&[0x1f, 0x8b])
            };
            let stream: Box<dyn Read + '_> = if gzip {
                Box::new(flate2::read::GzDecoder::new(buffered))
            } else {
                Box::new(buffered)
            };
            let mut archive = tar::Archive::new(stream);
            let mut written: HashSet<PathBuf> = HashSet::new();
            for entry in archive.entries().map_err(io_err("reading", label))? {
                let entry = entry.map_err(io_err("reading", label))?;
                self.entries += 1;
                if self.entries > MAX_ENTRIES {
                    return Err(ImageError::TooLarge);
                }
                self.entry(entry, &mut written)?;
            }
            // The rest of the stream, so the digest covers every byte.
            io::copy(&mut archive.into_inner(), &mut io::sink())
                .map_err(io_err("reading", label))?;
        }
        if let Some(digest) = digest {
            let got = format!("sha256:{}", hex(&hashing.hasher.finalize()));
            if got != digest {
                return Err(ImageError::Invalid(format!(
                    "layer {label}: content does not match its digest"
                )));
            }
        }
        Ok(())
    }

    fn entry(
        &mut self,
        mut entry: tar::Entry<'_, impl Read>,
        written: &mut HashSet<PathBuf>,
    ) -> Result<(), ImageError> {
        use tar::EntryType;
        let raw = PathBuf::from(OsStr::from_bytes(&entry.path_bytes()));
        let path = match clean_path(&raw) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(why) => return Err(entry_err(&raw, why)),
        };
        let kind = entry.header().entry_type();
        // No setuid or setgid bit, and nothing group- or world-writable:
        // the files stay root's, and no other uid may change them even
        // where the image's root is reachable outside a read-only bind.
        let mode = entry.header().mode().unwrap_or(0o644) & 0o1755;
        let name = path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        // Whiteouts: an opaque directory hides what lower layers put there;
        // `.wh.NAME` removes NAME.
        if name == b".wh..wh..opq" {
            let dir = path.parent().unwrap_or(Path::new(""));
            let (fd, _) = self.parent_of(&path)?;
            self.clear_dir(fd, dir, written)?;
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            let target = path.with_file_name(OsStr::from_bytes(hidden));
            let (fd, leaf) = self.parent_of(&target)?;
            remove_at(fd.as_fd(), leaf).map_err(|e| entry_err(&target, e))?;
            return Ok(());
        }
        match kind {
            EntryType::Directory => {
                let (fd, leaf) = self.parent_of(&path)?;
                match crate::files::openat2_in_root(
                    fd.as_fd(),
                    Path::new(leaf),
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                ) {
                    Ok(dir) => {
                        let _ = nix::sys::stat::fchmod(dir.as_fd(), Mode::from_bits_truncate(mode));
                    }
                    Err(_) => {
                        remove_at(fd.as_fd(), leaf).map_err(|e| entry_err(&path, e))?;
                        mkdirat(fd.as_fd(), leaf, mode).map_err(|e| entry_err(&path, e))?;
                    }
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.header().size().map_err(|e| entry_err(&path, e))?;
                self.bytes = self.bytes.saturating_add(size);
                if self.bytes > MAX_IMAGE_BYTES {
                    return Err(ImageError::TooLarge);
                }
                let (fd, leaf) = self.parent_of(&path)?;
                remove_at(fd.as_fd(), leaf).map_err(|e| entry_err(&path, e))?;
                let file = nix::fcntl::openat(
                    fd.as_fd(),
                    leaf,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| entry_err(&path, e))?;
                let mut file = File::from(file);
                let copied = io::copy(&mut (&mut entry).take(size), &mut file)
                    .map_err(|e| entry_err(&path, e))?;
                if copied != size {
                    return Err(entry_err(&path, "truncated archive"));
                }
                file.flush().map_err(|e| entry_err(&path, e))?;
                nix::sys::stat::fchmod(file.as_fd(), Mode::from_bits_truncate(mode & 0o755))
                    .map_err(|e| entry_err(&path, e))?;
                // Python checks its cached bytecode against the source's
                // mtime: the image's times keep its __pycache__ valid.
                if let Ok(mtime) = entry.header().mtime() {
                    let time =
                        nix::sys::time::TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0);
                    let _ = nix::sys::stat::futimens(file.as_fd(), &time, &time);
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| entry_err(&path, "symlink without a target"))?
                    .into_owned();
                let (fd, leaf) = self.parent_of(&path)?;
                remove_at(fd.as_fd(), leaf).map_err(|e| entry_err(&path, e))?;
                nix::unistd::symlinkat(OsStr::from_bytes(&target), fd.as_fd(), leaf)
                    .map_err(|e| entry_err(&path, e))?;
            }
            EntryType::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| entry_err(&path, "hard link without a target"))?
                    .into_owned();
                let target = clean_path(Path::new(OsStr::from_bytes(&target_raw)))
                    .map_err(|why| entry_err(&path, format!("hard link target: {why}")))?
                    .ok_or_else(|| entry_err(&path, "hard link to the root"))?;
                let (target_dir, target_leaf) = self.parent_of(&target)?;
                let stat = nix::sys::stat::fstatat(
                    target_dir.as_fd(),
                    target_leaf,
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| entry_err(&path, format!("hard link target: {e}")))?;
                if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
                    return Err(entry_err(
                        &path,
                        "hard link to something not a regular file",
                    ));
                }
                let (fd, leaf) = self.parent_of(&path)?;
                remove_at(fd.as_fd(), leaf).map_err(|e| entry_err(&path, e))?;
                nix::unistd::linkat(
                    target_dir.as_fd(),
                    target_leaf,
                    fd.as_fd(),
                    leaf,
                    nix::fcntl::AtFlags::empty(),
                )
                .map_err(|e| entry_err(&path, e))?;
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {
                return Ok(());
            }
            // Device nodes, FIFOs, sparse files and the rest: never made.
            _ => {
                self.skipped += 1;
                return Ok(());
            }
        }
        written.insert(path);
        Ok(())
    }

    /// `.wh..wh..opq`: empty `dir` of what lower layers left, keeping what
    /// this layer already wrote there.
    fn clear_dir(
        &self,
        fd: OwnedFd,
        dir: &Path,
        written: &HashSet<PathBuf>,
    ) -> Result<(), ImageError> {
        let listing = nix::dir::Dir::from_fd(nix::unistd::dup(&fd).map_err(|e| entry_err(dir, e))?)
            .map_err(|e| entry_err(dir, e))?;
        let mut names = Vec::new();
        for item in listing {
            let item = item.map_err(|e| entry_err(dir, e))?;
            let name = OsStr::from_bytes(item.file_name().to_bytes()).to_owned();
            if name != "." && name != ".." && !written.contains(&dir.join(&name)) {
                names.push(name);
            }
        }
        for name in names {
            remove_at(fd.as_fd(), &name).map_err(|e| entry_err(&dir.join(&name), e))?;
        }
        Ok(())
    }
}

fn mkdirat(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> Result<(), Errno> {
    nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(mode & 0o1777))
}

/// Remove `name` in `dir` whatever it is (a directory with all it holds),
/// never following a symlink. Missing is fine.
fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    let c = c_name(name)?;
    // SAFETY: unlinkat with a valid descriptor and a NUL-terminated name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::ENOENT => Ok(()),
        Errno::EISDIR | Errno::EPERM => {
            // A directory: through its descriptor, without following links.
            let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
            crate::state::layout::remove_tree(&path).map_err(|_| Errno::EIO)?;
            Ok(())
        }
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            parse_reference("oci:/srv/img:v1"),
            Ok(Reference::Source(Source::Oci {
                dir: "/srv/img".into(),
                tag: Some("v1".into())
            }))
        );
        assert_eq!(
            parse_reference("oci:/srv/img"),
            Ok(Reference::Source(Source::Oci {
                dir: "/srv/img".into(),
                tag: None
            }))
        );
        assert!(parse_reference("oci:img").is_err());
        assert!(parse_reference("docker-archive:x.tar").is_err());
        assert!(parse_reference("").is_err());
        assert_eq!(
            parse_reference("debian:12"),
            Ok(Reference::Imported("debian:12".into()))
        );
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path(Path::new("./a/b")), Ok(Some("a/b".into())));
        assert_eq!(clean_path(Path::new("./")), Ok(None));
        assert!(clean_path(Path::new("/etc/x")).is_err());
        assert!(clean_path(Path::new("a/../../x")).is_err());
    }
}
