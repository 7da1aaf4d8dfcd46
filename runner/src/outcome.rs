//! The pure decision over one run: how the job ended and what the tree
//! check found become a status, an error class and a reason. Mutation
//! outranks everything: a job that exits 0, fails or times out after
//! changing the tree is `MUTATION_DETECTED`.

use serde::Serialize;

use crate::job::Ending;

/// A run's status (the reference's enum, plus `refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exited 0 and the tree is clean.
    Success,
    /// Non-zero exit, a signal, or MUTATION_DETECTED.
    Failure,
    /// The deadline passed (and the tree is clean).
    Timeout,
    /// The runner could not run the job or could not check the tree.
    Error,
    /// Refused before anything ran.
    Refused,
}

/// The `error_class` of `error.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The tree changed.
    MutationDetected,
    /// The job failed.
    JobNonzeroExit,
    /// The job or a descendant ran past the deadline.
    JobTimeout,
    /// The runner failed around the job.
    JobException,
    /// The request was refused.
    Refused,
    /// The job's directories could not be removed after it.
    CleanupFailed,
}

/// What the tree check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeCheck {
    /// The job had no tree (`requires_repo = false`).
    NoTree,
    /// Identical to the manifest taken after checkout.
    Clean,
    /// These many paths differ.
    Mutated(usize),
    /// The second manifest could not be taken.
    Failed(String),
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status.
    pub status: Status,
    /// The error class, when not a success.
    pub error_class: Option<ErrorClass>,
    /// Why, in one line.
    pub reason: String,
}

/// Decides a run from how the job ended and what the check found.
pub fn decide(ending: &Ending, check: &TreeCheck) -> Verdict {
    let v = |status, class, reason: String| Verdict { status, error_class: class, reason };
    match check {
        TreeCheck::Mutated(n) => {
            return v(
                Status::Failure,
                Some(ErrorClass::MutationDetected),
                format!("MUTATION_DETECTED: {n} path(s) of the worktree changed"),
            );
        }
        TreeCheck::Failed(why) => {
            return v(
                Status::Error,
                Some(ErrorClass::JobException),
                format!("the worktree could not be checked after the job: {why}"),
            );
        }
        TreeCheck::Clean | TreeCheck::NoTree => {}
    }
    match ending {
        Ending::Exited(0) => v(Status::Success, None, "exited 0".into()),
        Ending::Exited(c) => v(Status::Failure, Some(ErrorClass::JobNonzeroExit), format!("exited {c}")),
        Ending::Signalled(s) => v(Status::Failure, Some(ErrorClass::JobNonzeroExit), format!("killed by signal {s}")),
        Ending::TimedOut { main: None } => {
            v(Status::Timeout, Some(ErrorClass::JobTimeout), "ran past its timeout; every process was killed".into())
        }
        Ending::TimedOut { main: Some(c) } => v(
            Status::Timeout,
            Some(ErrorClass::JobTimeout),
            format!("exited {c} but left processes running past the timeout; they were killed"),
        ),
        Ending::SpawnFailed(why) => {
            v(Status::Error, Some(ErrorClass::JobException), format!("the job could not be run: {why}"))
        }
    }
}

/// The verdict once the job's directories were removed, or not: a cleanup
/// that did not complete is an error, never a success (a mutation stays
/// the class, the stronger finding, with the cleanup named). Pure.
pub fn after_cleanup(v: Verdict, cleanup: &Result<(), String>) -> Verdict {
    let Err(why) = cleanup else { return v };
    if v.error_class == Some(ErrorClass::MutationDetected) {
        return Verdict { reason: format!("{}; and the job's directories could not be removed: {why}", v.reason), ..v };
    }
    Verdict {
        status: Status::Error,
        error_class: Some(ErrorClass::CleanupFailed),
        reason: format!("the job's directories could not be removed: {why} (the job itself: {})", v.reason),
    }
}

/// The exit code of the job as reported: its own, or -1.
pub fn exit_code(ending: &Ending) -> i32 {
    match ending {
        Ending::Exited(c) => *c,
        Ending::TimedOut { .. } | Ending::Signalled(_) | Ending::SpawnFailed(_) => -1,
    }
}

#[cfg(test)]
mod tests;
