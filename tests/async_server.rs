//! The async server example under load: 32 connections × 10,000 requests, every reply
//! checked, blobs past each connection's arena limit answered `TooLarge` among the normal
//! load while the connection goes on, three malformed connections mid-run closed while the
//! others go on, then every pool and arena back to zero live blocks and a clean shutdown.

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

#[path = "../examples/async_server/server.rs"]
mod server;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 32;
/// Debug builds (`opt-level = 1`) run the full load in under a second on 2 cores too.
const MESSAGES: usize = 10_000;

/// Sends `bytes` after one good Ping, and returns whether the server then closed the
/// connection (EOF or reset) after answering the Ping.
async fn send_malformed(addr: std::net::SocketAddr, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut frame = Vec::new();
    let expected = server::request_frame(999, 0, &mut frame); // a Ping
    s.write_all(&frame).await.unwrap();
    let mut reply = vec![0u8; 4 + expected.len()];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[4..], &expected[..]);
    s.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf).await, Ok(0) | Err(_))
}

#[test]
fn server_under_load_checks_every_reply_survives_bad_clients_and_leaks_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = async {
            let server = server::Server::start("127.0.0.1:0", 2).await.unwrap();
            let addr = server.addr;
            let clients = tokio::spawn(server::run_clients(addr, CONNECTIONS, MESSAGES));
            // Mid-run: an unknown tag, and a length prefix past the limit.
            assert!(send_malformed(addr, &[1, 0, 0, 0, 0x7f]).await);
            assert!(send_malformed(addr, &(1u32 << 20).to_le_bytes()).await);
            // A Sum that claims more numbers than it carries.
            assert!(send_malformed(addr, &[3, 0, 0, 0, server::TAG_SUM, 2, 0]).await);
            // The server counts a malformed connection before it closes it.
            assert_eq!(*server.malformed.lock().unwrap(), 3);
            let checked = clients
                .await
                .unwrap()
                .expect("a reply was wrong or missing");
            assert_eq!(checked, CONNECTIONS * MESSAGES);
            server.shutdown().await
        };
        let report = tokio::time::timeout(Duration::from_secs(300), run)
            .await
            .expect("the load did not finish in 5 minutes");
        server::print_report(&report);
        assert_eq!(report.connections, CONNECTIONS + 3);
        assert_eq!(report.requests, CONNECTIONS * MESSAGES + 3);
        assert_eq!(report.malformed, 3);
        // Every 64th request is a blob, every other blob past the arena's limit: each of
        // those got its `TooLarge` reply (checked by the clients) and was refused once.
        let big_per_conn = (0..MESSAGES)
            .filter(|i| i % 64 == 63 && (i / 64) % 2 == 1)
            .count();
        assert_eq!(report.too_large, CONNECTIONS * big_per_conn);
        assert_eq!(report.arena_refusals, report.too_large);
        assert!(report.arena_committed_max <= server::ARENA_LIMIT);
        for (name, s) in &report.pools {
            assert_eq!(s.live_blocks(), 0, "pool {name} leaked: {s}");
            assert_eq!(s.live_bytes(), 0, "pool {name} leaked: {s}");
            assert!(s.peak_live_bytes() > 0, "pool {name} was never used");
        }
        assert_eq!(report.arena_live_blocks_max, 0);
        assert_eq!(report.arena_live_bytes_max, 0);
        assert!(
            report.arena_peak_bytes_max > 0,
            "the arenas were never used"
        );
    });
    // Every task was joined by `shutdown`; the runtime stops with nothing left running.
    rt.shutdown_timeout(Duration::from_secs(10));
}

#[test]
fn parser_rejects_every_kind_of_malformed_payload() {
    use server::{parse, Malformed, TAG_GET, TAG_PING, TAG_PUT, TAG_SUM};
    let mut arena = allocgator::Arena::new();
    let cases: Vec<(Vec<u8>, Malformed)> = vec![
        (vec![], Malformed::Empty),
        (vec![9], Malformed::UnknownTag(9)),
        (vec![TAG_PING, 1, 2], Malformed::Truncated("nonce")),
        (
            [&[TAG_PING][..], &[0; 9]].concat(),
            Malformed::TrailingBytes(1),
        ),
        (vec![TAG_GET, 33], Malformed::KeyTooLong(33)),
        (vec![TAG_GET, 3, b'a'], Malformed::Truncated("key")),
        (vec![TAG_PUT, 1, b'k', 201, 0], Malformed::ValueTooLong(201)),
        (vec![TAG_SUM, 65, 0], Malformed::TooManyNumbers(65)),
        (
            vec![TAG_SUM, 1, 0, 1, 2, 3],
            Malformed::Truncated("numbers"),
        ),
    ];
    for (payload, want) in cases {
        match parse(&payload, &arena) {
            Err(e) => assert_eq!(e, want, "payload {payload:?}"),
            Ok(_) => panic!("payload {payload:?} accepted"),
        }
    }
    // And a good one decodes into the arena.
    arena.reset();
    let mut sum = vec![TAG_SUM, 2, 0];
    sum.extend_from_slice(&5i64.to_le_bytes());
    sum.extend_from_slice(&(-7i64).to_le_bytes());
    match parse(&sum, &arena) {
        Ok(server::Parsed::Sum(n)) => assert_eq!(n, &[5, -7]),
        _ => panic!("a good Sum was rejected"),
    }
    assert_eq!(arena.stats().live_bytes(), 16);
    // A blob is copied into the arena, or answered `TooLarge` when the arena's limit
    // refuses it; a truncated one is malformed.
    arena.reset();
    arena.set_allocation_limit(Some(server::ARENA_LIMIT));
    let blob = |len: usize| {
        let mut p = vec![server::TAG_BLOB];
        p.extend_from_slice(&(len as u32).to_le_bytes());
        p.extend(std::iter::repeat_n(7u8, len));
        p
    };
    assert!(matches!(parse(&blob(100), &arena), Ok(server::Parsed::Blob(b)) if b == [7; 100]));
    let big = 2 * server::ARENA_LIMIT;
    assert!(matches!(parse(&blob(big), &arena), Ok(server::Parsed::TooLarge(n)) if n == big));
    assert!(matches!(
        parse(&blob(10)[..8], &arena),
        Err(Malformed::Truncated("blob"))
    ));
}
