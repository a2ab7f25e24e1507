//! Compiles the browser page (`deploy/gateway/www`) into the crate, so the `stack` binary and
//! the tests serve it from anywhere: one `include_bytes!` per file, listed from the directory,
//! so a new page file needs no change here.

use std::{env, fmt::Write as _, fs, path::Path};

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let www = Path::new(&manifest).join("../deploy/gateway/www");
    println!("cargo:rerun-if-changed={}", www.display());
    let mut files = Vec::new();
    collect(&www, &www, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for relative in &files {
        let absolute = www.join(relative);
        println!("cargo:rerun-if-changed={}", absolute.display());
        writeln!(out, "    ({relative:?}, include_bytes!({:?})),", absolute.display().to_string())
            .expect("writing to a String cannot fail");
    }
    out.push(']');
    let target = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("page_files.rs");
    fs::write(target, out).expect("cannot write page_files.rs");
}

/// Every file under `dir`, as paths relative to `root` with `/` separators. The page's own
/// README documents the directory and is not served.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            // nginx serves `/assets/<name>` and nothing deeper; the built-in gateway must not
            // serve more than nginx does.
            assert!(
                dir == root && path.file_name().is_some_and(|name| name == "assets"),
                "{}: the page has index.html and assets/<file> only",
                path.display()
            );
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative.to_string_lossy().replace('\\', "/");
            if relative != "README.md" {
                files.push(relative);
            }
        }
    }
}
