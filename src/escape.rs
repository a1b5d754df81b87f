//! Text a sandbox controls (file names, argv, output) made safe to show on
//! a terminal: control characters and invisible format characters become
//! visible escapes (`\x1b`, `\u{202e}`), so nothing the sandbox wrote can
//! move the cursor, clear the screen, set the clipboard (OSC 52), forge a
//! table row with a newline or reorder what is shown (bidi overrides). The
//! CLI's tables, the dashboard and the terminal streams all go through here.
//! JSON needs none of this: it escapes on its own.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that are invisible yet change how the text around them is
/// shown: bidi embeddings, overrides, isolates and marks, zero-width spaces,
/// line and paragraph separators, the byte order mark, interlinear
/// annotations and tag characters. The zero-width joiners (U+200C, U+200D)
/// stay: scripts and emoji sequences need them, and they move nothing.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'
            | '\u{200e}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// Whether `c` is shown as an escape: C0 and C1 controls, DEL, and the
/// invisible format characters.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One line of text for a terminal: every control character (newline and
/// tab included, so a cell stays one cell on one row) and every invisible
/// format character as a visible escape. Text without any is returned as is.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The longest colour sequence (`ESC [ 1;38;2;255;255;255 m` and the like)
/// kept whole; anything longer is escaped.
const MAX_SGR: usize = 48;

/// A byte stream (a command's output) made safe for a terminal, chunk by
/// chunk: newline, tab and carriage return pass (output keeps its lines and
/// progress bars), and so do colour sequences (`ESC [ ... m`, SGR), so
/// `ls --color` still shows colours; every other control byte, C1 control,
/// invisible format character and byte that is not UTF-8 becomes a visible
/// escape. A sequence or character cut between two chunks is held back
/// until the next one. A stream that ends with colours still set resets
/// them, so that what the sandbox left (hidden text, black on black) never
/// hides sandbox-tui's own lines after it, nor the shell's prompt.
#[derive(Debug, Default)]
pub struct TerminalStream {
    pending: Vec<u8>,
    /// Whether a colour sequence passed since the last full reset.
    styled: bool,
}

/// What resets every colour and attribute.
const SGR_RESET: &[u8] = b"\x1b[0m";

enum Step {
    /// Copy this many bytes as they are.
    Raw(usize),
    /// Show this character escaped; it takes this many bytes.
    Escape(char, usize),
    /// Show these many bytes, not UTF-8, as `\xNN` each.
    Bytes(usize),
    /// The rest may be the start of something longer: wait for more.
    Incomplete,
}

fn step(buf: &[u8], end: bool) -> Step {
    let b = buf[0];
    if b == 0x1b {
        return match sgr_len(buf) {
            Some(n) => Step::Raw(n),
            None if !end && buf.len() < MAX_SGR && could_be_sgr(buf) => Step::Incomplete,
            None => Step::Escape('\u{1b}', 1),
        };
    }
    if b < 0x80 {
        let safe = |b: &u8| matches!(b, b'\n' | b'\t' | b'\r' | 0x20..=0x7e);
        return if safe(&b) {
            // A whole run of plain ASCII at once: most output is just that.
            Step::Raw(buf.iter().take_while(|b| safe(b)).count())
        } else {
            Step::Escape(char::from(b), 1)
        };
    }
    let head = &buf[..buf.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.valid_up_to() > 0 => {
            // The prefix up to valid_up_to() is UTF-8 by the error's own word.
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(e) => {
            return match e.error_len() {
                None if !end => Step::Incomplete,
                None => Step::Bytes(head.len()),
                Some(n) => Step::Bytes(n),
            }
        }
    };
    match valid.chars().next() {
        Some(c) if needs_escape(c) => Step::Escape(c, c.len_utf8()),
        Some(c) => Step::Raw(c.len_utf8()),
        None => Step::Bytes(1),
    }
}

/// The length of a whole `ESC [ params m` at the start of `buf`.
fn sgr_len(buf: &[u8]) -> Option<usize> {
    if buf.get(1) != Some(&b'[') {
        return None;
    }
    for (i, &b) in buf.iter().enumerate().take(MAX_SGR).skip(2) {
        match b {
            b'm' => return Some(i + 1),
            b'0'..=b'9' | b';' | b':' => {}
            _ => return None,
        }
    }
    None
}

/// Whether `buf`, cut short, may still become a colour sequence.
fn could_be_sgr(buf: &[u8]) -> bool {
    match buf.get(1) {
        None => true,
        Some(b'[') => buf[2..]
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b';' || *b == b':'),
        Some(_) => false,
    }
}

impl TerminalStream {
    pub fn new() -> TerminalStream {
        TerminalStream::default()
    }

    /// The safe form of `chunk`, given what came before it.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        self.run(false)
    }

    /// What is still held back, at the end of the stream, then a reset
    /// when colours are still set.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = self.run(true);
        if std::mem::take(&mut self.styled) {
            out.extend_from_slice(SGR_RESET);
        }
        out
    }

    fn run(&mut self, end: bool) -> Vec<u8> {
        let buf = std::mem::take(&mut self.pending);
        let mut out = Vec::with_capacity(buf.len());
        let mut escaped = String::new();
        let mut i = 0;
        while i < buf.len() {
            match step(&buf[i..], end) {
                Step::Raw(n) => {
                    let raw = &buf[i..i + n];
                    if raw.first() == Some(&0x1b) {
                        // `ESC [ m` and `ESC [ 0 m` reset all; any other sets something.
                        self.styled = !matches!(raw, b"\x1b[m" | b"\x1b[0m");
                    }
                    out.extend_from_slice(raw);
                    i += n;
                }
                Step::Escape(c, n) => {
                    escaped.clear();
                    push_escape(&mut escaped, c);
                    out.extend_from_slice(escaped.as_bytes());
                    i += n;
                }
                Step::Bytes(n) => {
                    for b in &buf[i..i + n] {
                        escaped.clear();
                        let _ = write!(escaped, "\\x{b:02x}");
                        out.extend_from_slice(escaped.as_bytes());
                    }
                    i += n;
                }
                Step::Incomplete => {
                    self.pending = buf[i..].to_vec();
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_escape_every_control_and_format_character() {
        assert_eq!(for_terminal("plain é 日本"), "plain é 日本");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
        assert_eq!(
            for_terminal("a\x1b]52;c;aGk=\x07b"),
            "a\\x1b]52;c;aGk=\\x07b"
        );
        assert_eq!(for_terminal("x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(for_terminal("\x7f\u{85}\u{9b}"), "\\x7f\\u{85}\\u{9b}");
        assert_eq!(
            for_terminal("abc\u{202e}fdp.exe\u{2066}\u{200b}"),
            "abc\\u{202e}fdp.exe\\u{2066}\\u{200b}"
        );
        // Joiners stay: emoji sequences need them.
        assert_eq!(for_terminal("👩\u{200d}💻"), "👩\u{200d}💻");
    }

    fn stream(chunks: &[&[u8]]) -> String {
        let mut s = TerminalStream::new();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(s.push(chunk));
        }
        out.extend(s.finish());
        String::from_utf8(out).expect("the escaped stream is UTF-8")
    }

    #[test]
    fn streams_keep_lines_and_colours_and_escape_the_rest() {
        assert_eq!(
            stream(&[b"one\ntwo\tx\r\n\x1b[1;31mred\x1b[0m\n"]),
            "one\ntwo\tx\r\n\x1b[1;31mred\x1b[0m\n"
        );
        assert_eq!(
            stream(&[b"\x1b[2J\x1b]52;c;aGk=\x07\x08\x00"]),
            "\\x1b[2J\\x1b]52;c;aGk=\\x07\\x08\\x00"
        );
        assert_eq!(
            stream(&["\u{202e}txt\u{85}".as_bytes()]),
            "\\u{202e}txt\\u{85}"
        );
        assert_eq!(stream(&[b"\xff\xfeok\xc3"]), "\\xff\\xfeok\\xc3");
    }

    #[test]
    fn a_stream_left_styled_is_reset_at_its_end() {
        assert_eq!(stream(&[b"\x1b[8mhidden"]), "\x1b[8mhidden\x1b[0m");
        assert_eq!(stream(&[b"\x1b[30;40mx\x1b[0m\n"]), "\x1b[30;40mx\x1b[0m\n");
        assert_eq!(stream(&[b"\x1b[1mx\x1b[m"]), "\x1b[1mx\x1b[m");
        assert_eq!(stream(&[b"plain\n"]), "plain\n");
    }

    #[test]
    fn streams_join_what_a_chunk_boundary_cuts() {
        // A colour sequence and a character split in two.
        assert_eq!(stream(&[b"a\x1b[3", b"1mb"]), "a\x1b[31mb\x1b[0m");
        assert_eq!(stream(&[b"a\x1b", b"[2J"]), "a\\x1b[2J");
        assert_eq!(stream(&[b"caf\xc3", b"\xa9"]), "café");
        assert_eq!(
            stream(&[b"\xe2\x80", b"\xae!"]),
            "\\u{202e}!",
            "U+202E split in the middle"
        );
        // A sequence that never ends is escaped, not held forever.
        let long = [b"\x1b[".as_slice(), &[b'1'; 100]].concat();
        let out = stream(&[&long]);
        assert!(out.starts_with("\\x1b[111"), "{out}");
        // Every byte value, split anywhere, comes out UTF-8 without a raw control.
        let all: Vec<u8> = (0..=255u8).collect();
        for cut in 0..all.len() {
            let out = stream(&[&all[..cut], &all[cut..]]);
            assert!(!out
                .chars()
                .any(|c| needs_escape(c) && !"\n\t\r".contains(c)));
        }
    }
}
