//! An arena per request: build a request's data (a parsed header list, strings, a vector that
//! grows) with bump allocation, answer, then `reset` — the arena's memory is reused for the
//! next request, and goes back to the engine when the arena is dropped.
//!
//! `cargo run --release --example arena [requests]` (default 10,000).
use allocgator::allocator_api2::vec::Vec;
use allocgator::Arena;

/// A parsed header, borrowing its strings from the arena.
struct Header<'a> {
    name: &'a str,
    value: &'a str,
}

/// Handles one request with the arena; returns a checksum so nothing is optimised away.
fn handle(arena: &Arena, request: &str) -> usize {
    let mut headers: Vec<&Header<'_>, &Arena> = Vec::new_in(arena);
    for line in request.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let h = arena.alloc(Header {
                name: arena.alloc_str(name.trim()),
                value: arena.alloc_str(value.trim()),
            });
            headers.push(h);
        }
    }
    // A growing buffer: the most recent allocation grows in place.
    let mut body: Vec<u8, &Arena> = Vec::new_in(arena);
    for h in &headers {
        body.extend_from_slice(h.name.as_bytes());
        body.extend_from_slice(b"=");
        body.extend_from_slice(h.value.as_bytes());
        body.push(b';');
    }
    let ids = arena.alloc_slice_fill_with(64, |i| i * 3);
    body.len() + headers.len() + ids[63]
}

fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut request = String::from("GET /index.html HTTP/1.1\n");
    for i in 0..40 {
        request.push_str(&format!("X-Header-{i}: value number {i}\n"));
    }

    let mut arena = Arena::new();
    let mut sum = 0;
    let mut allocated_after_first = 0;
    for i in 0..requests {
        sum += handle(&arena, &request);
        if i == 0 {
            println!("after the first request:\n{}", arena.stats());
        }
        arena.reset();
        if i == 1 {
            allocated_after_first = arena.allocated_bytes();
        }
    }
    println!("checksum {sum}");
    println!(
        "{requests} requests; arena holds {} bytes (after the second request: {})",
        arena.allocated_bytes(),
        allocated_after_first
    );
    assert_eq!(arena.allocated_bytes(), allocated_after_first);
}
