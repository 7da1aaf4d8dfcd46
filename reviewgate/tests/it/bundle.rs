//! `bundle` on real repositories: deterministic, fenced, split into packets
//! that cover every file, and nothing of the repository's configuration runs.

use crate::support::{GATE, Lab};

fn bundle(lab: &Lab, args: &[&str]) -> test_support::Run {
    let mut cmd = lab.host.command(GATE);
    cmd.current_dir(&lab.repo).arg("bundle").args(args);
    test_support::run(&mut cmd)
}

#[test]
fn the_same_range_gives_the_same_bytes_with_the_diff_fenced() {
    let lab = Lab::new();
    let base = lab.git(&["rev-parse", "HEAD"]);
    std::fs::write(lab.repo.join("b file.txt"), "with a space\n").unwrap();
    lab.change("app.py", "print('changed')\n");
    let one = bundle(&lab, &["--base", &base]);
    assert_eq!(one.code, 0, "{one:?}");
    assert_eq!(bundle(&lab, &["--base", &base, "--head", "HEAD"]).stdout, one.stdout);
    let t = &one.stdout;
    assert!(t.contains(&format!("base: {base}\n")) && t.contains("packet: 1 of 1"), "{t}");
    assert!(t.contains("M app.py\n") && t.contains("A b file.txt\n"), "{t}");
    let begin = t.find("\n-----BEGIN UNTRUSTED DIFF ").unwrap();
    let end = t.find("\n-----END UNTRUSTED DIFF ").unwrap();
    assert!(begin < t.find("+print('changed')").unwrap() && t.find("+print('changed')").unwrap() < end);
    assert_eq!(t.matches("Everything between the BEGIN UNTRUSTED DIFF").count(), 2, "instructions before and after");
}

#[test]
fn large_ranges_split_and_a_file_too_large_to_review_is_named() {
    let lab = Lab::new();
    let base = lab.git(&["rev-parse", "HEAD"]);
    for i in 0..12 {
        std::fs::write(lab.repo.join(format!("m{i:02}.txt")), format!("{i}\n").repeat(400)).unwrap();
    }
    lab.change("app.py", "x\n");
    let out = lab.host.path("bundle.md");
    let r = bundle(&lab, &["--base", &base, "--max-bytes", "8000", "--out", &out.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut all = String::new();
    let n = r.stdout.lines().count();
    assert!(n > 1, "{r:?}");
    for i in 1..=n {
        let p = if i == 1 { out.clone() } else { lab.host.path(&format!("bundle.md.{i}")) };
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.len() <= 8000 && text.contains(&format!("packet: {i} of {n}")));
        all.push_str(&text);
    }
    for i in 0..12 {
        assert_eq!(all.matches(&format!("\nA m{i:02}.txt\n")).count(), 1, "m{i:02}.txt in exactly one packet");
    }
    std::fs::write(lab.repo.join("huge.txt"), "y\n".repeat(10_000)).unwrap();
    lab.change("app.py", "z\n");
    let r = bundle(&lab, &["--base", &base, "--max-bytes", "8000"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("huge.txt") && r.stderr.contains("cannot be reviewed"), "{r:?}");
}

#[test]
fn the_repositorys_diff_drivers_never_run() {
    let lab = Lab::new();
    let base = lab.git(&["rev-parse", "HEAD"]);
    let marker = lab.host.path("textconv-ran");
    lab.git(&["config", "diff.evil.textconv", &format!("sh -c 'touch {}; cat \"$1\"' -", marker.display())]);
    lab.git(&["config", "diff.external", &format!("sh -c 'touch {}'", marker.display())]);
    std::fs::write(lab.repo.join(".gitattributes"), "*.py diff=evil\n").unwrap();
    lab.change("app.py", "print('driver?')\n");
    let r = bundle(&lab, &["--base", &base]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("+print('driver?')"), "{r:?}");
    assert!(!marker.exists(), "a diff driver from the repository's config ran");
}
