//! Human formatting of sizes, durations and ages, and the launch dialog's
//! command-line splitting. Pure functions.

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else if value < 10.0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// Time since `then_ms`, coarse, like `ps`.
pub fn age(then_ms: i64, now_ms: i64) -> String {
    let secs = ((now_ms - then_ms).max(0) / 1000) as u64;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A line of untrusted text made safe to draw: tabs expanded, control and
/// invisible format characters (escape sequences, bidi overrides) shown as
/// escapes, as the CLI shows them.
pub fn clean_line(line: &str) -> String {
    crate::escape::for_terminal(&line.replace('\t', "    ")).into_owned()
}

/// Shorten to `width` characters with an ellipsis.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A command vector as one line, quoting words that need it.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Characters that only a shell gives meaning to: a line with any of them
/// (outside quotes) runs as `sh -c LINE` rather than being split by us.
const SHELL_META: &str = "|&;<>()$`*?[]{}~#!\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    UnclosedQuote(char),
    TrailingBackslash,
    Empty,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::UnclosedQuote(q) => write!(f, "unclosed {q} quote"),
            SplitError::TrailingBackslash => f.write_str("trailing backslash"),
            SplitError::Empty => f.write_str("empty command"),
        }
    }
}

/// Turn a typed command line into argv: POSIX-like word splitting with
/// single quotes, double quotes and backslash escapes. When the line has an
/// unquoted shell metacharacter (pipes, redirections, `$`, globs, `;`…), the
/// whole line becomes `["sh", "-c", LINE]` so it means what it would in a
/// shell.
pub fn split_command(line: &str) -> Result<Vec<String>, SplitError> {
    let line = line.trim();
    if line.is_empty() {
        return Err(SplitError::Empty);
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut needs_shell = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnclosedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnclosedQuote('"')),
                        },
                        // Expansion inside double quotes is the shell's job.
                        Some(c @ ('$' | '`')) => {
                            needs_shell = true;
                            word.push(c);
                        }
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnclosedQuote('"')),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err(SplitError::TrailingBackslash),
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                if SHELL_META.contains(c) {
                    needs_shell = true;
                }
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if needs_shell {
        return Ok(vec!["sh".into(), "-c".into(), line.to_string()]);
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn splits_words_and_quotes() {
        assert_eq!(split_command("echo hi").unwrap(), v(&["echo", "hi"]));
        assert_eq!(
            split_command(r#"python3 -c 'print("a b")' "x y" z\ w"#).unwrap(),
            v(&["python3", "-c", r#"print("a b")"#, "x y", "z w"])
        );
        assert_eq!(split_command("a ''").unwrap(), v(&["a", ""]));
    }

    #[test]
    fn metacharacters_go_to_sh() {
        assert_eq!(
            split_command("yes | head -n 3").unwrap(),
            v(&["sh", "-c", "yes | head -n 3"])
        );
        assert_eq!(
            split_command("echo \"$HOME\"").unwrap(),
            v(&["sh", "-c", "echo \"$HOME\""])
        );
        // Quoted metacharacters are plain text.
        assert_eq!(split_command("echo 'a|b'").unwrap(), v(&["echo", "a|b"]));
    }

    #[test]
    fn reports_bad_lines() {
        assert_eq!(split_command("  "), Err(SplitError::Empty));
        assert_eq!(
            split_command("echo 'x"),
            Err(SplitError::UnclosedQuote('\''))
        );
        assert_eq!(
            split_command("echo x\\"),
            Err(SplitError::TrailingBackslash)
        );
    }

    #[test]
    fn formats() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5M");
        assert_eq!(bytes(512 * 1024 * 1024), "512M");
        assert_eq!(millis(61_000), "1m01s");
        assert_eq!(age(0, 125_000), "2m");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
