//! Quick end-to-end run with allocgator installed as the global allocator.
#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

#[test]
fn std_collections_work() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..100_000 {
        v.push(i);
    }
    assert_eq!(v.iter().sum::<u64>(), 100_000 * 99_999 / 2);
    let s: Vec<String> = (0..10_000).map(|i| format!("item {i}")).collect();
    assert_eq!(s[1234], "item 1234");
    let mut m = std::collections::HashMap::new();
    for i in 0..50_000u32 {
        m.insert(i, i.to_string());
    }
    assert_eq!(m[&777], "777");
    let big = vec![7u8; 10 << 20];
    assert!(big.iter().all(|&b| b == 7));
    let st = allocgator::stats();
    assert!(st.live_blocks() > 60_000, "{st}");
}

#[test]
fn cross_thread_free() {
    let v: Vec<Box<[u8; 100]>> = (0..10_000).map(|i| Box::new([i as u8; 100])).collect();
    std::thread::spawn(move || {
        for (i, b) in v.iter().enumerate() {
            assert_eq!(b[99], i as u8);
        }
        drop(v);
    })
    .join()
    .unwrap();
    let w: Vec<Box<[u8; 100]>> = (0..10_000).map(|i| Box::new([i as u8; 100])).collect();
    assert_eq!(w[5000][0], 136);
}
