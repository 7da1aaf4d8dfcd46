//! Reads `iptables-save` text: the legacy tables nft cannot see, and the
//! options of iptables-nft rules that nft shows only as `xt match NAME`.

use std::collections::BTreeMap;

/// One `-A CHAIN …` line, tokenised (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaveRule {
    pub(crate) chain: String,
    pub(crate) tokens: Vec<String>,
}

impl SaveRule {
    /// The options of the `n`th `-m NAME` in this rule (tokens up to the next
    /// `-m`, `-j` or `-g`), with `!` kept in place.
    pub(crate) fn module(&self, name: &str, n: usize) -> Option<&[String]> {
        let starts: Vec<usize> = self
            .tokens
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] == "-m" && w[1] == name)
            .map(|(i, _)| i + 2)
            .collect();
        let start = *starts.get(n)?;
        let len = self.tokens[start..]
            .iter()
            .position(|t| matches!(t.as_str(), "-m" | "-j" | "-g"))
            .unwrap_or(self.tokens.len() - start);
        // A `!` right before the next `-m` belongs to that module, not this one.
        let mut opts = &self.tokens[start..start + len];
        if opts.last().is_some_and(|t| t == "!") {
            opts = &opts[..opts.len() - 1];
        }
        Some(opts)
    }
}

/// One `*table` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SaveTable {
    pub(crate) name: String,
    /// Built-in chain policies (`:INPUT DROP [0:0]`); user chains have `-`.
    pub(crate) policies: BTreeMap<String, String>,
    pub(crate) rules: Vec<SaveRule>,
}

impl SaveTable {
    pub(crate) fn chain_rules(&self, chain: &str) -> Vec<&SaveRule> {
        self.rules.iter().filter(|r| r.chain == chain).collect()
    }
}

/// Parses `iptables-save` output. Lines it does not understand are skipped:
/// the caller treats what it finds conservatively.
pub(crate) fn parse(text: &str) -> Vec<SaveTable> {
    let mut tables: Vec<SaveTable> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            tables.push(SaveTable { name: name.to_owned(), ..SaveTable::default() });
            continue;
        }
        let Some(table) = tables.last_mut() else { continue };
        if let Some(decl) = line.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            if let (Some(chain), Some(policy)) = (it.next(), it.next()) {
                table.policies.insert(chain.to_owned(), policy.to_owned());
            }
        } else if line.starts_with("-A ") {
            let mut tokens = tokenize(line);
            if tokens.len() >= 2 {
                let chain = tokens[1].clone();
                tokens.drain(..2);
                table.rules.push(SaveRule { chain, tokens });
            }
        }
    }
    tables
}

/// Splits a save line on whitespace, honouring double quotes and backslash escapes.
fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut in_quotes, mut escaped, mut any) = (false, false, false);
    for c in line.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
            any = true;
        } else if c.is_whitespace() && !in_quotes {
            if any || !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            any = false;
        } else {
            cur.push(c);
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What the legacy (x_tables) tables hold, which nft cannot show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LegacyFindings {
    /// `table chain: rule` for every rule, and `table chain policy P` for
    /// every built-in chain whose policy is not ACCEPT.
    pub(crate) items: Vec<String>,
}

/// Lists every legacy rule and non-ACCEPT policy, for `ip` or `ip6`.
pub(crate) fn findings(family: &str, tables: &[SaveTable]) -> LegacyFindings {
    let mut items = Vec::new();
    for t in tables {
        for (chain, policy) in &t.policies {
            if policy != "ACCEPT" && policy != "-" {
                items.push(format!("{family} {} {chain}: policy {policy}", t.name));
            }
        }
        for r in &t.rules {
            items.push(format!("{family} {} {}: {}", t.name, r.chain, r.tokens.join(" ")));
        }
    }
    LegacyFindings { items }
}

/// Whether a raw-table rule may make packets untracked (`-j NOTRACK`, `-j CT`),
/// which changes what `ct state` matches.
pub(crate) fn untracks(tables: &[SaveTable]) -> bool {
    tables
        .iter()
        .filter(|t| t.name == "raw")
        .flat_map(|t| &t.rules)
        .any(|r| r.tokens.windows(2).any(|w| w[0] == "-j" && matches!(w[1].as_str(), "NOTRACK" | "CT")))
}
