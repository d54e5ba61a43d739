//! Questions in plain words, as keywords for BM25 over the documentation. Pure.
//!
//! "How do I make a file immutable?" is mostly function words; in man pages the
//! single letters are option names (`-i`, `-a`), so "I" and "a" would match every option
//! list and outrank the one page that says "immutable". The tokenizer keeps every word (it
//! serves conversations and tool output too), so questions over `docs` drop English
//! function words and single characters first, unless nothing would be left.

/// Words that carry no topic in a question.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "all", "am", "an", "and", "any", "are", "as", "at", "be", "by", "can", "could",
    "did", "do", "does", "for", "from", "get", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "me", "my", "of", "on", "or", "our", "please", "should", "so", "some", "tell",
    "that", "the", "their", "then", "there", "this", "to", "us", "was", "way", "we", "what",
    "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The keywords of `question`: its words less function words and single characters, or
/// the question unchanged when that would leave nothing.
pub fn keywords(question: &str) -> String {
    let kept: Vec<&str> = question
        .split(|c: char| c.is_whitespace() || "?!,;\"()".contains(c))
        .filter(|w| {
            let t = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            t.chars().count() > 1 && !FUNCTION_WORDS.contains(&t.as_str())
        })
        .collect();
    if kept.is_empty() {
        question.to_string()
    } else {
        kept.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_keep_their_topic_words() {
        assert_eq!(
            keywords("How do I make a file immutable?"),
            "make file immutable"
        );
        assert_eq!(keywords("what does rsync --delete do"), "rsync --delete");
        assert_eq!(keywords("chattr"), "chattr");
        assert_eq!(
            keywords("how do I?"),
            "how do I?",
            "nothing left: unchanged"
        );
    }
}
