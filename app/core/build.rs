// `sqlx::migrate!` embeds the migrations when this crate compiles; without this line an
// incremental build would not see a migration added since, and would run without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
