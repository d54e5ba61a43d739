//! Text chosen by others cannot drive the terminal: the real `aios` binary
//! and the real daemons, a scripted model whose text carries escape
//! sequences, and files whose *names* carry them (any user can name a file
//! `\e]52;...` in /tmp), listed, scanned and read by the real tools. The
//! shell shows those characters (`␛`, `\u{9b}`) instead of sending them,
//! loses none of them, and in `--json` mode keeps them escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use aios_tests::{Env, json_lines, open_pty, wait_output};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(120);

/// A file name with OSC 52 (write the clipboard), CSI (clear the screen),
/// OSC 8 (a hidden link), an 8-bit CSI and a right-to-left override.
const EVIL: &str =
    "evil\x1b]52;c;aGFja2Vk\x07\x1b[2J\x1b]8;;mailto:x\x1b\\\u{9b}31m\u{202e}gpj.exe";
/// How the shell shows [`EVIL`] in text mode.
const EVIL_SHOWN: &str = "evil␛]52;c;aGFja2Vk␇␛[2J␛]8;;mailto:x␛\\\\u{9b}31m\\u{202e}gpj.exe";

/// Model text with OSC 52, SGR, erase-line, C1 CSI and a lone CR.
const MODEL_TEXT: &str =
    "Looking \x1b]52;c;bW9kZWw=\x07at \x1b[31mthe\x1b[0m files\x1b[2K\u{9b}2J\rnow.\n";
const MODEL_SHOWN: &str = "Looking ␛]52;c;bW9kZWw=␇at ␛[31mthe␛[0m files␛[2K\\u{9b}2J␍now.\n";
/// A model error message with a screen clear.
const MODEL_ERROR: &str = "overloaded \x1b[2J\x1b[H\x1b]52;c;ZXJy\x07";

/// Live output of `fs.largest` comes every 20000 entries, naming the
/// directory it is in.
const ENTRIES: usize = 20_000;

/// Files named with escape sequences, and a script whose tools list, scan
/// and read them.
struct Hostile {
    data: tempfile::TempDir,
}

impl Hostile {
    fn new() -> Hostile {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join(EVIL);
        std::fs::create_dir(&dir).unwrap();
        for i in 0..ENTRIES {
            File::create(dir.join(format!("f{i}"))).unwrap();
        }
        std::fs::write(data.path().join(format!("{EVIL}.txt")), "x").unwrap();
        Hostile { data }
    }

    fn script(&self) -> Value {
        let data = self.data.path();
        json!({"turns": [
            {"chunks": [MODEL_TEXT],
             "tool_calls": [
                // Lists the names (shown in --json mode).
                {"name": "fs.list", "args": {"path": data}},
                // Streams "scanned 20000 entries, now in <EVIL>".
                {"name": "fs.largest", "args": {"path": data.join(EVIL)}},
                // Fails: "<EVIL>.txt is not a directory".
                {"name": "fs.largest", "args": {"path": data.join(format!("{EVIL}.txt"))}}
             ]},
            {"chunks": ["Done: ", MODEL_TEXT], "error": MODEL_ERROR}
        ]})
    }
}

/// What in `bytes` a terminal would act on: every control character but
/// `\n` and `\t` (so ESC, BEL, CR, C1) and the bidi controls.
fn acting(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .map(|c| format!("U+{:04X}", c as u32))
        .collect()
}

#[test]
fn escapes_in_model_text_tool_output_and_file_names_are_shown_not_sent() {
    let hostile = Hostile::new();
    let env = Env::scripted(&hostile.script());
    let out = env.aios(&["-p", "what is in there?"], b"", LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The model's error ends the turn: exit 1, as documented.
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");

    // Not a terminal: no escape at all, the shell adds no styling.
    assert_eq!(
        acting(&out.stdout),
        Vec::<String>::new(),
        "stdout: {stdout:?}"
    );
    assert_eq!(
        acting(&out.stderr),
        Vec::<String>::new(),
        "stderr: {stderr:?}"
    );
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));

    // Nothing was silently lost: every sequence is there, visibly.
    assert!(
        stdout.contains(MODEL_SHOWN),
        "model text; stdout: {stdout:?}"
    );
    assert!(
        stdout.contains(&format!("Done: {MODEL_SHOWN}")),
        "stdout: {stdout:?}"
    );
    // Tool output (live progress naming the directory).
    assert!(
        stderr.contains(&format!("scanned {ENTRIES} entries, now in "))
            && stderr.contains(&format!("{EVIL_SHOWN}\n")),
        "tool output; stderr: {stderr:?}"
    );
    // A tool's error naming the file.
    assert!(
        stderr.contains(&format!("{EVIL_SHOWN}.txt is not a directory")),
        "tool error; stderr: {stderr:?}"
    );
    // The tool card's arguments: JSON-escaped C0, shown C1 and bidi.
    assert!(
        stderr.contains("● fs.largest [read] {\"path\":")
            && stderr.contains("evil\\u001b]52;c;aGFja2Vk\\u0007\\u001b[2J"),
        "tool card; stderr: {stderr:?}"
    );
    // The model's error message.
    assert!(
        stderr.contains("overloaded ␛[2J␛[H␛]52;c;ZXJy␇"),
        "model error; stderr: {stderr:?}"
    );
}

#[test]
fn json_output_never_carries_a_raw_escape_and_loses_nothing() {
    let hostile = Hostile::new();
    let env = Env::scripted(&hostile.script());
    let out = env.aios(&["-p", "what is in there?", "--json"], b"", LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(
        acting(&out.stdout),
        Vec::<String>::new(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The fatal error is also said on stderr, for a person watching.
    assert_eq!(
        acting(&out.stderr),
        Vec::<String>::new(),
        "stderr: {stderr:?}"
    );
    assert!(stderr.contains("␛[2J␛[H"), "stderr: {stderr:?}");

    // Decoded, the JSON holds the exact text: the listing has the real name.
    let events = json_lines(&out.stdout);
    let listing = events
        .iter()
        .find(|e| e["type"] == "tool_call_end" && e["call_id"] == "call_0_0")
        .unwrap_or_else(|| panic!("no fs.list result in {events:#?}"));
    let names: Vec<&str> = listing["result"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries in {listing:#}"))
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&EVIL), "{names:?}");
    let answer: String = events
        .iter()
        .filter(|e| e["type"] == "assistant_delta")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(answer, format!("{MODEL_TEXT}Done: {MODEL_TEXT}"));
    let error = events
        .iter()
        .find(|e| e["type"] == "error")
        .unwrap_or_else(|| panic!("no error event in {events:#?}"));
    assert!(
        error["message"].as_str().unwrap().contains(MODEL_ERROR),
        "{error:#}"
    );
}

/// On a terminal the shell colours its cards; those colours are the only
/// escape sequences it sends.
#[test]
fn on_a_terminal_the_only_escapes_are_the_shells_own_colours() {
    let hostile = Hostile::new();
    let env = Env::scripted(&hostile.script());
    let (master, slave) = open_pty();
    let mut cmd = env.cmd("aios");
    cmd.args(["-p", "what is in there?"])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(slave);
    let child = cmd.spawn().unwrap();
    // Our copy of the slave closes here, so the master reads EOF (EIO) once
    // the shell has exited.
    drop(cmd);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(read_until_hangup(master)));
    let out = wait_output(child, LIMIT);
    // Something still holding the terminal (it should not) fails the test
    // instead of hanging it.
    let screen = rx
        .recv_timeout(LIMIT)
        .expect("the terminal was not closed after aios exited");
    assert_eq!(out.status.code(), Some(1), "terminal: {screen:?}");
    assert_eq!(acting(&out.stdout), Vec::<String>::new());

    // The terminal turns each "\n" into "\r\n" (ONLCR); the shell's own
    // sequences are SGR colour codes (ESC [ digits and ; m), from the theme.
    let (rest, coloured) = without_sgr(&screen.replace("\r\n", "\n"));
    assert!(coloured > 0, "no colour on a terminal: {screen:?}");
    assert_eq!(acting(rest.as_bytes()), Vec::<String>::new(), "{screen:?}");
    assert!(rest.contains(EVIL_SHOWN), "{screen:?}");
}

/// `text` without its SGR sequences (`ESC [ params m`), and how many there
/// were. Any other sequence stays, to be caught as acting.
fn without_sgr(text: &str) -> (String, usize) {
    let mut rest = String::new();
    let mut count = 0;
    let mut i = 0;
    while i < text.len() {
        let tail = &text[i..];
        if let Some(params) = tail.strip_prefix("\x1b[") {
            let n = params
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b';')
                .count();
            if params.as_bytes().get(n) == Some(&b'm') {
                count += 1;
                i += 2 + n + 1;
                continue;
            }
        }
        let c = tail.chars().next().unwrap_or_default();
        rest.push(c);
        i += c.len_utf8().max(1);
    }
    (rest, count)
}

/// Everything written to the pty's slave side, until every writer is gone.
fn read_until_hangup(mut master: File) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}
