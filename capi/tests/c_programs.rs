//! The library's own C and C++ test programs (`tests/c/`), built with the system's compilers
//! against the `liballocgator.so` this `cargo test` built, and run.
mod common;

use common::{compile, library_dir, run_ok};

/// What the programs expect `malloc_usable_size(malloc(33))` to be: its size class, or the
/// request itself in the hardened build (the canary keeps the slack).
const USABLE_33: (&str, &str) = (
    "USABLE_33",
    if cfg!(feature = "hardened") {
        "33"
    } else {
        "48"
    },
);

#[test]
fn c_semantics_linked() {
    let exe = compile("semantics.c", &["-ldl", "-lpthread"]);
    let out = run_ok(&exe, &[], &[USABLE_33]);
    assert!(out.contains("all semantics checks passed"), "{out}");
}

#[test]
fn cxx_new_and_delete_linked() {
    let exe = compile("cxx_new_delete.cpp", &["-lpthread"]);
    let out = run_ok(&exe, &[], &[USABLE_33]);
    assert!(out.contains("all C++ checks passed"), "{out}");
}

#[test]
fn c_semantics_static() {
    // The static library, linked into the executable: no shared object at run time.
    let dir = library_dir();
    let archive = dir.join("liballocgator.a");
    let exe = common::compile_with(
        "semantics.c",
        "semantics-static",
        &[
            "-rdynamic", // so dlsym finds the library's symbols in the executable
            archive.to_str().unwrap(),
            "-ldl",
            "-lpthread",
            "-lm",
            "-lrt",
            "-lgcc_s",
        ],
        false,
    );
    let out = run_ok(&exe, &[], &[USABLE_33]);
    assert!(out.contains("all semantics checks passed"), "{out}");
}

/// Runs `bad_free <mode>`: it must die of SIGABRT with `allocgator: <message> at <address>`,
/// the address being the one the program printed before the free.
fn aborts_naming_the_address(mode: &str, message: &str) {
    use std::os::unix::process::ExitStatusExt;
    let exe = compile("bad_free.c", &["-ldl"]);
    let out = common::run(&exe, &[mode], &[]);
    let printed = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc_sigabrt()),
        "{mode}: expected an abort, got {}\nstdout: {printed}\nstderr: {stderr}",
        out.status
    );
    let addr = printed.lines().next().unwrap_or_default().trim();
    assert!(
        stderr.contains(&format!("allocgator: {message}")) && stderr.contains(addr),
        "{mode}: stderr does not name the problem ({message}) and the address {addr}:\n{stderr}"
    );
}

/// SIGABRT's number on Linux.
fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn a_foreign_pointer_aborts_with_its_address() {
    aborts_naming_the_address("foreign", "free of a pointer allocgator does not own");
}

#[test]
fn an_interior_pointer_into_a_huge_block_aborts_with_its_address() {
    aborts_naming_the_address("interior", "free of an interior pointer");
}

#[cfg(feature = "checked")]
#[test]
fn checked_a_glibc_block_aborts_with_its_address() {
    aborts_naming_the_address("glibc", "free of a pointer allocgator does not own");
}

#[cfg(feature = "checked")]
#[test]
fn checked_a_double_free_aborts_with_its_address() {
    aborts_naming_the_address("double", "double free");
}

/// Freed memory goes back to the OS through the C ABI too, without `malloc_trim`: 2 s after
/// a ~600 MiB burst of small blocks is freed, RSS is at most 10% of the peak, whether the
/// program keeps allocating, sleeps, or ran the burst on a thread that has exited.
#[test]
fn freed_memory_goes_back_to_the_os_without_malloc_trim() {
    let exe = compile("memory_return.c", &["-lpthread"]);
    let field = |line: &str, key: &str| -> usize {
        let at = line.find(key).unwrap_or_else(|| panic!("{key} in {line}"));
        line[at + key.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let runs: Vec<_> = ["busy", "idle", "exited"]
        .into_iter()
        .map(|mode| {
            let exe = exe.clone();
            std::thread::spawn(move || (mode, run_ok(&exe, &[mode], &[])))
        })
        .collect();
    for run in runs {
        let (mode, out) = run.join().unwrap();
        let line = out.lines().find(|l| l.starts_with("rss:")).expect(&out);
        let (peak, after_2s) = (field(line, "peak="), field(line, "after_2s="));
        eprintln!(
            "{mode}: peak {} MiB, 2 s after the frees {} MiB ({:.1}%)",
            peak >> 20,
            after_2s >> 20,
            100.0 * after_2s as f64 / peak as f64
        );
        assert!(peak > 400 << 20, "{mode}: no burst: {line}");
        assert!(
            after_2s * 10 <= peak,
            "{mode}: over 10% of the peak: {line}"
        );
    }
}
