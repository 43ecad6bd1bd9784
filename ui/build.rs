// The bundle in dist/ is embedded with include_dir!, which cannot see new files (Vite's
// hashed names change on every source change): rebuild whenever anything under dist/ does.
fn main() {
    println!("cargo:rerun-if-changed=dist");
}
