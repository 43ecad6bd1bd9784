//! `/loki/api/v1/tail`: live tailing over a WebSocket. The server first sends the newest
//! `limit` lines since `start` (default: an hour ago), then every second the lines that
//! arrived since, oldest first, each batch one text message in Loki's shape
//! `{"streams":[{"stream":{...},"values":[["<ns>","<line>"],...]}]}`. Every poll is an
//! admitted, budgeted query like any other; the socket closes on the client's close or
//! on an error, whose text is sent first.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use lookout_store::{Direction, TenantId};

use super::error_response;
use super::params::{now_ns, time, S};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::http::format::{push_labels, push_str};
use crate::http::params::Params;
use crate::http::{task, tenant, QueryState};
use crate::logql::{Answer, Expr, LogExpr, LogRequest, StreamOut};

pub fn routes() -> Router<QueryState> {
    Router::new().route("/loki/api/v1/tail", get(tail))
}

struct Tail {
    tenant: TenantId,
    expr: LogExpr,
    limit: usize,
    from: i64,
}

async fn tail(
    State(st): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let p = Params::from_request(&uri, &headers, &Bytes::new());
    let setup = || -> Result<Tail> {
        let tenant = tenant(&st, &headers)?;
        let expr = match st.logql.parse(p.get("query").unwrap_or(""))? {
            Expr::Log(l) => l,
            Expr::Metric(_) => {
                return Err(Error::BadData(
                    "tail takes a log query, not a metric query".into(),
                ))
            }
        };
        let limit = p
            .usize("limit")?
            .unwrap_or(100)
            .clamp(1, st.logql.opts.max_entries_limit);
        let from = time(&p, "start", now_ns() - 3600 * S)?;
        Ok(Tail {
            tenant,
            expr,
            limit,
            from,
        })
    };
    match setup() {
        Err(e) => error_response(e),
        Ok(t) => ws.on_upgrade(move |socket| run(st, socket, t)),
    }
}

async fn run(st: QueryState, mut socket: WebSocket, mut t: Tail) {
    let mut first = true;
    loop {
        let req = LogRequest {
            start_ns: t.from,
            end_ns: now_ns(),
            limit: t.limit,
            // The first answer is the newest lines; later ones everything new, in order.
            direction: if first {
                Direction::Backward
            } else {
                Direction::Forward
            },
            interval_ns: 0,
            categorize: false,
        };
        first = false;
        let budget = Budget::new(
            Instant::now(),
            st.engine.opts.timeout,
            st.engine.opts.max_memory,
        );
        let (engine, logs, tenant, expr) = (
            st.logql.clone(),
            st.logs.clone(),
            t.tenant.clone(),
            t.expr.clone(),
        );
        let answer = task::run(&st, budget, "tail", move |b| {
            engine.logs(logs.as_ref(), &tenant, &expr, &req, b)
        })
        .await;
        match answer {
            Ok((Answer::Streams(mut streams), _)) => {
                for s in &mut streams {
                    s.lines.sort_by_key(|l| l.ts_ns);
                    if let Some(last) = s.lines.last() {
                        t.from = t.from.max(last.ts_ns + 1);
                    }
                }
                if streams.iter().any(|s| !s.lines.is_empty())
                    && socket
                        .send(Message::Text(message(&streams).into()))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            Ok(_) => return,
            Err(e) => {
                let _ = socket.send(Message::Text(e.to_string().into())).await;
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// One tail message.
pub fn message(streams: &[StreamOut]) -> String {
    let mut s = String::from("{\"streams\":[");
    let mut first = true;
    for st in streams.iter().filter(|s| !s.lines.is_empty()) {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str("{\"stream\":");
        push_labels(&mut s, &st.labels);
        s.push_str(",\"values\":[");
        for (i, l) in st.lines.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("[\"");
            s.push_str(itoa::Buffer::new().format(l.ts_ns));
            s.push_str("\",");
            push_str(&mut s, &l.line);
            s.push(']');
        }
        s.push_str("]}");
    }
    s.push_str("],\"dropped_entries\":null}");
    s
}
