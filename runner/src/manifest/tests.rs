//! Unit tests of the pure diff: every kind of change is named, an
//! unchanged manifest diffs empty, and escaping keeps names inert.

use super::*;

fn file(sha: &str, mode: u32) -> Entry {
    Entry {
        kind: Kind::File { sha256: sha.to_owned() },
        mode,
        owner: (0, 0),
        size: 3,
        ino: 7,
        mtime: (1, 0),
        ctime: (1, 0),
    }
}

fn base() -> Manifest {
    let mut m = Manifest::new();
    m.insert(b"".to_vec(), Entry { kind: Kind::Dir, mode: 0o555, ..file("", 0) });
    m.insert(b"a.txt".to_vec(), file("aa", 0o444));
    m.insert(b"bin/run".to_vec(), file("bb", 0o555));
    m
}

fn check(edit: impl FnOnce(&mut Manifest), expected: &[(&str, &[&str])]) {
    let before = base();
    let mut after = base();
    edit(&mut after);
    let got: Vec<(String, Vec<&str>)> = diff(&before, &after).into_iter().map(|c| (escape(&c.path), c.what)).collect();
    let want: Vec<(String, Vec<&str>)> = expected.iter().map(|(p, w)| ((*p).to_owned(), w.to_vec())).collect();
    assert_eq!(got, want);
}

#[test]
fn an_untouched_tree_is_clean() {
    check(|_| {}, &[]);
}

#[test]
fn every_kind_of_mutation_is_named() {
    check(|m| m.get_mut(&b"a.txt"[..]).unwrap().kind = Kind::File { sha256: "cc".into() }, &[("a.txt", &["content"])]);
    check(|m| m.get_mut(&b"a.txt"[..]).unwrap().mode = 0o644, &[("a.txt", &["mode"])]);
    check(|m| m.get_mut(&b""[..]).unwrap().mode = 0o755, &[(".", &["mode"])]);
    check(|m| m.get_mut(&b"a.txt"[..]).unwrap().owner = (65534, 65534), &[("a.txt", &["owner"])]);
    check(|m| m.get_mut(&b"a.txt"[..]).unwrap().mtime = (2, 0), &[("a.txt", &["mtime"])]);
    check(|m| m.get_mut(&b"a.txt"[..]).unwrap().ctime = (1, 5), &[("a.txt", &["ctime"])]);
    check(|m| m.get_mut(&b"a.txt"[..]).unwrap().ino = 8, &[("a.txt", &["inode"])]);
    check(
        |m| {
            m.remove(&b"a.txt"[..]);
        },
        &[("a.txt", &["removed"])],
    );
    check(
        |m| {
            m.insert(b"build/out.o".to_vec(), file("dd", 0o644));
        },
        &[("build/out.o", &["added"])],
    );
    check(
        |m| {
            let e = m.get_mut(&b"a.txt"[..]).unwrap();
            e.kind = Kind::Symlink { target: b"/etc/passwd".to_vec() };
            e.mode = 0o777;
        },
        &[("a.txt", &["type", "mode"])],
    );
}

#[test]
fn changes_come_in_path_order() {
    let before = base();
    let mut after = base();
    after.insert(b"0-new".to_vec(), file("x", 0o444));
    after.remove(&b"bin/run"[..]);
    let paths: Vec<String> = diff(&before, &after).iter().map(|c| escape(&c.path)).collect();
    assert_eq!(paths, ["0-new", "bin/run"]);
}

#[test]
fn escaping_keeps_hostile_names_inert() {
    assert_eq!(escape(b"a\nb"), "a\\x0ab");
    assert_eq!(escape(b"\x1b[31mred"), "\\x1b[31mred");
    assert_eq!(escape("é".as_bytes()), "\\xc3\\xa9");
    assert_eq!(escape(b"back\\slash"), "back\\x5cslash");
}

#[test]
fn listing_is_capped() {
    let many: Vec<Change> =
        (0..MAX_LISTED + 5).map(|i| Change { path: format!("f{i}").into_bytes(), what: vec!["added"] }).collect();
    assert_eq!(listed(&many).len(), MAX_LISTED);
}

#[test]
fn a_real_walk_sees_ignored_untracked_and_links() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", dir.path().join("d/l")).unwrap();
    let before = take(dir.path()).unwrap();
    assert_eq!(before.len(), 4);
    assert_eq!(before[&b"d/l"[..]].kind, Kind::Symlink { target: b"/nonexistent".to_vec() });
    std::fs::write(dir.path().join("d/ignored.o"), "y").unwrap();
    let after = take(dir.path()).unwrap();
    let changes = diff(&before, &after);
    assert!(changes.iter().any(|c| c.path == b"d/ignored.o" && c.what == ["added"]));
}

#[test]
fn the_after_walk_reuses_unchanged_hashes_and_never_reads_what_cannot_matter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("same"), "same\n").unwrap();
    std::fs::write(dir.path().join("edited"), "old\n").unwrap();
    std::fs::write(dir.path().join("grown"), "small\n").unwrap();
    let before = take(dir.path()).unwrap();
    assert!(diff(&before, &take_after(dir.path(), &before, false).unwrap()).is_empty(), "an untouched tree is clean");
    std::fs::write(dir.path().join("edited"), "new\n").unwrap();
    // A file grown past the re-hash cap, and a huge new one: both sparse.
    OpenOptions::new().write(true).open(dir.path().join("grown")).unwrap().set_len(8 << 30).unwrap();
    std::fs::File::create(dir.path().join("huge")).unwrap().set_len(1 << 40).unwrap();
    let after = take_after(dir.path(), &before, false).unwrap();
    assert_eq!(after[&b"same"[..]].kind, before[&b"same"[..]].kind);
    assert!(matches!(&after[&b"grown"[..]].kind, Kind::File { sha256 } if sha256.starts_with("not read")));
    let changes = diff(&before, &after);
    let what = |p: &[u8]| changes.iter().find(|c| c.path == p).map(|c| c.what.clone());
    assert!(what(b"edited").unwrap().contains(&"content"));
    assert!(what(b"grown").unwrap().contains(&"size"));
    assert_eq!(what(b"huge").unwrap(), ["added"]);
    assert_eq!(what(b"same"), None);
}

/// A root job can set the clock and a file's times, so equal facts prove
/// nothing: after a root job every file is read again. Here the facts are
/// equal and only the recorded hash differs (what a same-size rewrite under
/// a reset clock leaves): the shortcut misses it, the full re-hash does not.
#[test]
fn after_a_root_job_every_file_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "rewritten\n").unwrap();
    let mut before = take(dir.path()).unwrap();
    if let Some(Entry { kind: Kind::File { sha256 }, .. }) = before.get_mut(&b"f"[..]) {
        *sha256 = "0".repeat(64);
    }
    assert!(
        diff(&before, &take_after(dir.path(), &before, false).unwrap()).is_empty(),
        "the shortcut trusts the facts"
    );
    let changes = diff(&before, &take_after(dir.path(), &before, true).unwrap());
    assert_eq!(changes.len(), 1);
    assert!(changes[0].what.contains(&"content"), "{changes:?}");
}
