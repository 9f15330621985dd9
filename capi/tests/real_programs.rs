//! Programs no one here wrote, run under `LD_PRELOAD=liballocgator.so` and compared with the
//! same run on the system's allocator: the same exit status and the same output. A run with
//! `ALLOCGATOR_VERBOSE=1` shows the engine served the program (its statistics at exit).
//!
//! The programs come from the system (`.ci/run` installs them): `sqlite3`, `git`, `cargo` (a
//! Rust binary on `System`, which calls `malloc`), and a `python3` whose standard-library test
//! suite is installed. A missing program fails the test with its name.
mod common;

use common::{library, tail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A program from `PATH` (or an absolute path), or a failure naming what to install.
fn program(name: &str, package: &str) -> PathBuf {
    let found = if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    };
    found.unwrap_or_else(|| panic!("`{name}` is not installed (Debian package {package})"))
}

/// Runs `cmd` once on the system allocator and once under allocgator (with
/// `ALLOCGATOR_VERBOSE=1` when `verbose`); returns both outputs after checking that the exit
/// statuses are the same.
fn both(mut make: impl FnMut() -> Command, verbose: bool) -> (Output, Output) {
    let system = make()
        .env_remove("LD_PRELOAD")
        .output()
        .expect("run on glibc");
    let mut cmd = make();
    cmd.env("LD_PRELOAD", library());
    if verbose {
        cmd.env("ALLOCGATOR_VERBOSE", "1");
    }
    let ours = cmd.output().expect("run under allocgator");
    assert_eq!(
        system.status.code(),
        ours.status.code(),
        "exit status differs (glibc, allocgator)\nallocgator's stderr:\n{}",
        tail(&ours.stderr)
    );
    (system, ours)
}

/// Checks that both runs printed the same on stdout, naming the first line that differs.
fn same_output(system: &Output, ours: &Output) {
    let (a, b) = (
        String::from_utf8_lossy(&system.stdout),
        String::from_utf8_lossy(&ours.stdout),
    );
    if a != b {
        let (line, (x, y)) = a
            .lines()
            .chain(std::iter::repeat("<end>"))
            .zip(b.lines().chain(std::iter::repeat("<end>")))
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .expect("outputs differ, so some line does");
        panic!(
            "stdout differs at line {}:\n  glibc:      {x}\n  allocgator: {y}",
            line + 1
        );
    }
}

/// Checks that allocgator's statistics were printed at exit, with some live blocks counted.
fn served(ours: &Output) {
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains("allocgator: statistics at exit") && err.contains("live blocks"),
        "no allocgator statistics on stderr: the library did not serve the program\n{}",
        tail(&ours.stderr)
    );
}

/// A scratch directory of the test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("allocgator-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sqlite3_inserts_indexes_queries_and_deletes_100k_rows() {
    let sqlite = program("sqlite3", "sqlite3");
    let script = "\
        CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, n INTEGER, blob BLOB);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
          INSERT INTO t SELECT x, printf('name-%08d', (x * 7919) % 100003), x % 977,
                               zeroblob(x % 300) FROM c;
        CREATE INDEX t_name ON t(name);
        CREATE INDEX t_n ON t(n, name);
        SELECT count(*), sum(n), min(name), max(name), sum(length(blob)) FROM t;
        SELECT n, count(*), group_concat(id % 10, '') FROM t WHERE n < 5 GROUP BY n;
        SELECT name FROM t WHERE name > 'name-00050000' ORDER BY name LIMIT 5;
        DELETE FROM t WHERE id % 3 = 0;
        UPDATE t SET name = upper(name) || name WHERE id % 5 = 0;
        SELECT count(*), sum(length(name)) FROM t;
        VACUUM;
        PRAGMA integrity_check;
    ";
    let dir = scratch("sqlite");
    let mut round = 0;
    let (system, ours) = both(
        || {
            round += 1;
            let mut c = Command::new(&sqlite);
            c.arg(dir.join(format!("db{round}.sqlite"))).arg(script);
            c
        },
        true,
    );
    assert!(ours.status.success(), "{}", tail(&ours.stderr));
    same_output(&system, &ours);
    assert!(String::from_utf8_lossy(&ours.stdout).contains("100000|"));
    served(&ours);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn git_builds_and_checks_a_repository() {
    let git = program("git", "git");
    // The whole script runs under the preload: the shell and every git command it starts.
    let script = r#"
        set -e
        rm -rf repo && git init -q -b main repo && cd repo
        for c in 1 2 3 4 5 6; do
          for f in $(seq 1 80); do
            printf 'file %s commit %s\n' "$f" "$c" > "f$f.txt"
            seq 1 $((f * c * 3)) >> "f$f.txt"
          done
          mkdir -p "dir$c" && seq 1 2000 > "dir$c/numbers"
          git add -A && git commit -q -m "commit $c"
        done
        git log --stat --format='%H %s' | head -n 400
        git diff HEAD~3 HEAD | wc -l
        git gc -q --aggressive
        git fsck --full --strict
        git count-objects -v | grep -v size
        git grep -c 'commit 4' | head -n 20
    "#;
    let dir = scratch("git");
    let (system, ours) = both(
        || {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(script)
                .current_dir(&dir)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "allocgator")
                .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
                .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
                .env("GIT_COMMITTER_NAME", "allocgator")
                .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
                .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
                .env("PATH", path_with(&git));
            c
        },
        true,
    );
    assert!(ours.status.success(), "{}", tail(&ours.stderr));
    same_output(&system, &ours);
    served(&ours);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `PATH` with `program`'s directory first.
fn path_with(program: &Path) -> std::ffi::OsString {
    let mut dirs = vec![program.parent().unwrap().to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn cargo_a_rust_binary_on_system_reads_this_workspace() {
    // cargo uses Rust's default allocator, `System`, which calls `malloc`.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let (system, ours) = both(
        || {
            let mut c = Command::new(&cargo);
            c.args(["tree", "--offline", "--workspace", "--all-features"])
                .current_dir(workspace);
            c
        },
        true,
    );
    assert!(ours.status.success(), "{}", tail(&ours.stderr));
    same_output(&system, &ours);
    assert!(String::from_utf8_lossy(&ours.stdout).contains("allocgator-capi v"));
    served(&ours);
}

/// A `python3` with its standard-library test suite (`test.test_json` importable).
fn python_with_test_suite() -> PathBuf {
    let mut candidates = vec![];
    if let Ok(p) = std::env::var("ALLOCGATOR_TEST_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("python3")));
    }
    candidates.push("/usr/bin/python3".into());
    for python in candidates.into_iter().filter(|p| p.is_file()) {
        // The interpreter itself (pyenv's `python3` is a shell script that starts it).
        let real = Command::new(&python)
            .args(["-c", "import sys, test.test_json; print(sys.executable)"])
            .output();
        if let Ok(out) = real {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!("no python3 with its test suite (Debian: libpython3-testsuite)");
}

#[test]
fn python_runs_a_json_workload_on_allocgator() {
    let python = python_with_test_suite();
    let code = "\
import json, collections, re
data = [{'id': i, 'name': 'item%d' % i, 'tags': ['t%d' % (i % 17)] * (i % 5)} for i in range(200000)]
text = json.dumps(data)
back = json.loads(text)
words = collections.Counter(re.findall(r'item[0-9]+', text))
print(len(text), len(back), len(words), sum(d['id'] for d in back))
";
    let (system, ours) = both(
        || {
            let mut c = Command::new(&python);
            c.args(["-c", code]).env("PYTHONMALLOC", "malloc");
            c
        },
        true,
    );
    assert!(ours.status.success(), "{}", tail(&ours.stderr));
    same_output(&system, &ours);
    served(&ours);
}

/// The modules of CPython's own test suite run under allocgator (about 12,700 tests; a
/// minute or two): threads, subprocesses, asyncio, pickling, compression, sqlite, the lot.
/// `PYTHONMALLOC=malloc` sends every Python object through `malloc`, not pymalloc's arenas.
const PYTHON_TEST_MODULES: &[&str] = &[
    "test_json",
    "test_re",
    "test_pickle",
    "test_threading",
    "test_subprocess",
    "test_asyncio",
    "test_collections",
    "test_dict",
    "test_list",
    "test_set",
    "test_bytes",
    "test_unicode",
    "test_struct",
    "test_decimal",
    "test_fractions",
    "test_statistics",
    "test_sqlite3",
    "test_zlib",
    "test_lzma",
    "test_bz2",
    "test_hashlib",
    "test_random",
    "test_itertools",
    "test_functools",
    "test_email",
    "test_csv",
    "test_datetime",
    "test_heapq",
    "test_array",
    "test_memoryview",
    "test_gc",
    "test_weakref",
    "test_tempfile",
    "test_queue",
    "test_tarfile",
    "test_zipfile",
];

/// The test files regrtest reported as passed (`[ n/64] test_x passed`).
fn passed_files(out: &Output) -> std::collections::BTreeSet<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("] ")? + 2..];
            let name = rest
                .strip_suffix(" passed")
                .or_else(|| rest.split_once(" passed -- running").map(|(name, _)| name))?;
            Some(name.trim().to_string())
        })
        .collect()
}

#[test]
#[ignore = "minutes: scripts/test.sh runs it on the release library"]
fn python_standard_library_test_suite() {
    let python = python_with_test_suite();
    // Runs regrtest on `files` with `workers` processes, under allocgator or on glibc, and
    // returns its output and the files it reported as passed.
    let regrtest = |files: &[&str], workers: &str, preload: bool| {
        let mut c = Command::new(&python);
        // `--timeout`: a test file that hangs fails (and is reported) instead of stalling
        // the run.
        c.args(["-m", "test", "-j", workers, "--timeout", "300"])
            .args(files)
            // Fail on this machine's Python with any allocator, glibc's included: its
            // start-up imports `threading`, which the first test asserts is not imported
            // yet; `test_asyncio.test_runners` now and then loops, growing to 12 GB, until
            // the timeout kills it (seen under glibc and under allocgator alike).
            .args(["-i", "test_import_from_another_thread"])
            .args(["-i", "test_runners"])
            .env("PYTHONMALLOC", "malloc");
        if preload {
            c.env("LD_PRELOAD", library());
        } else {
            c.env_remove("LD_PRELOAD");
        }
        let out = c.output().expect("run python's regrtest");
        let passed = passed_files(&out);
        (out, passed)
    };
    // Four workers on two cores: the slowest files (subprocess, threading, asyncio's tasks)
    // mostly wait, so this takes about 60% of the time two workers take.
    let (ours, under_allocgator) = regrtest(PYTHON_TEST_MODULES, "4", true);
    assert!(
        under_allocgator.len() >= 50,
        "only {} test files passed under allocgator: {}",
        under_allocgator.len(),
        tail(&ours.stdout)
    );
    // Every test file that passes on glibc passes under allocgator (a file that fails on this
    // machine whatever the allocator is not the allocator's). A file that did not pass runs
    // again under allocgator with less beside it (a timing-sensitive test can fail under
    // load), and a file that fails twice runs on glibc: only the files that did not pass
    // run again, so the whole list runs once.
    let listed = Command::new(&python)
        .args(["-m", "test", "--list-tests"])
        .args(PYTHON_TEST_MODULES)
        .output()
        .expect("list the test files");
    let files: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::trim)
        .filter(|f| f.starts_with("test_"))
        .map(String::from)
        .collect();
    assert!(
        under_allocgator.iter().all(|f| files.contains(f)),
        "regrtest's list of test files does not hold every file that ran: {files:?}"
    );
    let not_passed: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| !under_allocgator.contains(*f))
        .collect();
    if not_passed.is_empty() {
        return;
    }
    let (again, passed_again) = regrtest(&not_passed, "2", true);
    let failed_twice: Vec<&str> = not_passed
        .into_iter()
        .filter(|f| !passed_again.contains(*f))
        .collect();
    if failed_twice.is_empty() {
        return;
    }
    let (_, lost) = regrtest(&failed_twice, "2", false);
    assert!(
        lost.is_empty(),
        "test files that pass on glibc but failed twice under allocgator: {lost:?}\n{}",
        tail(&again.stdout)
    );
}
