//! Unit tests of the decision table: mutation outranks every ending.

use super::*;

fn check(ending: Ending, tree: TreeCheck, status: Status, class: Option<ErrorClass>, reason: &str) {
    let v = decide(&ending, &tree);
    assert_eq!((v.status, v.error_class), (status, class), "{ending:?} {tree:?}");
    assert!(v.reason.contains(reason), "{reason:?} not in {:?}", v.reason);
}

#[test]
fn mutation_outranks_every_ending() {
    for ending in [
        Ending::Exited(0),
        Ending::Exited(3),
        Ending::Signalled(9),
        Ending::TimedOut { main: None },
        Ending::TimedOut { main: Some(0) },
        Ending::SpawnFailed("x".into()),
    ] {
        check(ending, TreeCheck::Mutated(2), Status::Failure, Some(ErrorClass::MutationDetected), "MUTATION_DETECTED");
    }
}

#[test]
fn a_clean_tree_leaves_the_ending_to_decide() {
    check(Ending::Exited(0), TreeCheck::Clean, Status::Success, None, "exited 0");
    check(Ending::Exited(0), TreeCheck::NoTree, Status::Success, None, "exited 0");
    check(Ending::Exited(1), TreeCheck::Clean, Status::Failure, Some(ErrorClass::JobNonzeroExit), "exited 1");
    check(Ending::Signalled(15), TreeCheck::Clean, Status::Failure, Some(ErrorClass::JobNonzeroExit), "signal 15");
    check(Ending::TimedOut { main: None }, TreeCheck::Clean, Status::Timeout, Some(ErrorClass::JobTimeout), "timeout");
    check(
        Ending::TimedOut { main: Some(0) },
        TreeCheck::Clean,
        Status::Timeout,
        Some(ErrorClass::JobTimeout),
        "left processes",
    );
    check(Ending::SpawnFailed("no".into()), TreeCheck::Clean, Status::Error, Some(ErrorClass::JobException), "no");
}

#[test]
fn an_unchecked_tree_is_never_a_success() {
    check(Ending::Exited(0), TreeCheck::Failed("io".into()), Status::Error, Some(ErrorClass::JobException), "io");
}

#[test]
fn a_cleanup_that_did_not_complete_is_an_error_never_a_success() {
    let failed: Result<(), String> = Err("entries keep appearing".into());
    let v = after_cleanup(decide(&Ending::Exited(0), &TreeCheck::Clean), &failed);
    assert_eq!((v.status, v.error_class), (Status::Error, Some(ErrorClass::CleanupFailed)));
    assert!(v.reason.contains("entries keep appearing") && v.reason.contains("exited 0"), "{}", v.reason);
    // A mutation stays the class: it is the stronger finding.
    let v = after_cleanup(decide(&Ending::Exited(0), &TreeCheck::Mutated(2)), &failed);
    assert_eq!(v.error_class, Some(ErrorClass::MutationDetected));
    assert!(v.reason.contains("could not be removed"), "{}", v.reason);
    // A cleanup that completed changes nothing.
    let ok = decide(&Ending::Exited(0), &TreeCheck::Clean);
    assert_eq!(after_cleanup(ok.clone(), &Ok(())), ok);
    assert_eq!(serde_json::to_value(ErrorClass::CleanupFailed).unwrap(), "cleanup_failed");
}
