//! Reads `nft -j list ruleset` into typed tables, chains, rules and sets.
//!
//! Only the shape the evaluator needs is modelled; anything else is kept as
//! an explicit `Unknown` so the evaluator can treat it conservatively. The
//! reader never panics on malformed input: a document that is not the nft
//! JSON envelope is an error, unknown objects and expressions are kept as
//! unknown.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// A table family. Only `ip`, `ip6` and `inet` tables see host-bound IP traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Ip,
    Ip6,
    Inet,
    Other,
}

impl Family {
    fn parse(s: &str) -> Family {
        match s {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            _ => Family::Other,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Other => "other",
        }
    }
}

/// Whether a table filters at all (`flags dormant` tables filter nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dormancy {
    Active,
    Dormant,
    /// A `flags` value we cannot read (nft 1.0.6 prints garbage there), so it
    /// may be dormant: its chains are not credited with any drop.
    Unclear(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    Accept,
    Drop,
}

#[derive(Debug, Clone)]
pub(crate) struct BaseChain {
    /// `filter`, `nat` or `route`: only filter chains reliably see every packet.
    pub(crate) kind: String,
    pub(crate) hook: String,
    pub(crate) prio: i64,
    pub(crate) policy: Policy,
}

#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) name: String,
    pub(crate) base: Option<BaseChain>,
    pub(crate) rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) exprs: Vec<Expr>,
    /// nft's handle, for naming the rule in a report.
    pub(crate) handle: Option<u64>,
}

/// A verdict statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
    /// `reject`: for a new connection, the same as drop.
    Reject,
    Continue,
    Return,
    Jump(String),
    Goto(String),
    /// `queue`: user space decides, so it may accept.
    Queue,
}

/// The left-hand side of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Meta(String),
    Payload { protocol: String, field: String },
    Ct(String),
    Fib { result: String, flags: Vec<String> },
    Concat(Vec<Key>),
    Other(String),
}

/// A constant on the right-hand side of a match, a set element or a map key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Num(i64),
    Str(String),
    Prefix(String, u8),
    Range(Box<Value>, Box<Value>),
    /// An anonymous set `{ a, b }` or a flag list `established,related`.
    Set(Vec<Value>),
    /// `@name`: a named set of the same table.
    SetRef(String),
    Concat(Vec<Value>),
    Other(String),
}

/// The elements of a verdict map, inline or named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MapRef {
    Inline(Vec<(Value, Verdict)>),
    Named(String),
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XtKind {
    Match,
    Target,
}

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Match {
        op: String,
        left: Key,
        right: Value,
    },
    Verdict(Verdict),
    Vmap {
        key: Key,
        map: MapRef,
    },
    /// Has no effect on the verdict (counter, log, meta/ct set, …).
    Statement(String),
    /// Matches some packets and not others in ways we do not model (limit, quota).
    MaybeMatch(String),
    /// An iptables extension that nft shows only by name.
    Xt {
        kind: XtKind,
        name: String,
    },
    /// Notrack: conntrack state of the packet becomes `untracked`.
    Notrack,
    /// Sends the packet somewhere else than where it was addressed, or
    /// turns it into something else: `dnat`, `redirect`, `tproxy`, a header
    /// `mangle`. With the destination when it is a plain `dnat`/`redirect`
    /// (the firewall check follows those, `nat`); otherwise the check
    /// cannot follow it.
    Rewrite(String, Option<NatTo>),
    Unknown(String),
}

/// Where a `dnat` or `redirect` sends a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NatTo {
    /// This host (`redirect`): the port, or the same one.
    Local { port: Option<u16> },
    /// An address (`dnat`): the port, or the same one.
    Addr { addr: std::net::IpAddr, port: Option<u16> },
}

/// The target of a `dnat`/`redirect` statement, when it is one address and
/// one port (not a range, map or expression). Pure.
fn nat_to(kind: &str, v: &Json) -> Option<NatTo> {
    let port = match v.get("port") {
        None => None,
        Some(p) => Some(u16::try_from(p.as_u64()?).ok()?),
    };
    match kind {
        "redirect" => Some(NatTo::Local { port }),
        "dnat" => Some(NatTo::Addr { addr: v.get("addr")?.as_str()?.parse().ok()?, port }),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) family: Family,
    pub(crate) name: String,
    pub(crate) dormancy: Dormancy,
    pub(crate) chains: Vec<Chain>,
    /// Named sets: their elements.
    pub(crate) sets: BTreeMap<String, Vec<Value>>,
    /// Named sets whose contents packets can change (`dynamic`/`timeout`
    /// flags, or the target of an `add`/`update` statement): what they hold
    /// when read says nothing about what they hold when the next packet comes.
    pub(crate) dynamic_sets: std::collections::BTreeSet<String>,
    /// Named verdict maps: their elements.
    pub(crate) maps: BTreeMap<String, Vec<(Value, Verdict)>>,
}

impl Table {
    pub(crate) fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.family.as_str(), self.name)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Ruleset {
    pub(crate) tables: Vec<Table>,
    /// The nft version from `metainfo`, for the report.
    pub(crate) version: Option<String>,
}

impl Ruleset {
    /// Whether any rule uses an iptables extension (`xt`), whose details nft cannot show.
    pub(crate) fn has_xt(&self) -> bool {
        self.rules().any(|(_, _, r)| r.exprs.iter().any(|e| matches!(e, Expr::Xt { .. })))
    }

    pub(crate) fn has_notrack(&self) -> bool {
        self.rules().any(|(_, _, r)| {
            r.exprs.iter().any(|e| match e {
                Expr::Notrack | Expr::Unknown(_) => true,
                // iptables-nft's `-j CT --notrack` and `-j NOTRACK` show only by name.
                Expr::Xt { kind: XtKind::Target, name } => matches!(name.as_str(), "CT" | "NOTRACK"),
                _ => false,
            })
        })
    }

    pub(crate) fn rules(&self) -> impl Iterator<Item = (&Table, &Chain, &Rule)> {
        self.tables.iter().flat_map(|t| t.chains.iter().flat_map(move |c| c.rules.iter().map(move |r| (t, c, r))))
    }
}

/// Why the nft output could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ParseError {
    #[error("`nft -j list ruleset` did not print JSON: {0}")]
    NotJson(String),
    #[error("`nft -j list ruleset` printed JSON without the `nftables` array")]
    NoEnvelope,
}

fn s<'a>(obj: &'a Json, key: &str) -> &'a str {
    obj.get(key).and_then(Json::as_str).unwrap_or("")
}

/// Parses the output of `nft -j list ruleset`.
pub(crate) fn parse(text: &str) -> Result<Ruleset, ParseError> {
    let doc: Json = serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let items = doc.get("nftables").and_then(Json::as_array).ok_or(ParseError::NoEnvelope)?;
    let mut rs = Ruleset::default();
    let find = |rs: &mut Ruleset, o: &Json| -> Option<usize> {
        let (fam, name) = (Family::parse(s(o, "family")), s(o, "table"));
        rs.tables.iter().position(|t| t.family == fam && t.name == name)
    };
    for item in items {
        let Some((kind, o)) = item.as_object().and_then(|m| m.iter().next()) else { continue };
        match kind.as_str() {
            "metainfo" => rs.version = o.get("version").and_then(Json::as_str).map(str::to_owned),
            "table" => {
                let dormancy = match o.get("flags") {
                    None => Dormancy::Active,
                    Some(f) => dormancy(f),
                };
                let (family, name) = (Family::parse(s(o, "family")), s(o, "name").to_owned());
                if !rs.tables.iter().any(|t| t.family == family && t.name == name) {
                    rs.tables.push(Table {
                        family,
                        name,
                        dormancy,
                        chains: Vec::new(),
                        sets: BTreeMap::new(),
                        dynamic_sets: Default::default(),
                        maps: BTreeMap::new(),
                    });
                }
            }
            "chain" => {
                let Some(t) = find(&mut rs, o) else { continue };
                let base = o.get("hook").and_then(Json::as_str).map(|hook| BaseChain {
                    kind: s(o, "type").to_owned(),
                    hook: hook.to_owned(),
                    prio: o.get("prio").and_then(Json::as_i64).unwrap_or(0),
                    policy: if s(o, "policy") == "drop" { Policy::Drop } else { Policy::Accept },
                });
                rs.tables[t].chains.push(Chain { name: s(o, "name").to_owned(), base, rules: Vec::new() });
            }
            "rule" => {
                let Some(t) = find(&mut rs, o) else { continue };
                let raw_exprs = o.get("expr").and_then(Json::as_array).cloned().unwrap_or_default();
                for e in &raw_exprs {
                    if let Some(target) = e.get("set").and_then(|v| v.get("set")).and_then(Json::as_str) {
                        rs.tables[t].dynamic_sets.insert(target.trim_start_matches('@').to_owned());
                    }
                }
                let exprs: Vec<Expr> = raw_exprs.iter().map(expr).collect();
                if let Some(c) = rs.tables[t].chains.iter_mut().find(|c| c.name == s(o, "chain")) {
                    c.rules.push(Rule { exprs, handle: o.get("handle").and_then(Json::as_u64) });
                }
            }
            "set" | "map" => {
                let Some(t) = find(&mut rs, o) else { continue };
                let elems = o.get("elem").and_then(Json::as_array).cloned().unwrap_or_default();
                let name = s(o, "name").to_owned();
                if kind == "map" {
                    if s(o, "map") == "verdict" {
                        let pairs = elems.iter().filter_map(map_pair).collect();
                        rs.tables[t].maps.insert(name, pairs);
                    }
                } else {
                    let flags: Vec<&str> = match o.get("flags") {
                        Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).collect(),
                        Some(Json::String(f)) => vec![f.as_str()],
                        _ => Vec::new(),
                    };
                    if flags.iter().any(|f| matches!(*f, "dynamic" | "timeout")) || o.get("timeout").is_some() {
                        rs.tables[t].dynamic_sets.insert(name.clone());
                    }
                    rs.tables[t].sets.insert(name, elems.iter().map(value).collect());
                }
            }
            _ => {}
        }
    }
    Ok(rs)
}

fn dormancy(flags: &Json) -> Dormancy {
    let list: Vec<&str> = match flags {
        Json::String(f) => vec![f.as_str()],
        Json::Array(a) => a.iter().map(|f| f.as_str().unwrap_or("?")).collect(),
        other => return Dormancy::Unclear(other.to_string()),
    };
    if list.contains(&"dormant") {
        Dormancy::Dormant
    } else if list.iter().all(|f| matches!(*f, "owner" | "persist")) {
        Dormancy::Active
    } else {
        Dormancy::Unclear(list.join(","))
    }
}

fn map_pair(e: &Json) -> Option<(Value, Verdict)> {
    let pair = e.as_array()?;
    let v = verdict(pair.get(1)?)?;
    Some((value(pair.first()?), v))
}

/// A verdict object such as `{"accept": null}` or `{"jump": {"target": "x"}}`.
fn verdict(e: &Json) -> Option<Verdict> {
    let (k, v) = e.as_object()?.iter().next()?;
    let target = || v.get("target").and_then(Json::as_str).unwrap_or("").to_owned();
    Some(match k.as_str() {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        "continue" => Verdict::Continue,
        "return" => Verdict::Return,
        "jump" => Verdict::Jump(target()),
        "goto" => Verdict::Goto(target()),
        "queue" => Verdict::Queue,
        _ => return None,
    })
}

fn expr(e: &Json) -> Expr {
    if let Some(v) = verdict(e) {
        return Expr::Verdict(v);
    }
    let Some((k, v)) = e.as_object().and_then(|m| m.iter().next()) else { return Expr::Unknown(e.to_string()) };
    match k.as_str() {
        "match" => Expr::Match {
            op: s(v, "op").to_owned(),
            left: key(v.get("left").unwrap_or(&Json::Null)),
            right: value(v.get("right").unwrap_or(&Json::Null)),
        },
        "vmap" => {
            let map = match v.get("data") {
                Some(Json::String(r)) => match r.strip_prefix('@') {
                    Some(name) => MapRef::Named(name.to_owned()),
                    None => MapRef::Other(r.clone()),
                },
                Some(d) => match d.get("set").and_then(Json::as_array) {
                    Some(elems) => MapRef::Inline(elems.iter().filter_map(map_pair).collect()),
                    None => MapRef::Other(d.to_string()),
                },
                None => MapRef::Other(String::new()),
            };
            Expr::Vmap { key: key(v.get("key").unwrap_or(&Json::Null)), map }
        }
        "dnat" | "redirect" | "tproxy" => {
            let addr = v.get("addr").map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned));
            let port = v.get("port").map(|p| p.to_string());
            let text = match (addr, port) {
                (Some(a), Some(p)) => format!("{k} to {a}:{p}"),
                (Some(a), None) => format!("{k} to {a}"),
                (None, Some(p)) => format!("{k} to :{p}"),
                (None, None) => k.clone(),
            };
            Expr::Rewrite(text, nat_to(k, v))
        }
        // Writing a header byte (a named field, a raw `@base,offset,len`, an
        // extension header) can change where the packet goes or what it is
        // (`ip protocol set` turns UDP into TCP): the evaluator cannot follow
        // it. Marks and priorities write no header, and a TCP option (MSS
        // clamping, common on a subnet router) cannot redirect a packet.
        "mangle" => match v.get("key").and_then(Json::as_object).and_then(|m| m.iter().next()) {
            Some((kind, key)) if kind == "payload" => Expr::Rewrite(format!("mangle {}", payload_name(key)), None),
            Some((kind, _)) if kind == "exthdr" => Expr::Rewrite(format!("mangle {kind}"), None),
            _ => Expr::Statement(k.clone()),
        },
        "counter" | "log" | "comment" | "snat" | "masquerade" | "flow" | "set" => Expr::Statement(k.clone()),
        "limit" | "quota" | "ct count" | "synproxy" => Expr::MaybeMatch(k.clone()),
        "notrack" => Expr::Notrack,
        "xt" => Expr::Xt {
            kind: if s(v, "type") == "target" { XtKind::Target } else { XtKind::Match },
            name: s(v, "name").to_owned(),
        },
        _ => Expr::Unknown(e.to_string()),
    }
}

/// `ip daddr`, or a raw `@th,16,8` (base, offset, length in bits).
fn payload_name(p: &Json) -> String {
    match p.get("field").and_then(Json::as_str) {
        Some(field) => format!("{} {field}", s(p, "protocol")),
        None => format!(
            "@{},{},{}",
            s(p, "base"),
            p.get("offset").and_then(Json::as_u64).unwrap_or(0),
            p.get("len").and_then(Json::as_u64).unwrap_or(0)
        ),
    }
}

fn key(e: &Json) -> Key {
    let Some((k, v)) = e.as_object().and_then(|m| m.iter().next()) else { return Key::Other(e.to_string()) };
    match k.as_str() {
        "meta" => Key::Meta(s(v, "key").to_owned()),
        "payload" if v.get("protocol").is_some() => {
            Key::Payload { protocol: s(v, "protocol").to_owned(), field: s(v, "field").to_owned() }
        }
        "ct" if v.get("dir").is_none() => Key::Ct(s(v, "key").to_owned()),
        "fib" => Key::Fib {
            result: s(v, "result").to_owned(),
            flags: v
                .get("flags")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Json::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        },
        "concat" => Key::Concat(v.as_array().map(|a| a.iter().map(key).collect()).unwrap_or_default()),
        _ => Key::Other(e.to_string()),
    }
}

fn value(e: &Json) -> Value {
    match e {
        Json::Number(n) => n.as_i64().map_or_else(|| Value::Other(n.to_string()), Value::Num),
        Json::String(st) => match st.strip_prefix('@') {
            Some(name) => Value::SetRef(name.to_owned()),
            None => Value::Str(st.clone()),
        },
        Json::Array(a) => Value::Set(a.iter().map(value).collect()),
        Json::Object(m) => {
            let Some((k, v)) = m.iter().next() else { return Value::Other(e.to_string()) };
            match k.as_str() {
                "set" => match v.as_array() {
                    Some(a) => Value::Set(a.iter().map(value).collect()),
                    None => value(v),
                },
                "prefix" => match (v.get("addr").and_then(Json::as_str), v.get("len").and_then(Json::as_u64)) {
                    (Some(addr), Some(len)) if len <= 128 => Value::Prefix(addr.to_owned(), len as u8),
                    _ => Value::Other(e.to_string()),
                },
                "range" => match v.as_array().map(Vec::as_slice) {
                    Some([a, b]) => Value::Range(Box::new(value(a)), Box::new(value(b))),
                    _ => Value::Other(e.to_string()),
                },
                "concat" => Value::Concat(v.as_array().map(|a| a.iter().map(value).collect()).unwrap_or_default()),
                "elem" => value(v.get("val").unwrap_or(&Json::Null)),
                _ => Value::Other(e.to_string()),
            }
        }
        Json::Null | Json::Bool(_) => Value::Other(e.to_string()),
    }
}

/// nft-like text of one expression, for the report's chain path.
pub(crate) fn render(e: &Expr) -> String {
    match e {
        Expr::Match { op, left, right } => {
            let op = match op.as_str() {
                "==" | "in" => String::new(),
                other => format!("{other} "),
            };
            format!("{} {op}{}", render_key(left), render_value(right))
        }
        Expr::Verdict(v) => render_verdict(v),
        Expr::Vmap { key, map } => {
            let m = match map {
                MapRef::Inline(pairs) => format!(
                    "{{ {} }}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{} : {}", render_value(k), render_verdict(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                MapRef::Named(n) => format!("@{n}"),
                MapRef::Other(o) => o.clone(),
            };
            format!("{} vmap {m}", render_key(key))
        }
        Expr::Statement(k) | Expr::MaybeMatch(k) | Expr::Rewrite(k, _) => k.clone(),
        Expr::Xt { kind: XtKind::Match, name } => format!("xt match {name}"),
        Expr::Xt { kind: XtKind::Target, name } => format!("xt target {name}"),
        Expr::Notrack => "notrack".to_owned(),
        Expr::Unknown(raw) => format!("<unmodelled {}>", raw.chars().take(80).collect::<String>()),
    }
}

/// A whole rule, every statement included (a path that leaves one out
/// could hide what the rule does to the packet).
pub(crate) fn render_rule(r: &Rule) -> String {
    r.exprs.iter().map(render).collect::<Vec<_>>().join(" ")
}

pub(crate) fn render_verdict(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Reject => "reject".into(),
        Verdict::Continue => "continue".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(t) => format!("jump {t}"),
        Verdict::Goto(t) => format!("goto {t}"),
        Verdict::Queue => "queue".into(),
    }
}

fn render_key(k: &Key) -> String {
    match k {
        Key::Meta(m) => format!("meta {m}"),
        Key::Payload { protocol, field } => format!("{protocol} {field}"),
        Key::Ct(c) => format!("ct {c}"),
        Key::Fib { result, flags } => format!("fib {} {result}", flags.join(" . ")),
        Key::Concat(ks) => ks.iter().map(render_key).collect::<Vec<_>>().join(" . "),
        Key::Other(o) => o.chars().take(60).collect(),
    }
}

pub(crate) fn render_value(v: &Value) -> String {
    match v {
        Value::Num(n) => n.to_string(),
        Value::Str(st) => st.clone(),
        Value::Prefix(a, l) => format!("{a}/{l}"),
        Value::Range(a, b) => format!("{}-{}", render_value(a), render_value(b)),
        Value::Set(items) => format!("{{ {} }}", items.iter().map(render_value).collect::<Vec<_>>().join(", ")),
        Value::SetRef(n) => format!("@{n}"),
        Value::Concat(items) => items.iter().map(render_value).collect::<Vec<_>>().join(" . "),
        Value::Other(o) => o.chars().take(60).collect(),
    }
}
