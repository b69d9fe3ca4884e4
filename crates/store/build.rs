//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files it finds, and
//! cargo then tracks those files only, so a new file would not reach the binary until some
//! source of this crate changed.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
