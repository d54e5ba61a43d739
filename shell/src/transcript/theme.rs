//! Styles and glyphs for the transcript, chosen once from the terminal's
//! abilities: colour depth (`NO_COLOR`, `COLORTERM`, `TERM`) and glyph
//! repertoire (the Linux VT console's font has CP437 only: box drawing yes,
//! braille spinners and rounded corners no).
//!
//! Roles map to ANSI *named* colours, not RGB, so an 8-colour console shows
//! the same meaning as a truecolor emulator; lower depths only drop what
//! they cannot show (bright variants, then every colour).

use ratatui::style::{Color, Modifier, Style};

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorDepth {
    /// No colour (`NO_COLOR`, `TERM=dumb`): attributes only.
    None,
    /// The eight base colours (`TERM=linux`, `vt100`, `xterm`).
    Ansi8,
    /// 256 colours (`TERM=*-256color`).
    Ansi256,
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`).
    TrueColor,
}

impl ColorDepth {
    /// Detect from the environment values given (pure, for tests).
    pub fn from_env(no_color: bool, colorterm: Option<&str>, term: Option<&str>) -> ColorDepth {
        let term = term.unwrap_or("");
        if no_color || term == "dumb" {
            return ColorDepth::None;
        }
        if term == "linux" {
            // The VT console: whatever COLORTERM a remote side exported.
            return ColorDepth::Ansi8;
        }
        if matches!(colorterm, Some("truecolor" | "24bit")) {
            return ColorDepth::TrueColor;
        }
        if term.contains("256color") {
            return ColorDepth::Ansi256;
        }
        ColorDepth::Ansi8
    }

    /// Detect from this process's environment.
    pub fn detect() -> ColorDepth {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let colorterm = std::env::var("COLORTERM").ok();
        let term = std::env::var("TERM").ok();
        ColorDepth::from_env(no_color, colorterm.as_deref(), term.as_deref())
    }
}

/// What a piece of text is; each role has one style per theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Ordinary text.
    Text,
    /// The user's own words.
    User,
    /// Secondary text: arguments, durations, folded output.
    Dim,
    /// A markdown heading.
    Heading,
    /// Inline code and code blocks.
    Code,
    /// Emphasis (`*x*`).
    Emphasis,
    /// Strong emphasis (`**x**`).
    Strong,
    /// A tool's name on its card.
    Tool,
    /// A read-only action.
    RiskRead,
    /// A change to the system.
    RiskChange,
    /// A change that may lose data.
    RiskDestructive,
    /// Success marks.
    Ok,
    /// Failure marks and errors.
    Error,
    /// Warnings, refusals, interruptions.
    Warning,
    /// The approval card's frame and question.
    Approval,
    /// A diff's added line.
    DiffAdd,
    /// A diff's removed line.
    DiffDel,
    /// A diff's hunk header.
    DiffHunk,
    /// The status bar.
    Status,
}

/// The glyphs a terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Glyphs {
    /// Before the user's message.
    pub user: &'static str,
    /// Before a tool card.
    pub tool: &'static str,
    /// A finished step or call.
    pub ok: &'static str,
    /// A failed step or call.
    pub fail: &'static str,
    /// A pending step.
    pub pending: &'static str,
    /// A skipped step.
    pub skipped: &'static str,
    /// A list bullet.
    pub bullet: &'static str,
    /// Spinner frames for what is running.
    pub spinner: &'static [&'static str],
    /// The vertical bar of cards and quotes.
    pub bar: &'static str,
    /// Folded output marker.
    pub ellipsis: &'static str,
    /// Whether rounded corners may be drawn.
    pub rounded: bool,
}

impl Glyphs {
    /// For a Unicode-capable emulator.
    pub const UNICODE: Glyphs = Glyphs {
        user: "›",
        tool: "●",
        ok: "✓",
        fail: "✗",
        pending: "○",
        skipped: "–",
        bullet: "•",
        spinner: &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"],
        bar: "│",
        ellipsis: "…",
        rounded: true,
    };
    /// For the Linux console's CP437 font.
    pub const CONSOLE: Glyphs = Glyphs {
        user: ">",
        tool: "*",
        ok: "√",
        fail: "x",
        pending: "o",
        skipped: "-",
        bullet: "-",
        spinner: &["|", "/", "-", "\\"],
        bar: "│",
        ellipsis: "...",
        rounded: false,
    };

    /// The console set for `TERM=linux`, else Unicode.
    pub fn for_term(term: Option<&str>) -> Glyphs {
        if term == Some("linux") {
            Glyphs::CONSOLE
        } else {
            Glyphs::UNICODE
        }
    }
}

/// The names [`Theme::named`] knows: `auto` is what the terminal was
/// detected as; `console` is the VT console's (8 colours, CP437 glyphs).
pub const NAMES: &[&str] = &["auto", "truecolor", "256", "8", "console", "plain"];

/// Styles per role plus glyphs: everything a cell needs to draw itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// The colour depth styles are reduced to.
    pub depth: ColorDepth,
    /// The glyph repertoire.
    pub glyphs: Glyphs,
}

impl Default for Theme {
    fn default() -> Theme {
        Theme {
            depth: ColorDepth::Ansi256,
            glyphs: Glyphs::UNICODE,
        }
    }
}

impl Theme {
    /// The theme for this process's terminal.
    pub fn detect() -> Theme {
        let term = std::env::var("TERM").ok();
        Theme {
            depth: ColorDepth::detect(),
            glyphs: Glyphs::for_term(term.as_deref()),
        }
    }

    /// The theme called `name` (one of [`NAMES`]).
    pub fn named(name: &str) -> Option<Theme> {
        let t = |depth, glyphs| Some(Theme { depth, glyphs });
        match name {
            "auto" => Some(Theme::detect()),
            "truecolor" => t(ColorDepth::TrueColor, Glyphs::UNICODE),
            "256" => t(ColorDepth::Ansi256, Glyphs::UNICODE),
            "8" => t(ColorDepth::Ansi8, Glyphs::UNICODE),
            "console" => t(ColorDepth::Ansi8, Glyphs::CONSOLE),
            "plain" => t(ColorDepth::None, Glyphs::UNICODE),
            _ => None,
        }
    }

    /// A theme with no colour, for tests and `NO_COLOR`.
    pub fn plain() -> Theme {
        Theme {
            depth: ColorDepth::None,
            glyphs: Glyphs::UNICODE,
        }
    }

    /// The style of `role`, reduced to what the terminal shows.
    pub fn style(&self, role: Role) -> Style {
        let s = Style::default();
        let full = match role {
            Role::Text => s,
            Role::User => s.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Role::Dim => s.fg(Color::DarkGray),
            Role::Heading => s.fg(Color::Magenta).add_modifier(Modifier::BOLD),
            Role::Code => s.fg(Color::Yellow),
            Role::Emphasis => s.add_modifier(Modifier::ITALIC),
            Role::Strong => s.add_modifier(Modifier::BOLD),
            Role::Tool => s.add_modifier(Modifier::BOLD),
            Role::RiskRead => s.fg(Color::Cyan),
            Role::RiskChange => s.fg(Color::Yellow),
            Role::RiskDestructive => s.fg(Color::Red).add_modifier(Modifier::BOLD),
            Role::Ok => s.fg(Color::Green),
            Role::Error => s.fg(Color::Red),
            Role::Warning => s.fg(Color::Yellow),
            Role::Approval => s.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Role::DiffAdd => s.fg(Color::Green),
            Role::DiffDel => s.fg(Color::Red),
            Role::DiffHunk => s.fg(Color::Cyan),
            Role::Status => s.add_modifier(Modifier::REVERSED),
        };
        reduce(full, self.depth)
    }
}

/// Drop what `depth` cannot show: every colour for `None`; for 8 colours,
/// bright and indexed colours become their base colour (dim grey becomes
/// the DIM attribute, which the console renders as half-bright).
pub fn reduce(style: Style, depth: ColorDepth) -> Style {
    match depth {
        ColorDepth::TrueColor | ColorDepth::Ansi256 => style,
        ColorDepth::None => {
            let mut s = style;
            if s.fg == Some(Color::DarkGray) {
                s = s.add_modifier(Modifier::DIM);
            }
            s.fg = None;
            s.bg = None;
            s
        }
        ColorDepth::Ansi8 => {
            let mut s = style;
            if s.fg == Some(Color::DarkGray) {
                s.fg = None;
                s = s.add_modifier(Modifier::DIM);
            }
            s.fg = s.fg.map(base8);
            s.bg = s.bg.map(base8);
            s
        }
    }
}

fn base8(c: Color) -> Color {
    match c {
        Color::LightRed => Color::Red,
        Color::LightGreen => Color::Green,
        Color::LightYellow => Color::Yellow,
        Color::LightBlue => Color::Blue,
        Color::LightMagenta => Color::Magenta,
        Color::LightCyan => Color::Cyan,
        Color::Gray | Color::White => Color::White,
        Color::Rgb(..) | Color::Indexed(_) => Color::Reset,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_no_color_colorterm_and_term() {
        let d = ColorDepth::from_env;
        assert_eq!(
            d(true, Some("truecolor"), Some("xterm-256color")),
            ColorDepth::None
        );
        assert_eq!(d(false, None, Some("dumb")), ColorDepth::None);
        assert_eq!(
            d(false, Some("truecolor"), Some("linux")),
            ColorDepth::Ansi8
        );
        assert_eq!(
            d(false, Some("24bit"), Some("xterm")),
            ColorDepth::TrueColor
        );
        assert_eq!(d(false, None, Some("tmux-256color")), ColorDepth::Ansi256);
        assert_eq!(d(false, None, Some("vt100")), ColorDepth::Ansi8);
        assert_eq!(d(false, None, None), ColorDepth::Ansi8);
    }

    #[test]
    fn eight_colours_keep_meaning_and_no_colour_keeps_attributes() {
        let t = Theme {
            depth: ColorDepth::Ansi8,
            glyphs: Glyphs::CONSOLE,
        };
        assert_eq!(t.style(Role::Dim).fg, None);
        assert!(t.style(Role::Dim).add_modifier.contains(Modifier::DIM));
        assert_eq!(t.style(Role::Error).fg, Some(Color::Red));
        let p = Theme::plain();
        assert_eq!(p.style(Role::Error).fg, None);
        assert!(
            p.style(Role::Status)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }

    #[test]
    fn console_glyphs_are_in_cp437() {
        // The CP437 repertoire above ASCII that these glyphs may use.
        const CP437: &str = "│─┌┐└┘├┤┬┴┼√•";
        let g = Glyphs::CONSOLE;
        let all = [
            g.user, g.tool, g.ok, g.fail, g.pending, g.skipped, g.bullet, g.bar, g.ellipsis,
        ]
        .into_iter()
        .chain(g.spinner.iter().copied());
        for s in all {
            for c in s.chars() {
                assert!(c.is_ascii() || CP437.contains(c), "{c:?} is not in CP437");
            }
        }
    }
}
