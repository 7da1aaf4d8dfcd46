//! Repository hygiene, run as ordinary tests so plain `cargo test` catches it:
//! every Rust file opens with a `//!` line saying what it is for, no file
//! grows past 600 lines without a reason written here, and code comments
//! explain themselves instead of pointing at design notes or issue numbers
//! that live outside the repository.

use std::path::{Path, PathBuf};

/// Files allowed past the limit, each with its reason. Keep this empty.
const LONG_FILES: &[(&str, &str)] = &[];

const MAX_LINES: usize = 600;

const BANNED: &[&str] = &["DESIGN.md", "issue #", "Issue #", "see issue", "per issue", "(issue "];

/// What is wrong in one tree, by rule.
#[derive(Default)]
struct Findings {
    no_module_doc: Vec<String>,
    too_long: Vec<String>,
    outside_refs: Vec<String>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Every `.rs` file under `root`, skipping build output and fuzz corpora.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut res = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && !matches!(name.as_str(), "target" | "corpus" | "artifacts") {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                res.push(path);
            }
        }
    }
    res.sort();
    res
}

fn tidy(root: &Path) -> Findings {
    let mut f = Findings::default();
    for p in rust_files(root) {
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        if !text.starts_with("//!") {
            f.no_module_doc.push(rel.clone());
        }
        let n = text.lines().count();
        if n > MAX_LINES && !LONG_FILES.iter().any(|(file, _)| *file == rel) {
            f.too_long.push(format!("{rel}: {n} lines"));
        }
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            let is_comment = t.starts_with("//") || t.starts_with("/*") || t.starts_with('*');
            if is_comment && BANNED.iter().any(|b| t.contains(b)) {
                f.outside_refs.push(format!("{rel}:{}: {t}", i + 1));
            }
        }
    }
    f
}

#[test]
fn the_repository_is_tidy() {
    let root = repo_root();
    assert!(rust_files(&root).len() > 50, "the walk found too few files under {}", root.display());
    let f = tidy(&root);
    assert!(f.no_module_doc.is_empty(), "files without a `//!` opening line: {:#?}", f.no_module_doc);
    assert!(f.too_long.is_empty(), "split these (or add them to LONG_FILES with a reason): {:#?}", f.too_long);
    assert!(f.outside_refs.is_empty(), "the repository must explain itself: {:#?}", f.outside_refs);
}

#[test]
fn each_rule_catches_its_case() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("src")).unwrap();
    std::fs::write(tmp.path().join("src/good.rs"), "//! Fine.\n// why, in our own words\n").unwrap();
    std::fs::write(tmp.path().join("src/undoc.rs"), "fn main() {}\n").unwrap();
    std::fs::write(tmp.path().join("src/long.rs"), format!("//! Long.\n{}", "x\n".repeat(MAX_LINES))).unwrap();
    std::fs::write(tmp.path().join("src/refs.rs"), "//! Refs.\n/// As DESIGN.md §3 says.\n").unwrap();
    std::fs::create_dir(tmp.path().join("target")).unwrap();
    std::fs::write(tmp.path().join("target/ignored.rs"), "no doc\n").unwrap();
    let f = tidy(tmp.path());
    assert_eq!(f.no_module_doc, ["src/undoc.rs"]);
    assert_eq!(f.too_long, [format!("src/long.rs: {} lines", MAX_LINES + 1)]);
    assert_eq!(f.outside_refs, ["src/refs.rs:2: /// As DESIGN.md §3 says."]);
}
