//! A tokio server on allocgator's pools and arenas, its binary protocol, and a client that
//! drives it. Shared by `examples/async_server/main.rs` and `tests/async_server.rs`.
//!
//! Protocol: frames of `u32` little-endian payload length, then the payload; the payload's
//! first byte is the message tag.
//!
//! | tag | request | reply (tag \| 0x80) |
//! |---|---|---|
//! | 1 | `Ping { nonce: u64 }` | `Pong { nonce }` |
//! | 2 | `Put { key: u8 len + bytes (≤ 32), value: u16 len + bytes (≤ 200) }` | `Stored { replaced: u8 }` |
//! | 3 | `Get { key }` | `Value { found: u8, value }` |
//! | 4 | `Sum { count: u16 (≤ 64), i64 × count }` | `Total { i64 }` |
//! | 5 | `Blob { len: u32, bytes }` | `Checksum { u64 }`, or `TooLarge { len: u32 }` (tag 0xff) |
//!
//! Server side, per connection: the payload is decoded into an [`Arena`] (reset per request)
//! as a borrowed [`Parsed`] view, then turned into a `Box<_, SyncPoolHandle>` from one
//! [`SyncPool`] per message type, sent to a worker task (which may run on another worker
//! thread) with a oneshot channel for the reply, itself boxed from the reply pool. Anything
//! malformed closes the connection with a message on stderr; other connections carry on.
//!
//! Each connection's arena has an allocation limit ([`ARENA_LIMIT`]): a `Blob` whose bytes do
//! not fit it gets a `TooLarge` reply and the connection goes on, so one client's large
//! request cannot grow the server's memory. The pools are warmed with `reserve` at start, so
//! the first requests take no chunk from the engine.
#![allow(dead_code)]

use allocgator::allocator_api2::boxed::Box;
use allocgator::{Arena, LocalStats, SyncPool, SyncPoolHandle};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// Largest payload accepted (a larger length prefix is malformed: the connection closes).
pub const MAX_FRAME: usize = 256 * 1024;
/// Each connection's arena may hold at most this much engine memory; a request that needs
/// more gets a `TooLarge` reply.
pub const ARENA_LIMIT: usize = 64 * 1024;
/// Blocks each pool reserves at start (a few in flight per connection).
pub const WARM_BLOCKS: usize = 1024;
/// Longest key.
pub const MAX_KEY: usize = 32;
/// Longest value.
pub const MAX_VALUE: usize = 200;
/// Most numbers in a `Sum`.
pub const MAX_NUMBERS: usize = 64;

pub const TAG_PING: u8 = 1;
pub const TAG_PUT: u8 = 2;
pub const TAG_GET: u8 = 3;
pub const TAG_SUM: u8 = 4;
pub const TAG_BLOB: u8 = 5;
pub const REPLY: u8 = 0x80;
/// The reply tag of `TooLarge`.
pub const TAG_TOO_LARGE: u8 = 0xff;

/// `Ping`.
pub struct Ping {
    pub nonce: u64,
}

/// `Put`: key and value inline, so the message is one pool block.
pub struct Put {
    pub key_len: u8,
    pub key: [u8; MAX_KEY],
    pub value_len: u16,
    pub value: [u8; MAX_VALUE],
}

/// `Get`.
pub struct Get {
    pub key_len: u8,
    pub key: [u8; MAX_KEY],
}

/// `Sum`.
pub struct Sum {
    pub count: u16,
    pub numbers: [i64; MAX_NUMBERS],
}

/// A reply, boxed from the reply pool.
pub enum Reply {
    Pong(u64),
    Stored { replaced: bool },
    Value(Option<(u16, [u8; MAX_VALUE])>),
    Total(i64),
    Checksum(u64),
    TooLarge(u32),
}

/// A decoded request: each message type boxed from its own pool.
pub enum Request {
    Ping(Box<Ping, SyncPoolHandle>),
    Put(Box<Put, SyncPoolHandle>),
    Get(Box<Get, SyncPoolHandle>),
    Sum(Box<Sum, SyncPoolHandle>),
}

/// One `SyncPool` per message type, plus the replies'.
pub struct Pools {
    pub ping: SyncPool,
    pub put: SyncPool,
    pub get: SyncPool,
    pub sum: SyncPool,
    pub reply: SyncPool,
}

impl Pools {
    /// The pools, each warmed with [`WARM_BLOCKS`] blocks.
    pub fn new() -> Pools {
        let pools = Pools {
            ping: SyncPool::for_type::<Ping>(),
            put: SyncPool::for_type::<Put>(),
            get: SyncPool::for_type::<Get>(),
            sum: SyncPool::for_type::<Sum>(),
            reply: SyncPool::for_type::<Reply>(),
        };
        for pool in [
            &pools.ping,
            &pools.put,
            &pools.get,
            &pools.sum,
            &pools.reply,
        ] {
            // A refusal only means a cold start.
            let _ = pool.reserve(WARM_BLOCKS);
        }
        pools
    }

    /// Each pool's name and statistics.
    pub fn stats(&self) -> [(&'static str, LocalStats); 5] {
        [
            ("Ping", self.ping.stats()),
            ("Put", self.put.stats()),
            ("Get", self.get.stats()),
            ("Sum", self.sum.stats()),
            ("Reply", self.reply.stats()),
        ]
    }
}

/// Handles to the pools, one per connection task / worker (owned, `'static`).
#[derive(Clone)]
struct Handles {
    ping: SyncPoolHandle,
    put: SyncPoolHandle,
    get: SyncPoolHandle,
    sum: SyncPoolHandle,
    reply: SyncPoolHandle,
}

impl Handles {
    fn of(p: &Pools) -> Handles {
        Handles {
            ping: p.ping.handle(),
            put: p.put.handle(),
            get: p.get.handle(),
            sum: p.sum.handle(),
            reply: p.reply.handle(),
        }
    }
}

/// What is wrong with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    Empty,
    TooLong(usize),
    UnknownTag(u8),
    Truncated(&'static str),
    TrailingBytes(usize),
    KeyTooLong(usize),
    ValueTooLong(usize),
    TooManyNumbers(usize),
}

/// A request decoded into the connection's arena (borrowed from it).
pub enum Parsed<'a> {
    Ping(u64),
    Put {
        key: &'a [u8],
        value: &'a [u8],
    },
    Get {
        key: &'a [u8],
    },
    Sum(&'a [i64]),
    /// A blob's bytes, copied into the arena.
    Blob(&'a [u8]),
    /// A blob the arena's limit refused (its length).
    TooLarge(usize),
}

/// Reads fields from a payload.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.bytes.len() < n {
            return Err(Malformed::Truncated(what));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
}

/// Decodes a payload into `arena`: keys and values are copied in, numbers decoded into an
/// arena slice.
pub fn parse<'a>(payload: &[u8], arena: &'a Arena) -> Result<Parsed<'a>, Malformed> {
    let mut c = Cursor { bytes: payload };
    let tag = c.u8("tag").map_err(|_| Malformed::Empty)?;
    let parsed = match tag {
        TAG_PING => Parsed::Ping(c.u64("nonce")?),
        TAG_PUT | TAG_GET => {
            let key_len = c.u8("key length")? as usize;
            if key_len > MAX_KEY {
                return Err(Malformed::KeyTooLong(key_len));
            }
            let key = &*arena.alloc_slice_copy(c.take(key_len, "key")?);
            if tag == TAG_GET {
                Parsed::Get { key }
            } else {
                let value_len = c.u16("value length")? as usize;
                if value_len > MAX_VALUE {
                    return Err(Malformed::ValueTooLong(value_len));
                }
                let value = &*arena.alloc_slice_copy(c.take(value_len, "value")?);
                Parsed::Put { key, value }
            }
        }
        TAG_SUM => {
            let count = c.u16("count")? as usize;
            if count > MAX_NUMBERS {
                return Err(Malformed::TooManyNumbers(count));
            }
            let raw = c.take(count * 8, "numbers")?;
            let numbers = arena.alloc_slice_fill_with(count, |i| {
                i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap())
            });
            Parsed::Sum(numbers)
        }
        TAG_BLOB => {
            let len = c.u32("blob length")? as usize;
            let raw = c.take(len, "blob")?;
            // The arena's limit decides: a refusal is an answer, not a broken connection.
            match arena.try_alloc_slice_copy(raw) {
                Ok(bytes) => Parsed::Blob(bytes),
                Err(_) => Parsed::TooLarge(len),
            }
        }
        other => return Err(Malformed::UnknownTag(other)),
    };
    if !c.bytes.is_empty() {
        return Err(Malformed::TrailingBytes(c.bytes.len()));
    }
    Ok(parsed)
}

/// FNV-1a over a blob, its `Checksum`.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Parsed<'_> {
    /// A reply the connection gives at once (blobs), or `None` for a request the workers
    /// serve.
    fn immediate_reply(&self) -> Option<Reply> {
        match *self {
            Parsed::Blob(bytes) => Some(Reply::Checksum(checksum(bytes))),
            Parsed::TooLarge(len) => Some(Reply::TooLarge(len as u32)),
            _ => None,
        }
    }

    /// Moves the request out of the arena into its pool's box.
    fn into_request(self, h: &Handles) -> Request {
        match self {
            Parsed::Blob(_) | Parsed::TooLarge(_) => unreachable!("answered at once"),
            Parsed::Ping(nonce) => Request::Ping(Box::new_in(Ping { nonce }, h.ping.clone())),
            Parsed::Put { key, value } => {
                let mut put = Box::new_in(
                    Put {
                        key_len: key.len() as u8,
                        key: [0; MAX_KEY],
                        value_len: value.len() as u16,
                        value: [0; MAX_VALUE],
                    },
                    h.put.clone(),
                );
                put.key[..key.len()].copy_from_slice(key);
                put.value[..value.len()].copy_from_slice(value);
                Request::Put(put)
            }
            Parsed::Get { key } => {
                let mut get = Box::new_in(
                    Get {
                        key_len: key.len() as u8,
                        key: [0; MAX_KEY],
                    },
                    h.get.clone(),
                );
                get.key[..key.len()].copy_from_slice(key);
                Request::Get(get)
            }
            Parsed::Sum(numbers) => {
                let mut sum = Box::new_in(
                    Sum {
                        count: numbers.len() as u16,
                        numbers: [0; MAX_NUMBERS],
                    },
                    h.sum.clone(),
                );
                sum.numbers[..numbers.len()].copy_from_slice(numbers);
                Request::Sum(sum)
            }
        }
    }
}

/// Appends a reply frame to `out`.
fn encode_reply(reply: &Reply, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match reply {
        Reply::Pong(nonce) => {
            out.push(TAG_PING | REPLY);
            out.extend_from_slice(&nonce.to_le_bytes());
        }
        Reply::Stored { replaced } => {
            out.push(TAG_PUT | REPLY);
            out.push(*replaced as u8);
        }
        Reply::Value(v) => {
            out.push(TAG_GET | REPLY);
            match v {
                Some((len, bytes)) => {
                    out.push(1);
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(&bytes[..*len as usize]);
                }
                None => out.push(0),
            }
        }
        Reply::Total(t) => {
            out.push(TAG_SUM | REPLY);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Reply::Checksum(c) => {
            out.push(TAG_BLOB | REPLY);
            out.extend_from_slice(&c.to_le_bytes());
        }
        Reply::TooLarge(len) => {
            out.push(TAG_TOO_LARGE);
            out.extend_from_slice(&len.to_le_bytes());
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// A job for a worker: the request and where its reply goes.
struct Job {
    request: Request,
    reply: oneshot::Sender<Box<Reply, SyncPoolHandle>>,
}

/// The key-value store the workers share.
type Store = Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>;

/// Computes a reply (on whichever worker thread runs the worker task).
fn handle(request: Request, store: &Store, replies: &SyncPoolHandle) -> Box<Reply, SyncPoolHandle> {
    let reply = match request {
        Request::Ping(p) => Reply::Pong(p.nonce),
        Request::Put(p) => {
            let key = p.key[..p.key_len as usize].to_vec();
            let value = p.value[..p.value_len as usize].to_vec();
            let replaced = store.lock().unwrap().insert(key, value).is_some();
            Reply::Stored { replaced }
        }
        Request::Get(g) => {
            let store = store.lock().unwrap();
            Reply::Value(store.get(&g.key[..g.key_len as usize]).map(|v| {
                let mut bytes = [0; MAX_VALUE];
                bytes[..v.len()].copy_from_slice(v);
                (v.len() as u16, bytes)
            }))
        }
        Request::Sum(s) => Reply::Total(
            s.numbers[..s.count as usize]
                .iter()
                .fold(0i64, |a, &n| a.wrapping_add(n)),
        ),
    };
    Box::new_in(reply, replies.clone())
}

/// What a connection task reports when it ends.
pub struct ConnReport {
    pub requests: usize,
    /// Requests answered `TooLarge`.
    pub too_large: usize,
    pub malformed: Option<Malformed>,
    /// The arena's statistics after its last reset.
    pub arena: LocalStats,
    /// The arena's peak bytes for one request.
    pub arena_peak: usize,
    /// The most engine memory the arena held.
    pub arena_committed_max: usize,
}

/// What the server reports when it has shut down.
pub struct ServerReport {
    pub connections: usize,
    pub requests: usize,
    /// Requests answered `TooLarge`, and the refusals the arenas' limits counted.
    pub too_large: usize,
    pub arena_refusals: usize,
    /// The most engine memory any connection's arena held (never above [`ARENA_LIMIT`]).
    pub arena_committed_max: usize,
    pub malformed: usize,
    /// Largest live blocks any connection's arena reported when its connection ended.
    pub arena_live_blocks_max: usize,
    pub arena_live_bytes_max: usize,
    pub arena_peak_bytes_max: usize,
    /// The pools' statistics after every task ended.
    pub pools: [(&'static str, LocalStats); 5],
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<ServerReport>,
    /// Connections closed for a malformed frame so far.
    pub malformed: Arc<Mutex<usize>>,
}

impl Server {
    /// Binds `addr` (port 0: an ephemeral port) and serves with `workers` worker tasks.
    pub async fn start(addr: &str, workers: usize) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let malformed = Arc::new(Mutex::new(0));
        let task = tokio::spawn(serve(listener, workers, shutdown_rx, malformed.clone()));
        Ok(Server {
            addr,
            shutdown,
            task,
            malformed,
        })
    }

    /// Stops accepting, lets every connection finish its request in flight, joins all tasks
    /// and returns the report.
    pub async fn shutdown(self) -> ServerReport {
        let _ = self.shutdown.send(true);
        self.task.await.expect("server task panicked")
    }
}

async fn serve(
    listener: TcpListener,
    workers: usize,
    mut shutdown: watch::Receiver<bool>,
    malformed: Arc<Mutex<usize>>,
) -> ServerReport {
    let pools = Pools::new();
    let store: Store = Arc::default();
    let mut worker_txs = Vec::new();
    let mut worker_tasks = JoinSet::new();
    for _ in 0..workers.max(1) {
        let (tx, mut rx) = mpsc::channel::<Job>(256);
        worker_txs.push(tx);
        let store = store.clone();
        let replies = pools.reply.handle();
        worker_tasks.spawn(async move {
            while let Some(job) = rx.recv().await {
                let reply = handle(job.request, &store, &replies);
                let _ = job.reply.send(reply); // the connection may have gone
            }
        });
    }
    let handles = Handles::of(&pools);
    let mut conns = JoinSet::new();
    let mut next_worker = 0;
    let mut connections = 0;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections += 1;
                let tx = worker_txs[next_worker % worker_txs.len()].clone();
                next_worker += 1;
                conns.spawn(connection(
                    connections,
                    stream,
                    handles.clone(),
                    tx,
                    shutdown.clone(),
                    malformed.clone(),
                ));
            }
        }
    }
    drop(listener);
    let mut report = ServerReport {
        connections,
        requests: 0,
        too_large: 0,
        arena_refusals: 0,
        arena_committed_max: 0,
        malformed: 0,
        arena_live_blocks_max: 0,
        arena_live_bytes_max: 0,
        arena_peak_bytes_max: 0,
        pools: pools.stats(),
    };
    while let Some(done) = conns.join_next().await {
        let r = done.expect("connection task panicked");
        report.requests += r.requests;
        report.too_large += r.too_large;
        report.arena_refusals += r.arena.limit_refusals();
        report.arena_committed_max = report.arena_committed_max.max(r.arena_committed_max);
        report.malformed += r.malformed.is_some() as usize;
        report.arena_live_blocks_max = report.arena_live_blocks_max.max(r.arena.live_blocks());
        report.arena_live_bytes_max = report.arena_live_bytes_max.max(r.arena.live_bytes());
        report.arena_peak_bytes_max = report.arena_peak_bytes_max.max(r.arena_peak);
    }
    drop(worker_txs);
    while let Some(done) = worker_tasks.join_next().await {
        done.expect("worker task panicked");
    }
    drop(handles);
    report.pools = pools.stats();
    report
}

/// Serves one connection until the client closes it, a frame is malformed, or shutdown.
async fn connection(
    id: usize,
    stream: TcpStream,
    h: Handles,
    worker: mpsc::Sender<Job>,
    mut shutdown: watch::Receiver<bool>,
    malformed_count: Arc<Mutex<usize>>,
) -> ConnReport {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut write = BufWriter::new(write);
    let mut arena = Arena::with_capacity(4096);
    arena.set_allocation_limit(Some(ARENA_LIMIT));
    let mut payload = vec![0u8; MAX_FRAME];
    let mut out = Vec::with_capacity(512);
    let mut report = ConnReport {
        requests: 0,
        too_large: 0,
        malformed: None,
        arena: arena.stats(),
        arena_peak: 0,
        arena_committed_max: 0,
    };
    loop {
        let mut len = [0u8; 4];
        let got = tokio::select! {
            r = read.read_exact(&mut len) => r,
            _ = shutdown.changed() => break,
        };
        if got.is_err() {
            break; // the client closed the connection (or it broke)
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            report.malformed = Some(Malformed::TooLong(len));
            break;
        }
        if read.read_exact(&mut payload[..len]).await.is_err() {
            break;
        }
        arena.reset();
        // Decode into the arena and box into the pools; no arena borrow crosses an await.
        let request = match parse(&payload[..len], &arena) {
            Ok(parsed) => match parsed.immediate_reply() {
                Some(reply) => Err(Box::new_in(reply, h.reply.clone())),
                None => Ok(parsed.into_request(&h)),
            },
            Err(e) => {
                report.malformed = Some(e);
                break;
            }
        };
        let stats = arena.stats();
        report.arena_peak = report.arena_peak.max(stats.live_bytes());
        report.arena_committed_max = report.arena_committed_max.max(stats.committed_bytes());
        let reply = match request {
            Ok(request) => {
                let (tx, rx) = oneshot::channel();
                if worker.send(Job { request, reply: tx }).await.is_err() {
                    break;
                }
                let Ok(reply) = rx.await else { break };
                reply
            }
            Err(reply) => reply,
        };
        report.too_large += matches!(*reply, Reply::TooLarge(_)) as usize;
        out.clear();
        encode_reply(&reply, &mut out);
        drop(reply);
        if write.write_all(&out).await.is_err() {
            break;
        }
        report.requests += 1;
        // Flush when the client has nothing more queued (pipelined requests share a write).
        if read.buffer().is_empty() && write.flush().await.is_err() {
            break;
        }
    }
    let _ = write.flush().await;
    if let Some(e) = &report.malformed {
        *malformed_count.lock().unwrap() += 1;
        eprintln!("async_server: connection {id}: malformed frame ({e:?}); closing it");
    }
    arena.reset();
    report.arena = arena.stats();
    report
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// A request the client sends and the reply it expects.
pub fn request_frame(conn: usize, i: usize, out: &mut Vec<u8>) -> Vec<u8> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let key = format!("c{conn}-k{}", i % 16).into_bytes();
    let value_of = |j: usize| format!("value {conn}/{j}").repeat(1 + j % 5).into_bytes();
    let expected: Vec<u8> = match i % 4 {
        // Every 64th request (in place of a Sum, which nothing depends on) is a blob:
        // alternately one that fits the connection's arena and one that its limit refuses.
        _ if i % 64 == 63 => {
            let len = if (i / 64) % 2 == 0 {
                1000
            } else {
                2 * ARENA_LIMIT
            };
            let blob: Vec<u8> = (0..len).map(|j| (j * 31 + conn + i) as u8).collect();
            out.push(TAG_BLOB);
            out.extend_from_slice(&(len as u32).to_le_bytes());
            out.extend_from_slice(&blob);
            if len <= ARENA_LIMIT {
                [&[TAG_BLOB | REPLY][..], &checksum(&blob).to_le_bytes()].concat()
            } else {
                [&[TAG_TOO_LARGE][..], &(len as u32).to_le_bytes()].concat()
            }
        }
        0 => {
            let nonce = ((conn as u64) << 32) | i as u64;
            out.push(TAG_PING);
            out.extend_from_slice(&nonce.to_le_bytes());
            [&[TAG_PING | REPLY][..], &nonce.to_le_bytes()].concat()
        }
        1 => {
            let value = value_of(i);
            out.push(TAG_PUT);
            out.push(key.len() as u8);
            out.extend_from_slice(&key);
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
            out.extend_from_slice(&value);
            // Puts are requests 1, 5, 9, 13 (mod 16), each to its own key `i % 16`: a key's
            // first write is below request 16, every later one replaces a value.
            let replaced = i >= 16;
            vec![TAG_PUT | REPLY, replaced as u8]
        }
        2 => {
            // Request `i - 1` was a Put: read back the value it wrote.
            let prev = i - 1;
            let key = format!("c{conn}-k{}", prev % 16).into_bytes();
            out.push(TAG_GET);
            out.push(key.len() as u8);
            out.extend_from_slice(&key);
            let value = value_of(prev);
            [
                &[TAG_GET | REPLY, 1][..],
                &(value.len() as u16).to_le_bytes(),
                &value,
            ]
            .concat()
        }
        _ => {
            let n = 1 + i % MAX_NUMBERS;
            let numbers: Vec<i64> = (0..n).map(|j| (j as i64 - 7) * (i as i64 + 3)).collect();
            out.push(TAG_SUM);
            out.extend_from_slice(&(n as u16).to_le_bytes());
            for x in &numbers {
                out.extend_from_slice(&x.to_le_bytes());
            }
            let total: i64 = numbers.iter().sum();
            [&[TAG_SUM | REPLY][..], &total.to_le_bytes()].concat()
        }
    };
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    expected
}

/// Runs one client connection: `messages` requests in windows of `window` (pipelined),
/// checking every reply. Returns the number of replies checked.
pub async fn client_connection(
    addr: SocketAddr,
    conn: usize,
    messages: usize,
    window: usize,
) -> Result<usize, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut out = Vec::new();
    let mut expected = Vec::with_capacity(window);
    let mut payload = vec![0u8; MAX_FRAME];
    let mut checked = 0;
    let mut i = 0;
    while i < messages {
        out.clear();
        expected.clear();
        let end = (i + window).min(messages);
        // A Get must follow its Put in a later window or the same one: requests are served in
        // order per connection, so the same window is fine.
        for j in i..end {
            expected.push(request_frame(conn, j, &mut out))
        }
        write.write_all(&out).await.map_err(|e| e.to_string())?;
        for (k, want) in expected.iter().enumerate() {
            let mut len = [0u8; 4];
            read.read_exact(&mut len)
                .await
                .map_err(|e| format!("conn {conn} request {}: {e}", i + k))?;
            let len = u32::from_le_bytes(len) as usize;
            if len > MAX_FRAME {
                return Err(format!("conn {conn}: reply of {len} bytes"));
            }
            read.read_exact(&mut payload[..len])
                .await
                .map_err(|e| e.to_string())?;
            if payload[..len] != want[..] {
                return Err(format!(
                    "conn {conn} request {}: reply {:?}, expected {:?}",
                    i + k,
                    &payload[..len],
                    want
                ));
            }
            checked += 1;
        }
        i = end;
    }
    Ok(checked)
}

/// Runs `connections` client connections of `messages` requests each, concurrently.
pub async fn run_clients(
    addr: SocketAddr,
    connections: usize,
    messages: usize,
) -> Result<usize, String> {
    let mut set = JoinSet::new();
    for conn in 0..connections {
        set.spawn(client_connection(addr, conn, messages, 16));
    }
    let mut total = 0;
    while let Some(r) = set.join_next().await {
        total += r.map_err(|e| e.to_string())??;
    }
    Ok(total)
}

/// Prints a report's pool table.
pub fn print_report(r: &ServerReport) {
    println!(
        "server: {} connections, {} requests, {} closed as malformed",
        r.connections, r.requests, r.malformed
    );
    println!(
        "arenas at connection end: max {} live blocks, {} live bytes; max per-request peak {} bytes",
        r.arena_live_blocks_max, r.arena_live_bytes_max, r.arena_peak_bytes_max
    );
    println!(
        "arena limit {} bytes: {} requests answered TooLarge ({} refusals); most held by one arena {} bytes",
        ARENA_LIMIT, r.too_large, r.arena_refusals, r.arena_committed_max
    );
    println!(
        "{:<6} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "pool", "live blocks", "peak bytes", "committed", "chunks", "fallbacks"
    );
    for (name, s) in &r.pools {
        println!(
            "{:<6} {:>12} {:>12} {:>12} {:>10} {:>10}",
            name,
            s.live_blocks(),
            s.peak_live_bytes(),
            s.committed_bytes(),
            s.chunks(),
            s.fallback_allocs()
        );
    }
}
