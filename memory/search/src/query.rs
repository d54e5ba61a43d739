//! User text as BM25 words: what a person types is read as plain words, never as tantivy
//! query syntax, and a natural-language question keeps only its content words. Pure.
//!
//! Why plain words: users type `--null`, `conv=fsync`, `php8.2-fpm.sock`, `"quoted"` or
//! `AND`; as query syntax these mean exclusion, field lookups, phrases and operators (or
//! errors), never what the user meant. The text is split into words exactly where the index's
//! tokenizer splits it (at every character that is not alphanumeric), so no character is
//! special.
//!
//! Why drop function words: "what was eating all the storage space on the root drive" is
//! half function words; each matches most documents and dilutes BM25 (and in man pages the
//! single letters are option names, `-i`, `-a`, so "I" and "a" match every option list).
//! Single characters go too. When nothing would be left ("how do I?"), every word is kept,
//! so a question made only of such words still searches for them.

use tantivy::Term;
use tantivy::schema::Field;
use tantivy::tokenizer::TextAnalyzer;

/// English function words: a stop list of words that carry no topic in a question. The
/// union of Lucene's English stop set (less `no` and `not`, which change a question's
/// meaning) and question words. Lower case.
pub const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "get", "had", "has", "have", "how", "i",
    "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "please", "should",
    "so", "some", "such", "tell", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "us", "was", "way", "we", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your",
];

/// True if `word` (lower case) is a function word.
pub fn is_function_word(word: &str) -> bool {
    FUNCTION_WORDS.contains(&word)
}

/// The words of `text`, split as the index's tokenizer splits (at every non-alphanumeric
/// character) and lower-cased, less function words and single characters; or all of its
/// words when that would leave none. Empty only when `text` has no alphanumeric character.
pub fn content_words(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let kept: Vec<String> = words
        .iter()
        .filter(|w| w.chars().count() > 1 && !is_function_word(w))
        .cloned()
        .collect();
    if kept.is_empty() { words } else { kept }
}

/// The distinct terms of user text in `field`: its [`content_words`] through `analyzer` (the
/// field's own, so they are stemmed as the documents were), in order of first appearance.
pub(crate) fn terms(analyzer: &mut TextAnalyzer, field: Field, text: &str) -> Vec<Term> {
    let words = content_words(text).join(" ");
    let mut stream = analyzer.token_stream(&words);
    let mut terms: Vec<Term> = Vec::new();
    while let Some(token) = stream.next() {
        let term = Term::from_field_text(field, &token.text);
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> String {
        content_words(text).join(" ")
    }

    #[test]
    fn questions_keep_their_topic_words() {
        assert_eq!(
            words("How do I make a file immutable?"),
            "make file immutable"
        );
        assert_eq!(
            words("what was eating all the storage space on the root drive"),
            "eating storage space root drive"
        );
        assert_eq!(words("chattr"), "chattr");
    }

    #[test]
    fn query_syntax_is_plain_words() {
        assert_eq!(words("what does rsync --delete do"), "rsync delete");
        assert_eq!(words("conv=fsync"), "conv fsync");
        assert_eq!(words("php8.2-fpm.sock"), "php8 fpm sock");
        assert_eq!(words("\"nginx\" AND -apache title:x"), "nginx apache title");
        assert_eq!(words("not running"), "not running", "negation is kept");
    }

    #[test]
    fn only_function_words_keeps_them_all_and_punctuation_gives_nothing() {
        assert_eq!(words("how do I?"), "how do i");
        assert_eq!(words("a"), "a");
        assert!(content_words("?!:-\"()* ").is_empty());
        assert!(content_words("").is_empty());
    }

    #[test]
    fn non_ascii_words_are_words() {
        assert_eq!(words("Größe der Datei"), "größe der datei");
    }
}
