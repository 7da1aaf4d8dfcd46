//! The job's init: PID 1 of the job's own PID, mount, IPC and (unless the
//! job asks for the host's network) network namespace (`unshare --pid
//! --mount --ipc [--net] --fork` starts it). It builds the job's
//! filesystem and pivots into it (`view`: no host `/run`, `/var/lib`,
//! `/home` or `/proc`; private `/tmp`), brings its loopback up, caps the job uid's
//! process count and (for an unprivileged job) installs the system-call
//! filter against user namespaces (`seccomp`), starts the job through
//! `setpriv`, writes how the job
//! itself ended to a status file the runner owns, and then reaps every
//! process left in the namespace until none remains. When it exits, or is
//! killed (the runner's deadline, or the runner's own death through
//! `--kill-child`), the kernel kills everything still in the namespace: no
//! job process can outlive it. From inside, the job sees only its own
//! processes in `/proc` and cannot signal its init.
//!
//! It is started by the runner as `openclaw-runner __job-init …`, never by
//! hand: it refuses to run unless it is PID 1.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use rustix::process::WaitOptions;

/// The hidden first argument that selects the init.
pub const ARG: &str = "__job-init";

/// Most processes an unprivileged job uid may have (RLIMIT_NPROC): a fork
/// bomb stops here. Root jobs are not limited by it.
pub const NPROC_LIMIT: u64 = 2048;

/// The exit code of an init that could not start the job.
const INIT_FAILED: u8 = 125;

/// What the init is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitArgs {
    /// Where the job's own ending is written.
    pub status: PathBuf,
    /// The job's uid.
    pub uid: u32,
    /// The job's gid.
    pub gid: u32,
    /// The empty directory the job's root is built on.
    pub root: PathBuf,
    /// What the view binds at its own place.
    pub binds: crate::view::Binds,
    /// The job's working directory (inside the view).
    pub cwd: PathBuf,
    /// Bring up the loopback of a network namespace of the job's own.
    pub lo_up: bool,
    /// The `setpriv` argv prefix is built here; this is the job's argv.
    pub argv: Vec<String>,
}

/// How the job's own process ended, as the status file says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// The init could not start it.
    Failed(String),
}

impl JobStatus {
    /// The one-line text written to the status file.
    pub fn render(&self) -> String {
        match self {
            JobStatus::Exited(c) => format!("exited {c}\n"),
            JobStatus::Signalled(s) => format!("signalled {s}\n"),
            JobStatus::Failed(why) => format!("failed {}\n", why.replace(['\n', '\r'], " ")),
        }
    }

    /// Reads the status file's text back; `None` when it is not one.
    pub fn parse(text: &str) -> Option<JobStatus> {
        let line = text.strip_suffix('\n')?;
        let (kind, rest) = line.split_once(' ')?;
        match kind {
            "exited" => rest.parse().ok().map(JobStatus::Exited),
            "signalled" => rest.parse().ok().map(JobStatus::Signalled),
            "failed" => Some(JobStatus::Failed(rest.to_owned())),
            _ => None,
        }
    }
}

/// The init's command line after [`ARG`]: `--status FILE --uid N --gid N
/// --root DIR --cwd DIR [--rw PATH]... [--ro PATH]... [--lo-up] -- ARGV...`.
pub fn to_args(a: &InitArgs) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![ARG.into(), "--status".into(), a.status.clone().into()];
    v.extend(["--uid".into(), a.uid.to_string().into(), "--gid".into(), a.gid.to_string().into()]);
    v.extend(["--root".into(), a.root.clone().into(), "--cwd".into(), a.cwd.clone().into()]);
    v.extend(crate::view::to_args(&a.binds));
    if a.lo_up {
        v.push("--lo-up".into());
    }
    v.push("--".into());
    v.extend(a.argv.iter().map(OsString::from));
    v
}

/// Parses what [`to_args`] wrote (without the program name and [`ARG`]).
pub fn parse_args(args: &[OsString]) -> Result<InitArgs, String> {
    let mut it = args.iter();
    let (mut status, mut uid, mut gid, mut lo_up) = (None, None, None, false);
    let (mut root, mut cwd, mut binds) = (None, None, crate::view::Binds::default());
    loop {
        let flag = it.next().ok_or("no `--` before the job's argv")?;
        let flag = flag.to_str().ok_or("a flag is not UTF-8")?;
        if flag == "--" {
            break;
        }
        if flag == "--lo-up" {
            lo_up = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let text = || value.to_str().ok_or_else(|| format!("{flag}'s value is not UTF-8"));
        match flag {
            "--status" => status = Some(PathBuf::from(value)),
            "--uid" => uid = Some(text()?.parse::<u32>().map_err(|e| format!("--uid: {e}"))?),
            "--gid" => gid = Some(text()?.parse::<u32>().map_err(|e| format!("--gid: {e}"))?),
            "--root" => root = Some(PathBuf::from(value)),
            "--cwd" => cwd = Some(PathBuf::from(value)),
            "--rw" => binds.rw.push(PathBuf::from(value)),
            "--ro" => binds.ro.push(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let argv: Vec<String> =
        it.map(|a| a.to_str().map(str::to_owned).ok_or("the job's argv is not UTF-8")).collect::<Result<_, _>>()?;
    if argv.is_empty() {
        return Err("no job argv".into());
    }
    Ok(InitArgs {
        status: status.ok_or("--status is required")?,
        uid: uid.ok_or("--uid is required")?,
        gid: gid.ok_or("--gid is required")?,
        root: root.ok_or("--root is required")?,
        binds,
        cwd: cwd.ok_or("--cwd is required")?,
        lo_up,
        argv,
    })
}

/// The `setpriv` command that becomes the job: real and effective ids, no
/// supplementary groups, no new privileges; an unprivileged job keeps no
/// capability even in its bounding set (a `run_as = "root"` job is root by
/// the operator's choice).
pub fn setpriv_args(uid: u32, gid: u32, argv: &[String]) -> Vec<String> {
    let mut v = vec![
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        "--clear-groups".into(),
        "--no-new-privs".into(),
        "--pdeathsig=KILL".into(),
    ];
    if uid != 0 {
        v.extend(["--inh-caps=-all".into(), "--bounding-set=-all".into()]);
    }
    v.push("--".into());
    v.extend(argv.iter().cloned());
    v
}

/// Runs the init; `args` follow [`ARG`].
pub fn main(args: &[OsString]) -> ExitCode {
    if rustix::process::getpid().as_raw_nonzero().get() != 1 {
        crate::INFO.error(&format!("{ARG} is the job's init, started by `openclaw-runner run`; it runs only as PID 1"));
        return ExitCode::from(2);
    }
    let a = match parse_args(args) {
        Ok(a) => a,
        Err(why) => {
            crate::INFO.error(&format!("{ARG}: {why}"));
            return ExitCode::from(2);
        }
    };
    match start(&a) {
        Ok(job) => {
            reap(&a.status, job);
            ExitCode::SUCCESS
        }
        Err(why) => {
            let _ = write_status(&a.status, &JobStatus::Failed(why));
            ExitCode::from(INIT_FAILED)
        }
    }
}

/// Prepares the namespace and starts the job; returns its pid.
fn start(a: &InitArgs) -> Result<i32, String> {
    // Backs up unshare's --kill-child: this init never outlives its parent.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| format!("cannot set the parent-death signal: {e}"))?;
    // A session of its own, with no controlling terminal: a job started
    // from an operator's root shell must not reach that terminal (TIOCSTI
    // keystrokes the shell would run, or making itself the foreground
    // group to read what the operator types). `unshare --fork` made this
    // process, so it leads no group and may start a session.
    rustix::process::setsid().map_err(|e| format!("cannot start the job's own session: {e}"))?;
    // The view's directories get the modes `view` asks for whatever umask
    // the runner had (the units set 0077, under which the passage to the
    // job's own directory would be root's alone); the job keeps the
    // runner's umask.
    let umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let built = crate::view::build(&a.root, &a.binds);
    rustix::process::umask(umask);
    built?;
    if a.lo_up {
        crate::netns::loopback_up().map_err(|e| format!("cannot bring up the job's loopback: {e}"))?;
    }
    if a.uid != 0 {
        // setpriv's --bounding-set=-all needs CAP_SETPCAP; without it
        // libcap-ng only warns and the job would keep this process's
        // bounding set (a unit whose CapabilityBoundingSet= lacks it).
        if !has_effective_cap(CAP_SETPCAP)? {
            return Err("cannot empty the job's bounding set: CAP_SETPCAP is not in the runner's effective set \
                        (the unit's CapabilityBoundingSet= must include it)"
                .into());
        }
        let lim = rustix::process::Rlimit { current: Some(NPROC_LIMIT), maximum: Some(NPROC_LIMIT) };
        rustix::process::setrlimit(rustix::process::Resource::Nproc, lim)
            .map_err(|e| format!("cannot limit the job's processes: {e}"))?;
        // Last: from here on no process of this namespace can make a user namespace.
        crate::seccomp::install()?;
    }
    let child = Command::new(crate::job::SETPRIV)
        .args(setpriv_args(a.uid, a.gid, &a.argv))
        .current_dir(&a.cwd)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", crate::job::SETPRIV))?;
    Ok(child.id() as i32)
}

/// `CAP_SETPCAP`'s bit number (linux/capability.h).
const CAP_SETPCAP: u32 = 8;

/// Whether capability `bit` is in this process's effective set (`CapEff:`
/// of /proc/self/status, which `view::build` has mounted for this
/// PID namespace; the process is the same).
fn has_effective_cap(bit: u32) -> Result<bool, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:")).ok_or("/proc/self/status has no CapEff line")?;
    let eff = u64::from_str_radix(hex.trim(), 16).map_err(|e| format!("CapEff `{}`: {e}", hex.trim()))?;
    Ok(eff & (1 << bit) != 0)
}

/// Waits for every process in the namespace; writes the job's own ending
/// as soon as it is known.
fn reap(status: &Path, job: i32) {
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, st))) if pid.as_raw_nonzero().get() == job => {
                let ended = match (st.exit_status(), st.terminating_signal()) {
                    (Some(c), _) => JobStatus::Exited(c),
                    (None, Some(s)) => JobStatus::Signalled(s),
                    (None, None) => JobStatus::Failed("the job's status could not be read".into()),
                };
                // Nothing to do about a failure here: the runner reads a
                // missing status as a lost one, never as success.
                let _ = write_status(status, &ended);
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            // ECHILD: nothing is left in the namespace.
            Err(_) => return,
        }
    }
}

/// Writes the status file once, new, 0600, never through a link.
fn write_status(path: &Path, status: &JobStatus) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    f.write_all(status.render().as_bytes())?;
    f.sync_all()
}

/// Reads the status file the init wrote; `None` when there is none or it
/// is not one (the runner then treats the job's ending as lost).
pub fn read_status(path: &Path) -> Option<JobStatus> {
    let text = common::private_path::read_file(
        path,
        common::private_path::OpenSpec::read(common::private_path::Class::Private),
        4096,
    )
    .ok()??;
    JobStatus::parse(&String::from_utf8(text).ok()?)
}

#[cfg(test)]
mod tests;
