//! The library's own C and C++ test programs (`tests/c/`), built with the system's compilers
//! against the `liballocgator.so` this `cargo test` built, and run.
mod common;

use common::{compile, library_dir, run_ok};

#[test]
fn c_semantics_linked() {
    let exe = compile("semantics.c", &["-ldl", "-lpthread"]);
    let out = run_ok(&exe, &[], &[]);
    assert!(out.contains("all semantics checks passed"), "{out}");
}

#[test]
fn cxx_new_and_delete_linked() {
    let exe = compile("cxx_new_delete.cpp", &["-lpthread"]);
    let out = run_ok(&exe, &[], &[]);
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
    let out = run_ok(&exe, &[], &[]);
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
