//! `SyncPool`'s growth (`allocgator`'s own `ChunkTable`, driven through
//! `loom_api::ModelChunkTable`): threads taking never-used blocks race to install the chunk
//! they fall in; the loser gives its copy back, everyone uses the winner's, no index is handed
//! out twice, and a thread whose engine refuses a chunk still gets one another thread
//! installed.
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelChunkTable;
use common::model;
use loom::sync::Arc;
use loom::thread;

/// Checks, after the model's threads are joined, that every block taken reads back what its
/// taker wrote, that `installed` chunks are installed, and that every other chunk made was
/// given back.
fn assert_blocks_and_chunks(table: &ModelChunkTable, taken: &[(u32, usize)], installed: usize) {
    for &(i, value) in taken {
        assert_eq!(table.read(i), value);
    }
    let (made, discarded) = table.made_and_discarded();
    assert_eq!(table.installed(), installed);
    assert_eq!(made, installed + discarded, "a chunk lost");
}

/// Two threads each take a block of chunk 0 (two blocks) of an empty table: both may make a
/// chunk, one installs it, the other gives its copy back and writes its block in the winner's
/// chunk, which it must be ordered after (loom checks the write against the chunk's making).
#[test]
fn chunk_install_race() {
    model("chunk_install_race", || {
        let table = Arc::new(ModelChunkTable::new(1, 2));
        let threads: Vec<_> = (1..=2)
            .map(|value| {
                let table = Arc::clone(&table);
                thread::spawn(move || {
                    let i = table.take(value, false).expect("chunk 0 has two blocks");
                    (i, value)
                })
            })
            .collect();
        let mut taken: Vec<(u32, usize)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        taken.sort_unstable();
        assert_eq!(taken[0].0, 0);
        assert_eq!(taken[1].0, 1, "an index handed out twice");
        assert_blocks_and_chunks(&table, &taken, 1);
    });
}

/// Chunk 0 holds one block, chunk 1 two: two threads take two blocks each from three, across
/// the boundary. Exactly one take fails, the other three get distinct indices in installed
/// chunks.
#[test]
fn chunk_take_across_the_boundary() {
    model("chunk_take_across_the_boundary", || {
        let table = Arc::new(ModelChunkTable::new(0, 2));
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let table = Arc::clone(&table);
                thread::spawn(move || {
                    [10 * t + 1, 10 * t + 2]
                        .map(|value| table.take(value, false).map(|i| (i, value)))
                })
            })
            .collect();
        let mut taken: Vec<(u32, usize)> = Vec::new();
        for t in threads {
            taken.extend(t.join().unwrap().into_iter().flatten());
        }
        taken.sort_unstable();
        let indices: Vec<u32> = taken.iter().map(|&(i, _)| i).collect();
        assert_eq!(indices, [0, 1, 2], "three blocks, each once");
        assert_blocks_and_chunks(&table, &taken, 2);
    });
}

/// The engine refuses one thread's copy of chunk 0 while another thread installs it: the
/// refused thread gets a block of the other's chunk if it was installed by then (and must be
/// ordered after it), `None` otherwise; the other thread always gets its block.
#[test]
fn chunk_refused_then_installed_by_another() {
    model("chunk_refused_then_installed_by_another", || {
        let table = Arc::new(ModelChunkTable::new(1, 1));
        let refused = {
            let table = Arc::clone(&table);
            thread::spawn(move || table.take(1, true).map(|i| (i, 1)))
        };
        let served = {
            let table = Arc::clone(&table);
            thread::spawn(move || table.take(2, false).map(|i| (i, 2)))
        };
        let refused = refused.join().unwrap();
        let served = served
            .join()
            .unwrap()
            .expect("its own chunk, or the first one");
        if let Some((i, _)) = refused {
            assert_ne!(i, served.0, "an index handed out twice");
        }
        let taken: Vec<(u32, usize)> = refused.into_iter().chain([served]).collect();
        assert_blocks_and_chunks(&table, &taken, 1);
        assert_eq!(
            table.made_and_discarded(),
            (1, 0),
            "only the served thread made a chunk"
        );
    });
}
