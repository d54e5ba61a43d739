//! Syntax highlighting of code blocks with syntect, in the theme's syntect
//! theme, brought down to the terminal's colour depth like every other
//! style. A language syntect does not know, a theme without a syntect
//! theme, or a terminal without colour: plain (the code role's style).
//!
//! Syntect's syntax and theme sets are loaded once, and each language's
//! patterns compiled on its first use: 240–410 ms (release) that must not
//! fall on the UI thread. By default (tests, snapshots, line mode) that
//! happens on first use, so output is deterministic. The TUI calls
//! [`in_background`]: the sets load on a thread of their own at start, a
//! language is warmed on another thread the first time a block of it is
//! drawn, the block draws plain meanwhile, and the TUI is told to draw
//! again (dropping its cached rows) once the language is ready.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;

use super::theme::{ColorDepth, Role, Theme, reduce};

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn themes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

/// Called (from a warm-up thread) when a language became ready; set by
/// [`in_background`]. Unset: everything is highlighted on first use.
type OnReady = Box<dyn Fn() + Send + Sync>;
static BACKGROUND: OnceLock<OnReady> = OnceLock::new();

/// Languages warmed or warming, in background mode.
#[derive(Default)]
struct Warm {
    ready: HashSet<String>,
    warming: HashSet<String>,
}
static WARM: LazyLock<Mutex<Warm>> = LazyLock::new(Mutex::default);

/// How many languages finished warming in the background.
static WARMED: AtomicU64 = AtomicU64::new(0);

/// Warm syntect off the calling thread from now on: load the syntax and
/// theme sets on a thread now, compile each language on a thread the first
/// time it is asked for, and call `on_ready` when one is ready (its blocks
/// are drawn plain until then). Only the first call counts.
pub fn in_background(on_ready: impl Fn() + Send + Sync + 'static) {
    if BACKGROUND.set(Box::new(on_ready)).is_ok() {
        std::thread::spawn(|| {
            syntaxes();
            themes();
        });
    }
}

/// How many languages have become ready in the background so far (tests
/// wait on it).
pub fn warmed() -> u64 {
    WARMED.load(Ordering::Acquire)
}

/// Whether `lang` can be highlighted on this thread now; in background
/// mode, starts warming it (with `lines` as its sample) when it is not.
fn ready(lang: &str, lines: &[&str], theme: &Theme) -> bool {
    let Some(on_ready) = BACKGROUND.get() else {
        return true;
    };
    let mut warm = WARM.lock().unwrap_or_else(PoisonError::into_inner);
    if warm.ready.contains(lang) {
        return true;
    }
    if warm.warming.insert(lang.to_string()) {
        let lang = lang.to_string();
        let sample: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let theme = theme.clone();
        std::thread::spawn(move || {
            // Compiles the patterns the block needs; the rows are drawn
            // again on the UI thread, from the now-compiled patterns.
            let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
            let _ = highlight_now(&lang, &refs, &theme);
            {
                let mut warm = WARM.lock().unwrap_or_else(PoisonError::into_inner);
                warm.warming.remove(&lang);
                warm.ready.insert(lang);
            }
            WARMED.fetch_add(1, Ordering::AcqRel);
            on_ready();
        });
    }
    false
}

/// A block of `lang` has opened and is still streaming: start warming the
/// language (in background mode), so it is likely ready when the block
/// closes and is highlighted.
pub fn prepare(lang: &str, lines: &[&str], theme: &Theme) {
    if theme.depth() != ColorDepth::None && !lang.is_empty() && theme.syntect().is_some() {
        let _ = ready(lang, lines, theme);
    }
}

/// The names of syntect's bundled themes (what a theme file's `syntect`
/// may name, besides `none`).
pub fn theme_names() -> Vec<String> {
    themes().themes.keys().cloned().collect()
}

/// Whether syntect knows the language of a fence's info string
/// (`rust`, `sh`, `py`, `json`, …).
pub fn knows(lang: &str) -> bool {
    !lang.is_empty() && syntaxes().find_syntax_by_token(lang).is_some()
}

/// Highlighted blocks kept, so a cell drawn again (each streamed line
/// redraws its answer, each resize every visible cell) costs a lookup.
const MEMO_BLOCKS: usize = 256;

type Rows = Vec<Vec<Span<'static>>>;

#[derive(Default)]
struct Memo {
    rows: HashMap<u64, Option<Rows>>,
    order: VecDeque<u64>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// `lines` (one code block, without newlines) highlighted as `lang`: one
/// list of spans per line; `None` when it is to be drawn plain. Syntect
/// with fancy-regex costs about a millisecond a line (and compiling a
/// language's patterns, on its first use, much more), so each block is
/// highlighted once and remembered.
pub fn highlight(lang: &str, lines: &[&str], theme: &Theme) -> Option<Rows> {
    if theme.depth() == ColorDepth::None || lang.is_empty() {
        return None;
    }
    let mut h = DefaultHasher::new();
    (
        lang,
        theme.name(),
        theme.syntect(),
        theme.depth() as u8,
        lines,
    )
        .hash(&mut h);
    let key = h.finish();
    if let Some(found) = MEMO.with(|m| m.borrow().rows.get(&key).cloned()) {
        return found;
    }
    if theme.syntect().is_none() || !ready(lang, lines, theme) {
        // Not remembered: drawn again once the language is ready.
        return None;
    }
    let rows = highlight_now(lang, lines, theme);
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.order.len() >= MEMO_BLOCKS
            && let Some(old) = m.order.pop_front()
        {
            m.rows.remove(&old);
        }
        m.order.push_back(key);
        m.rows.insert(key, rows.clone());
    });
    rows
}

fn highlight_now(lang: &str, lines: &[&str], theme: &Theme) -> Option<Rows> {
    let st = themes().themes.get(theme.syntect()?)?;
    let ss = syntaxes();
    let syntax = ss.find_syntax_by_token(lang)?;
    let mut h = HighlightLines::new(syntax, st);
    // The syntect theme's plain foreground is left to the code role, so a
    // dark syntect theme's near-white text does not vanish on a light
    // terminal, and the terminal's background is never painted.
    let plain_fg = st.settings.foreground;
    let base = theme.style(Role::Code);
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let with_nl = format!("{line}\n");
        let ranges = h.highlight_line(&with_nl, ss).ok()?;
        let mut spans = Vec::new();
        for (s, text) in ranges {
            let text = text.trim_end_matches('\n');
            if text.is_empty() {
                continue;
            }
            let mut style = Style::default();
            let fg = s.foreground;
            if Some(fg) != plain_fg {
                style = style.fg(Color::Rgb(fg.r, fg.g, fg.b));
            }
            if s.font_style.contains(FontStyle::BOLD) {
                style = style.add_modifier(Modifier::BOLD);
            }
            if s.font_style.contains(FontStyle::ITALIC) {
                style = style.add_modifier(Modifier::ITALIC);
            }
            if s.font_style.contains(FontStyle::UNDERLINE) {
                style = style.add_modifier(Modifier::UNDERLINED);
            }
            let style = if style.fg.is_none() {
                base.patch(reduce(style, theme.depth()))
            } else {
                reduce(style, theme.depth())
            };
            spans.push(Span::styled(text.to_string(), style));
        }
        out.push(spans);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Glyphs;

    #[test]
    fn known_languages_get_colours_and_unknown_ones_none() {
        let t = Theme::default().with(ColorDepth::TrueColor, Glyphs::UNICODE);
        let lines = ["fn main() { let x = \"hi\"; }"];
        let spans = highlight("rust", &lines, &t).unwrap_or_default();
        assert_eq!(spans.len(), 1);
        let text: String = spans[0].iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, lines[0]);
        let colours: std::collections::HashSet<_> = spans[0].iter().map(|s| s.style.fg).collect();
        assert!(colours.len() >= 3, "{colours:?}");
        assert!(highlight("no-such-language", &lines, &t).is_none());
        assert!(highlight("rust", &lines, &Theme::plain()).is_none());
    }

    #[test]
    fn colours_follow_the_depth() {
        let lines = ["let x = 1;"];
        let t8 = Theme::default().with(ColorDepth::Ansi8, Glyphs::CONSOLE);
        for s in highlight("rust", &lines, &t8).unwrap_or_default().concat() {
            assert!(
                !matches!(s.style.fg, Some(Color::Rgb(..) | Color::Indexed(_))),
                "{s:?}"
            );
        }
        let t256 = Theme::default();
        for s in highlight("rust", &lines, &t256)
            .unwrap_or_default()
            .concat()
        {
            assert!(!matches!(s.style.fg, Some(Color::Rgb(..))), "{s:?}");
        }
    }

    #[test]
    fn every_shipped_syntect_name_exists() {
        assert!(theme_names().contains(&"base16-ocean.dark".to_string()));
        assert!(knows("sh") && knows("json") && knows("py") && !knows("zzz"));
    }
}
