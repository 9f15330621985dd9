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
