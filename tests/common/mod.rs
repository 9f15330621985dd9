//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let resident: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm resident field");
    // SAFETY: sysconf is always safe to call.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    resident * page
}

/// Runs `child` (this test binary, started to run one test as a child process), checks that
/// it succeeded, finds the line it printed that starts with `tag` (the test harness may print
/// its own words before it on the same line) and returns the number after each `key` in it.
pub fn child_fields(mut child: std::process::Command, tag: &str, keys: &[&str]) -> Vec<usize> {
    let out = child.output().expect("start the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .find(tag)
        .map(|at| stdout[at..].lines().next().unwrap())
        .unwrap_or_else(|| panic!("no `{tag}` line in\n{stdout}"));
    keys.iter()
        .map(|key| {
            let at = line.find(key).unwrap_or_else(|| panic!("{key} in {line}"));
            line[at + key.len()..]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("a number after {key} in {line}"))
        })
        .collect()
}

/// Sizes around every size-class boundary and power of two, plus large and huge boundaries.
pub fn boundary_sizes(max: usize) -> Vec<usize> {
    let mut sizes = vec![1usize, 2, 3, 7, 8, 9];
    // Size classes: multiples of 8 up to 128, then 4 steps per doubling.
    let mut class_sizes = vec![];
    for s in (8..=128).step_by(8) {
        class_sizes.push(s);
    }
    let mut b = 128usize;
    while b < 64 * 1024 {
        for k in 1..=4 {
            class_sizes.push(b + k * (b / 4));
        }
        b *= 2;
    }
    for &c in &class_sizes {
        sizes.extend([c - 1, c, c + 1]);
    }
    let mut p = 64usize;
    while p <= max {
        sizes.extend([p - 32, p - 1, p, p + 1, p + 32]);
        p *= 2;
    }
    for &m in &[2 << 20, 4 << 20] {
        sizes.extend([m - 1, m, m + 1]);
    }
    sizes.retain(|&s| s >= 1 && s <= max);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// A byte pattern that depends on the block and the offset.
pub fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) % 251) as u8
}

/// Offsets worth checking in a block of `size` bytes: all of a small block, the ends and every
/// 4 KiB page of a big one; in increasing order, generated without visiting the others.
///
/// Under Miri (where one loop iteration costs tens of microseconds here) only blocks up to
/// 64 bytes are dense; bigger ones get their first and last 16 bytes and every 64 KiB.
pub fn probe_offsets(size: usize) -> impl Iterator<Item = usize> {
    let (dense, edge, step) = if cfg!(miri) {
        (64, 16, 64 * 1024)
    } else {
        (8192, 64, 4096)
    };
    let (head, tail) = if size <= dense {
        (size, size)
    } else {
        (edge, size - edge)
    };
    let middle = (step..tail).step_by(step).filter(move |&i| i >= head);
    (0..head).chain(middle).chain(tail..size)
}

/// Writes the pattern for `seed` at the probe offsets of a block.
pub fn fill(p: *mut u8, size: usize, seed: usize) {
    for i in probe_offsets(size) {
        // SAFETY: the caller passes a live block of at least `size` bytes; `i < size`.
        unsafe { p.add(i).write(pattern(seed, i)) };
    }
}

/// Checks what `fill(p, size, seed)` wrote.
pub fn check(p: *const u8, size: usize, seed: usize) {
    check_prefix(p, size, size, seed);
}

/// Checks the bytes `fill(p, filled, seed)` wrote below `len`.
pub fn check_prefix(p: *const u8, filled: usize, len: usize, seed: usize) {
    for i in probe_offsets(filled).take_while(|&i| i < len) {
        // SAFETY: the caller passes a live block of at least `len` bytes; `i < len`.
        let b = unsafe { p.add(i).read() };
        assert_eq!(b, pattern(seed, i), "block {p:p} offset {i} (of {len})");
    }
}

/// Runs this test binary's `child_runner` test in a child process with `var=case`, and checks
/// that the child died of SIGABRT with an `allocgator: ` report that names `problem` and ends
/// with the address the child announced on a stderr line starting with `marker`.
pub fn expect_abort(var: &str, case: &str, marker: &str, problem: &str) {
    use std::os::unix::process::ExitStatusExt;
    let out = run_child(var, case);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{case}: expected SIGABRT, got {:?}\n{stderr}",
        out.status
    );
    let address = stderr
        .lines()
        .find_map(|l| l.strip_prefix(marker))
        .unwrap_or_else(|| panic!("{case}: the child did not reach the bad call\n{stderr}"));
    let report = stderr
        .lines()
        .find(|l| l.starts_with("allocgator: "))
        .unwrap_or_else(|| panic!("{case}: no report on stderr\n{stderr}"));
    assert!(
        report.contains(problem),
        "{case}: report does not name `{problem}`: {report}"
    );
    assert!(
        report.ends_with(&format!(" at {address}")),
        "{case}: report does not name the address {address}: {report}"
    );
}

/// Runs this test binary's `child_runner` test in a child process with `var=case`, and checks
/// that the child reached its bad access (it printed a stderr line equal to `marker`) and then
/// died of SIGSEGV (a guard page).
pub fn expect_fault(var: &str, case: &str, marker: &str) {
    use std::os::unix::process::ExitStatusExt;
    let out = run_child(var, case);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().any(|l| l == marker),
        "{case}: the child did not reach the bad access\n{stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "{case}: expected SIGSEGV, got {:?}\n{stderr}",
        out.status
    );
}

/// Runs this test binary's `child_runner` test in a child process with `var=case`.
fn run_child(var: &str, case: &str) -> std::process::Output {
    run_child_with(var, case, &[])
}

/// As [`run_child`], with `env` added to the child's environment.
pub fn run_child_with(var: &str, case: &str, env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_runner", "--exact", "--nocapture", "--test-threads=1"])
        .env(var, case)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}
