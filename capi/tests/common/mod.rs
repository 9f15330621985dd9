//! Shared by the library's tests: where the built library is, building a C/C++ test program
//! against it, running a program and checking its exit status.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding `liballocgator.so` and `liballocgator.a`, built first if need be.
///
/// Cargo does not build a package's cdylib and staticlib for its integration tests (they
/// cannot link them), so the first caller runs `cargo build -p allocgator-capi` with this test
/// binary's profile; it finds the sources already compiled and only links.
pub fn library_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_library).clone()
}

fn build_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>: the profile directory is two levels up.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("profile directory");
    let target_dir = profile_dir.parent().expect("target directory");
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-p", "allocgator-capi", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    if cfg!(feature = "checked") {
        cmd.args(["--features", "checked"]);
    }
    if cfg!(feature = "hardened") {
        cmd.args(["--features", "hardened"]);
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p allocgator-capi failed");
    for name in ["liballocgator.so", "liballocgator.a"] {
        assert!(
            profile_dir.join(name).exists(),
            "{name} not in {} after the build",
            profile_dir.display()
        );
    }
    profile_dir.to_path_buf()
}

/// The library to put in `LD_PRELOAD`.
pub fn library() -> PathBuf {
    library_dir().join("liballocgator.so")
}

/// Where test programs are built.
pub fn build_dir() -> PathBuf {
    let dir = library_dir().join("capi-test-programs");
    std::fs::create_dir_all(&dir).expect("create the test programs' directory");
    dir
}

/// Builds `tests/c/<source>` linked with `-lallocgator` (found through an rpath).
pub fn compile(source: &str, libs: &[&str]) -> PathBuf {
    let stem = Path::new(source).file_stem().unwrap().to_str().unwrap();
    compile_with(source, stem, libs, true)
}

/// Builds `tests/c/<source>` into `<name>`, with `-lallocgator` if `shared`, then `libs`;
/// once per test binary (tests running side by side share the build).
pub fn compile_with(source: &str, name: &str, libs: &[&str], shared: bool) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(exe) = built.get(name) {
        return exe.clone();
    }
    let exe = build_program(source, name, libs, shared);
    built.insert(name.to_string(), exe.clone());
    exe
}

fn build_program(source: &str, name: &str, libs: &[&str], shared: bool) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = manifest.join("tests/c").join(source);
    let out = build_dir().join(name);
    let cxx = source.ends_with(".cpp");
    let compiler = if cxx {
        std::env::var("CXX").unwrap_or_else(|_| "c++".into())
    } else {
        std::env::var("CC").unwrap_or_else(|_| "cc".into())
    };
    let dir = library_dir();
    let mut cmd = Command::new(&compiler);
    cmd.arg("-O2")
        .arg("-g")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-Wno-use-after-free") // the tests read a block a failed realloc kept
        .arg("-I")
        .arg(manifest.join("include"))
        .arg("-o")
        .arg(&out)
        .arg(&src);
    if cxx {
        cmd.arg("-std=c++17");
    }
    if shared {
        cmd.arg(format!("-L{}", dir.display()))
            .arg("-lallocgator")
            .arg(format!("-Wl,-rpath,{}", dir.display()));
    }
    cmd.args(libs);
    let result = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        result.status.success(),
        "{compiler} failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// Runs `program args` with `env` added; its stdout. Panics with both outputs unless it exits 0.
pub fn run_ok(program: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(program, args, env);
    assert!(
        out.status.success(),
        "{} {args:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
        program.display(),
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `program args` with `env` added.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// The last 4000 bytes of an output, as text.
pub fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(4000);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
