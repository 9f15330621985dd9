//! `playground`: the benchmark driver (see `playground --help`).

fn main() {
    playground::driver::main();
}
