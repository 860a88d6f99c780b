//! Example server (being written).
fn main() {}
