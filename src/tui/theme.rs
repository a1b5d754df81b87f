//! Colours from TOML theme files: embedded ones (`themes/*.toml`), overridable
//! by `$XDG_CONFIG_HOME/sandbox-tui/themes/NAME.toml`. `NO_COLOR` turns every
//! colour off and marks things with bold/reverse instead.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};

const DEFAULT_TOML: &str = include_str!("../../themes/default.toml");
const LIGHT_TOML: &str = include_str!("../../themes/light.toml");
const HIGH_CONTRAST_TOML: &str = include_str!("../../themes/high-contrast.toml");

/// Names of the embedded themes.
pub const BUILTIN: [&str; 3] = ["default", "light", "high-contrast"];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: unknown key {key:?} (known keys: {})", KEYS.join(", "))]
    UnknownKey { file: String, key: String },
    #[error("{file}: {key}: bad colour {value} (use a name like \"red\" or \"dark_gray\", or \"#rrggbb\")")]
    BadColor {
        file: String,
        key: String,
        value: String,
    },
    #[error("unknown theme {name:?} (built in: {}; or a file {})", BUILTIN.join(", "), path.display())]
    Unknown { name: String, path: PathBuf },
    #[error("cannot read theme {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Every key a theme file may set; the ones it leaves out come from `default`.
const KEYS: [&str; 20] = [
    "text",
    "muted",
    "title",
    "border",
    "border_focused",
    "selected_fg",
    "selected_bg",
    "header_bg",
    "accent",
    "ok",
    "warning",
    "error",
    "running",
    "queued",
    "finished",
    "failed",
    "gauge",
    "gauge_high",
    "chart_cpu",
    "chart_memory",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    pub text: Color,
    pub muted: Color,
    pub title: Color,
    pub border: Color,
    pub border_focused: Color,
    pub selected_fg: Color,
    pub selected_bg: Color,
    pub header_bg: Color,
    pub accent: Color,
    pub ok: Color,
    pub warning: Color,
    pub error: Color,
    pub running: Color,
    pub queued: Color,
    pub finished: Color,
    pub failed: Color,
    pub gauge: Color,
    pub gauge_high: Color,
    pub chart_cpu: Color,
    pub chart_memory: Color,
}

impl Palette {
    fn slot(&mut self, key: &str) -> Option<&mut Color> {
        Some(match key {
            "text" => &mut self.text,
            "muted" => &mut self.muted,
            "title" => &mut self.title,
            "border" => &mut self.border,
            "border_focused" => &mut self.border_focused,
            "selected_fg" => &mut self.selected_fg,
            "selected_bg" => &mut self.selected_bg,
            "header_bg" => &mut self.header_bg,
            "accent" => &mut self.accent,
            "ok" => &mut self.ok,
            "warning" => &mut self.warning,
            "error" => &mut self.error,
            "running" => &mut self.running,
            "queued" => &mut self.queued,
            "finished" => &mut self.finished,
            "failed" => &mut self.failed,
            "gauge" => &mut self.gauge,
            "gauge_high" => &mut self.gauge_high,
            "chart_cpu" => &mut self.chart_cpu,
            "chart_memory" => &mut self.chart_memory,
            _ => return None,
        })
    }
}

/// A base palette for parsing the embedded default itself.
fn reset_palette() -> Palette {
    Palette {
        text: Color::Reset,
        muted: Color::DarkGray,
        title: Color::Cyan,
        border: Color::DarkGray,
        border_focused: Color::Cyan,
        selected_fg: Color::Black,
        selected_bg: Color::Cyan,
        header_bg: Color::Reset,
        accent: Color::Cyan,
        ok: Color::Green,
        warning: Color::Yellow,
        error: Color::Red,
        running: Color::Green,
        queued: Color::Yellow,
        finished: Color::Blue,
        failed: Color::Red,
        gauge: Color::Green,
        gauge_high: Color::Red,
        chart_cpu: Color::Cyan,
        chart_memory: Color::Magenta,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub palette: Palette,
    /// False under NO_COLOR: styles carry modifiers only.
    pub color: bool,
}

/// Parse a colour: a ratatui name ("red", "dark_gray", "light-blue"…) or "#rrggbb".
pub fn parse_color(value: &str) -> Option<Color> {
    let v = value.trim();
    if let Some(hex) = v.strip_prefix('#') {
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let n = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((n >> 16) as u8, (n >> 8) as u8, n as u8));
    }
    let name = v.to_ascii_lowercase().replace(['-', ' '], "_");
    Some(match name.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark_gray" | "dark_grey" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

fn parse_onto(
    base: Palette,
    text: &str,
    file: &str,
) -> Result<(Palette, Option<String>), ThemeError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, column) = crate::profile::line_col(text, e.span().map_or(0, |span| span.start));
        ThemeError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let mut palette = base;
    let mut name = None;
    for (key, value) in &table {
        if key == "name" {
            name = value.as_str().map(str::to_string);
            continue;
        }
        let bad = || ThemeError::BadColor {
            file: file.to_string(),
            key: key.clone(),
            value: value.to_string(),
        };
        let slot = palette.slot(key).ok_or_else(|| ThemeError::UnknownKey {
            file: file.to_string(),
            key: key.clone(),
        })?;
        *slot = value.as_str().and_then(parse_color).ok_or_else(bad)?;
    }
    Ok((palette, name))
}

impl Theme {
    /// Parse a theme file's text on top of the default palette.
    pub fn parse(name: &str, text: &str, file: &str) -> Result<Theme, ThemeError> {
        let (palette, _) = parse_onto(default_palette(), text, file)?;
        Ok(Theme {
            name: name.to_string(),
            palette,
            color: true,
        })
    }

    /// The default theme, never failing (its file is checked by a test).
    pub fn default_theme() -> Theme {
        Theme {
            name: "default".into(),
            palette: default_palette(),
            color: true,
        }
    }

    /// Resolve a theme by name: the user's file first, then the embedded one.
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        if let Some(dir) = user_dir {
            let path = dir.join(format!("{name}.toml"));
            match std::fs::read_to_string(&path) {
                Ok(text) => return Theme::parse(name, &text, &path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ThemeError::Io { path, source }),
            }
        }
        let text = match name {
            "default" => DEFAULT_TOML,
            "light" => LIGHT_TOML,
            "high-contrast" => HIGH_CONTRAST_TOML,
            _ => {
                return Err(ThemeError::Unknown {
                    name: name.to_string(),
                    path: user_dir
                        .unwrap_or(Path::new("$XDG_CONFIG_HOME/sandbox-tui/themes"))
                        .join(format!("{name}.toml")),
                })
            }
        };
        Theme::parse(name, text, &format!("themes/{name}.toml"))
    }

    /// `$XDG_CONFIG_HOME/sandbox-tui/themes` (or `~/.config/...`).
    pub fn user_dir() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
            Some(dir) if dir.is_absolute() => dir,
            _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".config"),
        };
        Some(base.join("sandbox-tui").join("themes"))
    }

    pub fn without_color(mut self) -> Theme {
        self.color = false;
        self
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn text(&self) -> Style {
        self.fg(self.palette.text)
    }
    pub fn muted(&self) -> Style {
        if self.color {
            self.fg(self.palette.muted)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    pub fn title(&self) -> Style {
        self.fg(self.palette.title).add_modifier(Modifier::BOLD)
    }
    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => self.fg(self.palette.border_focused),
            (false, true) => self.fg(self.palette.border),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
            (false, false) => Style::new(),
        }
    }
    pub fn selected(&self) -> Style {
        if self.color {
            Style::new()
                .fg(self.palette.selected_fg)
                .bg(self.palette.selected_bg)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
    /// Selection in a pane that does not have the focus.
    pub fn selected_unfocused(&self) -> Style {
        if self.color {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }
    pub fn header(&self) -> Style {
        if self.color {
            Style::new().bg(self.palette.header_bg)
        } else {
            Style::new()
        }
    }
    pub fn column_header(&self) -> Style {
        self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
    }
    pub fn accent(&self) -> Style {
        self.fg(self.palette.accent)
    }
    pub fn ok(&self) -> Style {
        self.fg(self.palette.ok)
    }
    pub fn warning(&self) -> Style {
        self.fg(self.palette.warning).add_modifier(Modifier::BOLD)
    }
    pub fn error(&self) -> Style {
        self.fg(self.palette.error).add_modifier(Modifier::BOLD)
    }
    pub fn gauge(&self, ratio: f64) -> Style {
        if ratio >= 0.9 {
            self.fg(self.palette.gauge_high)
        } else {
            self.fg(self.palette.gauge)
        }
    }
    pub fn chart_cpu(&self) -> Style {
        self.fg(self.palette.chart_cpu)
    }
    pub fn chart_memory(&self) -> Style {
        self.fg(self.palette.chart_memory)
    }
    pub fn limit(&self) -> Style {
        self.fg(self.palette.error)
    }
    pub fn status(&self, status: crate::execution::Status) -> Style {
        use crate::execution::Status as S;
        let color = match status {
            S::Running => self.palette.running,
            S::Queued => self.palette.queued,
            S::Completed => self.palette.finished,
            S::Killed | S::Lost => self.palette.warning,
            S::Failed | S::Timeout | S::CpuLimit | S::MemoryLimit | S::Denied | S::Error => {
                self.palette.failed
            }
        };
        let style = self.fg(color);
        if !self.color && status == S::Running {
            style.add_modifier(Modifier::BOLD)
        } else {
            style
        }
    }
}

fn default_palette() -> Palette {
    parse_onto(reset_palette(), DEFAULT_TOML, "themes/default.toml")
        .map(|(p, _)| p)
        .unwrap_or_else(|_| reset_palette())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_themes_parse() {
        for name in BUILTIN {
            Theme::load(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(
            parse_onto(reset_palette(), DEFAULT_TOML, "d")
                .map(|_| ())
                .ok(),
            Some(())
        );
    }

    #[test]
    fn colours_by_name_and_hex() {
        assert_eq!(parse_color("dark_gray"), Some(Color::DarkGray));
        assert_eq!(parse_color("Light-Blue"), Some(Color::LightBlue));
        assert_eq!(parse_color("#ff8000"), Some(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("#ff80"), None);
        assert_eq!(parse_color("purple"), None);
    }

    #[test]
    fn bad_files_name_the_key() {
        let e = Theme::parse("x", "warning = \"purple\"", "x.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("warning") && msg.contains("purple"), "{msg}");
        let e = Theme::parse("x", "warnings = \"red\"", "x.toml").unwrap_err();
        assert!(e.to_string().contains("unknown key \"warnings\""), "{e}");
        let e = Theme::parse("x", "ok = 3", "x.toml").unwrap_err();
        assert!(e.to_string().contains("ok: bad colour 3"), "{e}");
        assert!(Theme::parse("x", "ok = ", "x.toml").is_err());
    }

    #[test]
    fn syntax_errors_give_the_line_and_column() {
        let e = Theme::parse("x", "text = \"red\"\nborder = = 1\n", "x.toml").unwrap_err();
        assert!(e.to_string().starts_with("x.toml:2:10: "), "{e}");
    }

    #[test]
    fn user_file_overrides_and_unknown_names_fail() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("light.toml"), "ok = \"#010203\"\n").expect("write");
        let theme = Theme::load("light", Some(dir.path())).expect("load");
        assert_eq!(theme.palette.ok, Color::Rgb(1, 2, 3));
        std::fs::write(dir.path().join("mine.toml"), "error = \"white\"\n").expect("write");
        assert!(Theme::load("mine", Some(dir.path())).is_ok());
        assert!(matches!(
            Theme::load("nope", Some(dir.path())),
            Err(ThemeError::Unknown { .. })
        ));
    }
}
