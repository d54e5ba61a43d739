//! Drawing the state: transcript, input box, status bar and the help
//! overlay. Reads the state and never owns it; only the transcript's row
//! cache and the page size are written back.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::app::{App, Prompt};
use super::editor::Editor;
use super::keymap::{self, Context};
use super::status::Health;
use crate::transcript::cell::format_duration;
use crate::transcript::{Role, Theme};

/// Rows the input box may grow to, borders excluded.
const MAX_INPUT_ROWS: usize = 6;

/// Draw one frame.
pub fn draw(f: &mut Frame<'_>, app: &mut App) {
    let area = f.area();
    let theme = app.transcript.theme().clone();
    let width = area.width.max(1);
    // The input, wrapped, and where the cursor is in it.
    let (title, editing) = input_title(app);
    let found;
    let ed = if let Some(search) = &app.search {
        let mut e = Editor::default();
        if let Some(f) = &search.found {
            e.insert(&f.text);
        }
        found = e;
        &found
    } else if app.answering() {
        &app.answer
    } else {
        &app.editor
    };
    let (lines, (crow, ccol)) = ed.lines_and_cursor();
    let prompt_w = 2usize;
    let inner_w = usize::from(width).saturating_sub(prompt_w).max(1);
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut cursor = (0usize, 0usize);
    for (i, l) in lines.iter().enumerate() {
        let (chunks, at) = hard_wrap(l, inner_w, (i == crow).then_some(ccol));
        if let Some((r, c)) = at {
            cursor = (rows.len() + r, c);
        }
        rows.extend(chunks.into_iter().map(Line::from));
    }
    let hint_rows = usize::from(app.hint.is_some());
    let small = area.height < 10;
    let border = usize::from(!small);
    let input_rows = rows.len().clamp(1, MAX_INPUT_ROWS);
    let [body, hint_area, input_area, status_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(hint_rows as u16),
        Constraint::Length((input_rows + border) as u16),
        Constraint::Length(1),
    ])
    .areas(area);

    // Transcript: only the visible rows are laid out.
    let height = usize::from(body.height);
    app.page = height.saturating_sub(2).max(1);
    let (visible, scroll) = app.transcript.window(width, height, app.scroll);
    app.scroll = scroll;
    let pad = height.saturating_sub(visible.len());
    let mut shown: Vec<Line<'static>> = vec![Line::default(); pad];
    shown.extend(visible);
    f.render_widget(Paragraph::new(shown), body);

    if let Some(h) = &app.hint {
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                h.clone(),
                theme.style(Role::Warning),
            ))),
            hint_area,
        );
    }

    // Input.
    let skip = (cursor.0 + 1).saturating_sub(input_rows);
    let prompt_style = if editing {
        theme.style(Role::User)
    } else {
        theme.style(Role::Approval)
    };
    let shown: Vec<Line<'static>> = rows
        .into_iter()
        .enumerate()
        .skip(skip)
        .take(input_rows)
        .map(|(i, mut l)| {
            let p = if i == 0 { "› " } else { "  " };
            let p = if theme.glyphs.rounded {
                p
            } else if i == 0 {
                "> "
            } else {
                "  "
            };
            l.spans.insert(0, Span::styled(p, prompt_style));
            l
        })
        .collect();
    let mut text_area = input_area;
    if !small {
        let block = Block::default()
            .borders(Borders::TOP)
            .border_type(if theme.glyphs.rounded {
                BorderType::Rounded
            } else {
                BorderType::Plain
            })
            .border_style(theme.style(Role::Dim))
            .title(Span::styled(title, prompt_style));
        text_area = block.inner(input_area);
        f.render_widget(block, input_area);
    }
    f.render_widget(Paragraph::new(shown), text_area);
    if !app.help {
        let x = text_area.x
            + (prompt_w + cursor.1).min(usize::from(text_area.width.saturating_sub(1))) as u16;
        let y = text_area.y + (cursor.0 - skip) as u16;
        f.set_cursor_position(Position::new(x, y));
    }

    f.render_widget(
        Paragraph::new(status_line(app, &theme, status_area.width)),
        status_area,
    );

    if app.help {
        draw_help(f, area, &theme, app);
    }
}

/// The input box's title, and whether the request (not an answer) is
/// being edited.
fn input_title(app: &App) -> (String, bool) {
    let search = app.search.as_ref().filter(|_| app.approvals.is_empty());
    if let Some(s) = search {
        let state = match (&s.found, s.query.is_empty()) {
            (_, true) => "type to search",
            (None, false) => "no match",
            (Some(_), false) => "Ctrl-R older · Enter takes it",
        };
        let t = format!(" history search: {}_ · {state} · Esc back ", s.query);
        return (crate::sanitize::sanitize(&t).into_owned(), true);
    }
    let Some(a) = app.approvals.front() else {
        return (" request · Enter sends · / commands · ? help ".into(), true);
    };
    let more = match app.approvals.len() {
        1 => String::new(),
        n => format!(" (+{} queued)", n - 1),
    };
    let t = match &app.prompt {
        Prompt::Choose => format!(
            " approve {}? y once · s session · a always · n no · e edit{more} ",
            a.tool
        ),
        Prompt::GrantPending => " asking toolsd for the rule · any key back ".into(),
        Prompt::ConfirmAlways { saves: true } => " save the rule? y yes · any key back ".into(),
        Prompt::ConfirmAlways { saves: false } => {
            " run it once instead? y yes · any key back ".into()
        }
        Prompt::Note => " note for the model (optional) · Enter rejects · Esc back ".into(),
        Prompt::Edit => " arguments (JSON) · Enter approves the edit · Esc back ".into(),
        Prompt::Confirm(_) => format!(
            " type {} to confirm · Enter · Esc back ",
            a.confirm.clone().unwrap_or_default()
        ),
    };
    (crate::sanitize::sanitize(&t).into_owned(), false)
}

/// user@host │ provider/model (local or cloud) │ route │ tokens │ cost │
/// latency │ daemon health │ approvals │ state. On a narrow terminal the
/// least important parts go first (latency, route and cost, user@host,
/// tokens, a healthy daemon set), never the approvals, a daemon that is
/// down or the state.
pub fn status_line(app: &App, theme: &Theme, width: u16) -> Line<'static> {
    let t = &app.transcript.totals;
    // (drop order: lower goes first, text)
    let mut parts: Vec<(u8, String)> = vec![(2, app.user_host.clone())];
    if !t.provider.is_empty() {
        let mut p = if t.model.is_empty() {
            t.provider.clone()
        } else {
            format!("{}/{}", t.provider, t.model)
        };
        // Whether the request leaves the machine (unknown instances say
        // nothing rather than guess).
        if let Some(l) = app.localities.get(&t.provider) {
            p.push_str(&format!(" ({})", l.word()));
        }
        parts.push((9, p));
    }
    // The rule that chose the route, when the gateway said (clipped: the
    // provider matters more on a narrow terminal).
    if !t.route.is_empty() {
        let route: String = t.route.chars().take(32).collect();
        let more = if t.route.chars().count() > 32 {
            "…"
        } else {
            ""
        };
        parts.push((1, format!("via {route}{more}")));
    }
    parts.push((3, format!("{}↑ {}↓ tok", t.input_tokens, t.output_tokens)));
    if let Some(c) = t.cost_usd {
        parts.push((1, format!("${c:.4}")));
    }
    if t.latency_ms > 0 {
        parts.push((0, format_duration(t.latency_ms * 1000)));
    }
    if !app.approvals.is_empty() {
        parts.push((10, format!("{} approval(s) pending", app.approvals.len())));
    }
    match (&app.health, app.health.text()) {
        (Health::Down(_), Some(h)) => parts.push((10, h)),
        (_, Some(h)) => parts.push((5, h)),
        (_, None) => {}
    }
    if app.disconnected {
        parts.push((10, "disconnected".into()));
    } else if app.transcript.running {
        let s = theme.glyphs.spinner;
        parts.push((10, format!("{} working", s[app.tick % s.len()])));
    }
    if app.scroll > 0 {
        parts.push((4, format!("↑{} rows", app.scroll)));
    }
    let sep = if theme.glyphs.rounded { " │ " } else { " | " };
    let w = usize::from(width);
    let join = |parts: &[(u8, String)]| {
        let texts: Vec<&str> = parts.iter().map(|p| p.1.as_str()).collect();
        format!(" {}", texts.join(sep))
    };
    let mut text = join(&parts);
    while crate::transcript::wrap::width(&text) > w && parts.len() > 1 {
        let Some(lowest) = parts
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| p.0)
            .map(|(i, _)| i)
        else {
            break;
        };
        parts.remove(lowest);
        text = join(&parts);
    }
    let tw = crate::transcript::wrap::width(&text);
    if tw < w {
        text.push_str(&" ".repeat(w - tw));
    }
    let text = if theme.glyphs.rounded {
        text
    } else {
        text.replace('↑', "^").replace('↓', "v")
    };
    Line::from(Span::styled(
        crate::sanitize::sanitize(&text).into_owned(),
        theme.style(Role::Status),
    ))
}

fn draw_help(f: &mut Frame<'_>, area: Rect, theme: &Theme, app: &mut App) {
    // The commands first: `/help` asks for them, and on a short screen
    // the keys below are the ones cut.
    let mut lines: Vec<Line<'static>> = vec![Line::from(Span::styled(
        "Commands (Tab completes them)",
        theme.style(Role::Heading),
    ))];
    for (usage, doc) in crate::slash::help_rows() {
        lines.push(Line::from(vec![
            Span::styled(format!("{usage:<23} "), theme.style(Role::Code)),
            Span::raw(doc),
        ]));
    }
    let mut last: Option<Context> = None;
    for (ctx, keys, _name, doc) in keymap::help_rows() {
        if last != Some(ctx) {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                ctx.title(),
                theme.style(Role::Heading),
            )));
            last = Some(ctx);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{keys:<16}"), theme.style(Role::Code)),
            Span::raw(doc),
        ]));
    }
    let w = area.width.saturating_sub(4).max(10).min(area.width);
    let h = area.height.saturating_sub(2).max(3).min(area.height);
    let x = area.x + (area.width - w) / 2;
    let y = area.y + (area.height - h) / 2;
    let rect = Rect::new(x, y, w, h);
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if theme.glyphs.rounded {
            BorderType::Rounded
        } else {
            BorderType::Plain
        })
        .title(" help · PgUp/PgDn scroll · any other key closes ")
        .style(Style::default());
    // Not past the end: the last page stays full. (Counted by
    // characters; word wrapping may take a row more, which stays
    // reachable because help never scrolls past a page of slack.)
    let inner = usize::from(rect.width.saturating_sub(2)).max(1);
    let total: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let total = u16::try_from(total).unwrap_or(u16::MAX);
    let help = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false });
    app.help_scroll = app
        .help_scroll
        .min(total.saturating_sub(rect.height.saturating_sub(2)));
    f.render_widget(help.scroll((app.help_scroll, 0)), rect);
}

/// `line` cut into rows of `w` columns (by character: the cursor must map
/// exactly), and where display column `at` falls.
fn hard_wrap(line: &str, w: usize, at: Option<usize>) -> (Vec<String>, Option<(usize, usize)>) {
    use unicode_width::UnicodeWidthChar;
    let mut rows = vec![String::new()];
    let (mut used, mut col) = (0usize, 0usize);
    let mut pos = None;
    for c in line.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > w {
            rows.push(String::new());
            used = 0;
        }
        if at == Some(col) && pos.is_none() {
            pos = Some((rows.len() - 1, used));
        }
        if let Some(r) = rows.last_mut() {
            r.push(c);
        }
        used += cw;
        col += cw;
    }
    if at.is_some() && pos.is_none() {
        // The cursor after the last character; past the edge it wraps.
        pos = if used >= w {
            rows.push(String::new());
            Some((rows.len() - 1, 0))
        } else {
            Some((rows.len() - 1, used))
        };
    }
    (rows, pos)
}
