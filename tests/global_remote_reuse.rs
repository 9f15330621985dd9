//! A producer/consumer loop must not grow the footprint: pages that went full come back to
//! their owner through the remote-free notification. (Its own binary: it reads process-wide
//! figures, which other tests running in parallel would disturb.)

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

use std::sync::mpsc;
use std::thread;

#[test]
fn remote_frees_of_full_pages_are_reused_by_their_owner() {
    // The producer fills whole pages; the consumer frees every block. Pages went full, so
    // they come back only through the remote-free notification: if that failed, each round
    // would need fresh memory and the footprint would grow with the rounds.
    let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8; 48]>>>(2);
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(0);
    let consumer = thread::spawn(move || {
        for batch in rx {
            assert!(batch.iter().all(|b| b[0] == b[47]));
            drop(batch);
            done_tx.send(()).unwrap();
        }
    });
    let mut committed_after = Vec::new();
    for round in 0..60usize {
        let batch: Vec<Box<[u8; 48]>> = (0..50_000)
            .map(|i| Box::new([(i + round) as u8; 48]))
            .collect();
        tx.send(batch).unwrap();
        done_rx.recv().unwrap();
        if round == 10 || round == 59 {
            committed_after.push(allocgator::stats().committed_bytes());
        }
    }
    drop(tx);
    consumer.join().unwrap();
    assert!(
        committed_after[1] <= committed_after[0] + (8 << 20),
        "footprint grew: {committed_after:?}"
    );
}
