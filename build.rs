//! Build script: passes a loom mutation check's mutation (`scripts/loom.sh`; a test-only
//! `cfg(allocgator_mutation = "...")` that weakens one ordering or skips one step) to this
//! crate alone, from the `ALLOCGATOR_MUTATION` environment variable. Through `RUSTFLAGS` it
//! would reach every dependency too, and each mutation build would recompile them all.
//! Without the variable, which is all builds but those checks, it sets only `cfg(segment_map)`
//! for the `checked` and `hardened` features (below).

fn main() {
    // `cfg(segment_map)`: the map of our segments (`engine::segment_map`), which both the
    // `checked` and the `hardened` builds look frees up in.
    if std::env::var_os("CARGO_FEATURE_CHECKED").is_some()
        || std::env::var_os("CARGO_FEATURE_HARDENED").is_some()
    {
        println!("cargo:rustc-cfg=segment_map");
    }
    println!("cargo:rerun-if-env-changed=ALLOCGATOR_MUTATION");
    if let Ok(mutation) = std::env::var("ALLOCGATOR_MUTATION") {
        if !mutation.is_empty() {
            println!("cargo:rustc-cfg=allocgator_mutation=\"{mutation}\"");
        }
    }
}
