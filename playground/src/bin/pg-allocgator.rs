//! Worker with allocgator as the global allocator.
//!
//! Built only with the `allocgator` feature (on by default).

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

fn main() {
    playground::worker::main("allocgator", Some(allocgator::trim));
}
