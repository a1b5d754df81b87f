//! An execution's log files, written by the supervisor and read back by the
//! CLI's `logs` and the dashboard (the one reader both use).
//!
//! Per stream, `ID.stdout` keeps the first `log_cap` bytes ("head") as they
//! are read, and `ID.stdout.tail`, written when the execution ends, the last
//! bytes the capture kept, after a first line giving their offset in the
//! stream. `ID.order` records in which order the two streams were read: one
//! line `1 LEN` or `2 LEN` per run of bytes of one stream (consecutive
//! reads of the same stream are one line), made only once both streams
//! have written. An execution without it (or whose order file is cut short
//! at its cap) shows what is not covered stdout first, then stderr.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The reader reads at most this much of an order file (its writer stops
/// at the log cap; a larger file was not written by us).
const ORDER_READ_MAX: u64 = 16 << 20;
/// The offset line of a tail file is at most this long.
const TAIL_HEADER_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }
    }

    fn digit(self) -> u8 {
        match self {
            LogStream::Stdout => b'1',
            LogStream::Stderr => b'2',
        }
    }
}

/// The order file that goes with a stdout log (`ID.stdout` -> `ID.order`).
pub fn order_path(stdout_log: &Path) -> PathBuf {
    stdout_log.with_extension("order")
}

/// The tail file of a log (`ID.stdout` -> `ID.stdout.tail`).
pub fn tail_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".tail");
    PathBuf::from(name)
}

/// Every file of an execution's logs besides the two logs themselves: for
/// removal with them.
pub fn companion_paths(stdout_log: &Path, stderr_log: &Path) -> [PathBuf; 3] {
    [
        order_path(stdout_log),
        tail_path(stdout_log),
        tail_path(stderr_log),
    ]
}

/// The supervisor's side of the order file.
#[derive(Debug)]
pub struct OrderWriter {
    path: Option<PathBuf>,
    file: Option<File>,
    pending: Option<(LogStream, u64)>,
    written: u64,
    cap: u64,
}

impl OrderWriter {
    /// `path`: none when the execution has no logs. `cap`: the most bytes
    /// the file takes, as for the logs.
    pub fn new(path: Option<PathBuf>, cap: u64) -> OrderWriter {
        OrderWriter {
            path,
            file: None,
            pending: None,
            written: 0,
            cap,
        }
    }

    /// `len` bytes of `stream` were just read.
    pub fn note(&mut self, stream: LogStream, len: usize) {
        match &mut self.pending {
            Some((s, n)) if *s == stream => *n += len as u64,
            _ => {
                // Only a second stream makes an order worth a file.
                if let Some(prev) = self.pending.replace((stream, len as u64)) {
                    self.write(prev);
                }
            }
        }
    }

    /// At the end: record the last run, if the file exists at all.
    pub fn finish(&mut self) {
        if self.file.is_some() {
            if let Some(last) = self.pending.take() {
                self.write(last);
            }
        }
    }

    fn write(&mut self, (stream, len): (LogStream, u64)) {
        let line = format!("{} {len}\n", char::from(stream.digit()));
        if self.written + line.len() as u64 > self.cap {
            // Cut short: readers show the rest stream by stream.
            self.path = None;
            self.file = None;
            return;
        }
        if self.file.is_none() {
            let Some(path) = &self.path else { return };
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(f) => self.file = Some(f),
                Err(_) => {
                    self.path = None;
                    return;
                }
            }
        }
        if let Some(file) = &mut self.file {
            if file.write_all(line.as_bytes()).is_ok() {
                self.written += line.len() as u64;
            }
        }
    }
}

/// Write a stream's tail file: `bytes` are the stream's bytes from `offset`
/// on. Nothing is written when they are empty.
pub fn write_tail(log: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(tail_path(log))?;
    file.write_all(format!("{offset}\n").as_bytes())?;
    file.write_all(bytes)
}

/// One piece of the logs in the order it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of a stream, starting at `offset` in that stream.
    Data {
        stream: LogStream,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// Bytes of a stream that are not kept: `Some(n)` once the execution
    /// ended, `None` while it runs (its tail is written at its end) or
    /// when it ended without writing one (its supervisor was killed).
    Gap {
        stream: LogStream,
        offset: u64,
        bytes: Option<u64>,
        ended: bool,
    },
    /// Left out by [`LogFiles::read`]'s budget (of both streams).
    Cut { bytes: u64 },
}

impl Piece {
    /// The marker line a reader shows for a gap or a cut.
    pub fn marker(&self) -> Option<String> {
        match self {
            Piece::Data { .. } => None,
            Piece::Gap {
                stream,
                bytes: Some(n),
                ..
            } => Some(format!("[… {n} bytes of {} not kept …]", stream.name())),
            Piece::Gap {
                stream,
                offset,
                bytes: None,
                ended: true,
            } => Some(format!(
                "[… {} past its first {offset} bytes not kept …]",
                stream.name()
            )),
            Piece::Gap {
                stream,
                offset,
                bytes: None,
                ended: false,
            } => Some(format!(
                "[… {} past its first {offset} bytes: its tail is kept when the execution ends …]",
                stream.name()
            )),
            Piece::Cut { bytes } => Some(format!("[… {bytes} bytes not shown here …]")),
        }
    }
}

/// Where one planned piece comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `len` bytes at `at` in the head file (stream offset `at`).
    Head {
        at: u64,
        len: u64,
    },
    /// `len` bytes at `file_at` in the tail file, stream offset `offset`.
    Tail {
        offset: u64,
        file_at: u64,
        len: u64,
    },
    Gap {
        offset: u64,
        bytes: Option<u64>,
    },
}

impl Source {
    fn len(self) -> u64 {
        match self {
            Source::Head { len, .. } | Source::Tail { len, .. } => len,
            Source::Gap { .. } => 0,
        }
    }
}

/// A tail file: its data's stream offset and length, and where the data
/// starts in the file.
#[derive(Debug, Clone, Copy)]
struct Tail {
    at: u64,
    len: u64,
    header: u64,
}

/// What is on disk of one stream.
#[derive(Debug, Default, Clone, Copy)]
struct Extent {
    head_len: u64,
    tail: Option<Tail>,
}

impl Extent {
    /// The pieces covering stream offsets `[from, to)`, or from `from` on.
    fn pieces(&self, from: u64, to: Option<u64>, gap_shown: &mut bool, out: &mut Vec<Source>) {
        let end = to.unwrap_or(u64::MAX);
        if from < self.head_len.min(end) {
            out.push(Source::Head {
                at: from,
                len: self.head_len.min(end) - from,
            });
        }
        match self.tail {
            Some(tail) => {
                if from.max(self.head_len) < end.min(tail.at) && !*gap_shown {
                    *gap_shown = true;
                    out.push(Source::Gap {
                        offset: self.head_len,
                        bytes: Some(tail.at - self.head_len),
                    });
                }
                let (a, b) = (from.max(tail.at), end.min(tail.at + tail.len));
                if a < b {
                    out.push(Source::Tail {
                        offset: a,
                        file_at: tail.header + (a - tail.at),
                        len: b - a,
                    });
                }
            }
            // Read past the head, the tail not written yet: it runs.
            None => {
                if end != u64::MAX && end > self.head_len && !*gap_shown {
                    *gap_shown = true;
                    out.push(Source::Gap {
                        offset: self.head_len,
                        bytes: None,
                    });
                }
            }
        }
    }
}

/// An execution's logs as found on disk.
#[derive(Debug, Clone)]
pub struct LogFiles {
    logs: [PathBuf; 2],
    ended: bool,
}

impl LogFiles {
    pub fn new(stdout_log: &Path, stderr_log: &Path) -> LogFiles {
        LogFiles {
            logs: [stdout_log.to_path_buf(), stderr_log.to_path_buf()],
            ended: false,
        }
    }

    /// The execution has ended: a gap without a tail is not waiting for one.
    pub fn ended(mut self, ended: bool) -> LogFiles {
        self.ended = ended;
        self
    }

    fn extent(&self, stream: LogStream) -> Extent {
        let log = &self.logs[stream.index()];
        let head_len = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        // A tail starts where the head ends or later; anything else is not ours.
        let tail = read_tail_header(&tail_path(log))
            .ok()
            .flatten()
            .filter(|t| t.at >= head_len);
        Extent { head_len, tail }
    }

    /// The pieces in the order they were read, without their bytes.
    fn plan(&self) -> Vec<(LogStream, Source)> {
        let streams = [LogStream::Stdout, LogStream::Stderr];
        // The order first: the logs are at least as long as it says.
        let order = read_order(&order_path(&self.logs[0]));
        let extents = streams.map(|s| self.extent(s));
        let mut pos = [0u64; 2];
        let mut gap_shown = [false; 2];
        let mut plan = Vec::new();
        let mut buf = Vec::new();
        for (stream, len) in order {
            let i = stream.index();
            let to = pos[i].saturating_add(len);
            extents[i].pieces(pos[i], Some(to), &mut gap_shown[i], &mut buf);
            plan.extend(buf.drain(..).map(|p| (stream, p)));
            pos[i] = to;
        }
        for stream in streams {
            let i = stream.index();
            extents[i].pieces(pos[i], None, &mut gap_shown[i], &mut buf);
            plan.extend(buf.drain(..).map(|p| (stream, p)));
        }
        plan
    }

    /// The logs in the order they were read. `budget`: at most this many
    /// bytes of the beginning and as many of the end, the rest one
    /// [`Piece::Cut`]; `None` reads all (the files are capped).
    pub fn read(&self, budget: Option<u64>) -> io::Result<Vec<Piece>> {
        self.read_after(budget, [0, 0])
    }

    /// [`LogFiles::read`] without the bytes of each stream before
    /// `after[stream]` (shown already): what [`Follower`] reads.
    fn read_after(&self, budget: Option<u64>, after: [u64; 2]) -> io::Result<Vec<Piece>> {
        let plan = self.plan();
        let total: u64 = plan.iter().map(|(_, s)| s.len()).sum();
        let (keep_head, keep_tail) = match budget {
            Some(b) if total > b.saturating_mul(2) => (b, b),
            _ => (total, 0),
        };
        let cut_from = keep_head;
        let cut_to = total - keep_tail;
        let mut files: [Option<File>; 2] = [None, None];
        let mut tails: [Option<File>; 2] = [None, None];
        let mut pieces: Vec<Piece> = Vec::new();
        let mut at = 0u64;
        let mut cut_done = false;
        for (stream, source) in plan {
            let len = source.len();
            let (start, end) = (at, at + len);
            at = end;
            // The parts of [start, end) outside the cut; the cut's marker
            // goes before the first byte after it.
            let mut parts = Vec::new();
            if start < cut_from {
                parts.push((start, end.min(cut_from), false));
            }
            if end > cut_to && cut_to < total {
                parts.push((start.max(cut_to), end, true));
            }
            if let Source::Gap { offset, bytes } = source {
                if !(start > cut_from && start < cut_to) {
                    pieces.push(Piece::Gap {
                        stream,
                        offset,
                        bytes,
                        ended: self.ended,
                    });
                }
                continue;
            }
            for (a, b, after_cut) in parts {
                if a >= b {
                    continue;
                }
                if after_cut && !cut_done && cut_to > cut_from {
                    cut_done = true;
                    pieces.push(Piece::Cut {
                        bytes: cut_to - cut_from,
                    });
                }
                let skip = a - start;
                let n = b - a;
                let (file, file_at, offset) = match source {
                    Source::Head { at, .. } => (
                        open_cached(&mut files[stream.index()], &self.logs[stream.index()])?,
                        at + skip,
                        at + skip,
                    ),
                    Source::Tail {
                        offset, file_at, ..
                    } => {
                        let path = tail_path(&self.logs[stream.index()]);
                        let file = open_cached(&mut tails[stream.index()], &path)?;
                        (file, file_at + skip, offset + skip)
                    }
                    Source::Gap { .. } => continue,
                };
                // Shown already: not read again.
                let seen = after[stream.index()].saturating_sub(offset).min(n);
                let (file_at, offset, n) = (file_at + seen, offset + seen, n - seen);
                if n == 0 {
                    continue;
                }
                let bytes = read_at(file, file_at, n)?;
                push_data(&mut pieces, stream, offset, bytes);
            }
        }
        Ok(pieces)
    }
}

/// Keep the pieces of one stream (its gaps included), or all with `None`.
pub fn only(pieces: Vec<Piece>, stream: Option<LogStream>) -> Vec<Piece> {
    let Some(keep) = stream else { return pieces };
    pieces
        .into_iter()
        .filter(|p| match p {
            Piece::Data { stream, .. } | Piece::Gap { stream, .. } => *stream == keep,
            Piece::Cut { .. } => true,
        })
        .collect()
}

/// For `logs -f`: of each new reading, what was not shown yet.
#[derive(Debug, Default)]
pub struct Follower {
    shown: [u64; 2],
    /// Gap markers shown: per stream, while running and once ended.
    gaps: [[bool; 2]; 2],
}

impl Follower {
    /// What `files` hold now that was not shown yet, of `stream` or both.
    pub fn read(&mut self, files: &LogFiles, stream: Option<LogStream>) -> io::Result<Vec<Piece>> {
        let mut after = self.shown;
        if let Some(keep) = stream {
            // The other stream is not read at all.
            after[1 - keep.index()] = u64::MAX;
        }
        let pieces = only(files.read_after(None, after)?, stream);
        Ok(self.new_pieces(pieces))
    }

    fn new_pieces(&mut self, pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Data {
                    stream,
                    offset,
                    bytes,
                } => {
                    let i = stream.index();
                    let end = offset + bytes.len() as u64;
                    if end <= self.shown[i] {
                        continue;
                    }
                    let skip = self.shown[i].saturating_sub(offset) as usize;
                    self.shown[i] = end;
                    out.push(Piece::Data {
                        stream,
                        offset: offset + skip as u64,
                        bytes: bytes[skip..].to_vec(),
                    });
                }
                Piece::Gap {
                    stream,
                    bytes,
                    ended,
                    ..
                } => {
                    let known = bytes.is_some() || ended;
                    let seen = &mut self.gaps[stream.index()][usize::from(known)];
                    if !*seen {
                        *seen = true;
                        out.push(piece);
                    }
                }
                Piece::Cut { .. } => out.push(piece),
            }
        }
        out
    }
}

/// Append, merging with the previous piece when it is the same stream and
/// continues it.
fn push_data(pieces: &mut Vec<Piece>, stream: LogStream, offset: u64, bytes: Vec<u8>) {
    if let Some(Piece::Data {
        stream: s,
        offset: o,
        bytes: b,
    }) = pieces.last_mut()
    {
        if *s == stream && *o + b.len() as u64 == offset {
            b.extend_from_slice(&bytes);
            return;
        }
    }
    pieces.push(Piece::Data {
        stream,
        offset,
        bytes,
    });
}

fn open_cached<'a>(slot: &'a mut Option<File>, path: &Path) -> io::Result<&'a mut File> {
    if slot.is_none() {
        *slot = Some(File::open(path)?);
    }
    slot.as_mut()
        .ok_or_else(|| io::Error::other("log file vanished"))
}

/// Up to `n` bytes at `at` (fewer if the file is shorter now).
fn read_at(file: &mut File, at: u64, n: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(at))?;
    let mut bytes = Vec::new();
    file.take(n).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A tail file's header; `None` when there is none or it is not one of ours.
fn read_tail_header(path: &Path) -> io::Result<Option<Tail>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let head = read_at(&mut file, 0, TAIL_HEADER_MAX as u64)?;
    let Some(nl) = head.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let header = nl as u64 + 1;
    Ok(std::str::from_utf8(&head[..nl])
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .map(|at| Tail {
            at,
            len: size.saturating_sub(header),
            header,
        }))
}

/// The order records; an unreadable or missing file is no records.
fn read_order(path: &Path) -> Vec<(LogStream, u64)> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    let mut text = Vec::new();
    if file.take(ORDER_READ_MAX).read_to_end(&mut text).is_err() {
        return Vec::new();
    }
    let mut records = Vec::new();
    // A last line without its newline is still being written.
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(line) = std::str::from_utf8(line) else {
            break;
        };
        let stream = match line.as_bytes().first() {
            Some(b'1') => LogStream::Stdout,
            Some(b'2') => LogStream::Stderr,
            _ => break,
        };
        let Some(Ok(len)) = line.get(2..).map(str::parse::<u64>) else {
            break;
        };
        records.push((stream, len));
    }
    if !text.ends_with(b"\n") {
        records.pop();
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                dir: tempfile::tempdir().expect("tempdir"),
            }
        }
        fn out(&self) -> PathBuf {
            self.dir.path().join("e.stdout")
        }
        fn err(&self) -> PathBuf {
            self.dir.path().join("e.stderr")
        }
        fn files(&self) -> LogFiles {
            LogFiles::new(&self.out(), &self.err())
        }
    }

    fn text(pieces: &[Piece]) -> String {
        let mut s = String::new();
        for p in pieces {
            match p {
                Piece::Data { stream, bytes, .. } => {
                    let tag = if *stream == LogStream::Stdout {
                        "o:"
                    } else {
                        "e:"
                    };
                    s.push_str(tag);
                    s.push_str(&String::from_utf8_lossy(bytes));
                    s.push('|');
                }
                other => {
                    s.push_str(&other.marker().unwrap_or_default());
                    s.push('|');
                }
            }
        }
        s
    }

    #[test]
    fn without_an_order_stdout_comes_first() {
        let f = Fixture::new();
        std::fs::write(f.out(), "a\nc\n").unwrap();
        std::fs::write(f.err(), "b\n").unwrap();
        assert_eq!(text(&f.files().read(None).unwrap()), "o:a\nc\n|e:b\n|");
    }

    #[test]
    fn the_order_interleaves_and_an_unfinished_run_comes_last() {
        let f = Fixture::new();
        let mut w = OrderWriter::new(Some(order_path(&f.out())), 1024);
        w.note(LogStream::Stdout, 1);
        w.note(LogStream::Stdout, 1);
        w.note(LogStream::Stderr, 2);
        w.note(LogStream::Stdout, 2);
        std::fs::write(f.out(), "a\nc\n").unwrap();
        std::fs::write(f.err(), "b\n").unwrap();
        // Running: the last run (stdout) is not recorded yet.
        assert_eq!(text(&f.files().read(None).unwrap()), "o:a\n|e:b\n|o:c\n|");
        w.finish();
        assert_eq!(
            std::fs::read_to_string(order_path(&f.out())).unwrap(),
            "1 2\n2 2\n1 2\n"
        );
        assert_eq!(text(&f.files().read(None).unwrap()), "o:a\n|e:b\n|o:c\n|");
    }

    #[test]
    fn one_stream_makes_no_order_file() {
        let f = Fixture::new();
        let mut w = OrderWriter::new(Some(order_path(&f.out())), 1024);
        w.note(LogStream::Stdout, 5);
        w.note(LogStream::Stdout, 5);
        w.finish();
        assert!(!order_path(&f.out()).exists());
    }

    #[test]
    fn head_gap_and_tail_in_order() {
        let f = Fixture::new();
        // stdout: "0123456789" read as 0123 | (err "E") | 456789; head keeps 3.
        std::fs::write(f.out(), "012").unwrap();
        std::fs::write(f.err(), "E").unwrap();
        std::fs::write(order_path(&f.out()), "1 4\n2 1\n1 6\n").unwrap();
        // Running: the head is full, the tail is not written yet.
        assert_eq!(
            text(&f.files().read(None).unwrap()),
            "o:012|[… stdout past its first 3 bytes: its tail is kept when the execution ends …]|e:E|"
        );
        write_tail(&f.out(), 7, b"789").unwrap();
        assert_eq!(
            text(&f.files().read(None).unwrap()),
            "o:012|[… 4 bytes of stdout not kept …]|e:E|o:789|"
        );
    }

    #[test]
    fn an_ended_execution_without_a_tail_says_so() {
        let f = Fixture::new();
        std::fs::write(f.out(), "012").unwrap();
        std::fs::write(f.err(), "E").unwrap();
        std::fs::write(order_path(&f.out()), "1 9\n2 1\n").unwrap();
        let pieces = f.files().ended(true).read(None).unwrap();
        assert_eq!(
            text(&pieces),
            "o:012|[… stdout past its first 3 bytes not kept …]|e:E|"
        );
    }

    #[test]
    fn a_tail_without_an_order_follows_its_head() {
        let f = Fixture::new();
        std::fs::write(f.out(), "head").unwrap();
        write_tail(&f.out(), 100, b"tail").unwrap();
        std::fs::write(f.err(), "E").unwrap();
        assert_eq!(
            text(&f.files().read(None).unwrap()),
            "o:head|[… 96 bytes of stdout not kept …]|o:tail|e:E|"
        );
    }

    #[test]
    fn a_budget_keeps_both_ends() {
        let f = Fixture::new();
        std::fs::write(f.out(), "aaaaabbbbbccccc").unwrap();
        assert_eq!(
            text(&f.files().read(Some(5)).unwrap()),
            "o:aaaaa|[… 5 bytes not shown here …]|o:ccccc|"
        );
        assert_eq!(
            text(&f.files().read(Some(8)).unwrap()),
            "o:aaaaabbbbbccccc|"
        );
    }

    #[test]
    fn a_follower_shows_each_byte_and_marker_once() {
        let f = Fixture::new();
        let mut follow = Follower::default();
        std::fs::write(f.out(), "a").unwrap();
        assert_eq!(text(&follow.read(&f.files(), None).unwrap()), "o:a|");
        std::fs::write(f.out(), "ab").unwrap();
        std::fs::write(f.err(), "E").unwrap();
        std::fs::write(order_path(&f.out()), "1 1\n2 1\n1 5\n").unwrap();
        assert_eq!(
            text(&follow.read(&f.files(), None).unwrap()),
            "e:E|o:b|[… stdout past its first 2 bytes: its tail is kept when the execution ends …]|"
        );
        assert_eq!(text(&follow.read(&f.files(), None).unwrap()), "");
        write_tail(&f.out(), 4, b"yz").unwrap();
        assert_eq!(
            text(&follow.read(&f.files(), None).unwrap()),
            "[… 2 bytes of stdout not kept …]|o:yz|"
        );
    }

    #[test]
    fn the_order_file_stops_at_its_cap() {
        let f = Fixture::new();
        let mut w = OrderWriter::new(Some(order_path(&f.out())), 8);
        for _ in 0..10 {
            w.note(LogStream::Stdout, 1);
            w.note(LogStream::Stderr, 1);
        }
        w.finish();
        let len = std::fs::metadata(order_path(&f.out())).unwrap().len();
        assert!(len <= 8, "{len}");
    }

    #[test]
    fn a_garbled_order_is_ignored_from_there() {
        let f = Fixture::new();
        std::fs::write(f.out(), "ab").unwrap();
        std::fs::write(f.err(), "E").unwrap();
        std::fs::write(order_path(&f.out()), "1 1\n2 1\nzz\n").unwrap();
        assert_eq!(text(&f.files().read(None).unwrap()), "o:a|e:E|o:b|");
        // An order claiming more than the logs hold: the logs' heads are
        // full, the execution runs.
        std::fs::write(order_path(&f.out()), "2 99\n1 99\n").unwrap();
        assert_eq!(
            text(&f.files().read(None).unwrap()),
            "e:E|[… stderr past its first 1 bytes: its tail is kept when the execution ends …]|\
             o:ab|[… stdout past its first 2 bytes: its tail is kept when the execution ends …]|"
        );
    }
}
