//! GFM tables of the answer, drawn with the glyph set's rules (box drawing,
//! which the console's CP437 font has too, or ASCII) and fitted to the
//! width: columns keep their natural width when the table fits, else the
//! widest shrink first and their cells wrap. When a column would have to
//! shrink below a few characters, each row becomes a record of
//! `header: value` lines instead.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::markdown::inline;
use super::theme::{Role, Theme};
use super::wrap::wrap;

/// Columns are not squeezed below this many characters (or their natural
/// width, when less); a table that would need to becomes records.
const MIN_COLUMN: usize = 4;

/// How a column's cells are aligned (from the delimiter row's colons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
    Right,
}

/// A row's cells: split at `|` not escaped as `\|` and not inside a code
/// span, with the outer pipes dropped and each cell trimmed.
pub fn cells(line: &str) -> Vec<String> {
    let mut t = line.trim();
    t = t.strip_prefix('|').unwrap_or(t);
    if t.ends_with('|') && !t.ends_with("\\|") {
        t = &t[..t.len() - 1];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut escaped, mut in_code) = (false, false);
    for c in t.chars() {
        match c {
            '\\' if !escaped => {
                escaped = true;
                continue;
            }
            '`' => in_code = !in_code,
            '|' if !escaped && !in_code => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        if escaped && c != '|' {
            cur.push('\\');
        }
        escaped = false;
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// Whether `line` can be a row of a table: it has a pipe.
pub fn is_row(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.contains('|')
}

/// Whether `line` is a delimiter row (`|---|:--:|`) for a header of
/// `columns` cells.
pub fn is_delimiter(line: &str, columns: usize) -> bool {
    if !is_row(line) && !line.trim().starts_with('-') {
        return false;
    }
    let cs = cells(line);
    cs.len() == columns
        && cs.iter().all(|c| {
            let c = c.trim_start_matches(':').trim_end_matches(':');
            !c.is_empty() && c.bytes().all(|b| b == b'-')
        })
}

fn align(cell: &str) -> Align {
    match (cell.starts_with(':'), cell.ends_with(':')) {
        (true, true) => Align::Center,
        (false, true) => Align::Right,
        _ => Align::Left,
    }
}

/// The table of `header`, `delimiter` and `body` source lines as rows no
/// wider than `width`.
pub fn render(
    header: &str,
    delimiter: &str,
    body: &[&str],
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let head = cells(header);
    let n = head.len();
    let aligns: Vec<Align> = cells(delimiter).iter().map(|c| align(c)).collect();
    let mut rows: Vec<Vec<Line<'static>>> = Vec::new();
    let header_style = theme.style(Role::TableHeader);
    rows.push(
        head.iter()
            .map(|c| {
                let spans = inline(c, theme)
                    .into_iter()
                    .map(|s| {
                        let st = s.style.patch(header_style);
                        Span::styled(s.content, st)
                    })
                    .collect::<Vec<_>>();
                Line::from(spans)
            })
            .collect(),
    );
    for b in body {
        let mut cs = cells(b);
        cs.resize(n, String::new());
        rows.push(cs.iter().map(|c| Line::from(inline(c, theme))).collect());
    }
    let natural: Vec<usize> = (0..n)
        .map(|i| rows.iter().map(|r| r[i].width()).max().unwrap_or(0).max(1))
        .collect();
    // `│ a │ b │`: a rule, then each column's text between two spaces
    // and a rule.
    let frame = 3 * n + 1;
    let widths = shrink(natural.clone(), width.saturating_sub(frame));
    // Too narrow when a column would be cut below a few characters (or
    // the frame alone does not fit): one record per row instead.
    let cramped = width < frame + n
        || widths
            .iter()
            .zip(&natural)
            .any(|(w, nat)| *w < (*nat).min(MIN_COLUMN));
    if cramped {
        return records(&rows, theme, width);
    }
    let g = theme.glyphs.table;
    let rule = theme.style(Role::Table);
    let line = |left: char, mid: char, right: char| {
        let mut s = String::new();
        s.push(left);
        for (i, w) in widths.iter().enumerate() {
            if i > 0 {
                s.push(mid);
            }
            s.extend(std::iter::repeat_n(g.h, w + 2));
        }
        s.push(right);
        Line::from(Span::styled(s, rule))
    };
    let mut out = vec![line(g.corners[0], g.tees[0], g.corners[1])];
    for (r, row) in rows.iter().enumerate() {
        let wrapped: Vec<Vec<Line<'static>>> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| wrap(c, *w, 0))
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            let mut spans = vec![Span::styled(g.v.to_string(), rule)];
            for (i, cell) in wrapped.iter().enumerate() {
                spans.push(Span::raw(" "));
                let part = cell.get(k).cloned().unwrap_or_default();
                let pad = widths[i].saturating_sub(part.width());
                let (l, rt) = match aligns.get(i).copied().unwrap_or(Align::Left) {
                    Align::Left => (0, pad),
                    Align::Right => (pad, 0),
                    Align::Center => (pad / 2, pad - pad / 2),
                };
                if l > 0 {
                    spans.push(Span::raw(" ".repeat(l)));
                }
                spans.extend(part.spans);
                spans.push(Span::raw(" ".repeat(rt + 1)));
                spans.push(Span::styled(g.v.to_string(), rule));
            }
            out.push(Line::from(spans));
        }
        if r == 0 {
            out.push(line(g.tees[2], g.tees[4], g.tees[3]));
        }
    }
    out.push(line(g.corners[2], g.tees[1], g.corners[3]));
    out
}

/// Column widths no larger in sum than `avail` (at least one each): the
/// widest column gives up a column at a time, so narrow ones keep theirs.
fn shrink(mut widths: Vec<usize>, avail: usize) -> Vec<usize> {
    let mut total: usize = widths.iter().sum();
    while total > avail {
        let Some((i, w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if *w <= 1 {
            break;
        }
        widths[i] -= 1;
        total -= 1;
    }
    widths
}

/// Each body row as a record, one `header: value` line per cell, the
/// records apart by a rule: for a width too narrow for the columns.
fn records(rows: &[Vec<Line<'static>>], theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let rule = Line::from(Span::styled(
        theme.glyphs.table.h.to_string().repeat(width.min(3)),
        theme.style(Role::Table),
    ));
    let Some((head, body)) = rows.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (r, row) in body.iter().enumerate() {
        if r > 0 {
            out.push(rule.clone());
        }
        for (name, value) in head.iter().zip(row) {
            let mut spans = name.spans.clone();
            spans.push(Span::styled(": ", theme.style(Role::Table)));
            spans.extend(value.spans.iter().cloned());
            out.extend(wrap(&Line::from(spans).style(Style::default()), width, 2));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{ColorDepth, Glyphs, ansi};

    fn draw(src: &[&str], glyphs: Glyphs, width: usize) -> String {
        let t = Theme::plain().with(ColorDepth::None, glyphs);
        ansi::to_text(&render(src[0], src[1], &src[2..], &t, width), false)
    }

    const TABLE: &[&str] = &[
        "| mount | size | use |",
        "|:------|-----:|:---:|",
        "| / | 20G | 93% |",
        "| /var/log | 4.1G | `journal` |",
    ];

    #[test]
    fn cells_split_at_unescaped_pipes_outside_code() {
        assert_eq!(cells("| a | b |"), ["a", "b"]);
        assert_eq!(cells("a | b"), ["a", "b"]);
        assert_eq!(cells(r"| a \| b | `x|y` |"), ["a | b", "`x|y`"]);
        assert!(is_delimiter("|:--|--:|", 2));
        assert!(is_delimiter("--- | :-:", 2));
        assert!(!is_delimiter("|:--|--:|", 3));
        assert!(!is_delimiter("| a | b |", 2));
    }

    #[test]
    fn a_table_that_fits_keeps_its_widths_and_alignment() {
        assert_eq!(
            draw(TABLE, Glyphs::UNICODE, 80),
            "┌──────────┬──────┬─────────┐\n\
             │ mount    │ size │   use   │\n\
             ├──────────┼──────┼─────────┤\n\
             │ /        │  20G │   93%   │\n\
             │ /var/log │ 4.1G │ journal │\n\
             └──────────┴──────┴─────────┘\n"
        );
    }

    #[test]
    fn ascii_glyphs_draw_ascii_rules() {
        let text = draw(TABLE, Glyphs::ASCII, 80);
        assert!(text.starts_with("+----------+------+"), "{text}");
        assert!(text.is_ascii(), "{text}");
    }

    #[test]
    fn narrow_widths_wrap_cells_and_never_overflow() {
        for w in [1usize, 5, 12, 16, 20, 25, 29] {
            let t = Theme::plain();
            for row in render(TABLE[0], TABLE[1], &TABLE[2..], &t, w) {
                assert!(row.width() <= w, "{w}: {row:?}");
            }
        }
        let text = draw(TABLE, Glyphs::UNICODE, 25);
        // The widest column gave way; its cells wrap inside it.
        assert!(text.contains("│ /var/l │ 4.1G │ journ │"), "{text}");
        assert!(text.contains("│ og     │      │  al   │"), "{text}");
        // Narrower, each row is a record.
        assert_eq!(
            draw(TABLE, Glyphs::UNICODE, 16),
            "mount: /\nsize: 20G\nuse: 93%\n───\nmount: /var/log\nsize: 4.1G\nuse: journal\n"
        );
    }
}
