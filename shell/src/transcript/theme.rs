//! Styles and glyphs for the transcript, chosen once from the terminal's
//! abilities: colour depth (`NO_COLOR`, `COLORTERM`, `TERM`) and glyph
//! repertoire (the Linux VT console's font has CP437 only: box drawing yes,
//! braille spinners and rounded corners no).
//!
//! The styles themselves come from theme files ([`super::themes`]); here
//! they are brought down to the terminal: a 24-bit palette to 256 or 16
//! colours, 8 on the console, none for `NO_COLOR` (attributes remain).

use std::sync::Arc;

use ratatui::style::{Color, Modifier, Style};

use super::{color, themes};

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

/// Declares [`Role`] and [`ROLES`] from one list, so the enum, the keys
/// theme files use and the docs cannot drift apart.
macro_rules! roles {
    ($($variant:ident $key:literal $doc:literal,)*) => {
        /// What a piece of text is; each role has one style per theme.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Role {
            $(#[doc = $doc] $variant,)*
        }

        /// Every role with its key in a theme file's `[styles]` and what it
        /// styles, in declaration order (`role as usize` indexes it).
        pub const ROLES: &[(Role, &str, &str)] = &[$((Role::$variant, $key, $doc),)*];
    };
}

roles! {
    Text "text" "Ordinary text: notes and values.",
    Assistant "assistant" "The model's answer.",
    User "user" "The user's own words.",
    Dim "dim" "Secondary text: arguments, durations, folded output, frames.",
    Heading "heading" "A markdown heading.",
    Code "code" "Inline code and code blocks without highlighting.",
    Emphasis "emphasis" "Emphasis (`*x*`).",
    Strong "strong" "Strong emphasis (`**x**`).",
    Tool "tool" "A tool's name on its card.",
    RiskRead "risk_read" "A read-only action.",
    RiskChange "risk_change" "A change to the system.",
    RiskDestructive "risk_destructive" "A change that may lose data.",
    Ok "ok" "Success marks.",
    Error "error" "Failure marks and errors.",
    Warning "warning" "Warnings, refusals, interruptions, running work.",
    Approval "approval" "The approval card's question and keys.",
    DiffAdd "diff_add" "A diff's added line.",
    DiffDel "diff_del" "A diff's removed line.",
    DiffHunk "diff_hunk" "A diff's hunk header.",
    Status "status" "The status bar.",
    Table "table" "A table's rules and frame.",
    TableHeader "table_header" "A table's header row.",
}

impl Role {
    /// The role's key in a theme file.
    pub fn key(self) -> &'static str {
        ROLES[self as usize].1
    }

    /// The role a theme-file key names.
    pub fn from_key(key: &str) -> Option<Role> {
        ROLES.iter().find(|r| r.1 == key).map(|r| r.0)
    }
}

/// How many roles there are.
pub const ROLE_COUNT: usize = ROLES.len();

/// The characters a table is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableGlyphs {
    /// Horizontal rule.
    pub h: char,
    /// Vertical rule.
    pub v: char,
    /// Corners: top left, top right, bottom left, bottom right.
    pub corners: [char; 4],
    /// Tees: down (top edge), up (bottom edge), right (left edge), left
    /// (right edge), and the crossing.
    pub tees: [char; 5],
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
    /// Table rules.
    pub table: TableGlyphs,
}

const BOX: TableGlyphs = TableGlyphs {
    h: '─',
    v: '│',
    corners: ['┌', '┐', '└', '┘'],
    tees: ['┬', '┴', '├', '┤', '┼'],
};

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
        table: BOX,
    };
    /// For the Linux console's CP437 font (box drawing is in it).
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
        table: BOX,
    };
    /// ASCII only, for a font without box drawing.
    pub const ASCII: Glyphs = Glyphs {
        ok: "v",
        bar: "|",
        table: TableGlyphs {
            h: '-',
            v: '|',
            corners: ['+', '+', '+', '+'],
            tees: ['+', '+', '+', '+', '+'],
        },
        ..Glyphs::CONSOLE
    };

    /// The console set for `TERM=linux`, else Unicode.
    pub fn for_term(term: Option<&str>) -> Glyphs {
        if term == Some("linux") {
            Glyphs::CONSOLE
        } else {
            Glyphs::UNICODE
        }
    }

    /// The set a theme file names (`glyphs = "unicode" | "cp437" | "ascii"`).
    pub fn named(name: &str) -> Option<Glyphs> {
        match name {
            "unicode" => Some(Glyphs::UNICODE),
            "cp437" => Some(Glyphs::CONSOLE),
            "ascii" => Some(Glyphs::ASCII),
            _ => None,
        }
    }
}

/// The glyph set names a theme file may give.
pub const GLYPH_SETS: &[&str] = &["unicode", "cp437", "ascii"];

/// A theme's styles at full colour, as its file (and the files it
/// inherits from) says; shared, since every cell draws with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Styles {
    /// The theme's name.
    pub name: String,
    /// What it is for (its file's `description`).
    pub description: String,
    /// One style per role, indexed by `role as usize`.
    pub roles: [Style; ROLE_COUNT],
    /// The syntect theme for code blocks; `None` draws them in the code
    /// role's style.
    pub syntect: Option<String>,
    /// The glyph set the theme insists on (`console-16` draws with CP437);
    /// `None` takes the terminal's.
    pub glyphs: Option<Glyphs>,
}

/// Styles per role plus glyphs and colour depth: everything a cell needs
/// to draw itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    depth: ColorDepth,
    /// The glyph repertoire.
    pub glyphs: Glyphs,
    styles: Arc<Styles>,
    /// `styles.roles` reduced to `depth`, once, since every row asks.
    reduced: Arc<[Style; ROLE_COUNT]>,
}

impl Default for Theme {
    /// The default theme at 256 colours with Unicode glyphs.
    fn default() -> Theme {
        Theme::new(
            themes::default_styles(),
            ColorDepth::Ansi256,
            Glyphs::UNICODE,
        )
    }
}

impl Theme {
    /// `styles` drawn at `depth` with `glyphs` (unless the theme names its
    /// own glyph set).
    pub fn new(styles: Arc<Styles>, depth: ColorDepth, glyphs: Glyphs) -> Theme {
        let glyphs = styles.glyphs.unwrap_or(glyphs);
        let reduced = Arc::new(styles.roles.map(|s| reduce(s, depth)));
        Theme {
            depth,
            glyphs,
            styles,
            reduced,
        }
    }

    /// The colour depth styles are reduced to.
    pub fn depth(&self) -> ColorDepth {
        self.depth
    }

    /// The theme to start with: `wanted` (the configuration's `ui.theme`)
    /// when it loaded, else `console-16` on the Linux console, else the
    /// default; drawn at the terminal's colour depth with its glyphs. The
    /// second value says why `wanted` was not used.
    pub fn choose(
        set: &themes::ThemeSet,
        wanted: Option<&str>,
        depth: ColorDepth,
        term: Option<&str>,
    ) -> (Theme, Option<String>) {
        let glyphs = Glyphs::for_term(term);
        let fallback = if term == Some("linux") {
            themes::CONSOLE
        } else {
            themes::DEFAULT
        };
        let mut why = None;
        let styles = match wanted.filter(|w| !w.is_empty()) {
            Some(w) => set.get(w).or_else(|| {
                why = Some(format!(
                    "no theme {w:?} (the themes are {}); drawing with {fallback}",
                    set.names().join(", ")
                ));
                None
            }),
            None => None,
        };
        let styles = styles
            .or_else(|| set.get(fallback))
            .unwrap_or_else(themes::default_styles);
        (Theme::new(styles, depth, glyphs), why)
    }

    /// This theme's styles on another terminal: `depth` and `glyphs`.
    pub fn with(&self, depth: ColorDepth, glyphs: Glyphs) -> Theme {
        Theme::new(self.styles.clone(), depth, glyphs)
    }

    /// Another theme's styles at this theme's depth and terminal glyphs.
    pub fn switched(&self, styles: Arc<Styles>, terminal_glyphs: Glyphs) -> Theme {
        Theme::new(styles, self.depth, terminal_glyphs)
    }

    /// The default theme with no colour, for tests and `NO_COLOR`.
    pub fn plain() -> Theme {
        Theme::new(themes::default_styles(), ColorDepth::None, Glyphs::UNICODE)
    }

    /// The theme's name.
    pub fn name(&self) -> &str {
        &self.styles.name
    }

    /// The syntect theme code blocks are highlighted with.
    pub fn syntect(&self) -> Option<&str> {
        self.styles.syntect.as_deref()
    }

    /// The style of `role`, reduced to what the terminal shows.
    pub fn style(&self, role: Role) -> Style {
        self.reduced[role as usize]
    }
}

/// Bring `style` down to what `depth` shows: 24-bit colours to the
/// 256-colour cube or the 16 ANSI colours; for 8 colours, bright variants
/// become their base colour (dark grey becomes the DIM attribute, which the
/// console renders as half-bright); with no colour only attributes remain.
pub fn reduce(style: Style, depth: ColorDepth) -> Style {
    match depth {
        ColorDepth::TrueColor => style,
        ColorDepth::Ansi256 => {
            let mut s = style;
            s.fg = s.fg.map(color::to_256);
            s.bg = s.bg.map(color::to_256);
            s
        }
        ColorDepth::None => {
            let mut s = style;
            if s.fg.map(color::to_16) == Some(Color::DarkGray) {
                s = s.add_modifier(Modifier::DIM);
            }
            s.fg = None;
            s.bg = None;
            s
        }
        ColorDepth::Ansi8 => {
            let mut s = style;
            s.fg = s.fg.map(color::to_16);
            s.bg = s.bg.map(color::to_16);
            if s.fg == Some(Color::DarkGray) {
                s.fg = None;
                s = s.add_modifier(Modifier::DIM);
            }
            if s.bg == Some(Color::DarkGray) {
                s.bg = Some(Color::Black);
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
        let t = Theme::default().with(ColorDepth::Ansi8, Glyphs::CONSOLE);
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
    fn truecolor_styles_come_down_to_256_and_16() {
        let t = Theme::default();
        let tc = t.with(ColorDepth::TrueColor, Glyphs::UNICODE);
        assert!(matches!(tc.style(Role::Error).fg, Some(Color::Rgb(..))));
        assert!(matches!(t.style(Role::Error).fg, Some(Color::Indexed(_))));
        let c8 = t.with(ColorDepth::Ansi8, Glyphs::UNICODE);
        assert_eq!(c8.style(Role::Error).fg, Some(Color::Red));
        assert_eq!(c8.style(Role::Ok).fg, Some(Color::Green));
    }

    #[test]
    fn roles_are_declared_in_index_order() {
        for (i, (role, key, _)) in ROLES.iter().enumerate() {
            assert_eq!(*role as usize, i);
            assert_eq!(Role::from_key(key), Some(*role));
            assert_eq!(role.key(), *key);
        }
    }

    #[test]
    fn the_console_gets_console_16_unless_the_user_chose() {
        let set = themes::ThemeSet::embedded();
        let (t, why) = Theme::choose(&set, None, ColorDepth::Ansi8, Some("linux"));
        assert_eq!(
            (t.name(), t.glyphs, why),
            ("console-16", Glyphs::CONSOLE, None)
        );
        let (t, _) = Theme::choose(&set, Some("light"), ColorDepth::Ansi8, Some("linux"));
        assert_eq!((t.name(), t.glyphs), ("light", Glyphs::CONSOLE));
        let (t, _) = Theme::choose(&set, None, ColorDepth::TrueColor, Some("xterm"));
        assert_eq!((t.name(), t.glyphs), ("default-dark", Glyphs::UNICODE));
        let (t, why) = Theme::choose(&set, Some("nope"), ColorDepth::TrueColor, None);
        assert_eq!(t.name(), "default-dark");
        assert!(why.is_some_and(|w| w.contains("nope") && w.contains("high-contrast")));
    }

    #[test]
    fn console_glyphs_are_in_cp437() {
        // The CP437 repertoire above ASCII that these glyphs may use.
        const CP437: &str = "│─┌┐└┘├┤┬┴┼√•";
        let g = Glyphs::CONSOLE;
        let t = g.table;
        let all = [
            g.user, g.tool, g.ok, g.fail, g.pending, g.skipped, g.bullet, g.bar, g.ellipsis,
        ]
        .into_iter()
        .chain(g.spinner.iter().copied())
        .map(String::from)
        .chain(
            [t.h, t.v]
                .into_iter()
                .chain(t.corners)
                .chain(t.tees)
                .map(String::from),
        );
        for s in all {
            for c in s.chars() {
                assert!(c.is_ascii() || CP437.contains(c), "{c:?} is not in CP437");
            }
        }
    }
}
