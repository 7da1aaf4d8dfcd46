//! The init's pure parts: its command line both ways, the status file's
//! text both ways, and how
//! the runner reads an ending from them.

use std::ffi::OsString;
use std::path::PathBuf;

use super::*;
use crate::job::{Ending, ending};

fn sample() -> InitArgs {
    InitArgs {
        status: PathBuf::from("/run/openclaw/runner/ab/status"),
        uid: 65534,
        gid: 65534,
        root: PathBuf::from("/run/openclaw/runner/ab/view"),
        binds: crate::view::Binds {
            rw: vec![PathBuf::from("/run/openclaw/runner/ab")],
            ro: vec![PathBuf::from("/var/lib/openclaw/runner/mirrors/app.git")],
        },
        cwd: PathBuf::from("/run/openclaw/runner/ab/tree"),
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
    let shared = InitArgs { lo_up: false, binds: crate::view::Binds::default(), ..a };
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
