//! The audit log keeps the promise of docs/audit-log.md: a fixed
//! `noun.verb` action and a hash of the parameters, never the parameters
//! themselves (no check id, no title, no message text).

use serde_json::json;

use crate::fake::Behaviour;
use crate::support::Host;

const ACTIONS: [&str; 3] = ["notify.send", "notify.flush", "notify.cancel"];

/// The shape `common::audit` requires of an action (`noun.verb`), from its one validator.
fn is_noun_verb(name: &str) -> bool {
    common::audit::validate_action(name).is_ok()
}

#[test]
fn audit_records_carry_a_fixed_action_and_only_a_hash_of_the_alert() {
    let h = Host::new();
    let check = "canary.check-Zq7Wx";
    let title = "CanaryTitle-Hq2Lp";
    let text = "canary message text Vb8Kd: disk /srv 97% full";
    let recovery = "canary recovery text Mn4Tr";
    let other = "canary.queued-Pk3Jr";
    // A delivered emergency (with a receipt), its recovery (a cancel), a queued alert and its flush.
    let r = h.send(check, &["--priority", "emergency", "--title", title], text);
    assert_eq!(r.json()["outcome"], "sent", "{}{}", r.stdout, r.stderr);
    assert_eq!(h.send(check, &["--resolved"], recovery).json()["outcome"], "sent");
    h.fake.script([Behaviour::Drop]);
    let queued = h.send(other, &["--title", title, "--retry-within", "0"], text).json();
    assert_eq!(queued["outcome"], "queued", "{queued}");
    let entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(queued["outbox"].as_str().unwrap()).unwrap()).unwrap();
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.json()["delivered"], 1, "{}", r.stdout);

    let log = std::fs::read_to_string(h.path("audit/audit.jsonl")).unwrap();
    for canary in [check, other, title, text, recovery, "Vb8Kd", "Mn4Tr", "canary"] {
        assert!(!log.contains(canary), "`{canary}` is in the audit log:\n{log}");
    }
    let records = h.audit_records();
    let actions: Vec<&str> = records.iter().map(|r| r["action"].as_str().unwrap()).collect();
    // emergency, cancel, recovery, dropped attempt, flushed delivery
    assert_eq!(actions, ["notify.send", "notify.cancel", "notify.send", "notify.send", "notify.flush"]);
    assert!(actions.iter().all(|a| ACTIONS.contains(a) && is_noun_verb(a)), "{actions:?}");
    // The hash commits to the whole alert as the outbox keeps it, and to the attempt's outcome.
    let hash = |attempt: serde_json::Value| common::audit::params_hash(&attempt);
    assert_eq!(
        records[3]["params_hash"],
        hash(json!({"alert": entry, "attempt": 1, "http_status": null, "outcome": "transient"}))
    );
    assert_eq!(
        records[4]["params_hash"],
        hash(json!({"alert": entry, "attempt": 1, "http_status": 200, "outcome": "delivered"}))
    );
    assert_eq!((records[3]["exit_code"].as_i64(), records[4]["exit_code"].as_i64()), (Some(1), Some(0)));
}
