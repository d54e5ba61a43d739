//! Turning text into index terms: lower-casing, splitting (tool names
//! `fs.usage` → `fs usage`, paths → their components), dropping stop words
//! and bare numbers, and a light English stemmer. The same function serves
//! documents and requests, so both sides always agree on a term.

/// Words that carry no signal about which tool is wanted. Question words
/// (`who`, `when`, `where`, `why`) stay: "who is logged in" and "why did
/// nginx fail" lean on them.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can", "could",
    "did", "do", "does", "for", "from", "get", "give", "have", "i", "i'm", "im", "in", "into",
    "is", "it", "its", "it's", "just", "me", "my", "mine", "of", "on", "or", "our", "please",
    "pls", "plz", "quick", "quickly", "right", "so", "some", "tell", "that", "the", "their",
    "them", "then", "there", "these", "this", "those", "to", "u", "us", "was", "we", "what",
    "whats", "what's", "which", "will", "with", "would", "you", "your", "hey", "hi", "can't",
    "cant", "now", "want", "need", "like", "also", "too", "ok", "okay", "thanks",
    // The machine itself: every request is about it, so it names no tool
    // (and "this server" leaned towards "power off the server").
    "server", "machine", "box", "computer",
];

/// Terms of `text`, in order, stemmed; stop words and bare numbers dropped.
pub fn terms(text: &str) -> Vec<String> {
    words(text)
        .filter(|w| !is_stop(w))
        .map(|w| stem(&w))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Lower-cased words of `text`: runs of letters and digits (an apostrophe
/// inside a word is kept, so `don't` stays one word), bare numbers dropped.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `word` (lower-cased) is a stop word.
pub fn is_stop(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// A light suffix stripper (plural, -ing, -ed, -ly): enough to meet
/// "processes"/"process", "listening"/"listen", "installed"/"install";
/// conservative on short words so "bus" and "ssh" survive.
pub fn stem(word: &str) -> String {
    let w = word.strip_suffix("'s").unwrap_or(word);
    let n = w.len();
    if !w.is_ascii() || n <= 3 {
        return w.to_string();
    }
    if let Some(s) = w.strip_suffix("ies").filter(|_| n > 4) {
        return format!("{s}y");
    }
    if let Some(s) = w.strip_suffix("sses") {
        return format!("{s}ss");
    }
    if let Some(s) = w.strip_suffix("xes").or_else(|| w.strip_suffix("ches")) {
        let tail = if w.ends_with("xes") { "x" } else { "ch" };
        return format!("{s}{tail}");
    }
    if let Some(s) = w.strip_suffix("ing").filter(|s| s.len() >= 4) {
        return undouble(s);
    }
    if let Some(s) = w.strip_suffix("ed").filter(|s| s.len() >= 4) {
        return undouble(s);
    }
    if let Some(s) = w.strip_suffix("ly").filter(|s| s.len() >= 4) {
        return s.to_string();
    }
    if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..n - 1].to_string();
    }
    w.to_string()
}

/// "running" → "runn" → "run"; "stopped" → "stopp" → "stop".
fn undouble(s: &str) -> String {
    let b = s.as_bytes();
    match b {
        [.., x, y] if x == y && !matches!(x, b'l' | b's' | b'z') => s[..s.len() - 1].to_string(),
        _ => s.to_string(),
    }
}

/// Optimal-string-alignment edit distance (insert, delete, substitute,
/// swap two neighbours), giving up early once it exceeds `max`.
#[cfg(test)]
pub fn edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    edit_distance_chars(&a, &b, max, &mut Vec::new())
}

/// [`edit_distance`] over characters already split, with the caller's
/// scratch matrix, so a scan over the vocabulary allocates nothing.
pub fn edit_distance_chars(
    a: &[char],
    b: &[char],
    max: usize,
    d: &mut Vec<usize>,
) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    d.clear();
    d.resize((a.len() + 1) * w, 0);
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * w] = i;
        let mut row_min = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
    }
    let v = d[a.len() * w + b.len()];
    (v <= max).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tool_names_and_paths() {
        assert_eq!(terms("fs.usage"), ["fs", "usage"]);
        assert_eq!(
            terms("tail /var/log/auth.log"),
            ["tail", "var", "log", "auth", "log"]
        );
        assert_eq!(terms("sec.failed_logins"), ["sec", "fail", "login"]);
    }

    #[test]
    fn drops_stop_words_and_numbers() {
        assert_eq!(terms("what is the pid of 1234"), ["pid"]);
        // The machine itself names no tool: "who is on this server" must not
        // lean towards "power off the server".
        assert_eq!(terms("who is on this server"), ["who"]);
    }

    #[test]
    fn stems_meet() {
        for (a, b) in [
            ("processes", "process"),
            ("listening", "listen"),
            ("installed", "install"),
            ("running", "run"),
            ("stopped", "stop"),
            ("entries", "entry"),
            ("packages", "package"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} vs {b}");
        }
        assert_eq!(stem("bus"), "bus");
        assert_eq!(stem("ssh"), "ssh");
    }

    #[test]
    fn edit_distance_counts_swaps_once() {
        assert_eq!(edit_distance("dsik", "disk", 2), Some(1));
        assert_eq!(edit_distance("memroy", "memory", 2), Some(1));
        assert_eq!(edit_distance("firewal", "firewall", 1), Some(1));
        assert_eq!(edit_distance("disk", "network", 2), None);
    }
}
