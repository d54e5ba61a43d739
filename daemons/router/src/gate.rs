//! Cheap decisions before retrieval: requests that need no tool (greetings,
//! thanks, general knowledge) and catastrophic requests (wipe the root
//! filesystem, format a disk) that the model should not even be offered
//! tools for. Pattern rules over the lower-cased text, no model.
//!
//! This is a hint, not a defence: the executor's policy refuses
//! catastrophic calls whatever the router says, and a request this gate
//! misses still goes to the model with candidates. The rules lean towards
//! `Tool` (a missed "no tool" costs one cheap model call; a wrong "no tool"
//! loses the user's request).

use crate::refuse;

/// What a request needs, before any tool is retrieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Retrieve candidate tools and let the model choose.
    Tool,
    /// Answer in words; no tool call (greeting, thanks, general knowledge).
    NoTool {
        /// Which rule matched, for logs and the evaluation.
        reason: &'static str,
    },
    /// Refuse: the request asks for something catastrophic.
    Refuse {
        /// Which rule matched, shown to the user.
        reason: &'static str,
    },
}

/// Greetings and sign-offs that may open or make up a message ("hello,
/// who are you?", "hey aios"). Stripped from the front before the rest is
/// judged, so "hello, how full is my disk?" is still a request.
const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "yo",
    "greetings",
    "good morning",
    "good afternoon",
    "good evening",
    "good night",
    "bye",
    "goodbye",
    "see you",
    "ok",
    "okay",
    "nice",
    "great",
    "cool",
    "awesome",
    "lol",
    "aios",
    "there",
    "please",
];

/// Whole messages (after the greetings) that are about the conversation
/// or the assistant, not the machine.
const SOCIAL: &[&str] = &[
    "thanks",
    "thank you",
    "thx",
    "cheers",
    "how are you",
    "how are you doing",
    "how are you doing today",
    "how are you today",
    "how is it going",
    "how's it going",
    "what's up",
    "who are you",
    "what are you",
    "what is your name",
    "what's your name",
    "who made you",
    "who built you",
    "are you there",
    "are you an ai",
    "are you a bot",
    "are you a robot",
    "what can you do",
    "what can you help with",
    "what can you help me with",
    "how can you help",
    "how can you help me",
    "can you help me",
    "help",
    "help me",
    "nice to meet you",
    "good job",
    "well done",
];

/// Openings of general-knowledge questions and creative asks.
const KNOWLEDGE: &[&str] = &[
    "what is a ",
    "what is an ",
    "what's a ",
    "what's an ",
    "what does the acronym",
    "explain ",
    "how does ",
    "how do i write",
    "why do ",
    "why does ",
    "what is the difference",
    "what's the difference",
    "difference between",
    "tell me a joke",
    "write a poem",
    "write a haiku",
    "write a story",
    "write me a",
    "translate ",
    "who invented",
    "who wrote",
    "who was",
    "capital of",
    "what year",
    "how many days",
    "define ",
    "what is the meaning",
    "recommend a",
    "summarize the history",
];

/// Words that tie a question to this machine: "what is a zombie process"
/// is knowledge, "what is using my disk" is not.
const DEICTIC: &[&str] = &[
    "my ",
    "mine",
    "this machine",
    "this box",
    "this server",
    "this system",
    "this computer",
    "here",
    "installed",
    "running",
    "on the server",
    "our ",
    " we ",
    "/",
    "~",
    "pid",
    "currently",
    "right now",
    "is there",
    "are there",
    "do i have",
    "am i",
];

/// Classify one request. Pure and cheap (a few substring scans).
pub fn classify(request: &str) -> Intent {
    let text = normalise(request);
    if let Some(reason) = refuse::reason(&text) {
        return Intent::Refuse { reason };
    }
    let plain: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let plain: Vec<&str> = plain.split_whitespace().collect();
    let thanks = matches!(plain.first(), Some(&"thanks" | &"thx" | &"cheers"))
        || plain.starts_with(&["thank", "you"]);
    if social(&plain) || (thanks && plain.len() <= 5) {
        return Intent::NoTool { reason: "social" };
    }
    let padded = format!(" {text} ");
    if KNOWLEDGE
        .iter()
        .any(|k| text.starts_with(k) || text.contains(&format!(" {k}")))
        && !DEICTIC.iter().any(|d| padded.contains(d))
    {
        return Intent::NoTool {
            reason: "general knowledge",
        };
    }
    Intent::Tool
}

/// Whether the words are greetings only, or greetings around one social
/// question ("hello, who are you?", "hi there, how are you doing today").
fn social(words: &[&str]) -> bool {
    let mut rest = words;
    while let Some(n) = GREETINGS
        .iter()
        .map(|g| g.split(' ').collect::<Vec<_>>())
        .find(|g| rest.starts_with(g))
        .map(|g| g.len())
    {
        rest = &rest[n..];
    }
    // Trailing address or greeting: "how are you, aios", "thanks, bye".
    while let Some((last, init)) = rest.split_last() {
        if GREETINGS.contains(last) {
            rest = init;
        } else {
            break;
        }
    }
    rest.is_empty() || SOCIAL.contains(&rest.join(" ").as_str())
}

pub(crate) fn normalise(request: &str) -> String {
    request
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        matches!(classify(s), Intent::Refuse { .. })
    }
    fn no_tool(s: &str) -> bool {
        matches!(classify(s), Intent::NoTool { .. })
    }

    #[test]
    fn refuses_catastrophes() {
        assert!(refused("rm -rf /"));
        assert!(refused("please run rm -rf / --no-preserve-root"));
        assert!(refused("format the disk"));
        assert!(refused("wipe /dev/sda"));
        assert!(refused("mkfs.ext4 /dev/sdb1"));
    }

    #[test]
    fn does_not_refuse_ordinary_deletes() {
        assert!(!refused("rm -rf /tmp/build"));
        assert!(!refused("delete ~/Downloads/old.iso"));
        assert!(!refused("how full is the disk"));
        assert!(!refused("format the json in ~/a.json"));
    }

    #[test]
    fn social_and_knowledge_need_no_tool() {
        assert!(no_tool("hi"));
        assert!(no_tool("Thanks!"));
        assert!(no_tool("thanks, that's all"));
        assert!(!no_tool("thanks, now restart nginx and check the logs"));
        assert!(no_tool("hello, who are you?"));
        assert!(no_tool("Hi there! How are you doing today?"));
        assert!(no_tool("hey aios, what can you do"));
        assert!(no_tool("good afternoon aios"));
        assert!(!no_tool("hello, how full is my disk?"));
        assert!(!no_tool("hi, who is logged in?"));
        assert!(!no_tool("hey there, restart nginx please"));
        assert!(no_tool("explain what a zombie process is"));
        assert!(no_tool("what is a subnet mask?"));
        assert!(!no_tool("what is using my disk"));
        assert!(!no_tool("explain why nginx is running"));
        assert!(!no_tool("how full is the disk"));
    }
}
