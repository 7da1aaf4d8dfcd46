//! `cargo xtask coverage`: checks docs/CONTRACT_COVERAGE.md against the tree.
//!
//! Every clause row must name proof that still exists (a test `cargo nextest
//! list` knows, an ops self-test case, a CI step, a line in a document) or
//! say honestly, with the issue number, that it is not built yet. The row
//! grammar is documented at the top of docs/CONTRACT_COVERAGE.md; this module
//! is its only reader.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The coverage table, relative to the repository root.
pub(crate) const TABLE: &str = "docs/CONTRACT_COVERAGE.md";

/// How far a clause is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Covered,
    Partly,
    NotYet,
}

/// One item of a row's evidence column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// `test <binary-id> <test-name>`, as `cargo nextest list` prints them.
    Test { binary: String, name: String },
    /// `ops <script under ops/tests/> <case name>`.
    Ops { script: String, case: String },
    /// `ci <step name>`, a step of `cargo xtask ci`.
    Ci(String),
    /// `doc <repository path> <text>`: the file says this.
    Doc { path: String, text: String },
    /// `not yet: issue N`.
    NotYet(u32),
}

/// One clause row.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub(crate) id: String,
    pub(crate) line: usize,
    pub(crate) status: Status,
    pub(crate) evidence: Vec<Evidence>,
}

impl Clause {
    fn proofs(&self) -> usize {
        self.evidence.iter().filter(|e| !matches!(e, Evidence::NotYet(_))).count()
    }

    fn issues(&self) -> Vec<u32> {
        self.evidence.iter().filter_map(|e| if let Evidence::NotYet(n) = e { Some(*n) } else { None }).collect()
    }
}

/// What the tree holds: the tests nextest lists (`"<binary-id> <name>"`) and
/// a reader for repository files (by relative path).
pub(crate) struct Known<'a> {
    pub(crate) tests: &'a BTreeSet<String>,
    pub(crate) read: &'a dyn Fn(&str) -> Option<String>,
}

/// `cargo xtask coverage`, also a step of `cargo xtask ci`.
pub(crate) fn coverage(root: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(root.join(TABLE)).map_err(|e| format!("{TABLE}: {e}"))?;
    let clauses = parse(&text)?;
    let tests = nextest_list(root)?;
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).ok();
    let summary = check(&clauses, &Known { tests: &tests, read: &read })?;
    eprintln!("{summary}");
    Ok(())
}

/// Every test of the workspace, as `"<binary-id> <test name>"`.
fn nextest_list(root: &Path) -> Result<BTreeSet<String>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["nextest", "list", "--workspace", "--locked", "--message-format", "json"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo nextest list: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo nextest list exited with {}", out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo nextest list: bad JSON: {e}"))?;
    let suites = v["rust-suites"].as_object().ok_or("cargo nextest list: no `rust-suites` object")?;
    let mut tests = BTreeSet::new();
    for (binary, suite) in suites {
        let cases = suite["testcases"].as_object().ok_or_else(|| format!("suite {binary}: no `testcases`"))?;
        tests.extend(cases.keys().map(|name| format!("{binary} {name}")));
    }
    if tests.is_empty() {
        return Err("cargo nextest list found no tests".into());
    }
    Ok(tests)
}

/// Parses the clause rows: table lines whose first cell is a clause id.
pub(crate) fn parse(text: &str) -> Result<Vec<Clause>, String> {
    let mut clauses: Vec<Clause> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if !t.starts_with("| C") {
            continue;
        }
        match parse_row(t, line) {
            Ok(c) => {
                if clauses.iter().any(|o| o.id == c.id) {
                    errors.push(format!("{TABLE}:{line}: clause {} appears twice", c.id));
                } else {
                    clauses.push(c);
                }
            }
            Err(e) => errors.push(format!("{TABLE}:{line}: {e}")),
        }
    }
    if clauses.is_empty() && errors.is_empty() {
        errors.push(format!("{TABLE}: no clause rows (`| C<section>.<n> | … |`)"));
    }
    if errors.is_empty() { Ok(clauses) } else { Err(errors.join("\n")) }
}

fn parse_row(t: &str, line: usize) -> Result<Clause, String> {
    let inner = t.strip_prefix('|').and_then(|s| s.strip_suffix('|')).ok_or("a row starts and ends with `|`")?;
    let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
    let [id, _clause, status, evidence, _note] = cells.as_slice() else {
        return Err(format!(
            "a clause row has 5 cells (id | clause | status | evidence | note), this one {}",
            cells.len()
        ));
    };
    let id = (*id).to_owned();
    let well_formed = id.strip_prefix('C').and_then(|r| r.split_once('.')).is_some_and(|(s, n)| {
        !s.is_empty() && !n.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && n.bytes().all(|b| b.is_ascii_digit())
    });
    if !well_formed {
        return Err(format!("`{id}` is not a clause id (C<section>.<n>)"));
    }
    let status = match *status {
        "covered" => Status::Covered,
        "partly" => Status::Partly,
        "not yet" => Status::NotYet,
        other => return Err(format!("{id}: status `{other}` is not one of covered, partly, not yet")),
    };
    let evidence = parse_evidence(evidence).map_err(|e| format!("{id}: {e}"))?;
    Ok(Clause { id, line, status, evidence })
}

/// The evidence cell: backticked items separated by `<br>` and spaces, nothing else.
fn parse_evidence(cell: &str) -> Result<Vec<Evidence>, String> {
    let mut items = Vec::new();
    let mut rest = cell;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<br>") {
            rest = r;
            continue;
        }
        if rest.is_empty() {
            return Ok(items);
        }
        let body = rest.strip_prefix('`').ok_or_else(|| format!("evidence outside backticks: `{rest}`"))?;
        let end = body.find('`').ok_or("an unclosed backtick in the evidence")?;
        items.push(parse_item(&body[..end])?);
        rest = &body[end + 1..];
    }
}

fn parse_item(item: &str) -> Result<Evidence, String> {
    let two = |s: &str| -> Option<(String, String)> {
        let (a, b) = s.split_once(' ')?;
        let b = b.trim();
        (!a.is_empty() && !b.is_empty()).then(|| (a.to_owned(), b.to_owned()))
    };
    if let Some(n) = item.strip_prefix("not yet: issue ") {
        return n.parse().map(Evidence::NotYet).map_err(|_| format!("`{item}`: the issue is a number"));
    }
    let bad = || {
        format!("`{item}` is not `test BIN NAME`, `ops SCRIPT CASE`, `ci STEP`, `doc PATH TEXT` or `not yet: issue N`")
    };
    let (kind, rest) = item.split_once(' ').ok_or_else(bad)?;
    match kind {
        "test" => {
            let (binary, name) = two(rest).filter(|(_, n)| !n.contains(' ')).ok_or_else(bad)?;
            Ok(Evidence::Test { binary, name })
        }
        "ops" => two(rest).map(|(script, case)| Evidence::Ops { script, case }).ok_or_else(bad),
        "doc" => two(rest).map(|(path, text)| Evidence::Doc { path, text }).ok_or_else(bad),
        "ci" if !rest.trim().is_empty() => Ok(Evidence::Ci(rest.trim().to_owned())),
        _ => Err(bad()),
    }
}

/// Checks every clause against the tree; on success returns the summary line.
pub(crate) fn check(clauses: &[Clause], known: &Known<'_>) -> Result<String, String> {
    let mut errors = Vec::new();
    let ci = (known.read)("xtask/src/ci.rs").unwrap_or_default();
    for c in clauses {
        let at = format!("{TABLE}:{} clause {}", c.line, c.id);
        let (proofs, issues) = (c.proofs(), c.issues());
        if proofs == 0 && issues.is_empty() {
            errors.push(format!("{at}: has neither a test nor a `not yet: issue N` mark"));
        }
        match c.status {
            Status::Covered if !issues.is_empty() => {
                errors.push(format!("{at}: is `covered` but also marked not yet (say `partly`)"));
            }
            Status::Covered | Status::Partly if proofs == 0 => {
                errors.push(format!("{at}: is marked covered or partly but names no test"));
            }
            Status::NotYet if issues.is_empty() => errors.push(format!("{at}: `not yet` needs `not yet: issue N`")),
            Status::NotYet if proofs > 0 => errors.push(format!("{at}: `not yet` names tests (say `partly`)")),
            _ => {}
        }
        for e in &c.evidence {
            match e {
                Evidence::Test { binary, name } => {
                    if !known.tests.contains(&format!("{binary} {name}")) {
                        errors.push(format!("{at}: test `{binary} {name}` does not exist (cargo nextest list)"));
                    }
                }
                Evidence::Ops { script, case } => match (known.read)(&format!("ops/tests/{script}")) {
                    None => errors.push(format!("{at}: ops self-test ops/tests/{script} does not exist")),
                    Some(text) if !text.contains(case.as_str()) => {
                        errors.push(format!("{at}: ops/tests/{script} has no case `{case}`"));
                    }
                    Some(_) => {}
                },
                Evidence::Ci(step) => {
                    if !ci.contains(&format!("step(\"{step}\"")) {
                        errors.push(format!("{at}: `cargo xtask ci` has no step `{step}`"));
                    }
                }
                Evidence::Doc { path, text } => match (known.read)(path) {
                    None => errors.push(format!("{at}: {path} does not exist")),
                    Some(t) if !t.contains(text.as_str()) => errors.push(format!("{at}: {path} does not say `{text}`")),
                    Some(_) => {}
                },
                Evidence::NotYet(_) => {}
            }
        }
    }
    if !errors.is_empty() {
        return Err(format!("contract coverage is out of date:\n{}", errors.join("\n")));
    }
    Ok(summary(clauses))
}

fn summary(clauses: &[Clause]) -> String {
    let count = |s: Status| clauses.iter().filter(|c| c.status == s).count();
    let mut issues: Vec<u32> = clauses.iter().flat_map(Clause::issues).collect();
    issues.sort_unstable();
    issues.dedup();
    let issues: Vec<String> = issues.iter().map(u32::to_string).collect();
    let items = clauses.iter().map(Clause::proofs).sum::<usize>();
    format!(
        "contract coverage: {} clauses: {} covered, {} partly, {} not yet; issues named: {}; {items} named proofs, all present",
        clauses.len(),
        count(Status::Covered),
        count(Status::Partly),
        count(Status::NotYet),
        if issues.is_empty() { "none".to_owned() } else { issues.join(", ") },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "| id | clause | status | evidence | note |\n|----|----|----|----|----|\n";

    fn run(rows: &str) -> Result<String, String> {
        let tests: BTreeSet<String> = ["openclaw-x::it a::real", "openclaw-x b::tests::unit"].map(str::to_owned).into();
        let read = |p: &str| match p {
            "ops/tests/x_selftest.sh" => Some("ok \"no binary: exit 2\"\n".to_owned()),
            "xtask/src/ci.rs" => Some("step(\"docs drift\", || x)".to_owned()),
            "README.md" => Some("canonical, contract §5".to_owned()),
            _ => None,
        };
        let clauses = parse(&format!("# T\n{HEAD}{rows}"))?;
        check(&clauses, &Known { tests: &tests, read: &read })
    }

    #[test]
    fn every_kind_of_proof_that_exists_passes() {
        let ok = run("| C1.1 | NO x | covered | `test openclaw-x::it a::real`<br>`test openclaw-x b::tests::unit` | |\n\
                      | C1.2 | y | partly | `ops x_selftest.sh no binary: exit 2` `ci docs drift` `doc README.md canonical, contract §5` | half |\n")
        .unwrap();
        assert_eq!(
            ok,
            "contract coverage: 2 clauses: 1 covered, 1 partly, 0 not yet; issues named: none; 5 named proofs, all present"
        );
    }

    #[test]
    fn a_test_that_no_longer_exists_fails_naming_the_clause() {
        let e = run("| C2.3 | z | covered | `test openclaw-x::it a::renamed` | |\n").unwrap_err();
        assert!(e.contains("clause C2.3: test `openclaw-x::it a::renamed` does not exist"), "{e}");
        let e = run("| C2.4 | z | covered | `ops x_selftest.sh gone case` `ci nope` `doc README.md absent` | |\n")
            .unwrap_err();
        assert!(e.contains("C2.4: ops/tests/x_selftest.sh has no case `gone case`"), "{e}");
        assert!(e.contains("C2.4: `cargo xtask ci` has no step `nope`"), "{e}");
        assert!(e.contains("C2.4: README.md does not say `absent`"), "{e}");
    }

    #[test]
    fn a_clause_with_no_test_and_no_mark_fails_naming_it() {
        let e = run("| C3.1 | NEVER y | covered | | |\n").unwrap_err();
        assert!(e.contains("clause C3.1: has neither a test nor a `not yet: issue N` mark"), "{e}");
    }

    #[test]
    fn a_not_yet_mark_with_its_issue_passes_and_is_counted() {
        let ok = run("| C6.4 | Runner | not yet | `not yet: issue 15` | the runner |\n\
                      | C6.5 | pkg | partly | `test openclaw-x::it a::real`<br>`not yet: issue 17` | |\n")
        .unwrap();
        assert!(ok.contains("2 clauses: 0 covered, 1 partly, 1 not yet; issues named: 15, 17"), "{ok}");
        let e = run("| C6.4 | Runner | not yet | | |\n").unwrap_err();
        assert!(e.contains("C6.4: `not yet` needs `not yet: issue N`"), "{e}");
        let e = run("| C6.4 | Runner | covered | `not yet: issue 15` | |\n").unwrap_err();
        assert!(e.contains("C6.4: is `covered` but also marked not yet"), "{e}");
    }

    #[test]
    fn malformed_rows_are_errors_with_their_line() {
        for (row, want) in [
            ("| C1.1 | x | covered | `test a` | |", "is not `test BIN NAME`"),
            ("| C1.1 | x | covered | test a b | |", "evidence outside backticks"),
            ("| C1.1 | x | done | `ci docs drift` | |", "status `done`"),
            ("| C1.x | x | covered | `ci docs drift` | |", "`C1.x` is not a clause id"),
            ("| C1.1 | x | covered |", "has 5 cells"),
            ("| C1.1 | x | covered | `not yet: issue fifteen` | |", "the issue is a number"),
        ] {
            let e = run(&format!("{row}\n")).unwrap_err();
            assert!(e.contains(&format!("{TABLE}:4: ")) && e.contains(want), "{row}: {e}");
        }
        let e = run("| C1.1 | x | covered | `ci docs drift` | |\n| C1.1 | y | covered | `ci docs drift` | |\n")
            .unwrap_err();
        assert!(e.contains("clause C1.1 appears twice"), "{e}");
        assert!(parse("no table here").unwrap_err().contains("no clause rows"));
    }
}
