//! A sandbox's output as the dashboard shows it: SGR colour sequences
//! (`ESC [ … m`) become styles, every other escape sequence (cursor moves,
//! screen clears, OSC titles and clipboard writes, DCS strings) is dropped,
//! and what control characters remain are shown escaped (see
//! [`crate::escape`]): nothing the sandbox wrote reaches the terminal as is.

use ratatui::style::{Color, Modifier, Style};

/// Runs of text with their style, in order.
pub type Segments = Vec<(String, Style)>;

/// `line` (one line, no newline) in `base` style, coloured as its SGR
/// sequences say.
pub fn segments(line: &str, base: Style) -> Segments {
    let mut out: Segments = Vec::new();
    let mut style = base;
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let flush = |text: &mut String, style: Style, out: &mut Segments| {
        if !text.is_empty() {
            let shown = crate::escape::for_terminal(&text.replace('\t', "    ")).into_owned();
            out.push((shown, style));
            text.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            text.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('[') => {
                chars.next();
                let mut params = String::new();
                let mut last = None;
                for c in chars.by_ref() {
                    match c {
                        '\u{30}'..='\u{3f}' | '\u{20}'..='\u{2f}' => params.push(c),
                        '\u{40}'..='\u{7e}' => {
                            last = Some(c);
                            break;
                        }
                        // Not a CSI after all: dropped with it.
                        _ => break,
                    }
                }
                if last == Some('m') {
                    flush(&mut text, style, &mut out);
                    style = apply_sgr(style, base, &params);
                }
            }
            // Strings up to BEL or ST: OSC, DCS, SOS, PM, APC.
            Some(']' | 'P' | 'X' | '^' | '_') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || c == '\u{9c}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Two-character escapes (ESC 7, ESC c, ...).
            Some('\u{40}'..='\u{7e}' | '\u{20}'..='\u{3f}') => {
                chars.next();
            }
            _ => {}
        }
    }
    flush(&mut text, style, &mut out);
    out
}

/// The text of `line` as shown, without its styles: what a search matches.
pub fn plain(line: &str) -> String {
    segments(line, Style::default())
        .into_iter()
        .map(|(text, _)| text)
        .collect()
}

fn apply_sgr(mut style: Style, base: Style, params: &str) -> Style {
    let codes: Vec<Option<u16>> = params
        .split([';', ':'])
        .map(|p| {
            if p.is_empty() {
                Some(0)
            } else {
                p.parse().ok()
            }
        })
        .collect();
    let mut i = 0;
    while i < codes.len() {
        let Some(code) = codes[i] else {
            i += 1;
            continue;
        };
        match code {
            0 => style = base,
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            9 => style = style.add_modifier(Modifier::CROSSED_OUT),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            29 => style = style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 => style = style.fg(basic(code - 30)),
            90..=97 => style = style.fg(basic(code - 90 + 8)),
            40..=47 => style = style.bg(basic(code - 40)),
            100..=107 => style = style.bg(basic(code - 100 + 8)),
            39 => style.fg = base.fg,
            49 => style.bg = base.bg,
            38 | 48 => {
                let (color, used) = extended(&codes[i + 1..]);
                if let Some(color) = color {
                    style = if code == 38 {
                        style.fg(color)
                    } else {
                        style.bg(color)
                    };
                }
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
    style
}

/// `5;N` or `2;R;G;B` after a 38 or 48: the colour and how many codes it took.
fn extended(rest: &[Option<u16>]) -> (Option<Color>, usize) {
    let byte = |i: usize| {
        rest.get(i)
            .copied()
            .flatten()
            .and_then(|v| u8::try_from(v).ok())
    };
    match rest.first().copied().flatten() {
        Some(5) => (byte(1).map(Color::Indexed), 2),
        Some(2) => match (byte(1), byte(2), byte(3)) {
            (Some(r), Some(g), Some(b)) => (Some(Color::Rgb(r, g, b)), 4),
            _ => (None, rest.len()),
        },
        _ => (None, rest.len()),
    }
}

fn basic(n: u16) -> Color {
    match n {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        7 => Color::Gray,
        8 => Color::DarkGray,
        9 => Color::LightRed,
        10 => Color::LightGreen,
        11 => Color::LightYellow,
        12 => Color::LightBlue,
        13 => Color::LightMagenta,
        14 => Color::LightCyan,
        _ => Color::White,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styles_and_reset_returns_to_the_base() {
        let base = Style::default().fg(Color::White);
        let s = segments("a\u{1b}[1;31mred\u{1b}[0mb", base);
        assert_eq!(
            s,
            vec![
                ("a".into(), base),
                (
                    "red".into(),
                    base.fg(Color::Red).add_modifier(Modifier::BOLD)
                ),
                ("b".into(), base),
            ]
        );
        let s = segments("\u{1b}[38;5;208mx\u{1b}[48;2;1;2;3my\u{1b}[39mz", base);
        assert_eq!(s[0].1.fg, Some(Color::Indexed(208)));
        assert_eq!(s[1].1.bg, Some(Color::Rgb(1, 2, 3)));
        assert_eq!(s[2].1.fg, Some(Color::White));
        assert_eq!(s[2].1.bg, Some(Color::Rgb(1, 2, 3)));
    }

    #[test]
    fn other_escapes_are_dropped_and_controls_escaped() {
        let hostile =
            "\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{1b}[10;10Hok\u{1b}P1$r\u{1b}\\\u{7}\u{202e}\u{1b}c!";
        assert_eq!(plain(hostile), "ok\\x07\\u{202e}!");
        // Cut short at the end of the line: dropped, never shown raw.
        assert_eq!(plain("x\u{1b}[31"), "x");
        assert_eq!(plain("x\u{1b}"), "x");
        assert!(!plain("\u{1b}[999999999999m\u{1b}[38;2m").contains('\u{1b}'));
    }
}
