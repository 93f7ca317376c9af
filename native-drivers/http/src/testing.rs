//! A canned HTTP/1.1 server on 127.0.0.1 for unit tests: it answers requests as a script says
//! (or as a handler decides), can hang up instead of answering (a lost answer), and records
//! every request it saw. It runs on its own thread and runtime, so it serves sync tests,
//! `#[tokio::test]`s of any flavour, and statics shared by many tests alike.
//!
//! One request per connection (every answer says `connection: close`); bodies must carry a
//! `content-length`, as reqwest sends them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the server treats one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    hang_up: bool,
}

impl Reply {
    /// An answer of `status` with no body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            hang_up: false,
        }
    }

    /// An answer of `status` with a JSON `body`.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(body.into())
    }

    /// No answer: the request is read, then the connection closed.
    pub fn hang_up() -> Self {
        Self {
            hang_up: true,
            ..Self::status(0)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Recorded {
    /// The value of the header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::request::find_header(&self.headers, name)
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

enum Step {
    Reply(Reply),
    With(Box<dyn FnOnce(&Recorded) -> Reply + Send>),
}

#[derive(Default)]
struct State {
    script: VecDeque<Step>,
    handler: Option<Handler>,
    seen: Vec<Recorded>,
}

/// The canned server; it stops when dropped.
pub struct MockServer {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("url", &self.url)
            .finish()
    }
}

impl MockServer {
    /// A server listening on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the mock server");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let serve = async {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(serve_one(socket, shared.clone()));
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            url,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `reply` to the script: it answers the next request the handler leaves.
    pub fn push(&self, reply: Reply) {
        self.lock().script.push_back(Step::Reply(reply));
    }

    /// Adds a reply made from the request it answers.
    pub fn push_fn(&self, reply: impl FnOnce(&Recorded) -> Reply + Send + 'static) {
        self.lock().script.push_back(Step::With(Box::new(reply)));
    }

    /// Answers every request `handler` returns a reply for, before the script is consulted.
    pub fn handle(&self, handler: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static) {
        self.lock().handler = Some(Arc::new(handler));
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().seen.clone()
    }

    /// How many scripted replies are still unused.
    pub fn unused(&self) -> usize {
        self.lock().script.len()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `socket`, answers it as the state says, and closes.
async fn serve_one(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let reply = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.seen.push(request.clone());
        let handled = state.handler.clone().and_then(|h| h(&request));
        match handled {
            Some(reply) => reply,
            None => match state.script.pop_front() {
                Some(Step::Reply(reply)) => reply,
                Some(Step::With(make)) => make(&request),
                None => Reply::status(500).body("the mock server has no reply scripted"),
            },
        }
    };
    if reply.hang_up {
        return;
    }
    let mut head = format!("HTTP/1.1 {} Mock\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        reply.body.len()
    ));
    let mut answer = head.into_bytes();
    // A HEAD answer announces its body's length but carries none.
    if request.method != "HEAD" {
        answer.extend_from_slice(&reply.body);
    }
    let _ = socket.write_all(&answer).await;
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body: Bytes::copy_from_slice(&data[head_end..head_end + length]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_follow_the_script_and_requests_are_recorded() {
        let server = MockServer::start();
        server.handle(|r| (r.path() == "/auth").then(|| Reply::status(204)));
        server.push(Reply::json(201, r#"{"ok":true}"#).header("x-one", "1"));
        server.push_fn(|r| Reply::status(200).body(format!("you sent {}", r.body_text())));
        let http = reqwest::Client::new();
        let auth = http
            .get(format!("{}/auth", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(auth.status(), 204);
        let first = http
            .put(format!("{}/a?b=c", server.url()))
            .body("abc")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 201);
        assert_eq!(first.headers()["x-one"], "1");
        assert_eq!(first.text().await.unwrap(), r#"{"ok":true}"#);
        let second = http.post(server.url()).body("xyz").send().await.unwrap();
        assert_eq!(second.text().await.unwrap(), "you sent xyz");
        // Unscripted requests get a 500.
        let third = http.get(server.url()).send().await.unwrap();
        assert_eq!(third.status(), 500);
        let seen = server.requests();
        assert_eq!(seen.len(), 4);
        assert_eq!(
            (seen[1].method.as_str(), seen[1].target.as_str()),
            ("PUT", "/a?b=c")
        );
        assert_eq!(seen[1].path(), "/a");
        assert_eq!(seen[1].body_text(), "abc");
        assert_eq!(seen[1].header("Content-Length"), Some("3"));
        assert_eq!(server.unused(), 0);
    }

    #[test]
    fn a_hang_up_loses_the_answer() {
        let server = MockServer::start();
        server.push(Reply::hang_up());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = runtime
            .block_on(reqwest::Client::new().get(server.url()).send())
            .unwrap_err();
        assert!(!e.is_connect(), "{e}");
        assert_eq!(server.requests().len(), 1);
    }
}
