//! Styled rows as text with SGR escape sequences: how the transcript
//! reaches the normal scrollback on exit (and any plain-text consumer).
//! The text of a row is already sanitized; the only escapes here are the
//! SGR codes built from the style, so nothing else can reach the terminal.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

/// `rows` as lines of text; with `colour` off, no escape at all.
pub fn to_text(rows: &[Line<'static>], colour: bool) -> String {
    let mut out = String::new();
    for row in rows {
        out.push_str(row_text(row, colour).trim_end_matches(' '));
        out.push('\n');
    }
    out
}

/// One row as text, trailing spaces kept and no newline (the line mode's
/// live line grows from its end).
pub fn row_text(row: &Line<'static>, colour: bool) -> String {
    let mut line = String::new();
    for span in &row.spans {
        let style = row.style.patch(span.style);
        let sgr = if colour { sgr(style) } else { String::new() };
        if sgr.is_empty() {
            line.push_str(&span.content);
        } else {
            line.push_str(&format!("\x1b[{sgr}m{}\x1b[0m", span.content));
        }
    }
    line
}

fn sgr(s: Style) -> String {
    let mut codes: Vec<String> = Vec::new();
    let m = s.add_modifier;
    for (flag, code) in [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::REVERSED, "7"),
    ] {
        if m.contains(flag) {
            codes.push(code.into());
        }
    }
    if let Some(c) = s.fg.and_then(|c| colour_code(c, 30)) {
        codes.push(c);
    }
    if let Some(c) = s.bg.and_then(|c| colour_code(c, 40)) {
        codes.push(c);
    }
    codes.join(";")
}

fn colour_code(c: Color, base: u8) -> Option<String> {
    let named = |i: u8| Some((base + i).to_string());
    let bright = |i: u8| Some((base + 60 + i).to_string());
    match c {
        Color::Reset => None,
        Color::Black => named(0),
        Color::Red => named(1),
        Color::Green => named(2),
        Color::Yellow => named(3),
        Color::Blue => named(4),
        Color::Magenta => named(5),
        Color::Cyan => named(6),
        Color::Gray => named(7),
        Color::DarkGray => bright(0),
        Color::LightRed => bright(1),
        Color::LightGreen => bright(2),
        Color::LightYellow => bright(3),
        Color::LightBlue => bright(4),
        Color::LightMagenta => bright(5),
        Color::LightCyan => bright(6),
        Color::White => bright(7),
        Color::Indexed(i) => Some(format!("{};5;{i}", base + 8)),
        Color::Rgb(r, g, b) => Some(format!("{};2;{r};{g};{b}", base + 8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::text::Span;

    #[test]
    fn styles_become_sgr_codes_and_plain_has_none() {
        let rows = vec![Line::from(vec![
            Span::styled(
                "err",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Span::raw(" plain  "),
        ])];
        assert_eq!(to_text(&rows, true), "\x1b[1;31merr\x1b[0m plain\n");
        assert_eq!(to_text(&rows, false), "err plain\n");
    }
}
