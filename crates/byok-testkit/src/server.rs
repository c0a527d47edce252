//! The mocks' HTTP/1.1 server (hyper): reads each request whole, asks the mock
//! for a [`Plan`], and plays it — headers after a delay, then the body at once
//! or piece by piece with pauses, and, when the plan says so, a connection cut
//! in the middle of it, which a body sent in one piece cannot do.
//!
//! Every server runs on one runtime of the crate's own (two worker threads,
//! started on first use), so a mock keeps answering whatever runtime, or none,
//! the test that started it uses, even while that test blocks a thread. Dropping
//! a server stops it at once: its listener and open connections close.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

/// The largest request body a mock reads (larger ones get a 413).
const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// How long a cut waits for the bytes before it to leave.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

/// A request as the server read it.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    /// Names lowercase, in arrival order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// How to answer one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    /// Before the status line.
    pub(crate) delay: Duration,
    pub(crate) body: PlanBody,
}

/// The body of a [`Plan`].
#[derive(Debug)]
pub(crate) enum PlanBody {
    /// One piece, with a `content-length`.
    Whole(Vec<u8>),
    /// Chunked, step by step.
    Steps(Vec<Step>),
}

impl Default for PlanBody {
    fn default() -> Self {
        PlanBody::Whole(Vec::new())
    }
}

/// One step of a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write these bytes (one chunk, flushed).
    Send(Vec<u8>),
    /// Write nothing for this long.
    Pause(Duration),
    /// Drop the connection here, without ending the body.
    Cut,
}

/// Answers requests: called once per request, on a server thread; must not block.
pub(crate) type Handler = Arc<dyn Fn(Received) -> Plan + Send + Sync>;

/// A running server; dropping it stops it.
pub(crate) struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.accept.abort();
        // The abort lands on the server's own runtime: wait (briefly) for the
        // listener to be gone, so the port is closed when `drop` returns.
        for _ in 0..500 {
            if self.accept.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("byok-testkit-mock")
            .enable_all()
            .build()
            .expect("the mock server runtime starts (threads and a timer)")
    })
}

/// Serve `handler` on `listener` until the returned [`Server`] is dropped.
pub(crate) fn serve(listener: std::net::TcpListener, handler: Handler) -> io::Result<Server> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = runtime();
    let listener = {
        let _inside = rt.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let (shutdown, stopped) = watch::channel(false);
    let accept = rt.spawn(accept_loop(listener, handler, stopped));
    Ok(Server {
        addr,
        shutdown,
        accept,
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    handler: Handler,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors and the like: wait a little, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(handler.clone(), request));
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        });
    }
}

type Body = BoxBody<Bytes, io::Error>;

fn whole(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

async fn answer(
    handler: Handler,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            let mut too_large = Response::new(whole(b"request body too large".to_vec()));
            *too_large.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(too_large);
        }
    };
    let received = Received {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let plan = handler(received);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let body = match plan.body {
        PlanBody::Whole(bytes) => whole(bytes),
        PlanBody::Steps(steps) => {
            let frames = futures::stream::unfold(steps.into_iter(), |mut steps| async move {
                loop {
                    match steps.next()? {
                        Step::Send(bytes) => {
                            return Some((Ok(Frame::data(Bytes::from(bytes))), steps));
                        }
                        Step::Pause(d) => tokio::time::sleep(d).await,
                        Step::Cut => {
                            // Pending for a moment first: hyper flushes what it
                            // buffered, so the events before the cut do arrive.
                            tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                            let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "cut");
                            // Nothing after the cut: the stream ends with the error.
                            return Some((Err(cut), Vec::new().into_iter()));
                        }
                    }
                }
            });
            BodyExt::boxed(StreamBody::new(frames))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(plan.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in plan.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}
