//! The console's audit records, in the shared hash-chained log
//! (`common::audit`). Every request that reaches action resolution is
//! recorded before it is answered; a run is recorded before its child
//! starts (`console.start`) and when it ends (`console.finish`). The
//! record's fixed fields carry the actor (the token's key id), the exit
//! code and the duration; the request id, action id, checked parameters,
//! Origin, lock outcome and run id are the hashed parameters, kept in the
//! run's `result.json` or recomputable from the request (docs/console.md).
//!
//! One writer thread owns the log and commits in groups: every record that
//! arrives while a write is in flight goes into the next write, under one
//! lock and one `fsync` (`AuditLog::append_batch`), and each caller is
//! answered only once its record is on disk.

use std::sync::mpsc;

use common::audit::{AuditLog, Entry, Record};
use serde_json::{Value, json};

/// Most records committed in one write.
const MAX_BATCH: usize = 512;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Refused at action resolution (unknown action, bad params).
    Refuse,
    /// Refused because the action's lock is held or too many runs are going.
    Busy,
    /// About to start a child.
    Start,
    /// A child ended (exit code -1: timed out, killed or not started).
    Finish,
}

impl Kind {
    /// The audit action name.
    pub(crate) fn action(self) -> &'static str {
        match self {
            Kind::Refuse => "console.refuse",
            Kind::Busy => "console.busy",
            Kind::Start => "console.start",
            Kind::Finish => "console.finish",
        }
    }
}

/// The hashed parameters of one record.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    /// The request id (also in the response and its `X-Request-Id`).
    pub(crate) request_id: &'a str,
    /// The action id as asked for (unknown ones included).
    pub(crate) action: &'a str,
    /// The checked parameters (empty when they were refused).
    pub(crate) params: &'a Value,
    /// The Origin header, if any.
    pub(crate) origin: Option<&'a str>,
    /// `acquired`, `not_needed`, `busy`, or `none` before the lock.
    pub(crate) lock: &'a str,
    /// The run id, when a run exists.
    pub(crate) run_id: Option<&'a str>,
    /// The refusal's error class, if refused.
    pub(crate) error_class: Option<&'a str>,
}

impl Facts<'_> {
    /// The parameters object whose canonical JSON is hashed.
    pub(crate) fn to_value(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "action": self.action,
            "params": self.params,
            "origin": self.origin,
            "lock": self.lock,
            "run_id": self.run_id,
            "error_class": self.error_class,
        })
    }
}

/// A record to write, owned (it crosses to the writer thread).
struct Job {
    kind: Kind,
    actor: String,
    params: Value,
    exit_code: i32,
    duration_ms: u64,
    reply: tokio::sync::oneshot::Sender<Result<Record, String>>,
}

/// The handle to the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread over `log`; it ends when every handle is gone.
    pub(crate) fn start(log: AuditLog) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let entries: Vec<Entry<'_>> = jobs
                    .iter()
                    .map(|j| Entry {
                        tool: crate::TOOL,
                        actor: &j.actor,
                        action: j.kind.action(),
                        params: &j.params,
                        exit_code: j.exit_code,
                        duration_ms: j.duration_ms,
                    })
                    .collect();
                let result = log.append_batch(&entries).map_err(|e| e.to_string());
                drop(entries);
                match result {
                    Ok(recs) => {
                        for (job, rec) in jobs.into_iter().zip(recs) {
                            let _ = job.reply.send(Ok(rec));
                        }
                    }
                    Err(e) => {
                        for job in jobs {
                            let _ = job.reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Writer { tx }
    }

    fn submit(
        &self,
        kind: Kind,
        actor: &str,
        facts: &Facts<'_>,
        exit_code: i32,
        duration_ms: u64,
    ) -> tokio::sync::oneshot::Receiver<Result<Record, String>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job { kind, actor: actor.to_owned(), params: facts.to_value(), exit_code, duration_ms, reply };
        // A writer that is gone drops the job, and the receiver reports it.
        let _ = self.tx.send(job);
        rx
    }

    /// Appends one record; resolves once it is on disk.
    pub(crate) async fn append(
        &self,
        kind: Kind,
        actor: &str,
        facts: &Facts<'_>,
        exit_code: i32,
        duration_ms: u64,
    ) -> Result<Record, String> {
        self.submit(kind, actor, facts, exit_code, duration_ms)
            .await
            .unwrap_or_else(|_| Err("the audit writer is gone".into()))
    }

    /// The same, from a plain thread.
    pub(crate) fn append_blocking(
        &self,
        kind: Kind,
        actor: &str,
        facts: &Facts<'_>,
        exit_code: i32,
        duration_ms: u64,
    ) -> Result<Record, String> {
        self.submit(kind, actor, facts, exit_code, duration_ms)
            .blocking_recv()
            .unwrap_or_else(|_| Err("the audit writer is gone".into()))
    }
}
