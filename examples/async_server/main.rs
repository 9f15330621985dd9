//! A tokio server on allocgator's pools and arenas (see `server.rs` for the protocol).
//!
//! ```text
//! cargo run --release --example async_server                       # self-test: server + 32 clients x 10,000 messages
//! cargo run --release --example async_server -- --selftest 8 1000   # smaller
//! cargo run --release --example async_server -- server 127.0.0.1:7878 30   # serve for 30 s
//! cargo run --release --example async_server -- client 127.0.0.1:7878 32 10000
//! ```
//!
//! The self-test runs the server on an ephemeral loopback port, drives it with the client,
//! sends one malformed frame on an extra connection (the server logs it and closes only that
//! connection), shuts the server down, and prints the pools' and arenas' statistics (all
//! zero live blocks) and the global engine's.

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod server;

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn arg(args: &[String], i: usize, default: &str) -> String {
    args.get(i).cloned().unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mode = arg(&args, 0, "--selftest");
    match mode.as_str() {
        "server" => rt.block_on(async {
            let addr = arg(&args, 1, "127.0.0.1:7878");
            let secs: u64 = arg(&args, 2, "30").parse().expect("seconds");
            let server = server::Server::start(&addr, 2).await.expect("bind");
            println!("serving on {} for {secs} s", server.addr);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            server::print_report(&server.shutdown().await);
        }),
        "client" => rt.block_on(async {
            let addr = arg(&args, 1, "127.0.0.1:7878").parse().expect("address");
            let conns: usize = arg(&args, 2, "32").parse().expect("connections");
            let msgs: usize = arg(&args, 3, "10000").parse().expect("messages");
            let t = Instant::now();
            match server::run_clients(addr, conns, msgs).await {
                Ok(n) => println!("{n} replies checked in {:.2?}", t.elapsed()),
                Err(e) => {
                    eprintln!("client: {e}");
                    std::process::exit(1);
                }
            }
        }),
        "--selftest" => rt.block_on(async {
            let conns: usize = arg(&args, 1, "32").parse().expect("connections");
            let msgs: usize = arg(&args, 2, "10000").parse().expect("messages");
            let server = server::Server::start("127.0.0.1:0", 2).await.expect("bind");
            println!("server on {}", server.addr);
            let t = Instant::now();
            let clients = tokio::spawn(server::run_clients(server.addr, conns, msgs));
            // A client that sends a frame with an unknown tag mid-run.
            let mut bad = tokio::net::TcpStream::connect(server.addr)
                .await
                .expect("connect");
            bad.write_all(&[1, 0, 0, 0, 0x7f]).await.expect("write");
            let mut buf = [0u8; 16];
            let n = bad.read(&mut buf).await.unwrap_or(0);
            println!("malformed connection closed by the server (read {n} bytes)");
            let checked = clients
                .await
                .expect("clients")
                .expect("every reply checked");
            let elapsed = t.elapsed();
            println!(
                "{checked} replies checked in {elapsed:.2?} ({:.0} requests/s)",
                checked as f64 / elapsed.as_secs_f64()
            );
            let report = server.shutdown().await;
            server::print_report(&report);
            assert_eq!(report.malformed, 1);
            assert!(report.pools.iter().all(|(_, s)| s.live_blocks() == 0));
            assert_eq!(report.arena_live_blocks_max, 0);
        }),
        other => {
            eprintln!("unknown mode {other}: server | client | --selftest");
            std::process::exit(2);
        }
    }
    drop(rt);
    println!("\nglobal engine after shutdown:\n{}", allocgator::stats());
}
