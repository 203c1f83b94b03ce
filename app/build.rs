//! The release WASM bundle is linked without dropping unused sections (`--no-gc-sections`),
//! for `cargo leptos build --release --split`: the splitter lays each page group's data out
//! again inside the linker's data segment, with padding per group, and when that no longer
//! fits in the segment it puts all the data in the shell (a warning "Overlong segment"; with
//! four page groups, 53 KB more gzip in the shell). The unused data left in the segment gives
//! the layout room; the splitter keeps only what the shell and the chunks use, so none of it
//! ships (server/BENCHMARKS.md, "The users page in a group of its own").
//!
//! Release only: a debug build keeps unoptimised dead code whose relocations the splitter
//! rejects ("Invalid relocation entry … not overlapping any data symbols"), and its data in
//! the shell costs nothing but bytes. Should a release build ever fail that way, this flag is
//! the first thing to take out.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if wasm && release {
        println!("cargo:rustc-link-arg-cdylib=--no-gc-sections");
    }
}
