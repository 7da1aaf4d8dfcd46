//! The init's pure parts: its command line both ways, the status file's
//! text both ways, which shared temporary directories get covered, and how
//! the runner reads an ending from them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::*;
use crate::job::{Ending, ending};

fn sample() -> InitArgs {
    InitArgs {
        status: PathBuf::from("/run/openclaw/runner/ab/status"),
        uid: 65534,
        gid: 65534,
        tmpfs: vec![PathBuf::from("/tmp"), PathBuf::from("/dev/shm")],
        lo_up: true,
        argv: vec!["/usr/bin/make".into(), "--".into(), "-x".into()],
    }
}

#[test]
fn the_command_line_round_trips_and_a_dash_led_job_argument_stays_an_argument() {
    let a = sample();
    let line = to_args(&a);
    assert_eq!(line[0], ARG);
    assert_eq!(parse_args(&line[1..]), Ok(a.clone()));
    let shared = InitArgs { lo_up: false, tmpfs: Vec::new(), ..a };
    assert_eq!(parse_args(&to_args(&shared)[1..]), Ok(shared));
}

#[test]
fn a_malformed_command_line_is_refused() {
    let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    for (args, why) in [
        (os(&["--status", "/s", "--uid", "1", "--gid", "1"]), "no `--`"),
        (os(&["--status", "/s", "--uid", "1", "--gid", "1", "--"]), "no job argv"),
        (os(&["--uid", "1", "--gid", "1", "--", "/bin/true"]), "--status is required"),
        (os(&["--status", "/s", "--uid", "-1", "--gid", "1", "--", "/bin/true"]), "--uid"),
        (os(&["--status", "/s", "--bogus", "1", "--", "/bin/true"]), "unknown flag --bogus"),
        (os(&["--status"]), "--status needs a value"),
    ] {
        let got = parse_args(&args).unwrap_err();
        assert!(got.contains(why), "{args:?}: {got}");
    }
}

#[test]
fn the_status_text_round_trips_and_anything_else_is_none() {
    for s in
        [JobStatus::Exited(0), JobStatus::Exited(255), JobStatus::Signalled(9), JobStatus::Failed("no\nsetpriv".into())]
    {
        let back = JobStatus::parse(&s.render()).unwrap();
        match (&s, &back) {
            (JobStatus::Failed(_), JobStatus::Failed(why)) => assert_eq!(why, "no setpriv"),
            _ => assert_eq!(back, s),
        }
    }
    for junk in ["", "exited 0", "exited x\n", "succeeded 0\n", "signalled\n", "exited 0\nexited 1\n"] {
        assert_eq!(JobStatus::parse(junk), None, "{junk:?}");
    }
}

#[test]
fn a_shared_temporary_directory_holding_what_the_job_needs_is_not_covered() {
    let p = Path::new;
    assert_eq!(masked_dirs(&[p("/var/lib/openclaw/run/runner/x"), p("/usr/bin/make")]), SHARED_TMP.map(PathBuf::from));
    assert_eq!(
        masked_dirs(&[p("/tmp/lab/run/runner/x"), p("/usr/bin/make")]),
        ["/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"].map(PathBuf::from)
    );
    // A sibling whose name only starts the same is not inside.
    assert_eq!(masked_dirs(&[p("/tmpx/job"), p("/var/tmpfoo/make")]), SHARED_TMP.map(PathBuf::from));
}

#[test]
fn the_ending_comes_from_the_status_and_a_missing_status_is_never_success() {
    assert_eq!(ending(false, Some(JobStatus::Exited(0)), Some((Some(0), None))), Ending::Exited(0));
    assert_eq!(ending(false, Some(JobStatus::Signalled(9)), Some((Some(0), None))), Ending::Signalled(9));
    assert_eq!(ending(true, Some(JobStatus::Exited(0)), None), Ending::TimedOut { main: Some(0) });
    assert_eq!(ending(true, None, None), Ending::TimedOut { main: None });
    assert_eq!(ending(true, Some(JobStatus::Signalled(9)), None), Ending::TimedOut { main: None });
    assert_eq!(
        ending(false, Some(JobStatus::Failed("x".into())), Some((Some(125), None))),
        Ending::SpawnFailed("x".into())
    );
    for init in [Some((Some(0), None)), Some((None, Some(9))), None] {
        assert!(matches!(ending(false, None, init), Ending::SpawnFailed(_)), "{init:?}");
    }
}

#[test]
fn unprivileged_jobs_lose_every_capability_and_root_jobs_keep_theirs() {
    let argv = vec!["/bin/true".to_owned()];
    let nobody = setpriv_args(65534, 65534, &argv);
    assert!(nobody.contains(&"--bounding-set=-all".to_owned()) && nobody.ends_with(&["--".into(), "/bin/true".into()]));
    let root = setpriv_args(0, 0, &argv);
    assert!(!root.iter().any(|a| a.starts_with("--bounding-set")));
    assert!(root.contains(&"--no-new-privs".to_owned()));
}
