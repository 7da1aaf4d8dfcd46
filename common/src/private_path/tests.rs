//! The private-path rule: the pure decision table, then the IO wrappers on
//! real files, FIFOs, links and foreign-owned directories.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

const ME: u32 = 1000;

fn facts(kind: Kind, uid: u32, mode: u32) -> Facts {
    Facts { kind, uid, mode }
}

#[test]
fn judge_table() {
    use Class::{Private, Secret};
    use Kind::{Dir, File};
    let ok = |f, want, class| judge(f, want, class, ME, None).is_ok();
    // Secret directories: 0700 only. The 0750 case is the one three copies disagreed on.
    assert!(ok(facts(Dir, 0, 0o700), Dir, Secret));
    assert!(ok(facts(Dir, ME, 0o500), Dir, Secret));
    assert!(!ok(facts(Dir, 0, 0o750), Dir, Secret));
    assert!(!ok(facts(Dir, 0, 0o701), Dir, Secret));
    // Private directories: not writable by group or others.
    assert!(ok(facts(Dir, 0, 0o755), Dir, Private));
    assert!(!ok(facts(Dir, 0, 0o775), Dir, Private));
    assert!(!ok(facts(Dir, 0, 0o1777), Dir, Private), "sticky does not make a target private");
    // Secret files: 0600 or stricter; 0440 only when the caller allows it.
    assert!(ok(facts(File, 0, 0o600), File, Secret));
    assert!(ok(facts(File, 0, 0o400), File, Secret));
    assert!(!ok(facts(File, 0, 0o640), File, Secret));
    assert!(!ok(facts(File, 0, 0o604), File, Secret));
    assert!(judge(facts(File, 0, 0o440), File, Secret, ME, Some(0o440)).is_ok());
    // Private files: readable by others is fine, writable is not.
    assert!(ok(facts(File, 0, 0o644), File, Private));
    assert!(!ok(facts(File, 0, 0o664), File, Private));
    assert!(!ok(facts(File, 0, 0o646), File, Private));
    // Owners: root or the caller, nobody else.
    assert_eq!(
        judge(facts(File, 4242, 0o600), File, Secret, ME, None),
        Err(Problem::ForeignOwner { uid: 4242, euid: ME })
    );
    // Kinds: a link, a FIFO, a socket, a device or the wrong one of file/dir is refused.
    for k in [Kind::Symlink, Kind::Fifo, Kind::Socket, Kind::Device, Dir] {
        assert!(!ok(facts(k, 0, 0o600), File, Private), "{k:?}");
    }
    assert!(!ok(facts(File, 0, 0o700), Dir, Private));
}

#[test]
fn ancestors_may_be_sticky_but_not_open() {
    assert!(judge_ancestor(facts(Kind::Dir, 0, 0o755), ME).is_ok());
    assert!(judge_ancestor(facts(Kind::Dir, 0, 0o1777), ME).is_ok(), "/tmp");
    assert!(judge_ancestor(facts(Kind::Dir, 0, 0o777), ME).is_err());
    assert!(judge_ancestor(facts(Kind::Dir, 0, 0o775), ME).is_ok(), "Ubuntu's /var/log is root:syslog 0775");
    assert!(judge_ancestor(facts(Kind::Dir, 4242, 0o755), ME).is_err());
}

#[test]
fn messages_name_the_path_the_problem_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    let err = check_dir(&dir, Class::Secret).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(msg.contains("mode 0750"), "{msg}");
    assert!(msg.ends_with(&format!("fix: chmod 700 {}", dir.display())), "{msg}");
    assert!(check_dir(&dir, Class::Private).unwrap());
}

#[test]
fn a_fifo_is_refused_at_once_for_reading_and_appending() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("config.toml");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    // Without O_NONBLOCK either open would hang forever with no writer/reader.
    let err = open_file(&fifo, OpenSpec::read(Class::Private)).unwrap_err();
    assert!(err.to_string().contains("named pipe"), "{err}");
    let append = OpenSpec { class: Class::Private, max_file_mode: None, append: true };
    let err = open_file(&fifo, append).unwrap_err();
    assert!(err.to_string().contains("named pipe"), "{err}");
}

#[test]
fn links_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("real");
    fs::write(&target, "x").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let link = tmp.path().join("link");
    symlink(&target, &link).unwrap();
    let err = open_file(&link, OpenSpec::read(Class::Secret)).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let dlink = tmp.path().join("dlink");
    symlink(tmp.path(), &dlink).unwrap();
    assert!(check_dir(&dlink, Class::Private).unwrap_err().to_string().contains("symbolic link"));
    assert!(ensure_dir(&dlink, Class::Private).is_err(), "an existing link is not adopted");
}

#[test]
fn missing_paths_are_reported_as_absent_not_as_safe() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(open_file(&tmp.path().join("nope"), OpenSpec::read(Class::Secret)).unwrap().is_none());
    assert!(!check_dir(&tmp.path().join("nope"), Class::Secret).unwrap());
    ensure_dir(&tmp.path().join("a/b"), Class::Secret).unwrap();
    let mode = fs::metadata(tmp.path().join("a/b")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn append_keeps_appending_after_the_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("log");
    fs::write(&path, "one\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let spec = OpenSpec { class: Class::Private, max_file_mode: None, append: true };
    let mut f = open_file(&path, spec).unwrap().unwrap();
    io::Write::write_all(&mut f, b"two\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "one\ntwo\n");
}

#[test]
fn foreign_owned_and_world_writable_parents_are_refused() {
    if !rustix::process::geteuid().is_root() {
        #[expect(clippy::print_stderr, reason = "a skipped test must say why")]
        {
            eprintln!("SKIPPED: chown needs root");
        }
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    rustix::fs::chown(&foreign, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
    let err = check_dir(&foreign, Class::Private).unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    // A child we own inside a world-writable (not sticky) parent: the parent is the problem.
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let inner = open.join("state");
    fs::create_dir(&inner).unwrap();
    let err = check_dir(&inner, Class::Private).unwrap_err();
    assert!(err.to_string().contains("a parent directory is mode 0777"), "{err}");
    assert_eq!(err.path(), open);
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(check_dir(&inner, Class::Private).unwrap(), "sticky parent, like /tmp");
}

#[test]
fn a_link_among_the_parents_does_not_hide_a_foreign_real_parent() {
    if !rustix::process::geteuid().is_root() {
        #[expect(clippy::print_stderr, reason = "a skipped test must say why")]
        {
            eprintln!("SKIPPED: chown needs root");
        }
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("uhome");
    fs::create_dir_all(home.join("sub/secrets")).unwrap();
    fs::set_permissions(home.join("sub/secrets"), fs::Permissions::from_mode(0o700)).unwrap();
    rustix::fs::chown(&home, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
    assert!(check_dir(&home.join("sub/secrets"), Class::Secret).is_err(), "the real path is refused");
    let link = tmp.path().join("anc");
    symlink(home.join("sub"), &link).unwrap();
    let err = check_dir(&link.join("secrets"), Class::Secret).unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "through the link too: {err}");
}

#[test]
fn read_file_refuses_more_than_its_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state.json");
    fs::write(&path, "0123456789").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(read_file(&path, OpenSpec::read(Class::Private), 10).unwrap().unwrap(), b"0123456789");
    let err = read_file(&path, OpenSpec::read(Class::Private), 9).unwrap_err();
    assert!(matches!(err, UnsafePath::TooLarge { max: 9, .. }), "{err}");
    assert_eq!(err.to_string(), format!("{}: larger than 9 bytes", path.display()));
    assert!(read_file(&tmp.path().join("nope"), OpenSpec::read(Class::Private), 9).unwrap().is_none());
}

#[test]
fn an_executable_must_be_absolute_real_executable_and_not_writable_by_others() {
    let tmp = tempfile::tempdir().unwrap();
    let prog = tmp.path().join("prog");
    fs::write(&prog, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(check_executable(&prog).unwrap(), fs::canonicalize(&prog).unwrap());
    assert!(check_executable(Path::new("prog")).unwrap_err().to_string().contains("not an absolute path"));
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o775)).unwrap();
    assert!(check_executable(&prog).unwrap_err().to_string().contains("writable by group or others"));
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(check_executable(&prog).unwrap_err().to_string().contains("not executable"));
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    // Through a link, the real file is judged.
    let link = tmp.path().join("link");
    symlink(&prog, &link).unwrap();
    assert!(check_executable(&link).is_ok());
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o757)).unwrap();
    assert!(check_executable(&link).is_err());
    // A directory others can write lets them swap the program.
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    let inner = open.join("prog");
    fs::write(&inner, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&inner, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(check_executable(&inner).unwrap_err().to_string().contains("a parent directory"));
    assert!(check_executable(&tmp.path().join("missing")).is_err());
    assert!(check_executable(tmp.path()).is_err(), "a directory is not a program");
}

#[test]
fn a_path_argument_must_be_one_nobody_else_can_change_or_create() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("x.sh");
    fs::write(&script, "echo hi\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    check_trusted_path(&script).unwrap();
    check_trusted_path(tmp.path()).unwrap();
    check_trusted_path(&tmp.path().join("not-yet")).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o666)).unwrap();
    assert!(check_trusted_path(&script).unwrap_err().to_string().contains("writable by group or others"));
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(check_trusted_path(&open.join("later.sh")).is_err(), "others could create it");
    assert!(check_trusted_path(Path::new("/nonexistent-dir/x")).is_err());
    assert!(check_trusted_path(Path::new("rel/x")).is_err());
}
