//! A scripted HTTP/1.1 server on 127.0.0.1 that speaks raw bytes, so tests
//! control exactly how a provider's SSE stream is split across TCP writes,
//! when it pauses, and how it ends (cleanly, or by dropping the
//! connection). Each connection gets the next queued reply, then closes.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

/// Bound of every wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// Await `f` or fail the test after [`WAIT`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One piece of a response body.
#[derive(Clone)]
pub enum Part {
    /// Bytes written (and flushed) as one write; one HTTP chunk in chunked mode.
    Bytes(Vec<u8>),
    /// Wait until the test releases this gate.
    Gate(Arc<Notify>),
}

/// How the body is framed and ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked` with the terminating zero chunk.
    Chunked,
    /// Chunked, but the connection closes before the terminating chunk.
    ChunkedDropped,
    /// No length: the body ends when the connection closes.
    Close,
}

/// A queued response.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
    pub framing: Framing,
}

impl Reply {
    /// A `text/event-stream` reply whose body is `sse` cut into writes of
    /// at most `piece` bytes.
    pub fn sse(sse: &str, piece: usize, framing: Framing) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            parts: split(sse.as_bytes(), piece),
            framing,
        }
    }

    /// A JSON error reply.
    pub fn error(status: u16, body: &str, extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Reply {
            status,
            headers,
            parts: vec![Part::Bytes(body.as_bytes().to_vec())],
            framing: Framing::Chunked,
        }
    }
}

/// Cut bytes into writes of at most `piece` bytes.
pub fn split(bytes: &[u8], piece: usize) -> Vec<Part> {
    bytes
        .chunks(piece.max(1))
        .map(|c| Part::Bytes(c.to_vec()))
        .collect()
}

pub struct MockServer {
    pub base: String,
    requests: mpsc::UnboundedReceiver<Recorded>,
    seen: Arc<Mutex<usize>>,
}

impl MockServer {
    pub async fn start(replies: Vec<Reply>) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, requests) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(VecDeque::from(replies)));
        let seen = Arc::new(Mutex::new(0usize));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let queue = queue.clone();
                let tx = tx.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    serve(sock, queue, tx, seen).await;
                });
            }
        });
        MockServer {
            base,
            requests,
            seen,
        }
    }

    /// Requests received so far.
    pub fn count(&self) -> usize {
        *self.seen.lock().unwrap()
    }

    /// The next recorded request.
    pub async fn next_request(&mut self) -> Recorded {
        within("a request at the mock server", self.requests.recv())
            .await
            .unwrap()
    }
}

async fn serve(
    mut sock: TcpStream,
    queue: Arc<Mutex<VecDeque<Reply>>>,
    tx: mpsc::UnboundedSender<Recorded>,
    seen: Arc<Mutex<usize>>,
) {
    sock.set_nodelay(true).unwrap();
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    *seen.lock().unwrap() += 1;
    let _ = tx.send(req);
    let reply = queue.lock().unwrap().pop_front().unwrap_or_else(|| {
        Reply::error(
            500,
            r#"{"error":{"message":"mock server: no reply queued"}}"#,
            &[],
        )
    });
    let mut head = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if reply.framing != Framing::Close {
        head.push_str("transfer-encoding: chunked\r\n");
    }
    head.push_str("\r\n");
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for part in &reply.parts {
        match part {
            Part::Gate(n) => n.notified().await,
            Part::Bytes(b) => {
                let data = if reply.framing == Framing::Close {
                    b.clone()
                } else {
                    let mut c = format!("{:x}\r\n", b.len()).into_bytes();
                    c.extend_from_slice(b);
                    c.extend_from_slice(b"\r\n");
                    c
                };
                if sock.write_all(&data).await.is_err() || sock.flush().await.is_err() {
                    return;
                }
            }
        }
    }
    if reply.framing == Framing::Chunked {
        let _ = sock.write_all(b"0\r\n\r\n").await;
    }
    let _ = sock.shutdown().await;
}

async fn read_request(sock: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// Collect a whole stream of results, bounded by [`WAIT`].
pub async fn collect<T, E>(s: impl Stream<Item = Result<T, E>>) -> (Vec<T>, Option<E>) {
    within("the end of the stream", async move {
        let mut ok = Vec::new();
        let mut s = std::pin::pin!(s);
        while let Some(item) = s.next().await {
            match item {
                Ok(v) => ok.push(v),
                Err(e) => return (ok, Some(e)),
            }
        }
        (ok, None)
    })
    .await
}
