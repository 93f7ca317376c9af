//! The fault proxy itself, against the HTTP kit's canned server: requests pass through whole on a
//! kept-alive connection, each fault does what it says (who sees what: the client, the server),
//! and the share of broken requests follows the plan.

use std::time::Duration;

use wharf_http::testing::{MockServer, Reply};
use wharf_reliability::{Canned, Fault, FaultProxy, Plan};

fn echo(server: &MockServer) {
    server.handle(|r| Some(Reply::status(200).body(format!("{} {}", r.method, r.body_text()))));
}

async fn proxy(server: &MockServer, plan: Plan) -> FaultProxy {
    FaultProxy::in_front_of(server.url(), plan, 7)
        .await
        .expect("start the proxy")
}

#[tokio::test]
async fn requests_pass_whole_on_one_connection() {
    let server = MockServer::start();
    echo(&server);
    let proxy = proxy(&server, Plan::none()).await;
    let http = reqwest::Client::new();
    for i in 0..20 {
        let body = "x".repeat(i * 1000);
        let answer = http
            .put(format!("{}/a?i={i}", proxy.url()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), format!("PUT {body}"));
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 20);
    assert_eq!(seen[3].target, "/a?i=3");
    assert_eq!(seen[3].body.len(), 3000);
    assert_eq!(proxy.stats().requests, 20);
    assert_eq!(proxy.stats().faulted(), 0);
}

/// What the client got from one PUT of `body` through a proxy that always injects `fault`, and
/// how many requests the server received whole.
async fn one(fault: Fault, body: usize) -> (Result<(u16, String), reqwest::Error>, usize) {
    let server = MockServer::start();
    server.handle(|_| Some(Reply::status(200).body("y".repeat(100_000))));
    let proxy = proxy(&server, Plan::always(fault, Duration::from_secs(30))).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let got = async {
        let answer = http.put(proxy.url()).body("z".repeat(body)).send().await?;
        let status = answer.status().as_u16();
        Ok((status, answer.text().await?))
    }
    .await;
    // The server is on a thread of its own: let a forwarded request arrive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    (got, server.requests().len())
}

#[tokio::test]
async fn each_fault_breaks_what_it_says() {
    let (got, seen) = one(Fault::ResetBeforeRequest, 10).await;
    assert!(got.is_err() && seen == 0, "{got:?}, {seen}");

    let (got, seen) = one(Fault::ResetDuringRequestBody, 200_000).await;
    assert!(got.is_err() && seen == 0, "{got:?}, {seen}");

    let (got, seen) = one(Fault::ResetAfterRequest, 10).await;
    assert!(got.is_err() && seen == 1, "{got:?}, {seen}");

    let (got, seen) = one(Fault::ResetDuringResponseBody, 10).await;
    assert!(got.is_err() && seen == 1, "{got:?}, {seen}");

    let (got, seen) = one(Fault::StallBeforeRequest, 10).await;
    let e = got.unwrap_err();
    assert!(e.is_timeout() && seen == 0, "{e:?}, {seen}");

    let (got, seen) = one(Fault::StallDuringResponseBody, 10).await;
    let e = got.unwrap_err();
    assert!(e.is_timeout() && seen == 1, "{e:?}, {seen}");

    let (got, seen) = one(Fault::Answer(Canned::s3_slow_down()), 10).await;
    let (status, text) = got.unwrap();
    assert_eq!((status, seen), (503, 0));
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
}

#[tokio::test]
async fn the_share_of_broken_requests_follows_the_plan() {
    let server = MockServer::start();
    echo(&server);
    let plan = Plan {
        rate: 0.1,
        faults: vec![Fault::Answer(Canned::unavailable())],
        stall: Duration::ZERO,
        ..Plan::none()
    };
    let proxy = proxy(&server, plan).await;
    let http = reqwest::Client::new();
    let mut unavailable = 0;
    for _ in 0..1000 {
        let answer = http.get(proxy.url()).send().await.unwrap();
        if answer.status() == 503 {
            unavailable += 1;
        }
        answer.bytes().await.unwrap();
    }
    let stats = proxy.stats();
    assert_eq!(stats.requests, 1000);
    assert_eq!(stats.faulted(), unavailable);
    assert!((70..=130).contains(&unavailable), "{stats}");
    assert_eq!(server.requests().len() as u64, 1000 - unavailable);
}

#[tokio::test]
async fn spared_requests_get_only_error_answers() {
    let server = MockServer::start();
    echo(&server);
    let plan = Plan {
        rate: 1.0,
        faults: vec![
            Fault::ResetBeforeRequest,
            Fault::ResetAfterRequest,
            Fault::Answer(Canned::unavailable()),
        ],
        stall: Duration::ZERO,
        ..Plan::none()
    }
    .sparing("PUT", "upload_id=");
    let proxy = proxy(&server, plan).await;
    let http = reqwest::Client::new();
    let (mut spared, mut broken) = (0, 0);
    for i in 0..100 {
        let url = format!("{}/o?upload_id={i}", proxy.url());
        // The spared requests answer 503, every time.
        let answer = http
            .put(&url)
            .body("chunk")
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 503);
        spared += 1;
        // The others (another method, or another target) break as the plan says.
        for request in [http.get(&url), http.put(format!("{}/o", proxy.url()))] {
            if request.send().await.is_err() {
                broken += 1;
            }
        }
    }
    assert_eq!(spared, 100);
    assert!(broken > 50, "only {broken} of 200 unspared requests broke");
}

#[tokio::test]
async fn the_log_tells_what_became_of_each_request() {
    let server = MockServer::start();
    echo(&server);
    let proxy = proxy(&server, Plan::none()).await;
    let http = reqwest::Client::new();
    let answer = http
        .put(format!("{}/c/needle-1?part=1", proxy.url()))
        .body("a")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "PUT a");
    proxy.set_plan(Plan::always(
        Fault::Answer(Canned::unavailable()),
        Duration::ZERO,
    ));
    let answer = http
        .get(format!("{}/c/needle-2", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    proxy.set_plan(Plan::always(Fault::ResetBeforeRequest, Duration::ZERO));
    assert!(
        http.get(format!("{}/other", proxy.url()))
            .send()
            .await
            .is_err()
    );
    // A request joins the log once the proxy is done with it, which may be just after the
    // client has its answer.
    for _ in 0..500 {
        let all = proxy.requests_naming("/");
        if all.len() == 3 && !all.iter().any(|l| l.contains("in flight")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let needles = proxy.requests_naming("needle");
    assert_eq!(needles.len(), 2, "{needles:#?}");
    assert!(
        needles[0].contains("PUT /c/needle-1?part=1 took")
            && needles[0].contains("server answered 200")
            && needles[0].contains("connection kept")
            && !needles[0].contains("fault"),
        "{}",
        needles[0]
    );
    assert!(
        needles[1].contains("GET /c/needle-2 took")
            && needles[1].contains("no answer from the server")
            && needles[1].contains("fault: answer 503"),
        "{}",
        needles[1]
    );
    let other = proxy.requests_naming("other");
    assert_eq!(other.len(), 1, "{other:#?}");
    assert!(
        other[0].contains("fault: reset before request")
            && other[0].contains("connection reset by the proxy"),
        "{}",
        other[0]
    );
    // The troubled ones: the two faulted, not the one that passed.
    let troubled = proxy.troubled_since(Duration::ZERO);
    assert_eq!(troubled.len(), 2, "{troubled:#?}");
    assert!(troubled[0].contains("needle-2") && troubled[1].contains("/other"));
}

/// `wharf-count-proxy` forwards requests whole and its control address tells how many it
/// received, not counting the control requests themselves; a missing upstream is refused.
#[tokio::test]
async fn the_count_proxy_counts_what_it_forwards() {
    use tokio::io::AsyncBufReadExt;

    let server = MockServer::start();
    echo(&server);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf-count-proxy"))
        .arg(server.url())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start wharf-count-proxy");
    let mut first = String::new();
    tokio::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .await
        .unwrap();
    let words: Vec<&str> = first.split_whitespace().collect();
    let [_, url, _, control] = words[..] else {
        panic!("unexpected first line {first:?}");
    };
    let http = reqwest::Client::new();
    let count = async || {
        http.get(format!("{control}/count"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(count().await, "0");
    for i in 0..3 {
        let answer = http
            .put(format!("{url}/x{i}"))
            .body("b")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "PUT b");
    }
    assert_eq!(count().await, "3");
    assert_eq!(count().await, "3");
    let log = http
        .get(format!("{control}/log"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[2].contains("PUT /x2") && lines[2].contains("answered 200"),
        "{log}"
    );
    assert_eq!(server.requests().len(), 3);

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_wharf-count-proxy"))
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("upstream server's URL is missing"));
}
