//! Markdown of the assistant's answer: headings, lists, quotes, fenced code
//! blocks (highlighted, [`super::highlight`]), GFM tables
//! ([`super::table`]) and inline emphasis/code. Streaming commits only
//! completed lines, so a cell's lines are rendered as a whole ([`render`])
//! each time one is added, and the held-back tail line by line ([`line`]).
//!
//! The input is already sanitized; this only adds styles.

use ratatui::text::{Line, Span};

use super::theme::{Role, Theme};
use super::wrap::{width, wrap};
use super::{highlight, table};

fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

/// Every line of an answer as rows at `width`: code blocks highlighted as
/// a whole (syntect keeps state across a block's lines), tables laid out
/// from all their rows, the rest line by line.
pub fn render(lines: &[String], theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut state = MdState::default();
    let mut i = 0;
    while i < lines.len() {
        let src = lines[i].as_str();
        if is_fence(src) {
            let lang = src.trim_start().trim_start_matches(['`', '~']).trim();
            let lang = lang.split_whitespace().next().unwrap_or("");
            let end = lines[i + 1..]
                .iter()
                .position(|l| is_fence(l))
                .map_or(lines.len(), |p| i + 1 + p);
            let head = line(src, &mut state, theme);
            out.extend(wrap(&head.line, width, head.hang));
            let body: Vec<&str> = lines[i + 1..end].iter().map(String::as_str).collect();
            // A block still streaming is drawn plain and highlighted once,
            // when its closing fence arrives.
            let closed = end < lines.len();
            if !closed {
                highlight::prepare(lang, &body, theme);
            }
            match closed
                .then(|| highlight::highlight(lang, &body, theme))
                .flatten()
            {
                Some(rows) => {
                    for spans in rows {
                        let mut l = vec![Span::raw("  ")];
                        l.extend(spans);
                        out.extend(wrap(&Line::from(l), width, 2));
                    }
                }
                None => {
                    for b in &body {
                        let m = line(b, &mut state, theme);
                        out.extend(wrap(&m.line, width, m.hang));
                    }
                }
            }
            if end < lines.len() {
                let close = line(&lines[end], &mut state, theme);
                out.extend(wrap(&close.line, width, close.hang));
            }
            state = MdState::default();
            i = end + 1;
            continue;
        }
        if table::is_row(src) && i + 1 < lines.len() {
            let columns = table::cells(src).len();
            if table::is_delimiter(&lines[i + 1], columns) {
                let end = lines[i + 2..]
                    .iter()
                    .position(|l| !table::is_row(l))
                    .map_or(lines.len(), |p| i + 2 + p);
                let body: Vec<&str> = lines[i + 2..end].iter().map(String::as_str).collect();
                out.extend(table::render(src, &lines[i + 1], &body, theme, width));
                i = end;
                continue;
            }
        }
        let m = line(src, &mut state, theme);
        out.extend(wrap(&m.line, width, m.hang));
        i += 1;
    }
    out
}

/// Where the block that may still change starts in an answer being
/// streamed: an unclosed code block (highlighted once closed) or a table
/// at the end (its columns fit all its rows); `lines.len()` when every
/// line's rows are final.
pub fn open_block(lines: &[String]) -> usize {
    let mut fence = None;
    for (i, l) in lines.iter().enumerate() {
        if is_fence(l) {
            fence = match fence {
                Some(_) => None,
                None => Some(i),
            };
        }
    }
    if let Some(i) = fence {
        return i;
    }
    let run = lines.iter().rev().take_while(|l| table::is_row(l)).count();
    lines.len() - run
}

/// What carries over from one line to the next.
#[derive(Debug, Default, Clone)]
pub struct MdState {
    in_code: bool,
}

/// One rendered line and how far its continuation rows hang.
pub struct MdLine {
    /// The styled line.
    pub line: Line<'static>,
    /// Indent of wrapped continuation rows.
    pub hang: usize,
}

/// Render one source line.
pub fn line(src: &str, state: &mut MdState, theme: &Theme) -> MdLine {
    let trimmed = src.trim_start();
    if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
        state.in_code = !state.in_code;
        let lang = trimmed.trim_start_matches(['`', '~']).trim();
        let text = if state.in_code && !lang.is_empty() {
            format!("  {lang}")
        } else {
            String::new()
        };
        return MdLine {
            line: Line::from(Span::styled(text, theme.style(Role::Dim))),
            hang: 0,
        };
    }
    if state.in_code {
        return MdLine {
            line: Line::from(vec![
                Span::raw("  "),
                Span::styled(src.to_string(), theme.style(Role::Code)),
            ]),
            hang: 2,
        };
    }
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let text = trimmed[hashes..].trim();
        return MdLine {
            line: Line::from(Span::styled(text.to_string(), theme.style(Role::Heading))),
            hang: 0,
        };
    }
    let indent = &src[..src.len() - trimmed.len()];
    if let Some(rest) = trimmed
        .strip_prefix("- ")
        .or_else(|| trimmed.strip_prefix("* "))
        .or_else(|| trimmed.strip_prefix("+ "))
    {
        let mut spans = vec![Span::raw(format!("{indent}{} ", theme.glyphs.bullet))];
        spans.extend(inline(rest, theme));
        let hang = width(indent) + width(theme.glyphs.bullet) + 1;
        return MdLine {
            line: Line::from(spans),
            hang,
        };
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && trimmed[digits..].starts_with(". ") {
        let marker = &trimmed[..digits + 2];
        let mut spans = vec![Span::raw(format!("{indent}{marker}"))];
        spans.extend(inline(&trimmed[digits + 2..], theme));
        return MdLine {
            line: Line::from(spans),
            hang: width(indent) + marker.len(),
        };
    }
    if let Some(rest) = trimmed.strip_prefix('>') {
        let mut spans = vec![Span::styled(
            format!("{} ", theme.glyphs.bar),
            theme.style(Role::Dim),
        )];
        spans.extend(inline(rest.trim_start(), theme));
        return MdLine {
            line: Line::from(spans),
            hang: 2,
        };
    }
    MdLine {
        line: Line::from(inline(src, theme)),
        hang: 0,
    }
}

/// Inline markup: `code`, **strong**, *emphasis* and _emphasis_. An
/// unclosed marker is text.
pub fn inline(src: &str, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        let found = match c {
            '`' => delimited(rest, "`").map(|(inner, n)| (inner, n, Role::Code)),
            '*' if rest.starts_with("**") => {
                delimited(rest, "**").map(|(inner, n)| (inner, n, Role::Strong))
            }
            '*' | '_' => {
                let d = if c == '*' { "*" } else { "_" };
                delimited(rest, d)
                    .filter(|(inner, _)| !inner.starts_with(' '))
                    .map(|(inner, n)| (inner, n, Role::Emphasis))
            }
            _ => None,
        };
        match found {
            Some((inner, consumed, role)) => {
                if !plain.is_empty() {
                    spans.push(Span::styled(
                        std::mem::take(&mut plain),
                        theme.style(Role::Assistant),
                    ));
                }
                spans.push(Span::styled(inner.to_string(), theme.style(role)));
                rest = &rest[consumed..];
            }
            None => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !plain.is_empty() || spans.is_empty() {
        spans.push(Span::styled(plain, theme.style(Role::Assistant)));
    }
    spans
}

/// `d inner d` at the start of `s`: the inner text and the bytes used.
fn delimited<'a>(s: &'a str, d: &str) -> Option<(&'a str, usize)> {
    let body = s.strip_prefix(d)?;
    let end = body.find(d)?;
    if end == 0 {
        return None;
    }
    Some((&body[..end], d.len() * 2 + end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spans: &[Span<'_>]) -> Vec<String> {
        spans.iter().map(|s| s.content.to_string()).collect()
    }

    #[test]
    fn inline_markup_is_split_into_styled_spans() {
        let t = Theme::default();
        let s = inline("use `ls -l` and **really** *read* it", &t);
        assert_eq!(
            text(&s),
            ["use ", "ls -l", " and ", "really", " ", "read", " it"]
        );
        assert_eq!(s[1].style, t.style(Role::Code));
        assert_eq!(s[3].style, t.style(Role::Strong));
        assert_eq!(
            text(&inline("2 * 3 * 4 and a_b", &t)),
            ["2 * 3 * 4 and a_b"]
        );
        assert_eq!(text(&inline("unclosed `tick", &t)), ["unclosed `tick"]);
    }

    #[test]
    fn fences_carry_across_lines() {
        let t = Theme::default();
        let mut st = MdState::default();
        line("```rust", &mut st, &t);
        let code = line("# not a heading", &mut st, &t);
        assert_eq!(code.line.spans[1].content, "# not a heading");
        line("```", &mut st, &t);
        let h = line("# a heading", &mut st, &t);
        assert_eq!(h.line.spans[0].content, "a heading");
    }
}
