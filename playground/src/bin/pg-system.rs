//! Worker with glibc malloc (`std::alloc::System`) as the global allocator.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    playground::worker::main("glibc");
}
