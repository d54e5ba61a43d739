//! Wrapping styled lines to a width, by display columns (wide characters
//! take two), breaking at spaces where a word fits and anywhere when it
//! does not. Continuation rows can hang under an indent, so a card's
//! wrapped argument stays inside the card.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// `line` wrapped to `width` columns; continuation rows start with
/// `hang` spaces (clamped so at least a quarter of the width stays
/// usable). An empty line stays one empty row.
pub fn wrap(line: &Line<'static>, width: usize, hang: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let hang = hang.min(width * 3 / 4);
    let cells: Vec<(char, Style, usize)> = line
        .spans
        .iter()
        .flat_map(|s| {
            let style = line.style.patch(s.style);
            s.content
                .chars()
                .map(move |c| (c, style, c.width().unwrap_or(0)))
        })
        .collect();
    let mut rows: Vec<Vec<(char, Style, usize)>> = Vec::new();
    let mut row: Vec<(char, Style, usize)> = Vec::new();
    let mut used = 0usize;
    let mut last_space: Option<usize> = None;
    let mut avail = width;
    for cell in cells {
        // A break can carry a word down that still does not fit the
        // (narrower, hanging) next row, so check again until it does.
        while cell.2 > 0 && used + cell.2 > avail && !row.is_empty() {
            let rest = match last_space {
                // Overflowing on a space: the row ends here.
                _ if cell.0 == ' ' => Vec::new(),
                // Break after the last space; the word moves down.
                Some(i) if i > 0 => row.split_off(i + 1),
                _ => Vec::new(),
            };
            let mut rest = rest;
            // A carried word wider than its row is cut where it must be.
            let mut acc = 0usize;
            if let Some(cut) = row.iter().enumerate().position(|(i, c)| {
                acc += c.2;
                i > 0 && acc > avail
            }) {
                let mut tail = row.split_off(cut);
                tail.append(&mut rest);
                rest = tail;
            }
            while row.last().is_some_and(|c| c.0 == ' ') && row.len() > 1 {
                row.pop();
            }
            rows.push(std::mem::take(&mut row));
            avail = width - hang;
            row = rest;
            used = row.iter().map(|c| c.2).sum();
            last_space = None;
        }
        if cell.0 == ' ' && row.is_empty() && !rows.is_empty() {
            // A space at a break is the break.
            continue;
        }
        if cell.0 == ' ' {
            last_space = Some(row.len());
        }
        used += cell.2;
        row.push(cell);
    }
    rows.push(row);
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            if i > 0 && hang > 0 {
                spans.push(Span::raw(" ".repeat(hang)));
            }
            let mut cur = String::new();
            let mut cur_style: Option<Style> = None;
            for (c, style, _) in r {
                if cur_style != Some(style) {
                    if let Some(st) = cur_style
                        && !cur.is_empty()
                    {
                        spans.push(Span::styled(std::mem::take(&mut cur), st));
                    }
                    cur_style = Some(style);
                }
                cur.push(c);
            }
            if let Some(st) = cur_style
                && !cur.is_empty()
            {
                spans.push(Span::styled(cur, st));
            }
            Line::from(spans)
        })
        .collect()
}

/// The display width of `text`.
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, w: usize, hang: usize) -> Vec<String> {
        wrap(&Line::from(text.to_string()), w, hang)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn breaks_at_spaces_and_inside_long_words() {
        assert_eq!(
            rows("the quick brown fox", 10, 0),
            ["the quick", "brown fox"]
        );
        assert_eq!(rows("abcdefghijkl", 5, 0), ["abcde", "fghij", "kl"]);
        assert_eq!(rows("", 5, 0), [""]);
        assert_eq!(rows("ab cd ef", 5, 2), ["ab cd", "  ef"]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(rows("日本語テキスト", 6, 0), ["日本語", "テキス", "ト"]);
        for r in rows("日本語 text and more 日本語", 7, 0) {
            assert!(width(&r) <= 7, "{r:?}");
        }
    }
}
