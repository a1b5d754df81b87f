//! A running job's output in its log. The node's `run --job-env` writes
//! the sandbox's stdout and stderr to the job's log (the entrypoint's
//! stdout, which Ray keeps) as they come, one line per chunk:
//! `sandbox-tui:o:BASE64` for stdout, `sandbox-tui:e:BASE64` for stderr,
//! and `sandbox-tui:O:` / `sandbox-tui:E:` once a stream reached its cap;
//! the result object stays a JSON line of its own at the end. The chunks
//! are base64, so nothing the sandbox prints becomes a line of the log (a
//! forged result, say). Whatever the log holds is still the node's: lines
//! are parsed strictly and every size is capped.

use base64::Engine;

const PREFIX: &str = "sandbox-tui:";

/// The most bytes one frame carries (its line is 4/3 of it, plus the tag).
pub const MAX_FRAME_DATA: usize = 48 * 1024;

/// The longest frame line read: anything longer is not one of ours.
const MAX_FRAME_LINE: usize = PREFIX.len() + 2 + MAX_FRAME_DATA.div_ceil(3) * 4;

/// One of the two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn tag(self, capped: bool) -> char {
        match (self, capped) {
            (Stream::Stdout, false) => 'o',
            (Stream::Stderr, false) => 'e',
            (Stream::Stdout, true) => 'O',
            (Stream::Stderr, true) => 'E',
        }
    }
}

/// The frame lines for `data` of `stream`, each at most [`MAX_FRAME_DATA`]
/// bytes of it, each ending in a newline.
pub fn frame(stream: Stream, data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(MAX_FRAME_DATA) {
        out.push_str(PREFIX);
        out.push(stream.tag(false));
        out.push(':');
        base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut out);
        out.push('\n');
    }
    out
}

/// The line that says `stream` reached its cap: nothing more of it follows.
pub fn capped(stream: Stream) -> String {
    format!("{PREFIX}{}:\n", stream.tag(true))
}

/// A running job's output so far, from its log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The stream holds less than the sandbox wrote: the node's cap, or
    /// the reader's.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Lines that looked like frames and were not.
    pub rejected: u64,
}

impl LiveOutput {
    /// The frames of `log`, each stream at most `cap` bytes. Only whole
    /// lines count (the last one may be half written); lines that are not
    /// frames (the node's own messages, the result) are skipped.
    pub fn parse(log: &str, cap: usize) -> LiveOutput {
        let mut live = LiveOutput::default();
        let whole = match log.rfind('\n') {
            Some(end) => &log[..end],
            None => return live,
        };
        for line in whole.split('\n') {
            let Some(rest) = line.strip_prefix(PREFIX) else {
                continue;
            };
            if live.take(rest, cap).is_none() {
                live.rejected += 1;
            }
        }
        live
    }

    /// One frame's tag and payload; `None` when it is not a frame.
    fn take(&mut self, rest: &str, cap: usize) -> Option<()> {
        if rest.len() + PREFIX.len() > MAX_FRAME_LINE {
            return None;
        }
        let (tag, payload) = rest.split_once(':')?;
        let (data, truncated) = match tag {
            "o" => (&mut self.stdout, &mut self.stdout_truncated),
            "e" => (&mut self.stderr, &mut self.stderr_truncated),
            "O" if payload.is_empty() => {
                self.stdout_truncated = true;
                return Some(());
            }
            "E" if payload.is_empty() => {
                self.stderr_truncated = true;
                return Some(());
            }
            _ => return None,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?;
        if bytes.len() > MAX_FRAME_DATA {
            return None;
        }
        let room = cap.saturating_sub(data.len());
        if bytes.len() > room {
            *truncated = true;
        }
        data.extend_from_slice(&bytes[..bytes.len().min(room)]);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_as_their_streams() {
        let big: Vec<u8> = (0..=255u8).cycle().take(MAX_FRAME_DATA * 2 + 7).collect();
        let mut log = String::from("a warning of the node\n");
        log += &frame(Stream::Stdout, b"out\n");
        log += &frame(Stream::Stderr, &[0xff, b'\n', 0x1b]);
        log += &frame(Stream::Stdout, &big);
        log += "{\"id\": \"x\"}\n";
        let live = LiveOutput::parse(&log, usize::MAX);
        let mut out = b"out\n".to_vec();
        out.extend_from_slice(&big);
        assert_eq!(live.stdout, out);
        assert_eq!(live.stderr, vec![0xff, b'\n', 0x1b]);
        assert!(!live.stdout_truncated && !live.stderr_truncated);
        assert_eq!(live.rejected, 0);
        assert!(frame(Stream::Stdout, &big)
            .lines()
            .all(|l| l.len() <= MAX_FRAME_LINE));
    }

    #[test]
    fn garbage_and_half_written_frames_are_skipped() {
        let mut log = String::new();
        log += "sandbox-tui:o:!!!notbase64\n";
        log += "sandbox-tui:x:b3V0Cg==\n";
        log += "sandbox-tui:o\n";
        log += "sandbox-tui:O:junk\n";
        log += "sandbox-tui:o:b3V0\u{1b}Cg==\n";
        log += &frame(Stream::Stderr, b"kept\n");
        // The writer is in the middle of this one.
        log += &frame(Stream::Stdout, b"half written")[..20];
        let live = LiveOutput::parse(&log, usize::MAX);
        assert_eq!(live.stdout, b"");
        assert_eq!(live.stderr, b"kept\n");
        assert_eq!(live.rejected, 5);
        assert_eq!(LiveOutput::parse("", 10), LiveOutput::default());
        assert_eq!(
            LiveOutput::parse(&frame(Stream::Stdout, b"x")[..10], 10),
            LiveOutput::default()
        );
    }

    #[test]
    fn huge_frames_are_refused_and_streams_capped() {
        // One line far beyond a frame: refused whole, not decoded.
        let huge = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 4 * MAX_FRAME_DATA]);
        let log = format!("sandbox-tui:o:{huge}\n");
        let live = LiveOutput::parse(&log, usize::MAX);
        assert_eq!((live.stdout.len(), live.rejected), (0, 1));
        // Many frames: the cap holds, and says so.
        let log = frame(Stream::Stdout, &vec![b'b'; 3 * MAX_FRAME_DATA]);
        let live = LiveOutput::parse(&log, 1000);
        assert_eq!(live.stdout, vec![b'b'; 1000]);
        assert!(live.stdout_truncated);
        // The node's own cap marker.
        let log = frame(Stream::Stderr, b"e") + &capped(Stream::Stderr);
        let live = LiveOutput::parse(&log, 1000);
        assert_eq!(live.stderr, b"e");
        assert!(live.stderr_truncated && !live.stdout_truncated);
    }
}
