//! The exit-code contract shared by every subcommand of every tool.
//!
//! `0` clean, `1` a policy failure, `2` could not decide. A tool never exits
//! `0` when something went wrong.

use std::process::ExitCode;

/// How a tool run ended, as far as the caller's exit status is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// The check passed, the verdict is valid, the message was sent.
    Clean,
    /// A finding at or above the threshold, a rejected verdict, a refused request.
    Policy,
    /// Bad usage, unreadable input, a dependency that timed out.
    Undecided,
    /// A child's exit status passed through unchanged (`openclaw-keyctl exec`);
    /// the one documented exception to 0/1/2.
    Child(u8),
}

impl Exit {
    /// The numeric process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Policy => 1,
            Exit::Undecided => 2,
            Exit::Child(code) => code,
        }
    }

    /// The more severe of two outcomes: `Undecided` beats `Policy` beats `Clean`.
    #[must_use]
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_the_documented_contract() {
        assert_eq!(Exit::Clean.code(), 0);
        assert_eq!(Exit::Policy.code(), 1);
        assert_eq!(Exit::Undecided.code(), 2);
    }

    #[test]
    fn worst_prefers_could_not_decide_over_failure_over_clean() {
        assert_eq!(Exit::Clean.worst(Exit::Policy), Exit::Policy);
        assert_eq!(Exit::Policy.worst(Exit::Undecided), Exit::Undecided);
        assert_eq!(Exit::Undecided.worst(Exit::Clean), Exit::Undecided);
        assert_eq!(Exit::Clean.worst(Exit::Clean), Exit::Clean);
    }
}
