//! The input box's text: a multi-line buffer with a cursor. Pure; the
//! view draws it and the keymap drives it.

use unicode_width::UnicodeWidthChar;

/// A multi-line text buffer with a cursor (a byte offset on a char
/// boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Editor {
    text: String,
    cursor: usize,
}

impl Editor {
    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replace the text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
    }

    /// Take the text out, leaving the editor empty.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    /// Insert text at the cursor (typed or pasted; `\r\n` and `\r`
    /// become `\n`, other controls except tab are dropped).
    pub fn insert(&mut self, s: &str) {
        let clean: String = s
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .chars()
            .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
            .collect();
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
    }

    /// Delete the character before the cursor.
    pub fn backspace(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
            self.text.remove(self.cursor);
        }
    }

    /// Delete the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    /// Cursor one character left.
    pub fn left(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
        }
    }

    /// Cursor one character right.
    pub fn right(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    /// Whether the cursor is on the first line.
    pub fn on_first_line(&self) -> bool {
        !self.text[..self.cursor].contains('\n')
    }

    /// Whether the cursor is on the last line.
    pub fn on_last_line(&self) -> bool {
        !self.text[self.cursor..].contains('\n')
    }

    /// Start of the line.
    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    /// End of the line.
    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    /// Delete from the start of the line to the cursor.
    pub fn kill_line(&mut self) {
        let start = self.line_start();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Cursor up a line, keeping the column where it can.
    pub fn up(&mut self) {
        let start = self.line_start();
        if start == 0 {
            return;
        }
        let col = self.text[start..self.cursor].chars().count();
        let prev_start = self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        self.cursor = advance(&self.text, prev_start, start - 1, col);
    }

    /// Cursor down a line, keeping the column where it can.
    pub fn down(&mut self) {
        let end = self.line_end();
        if end == self.text.len() {
            return;
        }
        let col = self.text[self.line_start()..self.cursor].chars().count();
        let next_start = end + 1;
        let next_end = self.text[next_start..]
            .find('\n')
            .map_or(self.text.len(), |i| next_start + i);
        self.cursor = advance(&self.text, next_start, next_end, col);
    }

    /// The lines and the cursor's (row, display column).
    pub fn lines_and_cursor(&self) -> (Vec<&str>, (usize, usize)) {
        let lines: Vec<&str> = self.text.split('\n').collect();
        let before = &self.text[..self.cursor];
        let row = before.matches('\n').count();
        let col = before[self.line_start()..]
            .chars()
            .map(|c| c.width().unwrap_or(0))
            .sum();
        (lines, (row, col))
    }
}

/// The offset `col` characters after `from`, but not past `limit`.
fn advance(text: &str, from: usize, limit: usize, col: usize) -> usize {
    text[from..limit]
        .char_indices()
        .nth(col)
        .map_or(limit, |(i, _)| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_lines_and_moves_between_them() {
        let mut e = Editor::default();
        e.insert("hello\r\nwörld\x1b");
        assert_eq!(e.text(), "hello\nwörld");
        e.up();
        e.backspace();
        assert_eq!(e.text(), "hell\nwörld");
        e.down();
        e.home();
        e.right();
        e.right();
        e.delete();
        assert_eq!(e.text(), "hell\nwöld");
        assert_eq!(e.lines_and_cursor(), (vec!["hell", "wöld"], (1, 2)));
        e.end();
        e.kill_line();
        assert_eq!(e.text(), "hell\n");
        assert_eq!(e.take(), "hell\n");
        assert!(e.is_empty());
    }
}
