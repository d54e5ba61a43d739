//! Splitting a document into chunks small enough for BM25 and the embedding model to see
//! focused text (MiniLM reads 256 word pieces, about 1 KB of English; BM25 favours short
//! documents that are about one thing).
//!
//! Pure. A chunk is a run of whole sections when they are short (NAME, SYNOPSIS and SEE
//! ALSO travel together), or a run of whole paragraphs of one long section; a paragraph
//! longer than a chunk is cut at a sentence or word boundary. Every chunk starts with a
//! header naming its page and summary, so a chunk from the middle of OPTIONS still says
//! which command it belongs to.

use super::roff::Section;

/// Target size of a chunk's body, in bytes.
pub const CHUNK_BYTES: usize = 2_000;

/// One piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Headings of the sections it holds, joined with ", ".
    pub heading: String,
    /// The text to index: the header line, then the body.
    pub text: String,
}

/// Cuts `s` to at most `max` bytes at a character boundary, preferring the end of a
/// sentence, then a blank.
fn cut(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = &s[..end];
    if let Some(i) = head.rfind(". ").filter(|&i| i > max / 2) {
        return i + 1;
    }
    if let Some(i) = head.rfind([' ', '\n']).filter(|&i| i > max / 4) {
        return i;
    }
    end
}

/// Paragraphs of `text`, none longer than `max` bytes.
fn pieces(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut rest = para.trim();
        while !rest.is_empty() {
            let n = cut(rest, max);
            out.push(rest[..n].trim());
            rest = rest[n..].trim_start();
        }
    }
    out
}

/// Chunks of `sections`, each text starting with `header` (one line).
pub fn chunk(header: &str, sections: &[Section], max: usize) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    let mut headings: Vec<&str> = Vec::new();
    let mut body = String::new();
    let flush = |out: &mut Vec<Chunk>, headings: &mut Vec<&str>, body: &mut String| {
        if !body.trim().is_empty() {
            out.push(Chunk {
                heading: headings.join(", "),
                text: format!("{header}\n{}", body.trim_end()),
            });
        }
        headings.clear();
        body.clear();
    };
    for s in sections {
        if s.text.trim().is_empty() {
            continue;
        }
        let titled = if s.heading.is_empty() {
            s.text.clone()
        } else {
            format!("{}\n{}", s.heading, s.text)
        };
        if titled.len() <= max {
            // Short sections share a chunk while it stays small.
            if !body.is_empty() && body.len() + titled.len() > max / 2 {
                flush(&mut out, &mut headings, &mut body);
            }
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(&titled);
            headings.push(&s.heading);
            continue;
        }
        flush(&mut out, &mut headings, &mut body);
        for p in pieces(&s.text, max) {
            if !body.is_empty() && body.len() + p.len() + 2 > max {
                flush(&mut out, &mut headings, &mut body);
            }
            if body.is_empty() && !s.heading.is_empty() {
                body.push_str(&s.heading);
                body.push('\n');
                headings.push(&s.heading);
            } else if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(p);
        }
        flush(&mut out, &mut headings, &mut body);
    }
    flush(&mut out, &mut headings, &mut body);
    out
}

/// A plain-text or Markdown file as sections: one per Markdown heading (`#`…), or one
/// untitled section when it has none.
pub fn text_sections(text: &str) -> Vec<Section> {
    let mut out = vec![Section::default()];
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('#') && t.trim_start_matches('#').starts_with(' ') {
            out.push(Section {
                heading: t.trim_start_matches('#').trim().to_string(),
                text: String::new(),
            });
            continue;
        }
        if let Some(s) = out.last_mut() {
            s.text.push_str(line.trim_end());
            s.text.push('\n');
        }
    }
    out.retain(|s| !s.text.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn section(h: &str, t: &str) -> Section {
        Section {
            heading: h.into(),
            text: t.into(),
        }
    }

    #[test]
    fn short_sections_travel_together_and_long_ones_split_at_paragraphs() {
        let long: Vec<String> = (0..30)
            .map(|i| format!("Paragraph {i} says something about option {i}."))
            .collect();
        let sections = vec![
            section("NAME", "ls - list directory contents"),
            section("SYNOPSIS", "ls [OPTION]... [FILE]..."),
            section("DESCRIPTION", &long.join("\n\n")),
            section("SEE ALSO", "dir(1)"),
        ];
        let chunks = chunk("ls(1): ls - list directory contents", &sections, 400);
        assert_eq!(chunks[0].heading, "NAME, SYNOPSIS");
        assert!(chunks[0].text.starts_with("ls(1): ls - list"));
        let desc: Vec<&Chunk> = chunks
            .iter()
            .filter(|c| c.heading == "DESCRIPTION")
            .collect();
        assert!(desc.len() >= 3, "{chunks:#?}");
        for c in &chunks {
            assert!(c.text.len() <= 400 + 60, "{}", c.text.len());
        }
        // Every paragraph is somewhere, whole.
        for p in &long {
            assert!(chunks.iter().any(|c| c.text.contains(p.as_str())), "{p}");
        }
        assert_eq!(chunks.last().unwrap().heading, "SEE ALSO");
    }

    #[test]
    fn an_oversized_paragraph_is_cut_at_a_sentence_or_a_word() {
        let para = "Word ".repeat(200) + "end.";
        let chunks = chunk("h", &[section("X", &para)], 300);
        assert!(chunks.len() >= 3);
        for c in &chunks {
            assert!(
                !c.text.contains("Wor\n") && !c.text.ends_with("Wo"),
                "{c:?}"
            );
        }
    }

    #[test]
    fn markdown_headings_become_sections() {
        let s = text_sections("intro line\n\n# Install\nrun make\n## Use\nrun it\n#notaheading\n");
        let h: Vec<&str> = s.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(h, vec!["", "Install", "Use"]);
        assert!(s[2].text.contains("#notaheading"));
    }
}
