//! The pure part of `ssh-tailnet-only`: reading `sshd -T` and deciding the
//! edits to sshd's configuration files. No IO.
//!
//! sshd reads `keyword args`, keywords case-insensitive, `=` allowed as the
//! separator, `#` starting a comment. `ListenAddress` and `Port` accumulate;
//! `AddressFamily` is first-wins. So the fix:
//! - makes sure `sshd_config` reads the fix's drop-in: when it does not
//!   include `<ssh dir>/sshd_config.d/*.conf` already, it prepends
//!   `Include <that dir>/99-openclaw-tailnet-only.conf` (only that file, so
//!   no drop-in nobody was reading is switched on);
//! - neutralises every other active `ListenAddress` and every `AddressFamily`
//!   other than `inet` in `sshd_config` and, when it includes them, the
//!   drop-in directory's files, replacing
//!   the line with `# DISABLED by openclaw-guard <stamp>, was: <line>`;
//! - writes the drop-in `99-openclaw-tailnet-only.conf` with
//!   `AddressFamily inet` and one `ListenAddress <tailnet ip>:<port>` per
//!   port sshd listens on now (from `sshd -T`, never assumed 22).
//!
//! `Port`, authentication and `Match` blocks are never touched.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use common::sshd_syntax::directive;

/// The drop-in's file name (sorted last, so an operator's own drop-ins are
/// still read, and neutralised where they conflict).
pub const DROPIN_NAME: &str = "99-openclaw-tailnet-only.conf";

/// Marks a line the fix turned into a comment.
pub const DISABLED_MARK: &str = "# DISABLED by openclaw-guard";

/// What `sshd -T` says sshd does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Every `listenaddress` line, as socket addresses.
    pub listen: Vec<SocketAddr>,
    /// The `addressfamily` value (`any`, `inet`, `inet6`).
    pub address_family: String,
}

/// Why `sshd -T` output was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EffectiveError {
    /// No `listenaddress` line at all.
    #[error("`sshd -T` printed no listenaddress line")]
    NoListen,
    /// A line that does not parse.
    #[error("`sshd -T` printed an unreadable listenaddress: {0}")]
    Unreadable(String),
}

/// Parses `sshd -T` output. Pure.
pub fn parse_effective(text: &str) -> Result<Effective, EffectiveError> {
    let mut listen = Vec::new();
    let mut address_family = "any".to_owned();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once(' ') else { continue };
        match key {
            "listenaddress" => {
                // `0.0.0.0:22`, `[::]:22`, or with a routing domain suffix.
                let addr = value.split_whitespace().next().unwrap_or("");
                let parsed = addr.parse::<SocketAddr>().map_err(|_| EffectiveError::Unreadable(addr.to_owned()))?;
                listen.push(parsed);
            }
            "addressfamily" => value.trim().clone_into(&mut address_family),
            _ => {}
        }
    }
    if listen.is_empty() {
        return Err(EffectiveError::NoListen);
    }
    Ok(Effective { listen, address_family })
}

impl Effective {
    /// The ports sshd listens on, sorted and deduplicated.
    pub fn ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = self.listen.iter().map(SocketAddr::port).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// Whether sshd accepts on `ip` on every one of `ports`: bound to it, or
    /// to the IPv4 wildcard (sshd's IPv6 sockets are IPv6-only).
    pub fn reaches(&self, ip: Ipv4Addr, ports: &[u16]) -> bool {
        ports.iter().all(|&p| {
            self.listen
                .iter()
                .any(|a| a.port() == p && (a.ip() == IpAddr::V4(ip) || a.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
        })
    }

    /// Whether sshd listens on `ip` only, on exactly `ports`, IPv4 only.
    pub fn is_tailnet_only(&self, ip: Ipv4Addr, ports: &[u16]) -> bool {
        self.listen.iter().all(|a| a.ip() == IpAddr::V4(ip)) && self.ports() == ports && self.address_family == "inet"
    }
}

/// One configuration file as read (or absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its path.
    pub path: PathBuf,
    /// Its text; `None` when it does not exist.
    pub text: Option<String>,
}

/// One file the fix writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The file.
    pub path: PathBuf,
    /// Its new text.
    pub text: String,
    /// What changed, for the log.
    pub why: String,
}

/// The drop-in's text.
pub fn dropin_text(ip: Ipv4Addr, ports: &[u16], stamp: &str) -> String {
    let mut t = format!(
        "# Written by openclaw-guard (ssh-tailnet-only) at {stamp}; do not edit.\n\
         # sshd listens on the tailnet address only. Undo: `openclaw-guard rollback`\n\
         # while a rollback is pending, else restore from the backup named in the guard log.\n\
         AddressFamily inet\n"
    );
    for p in ports {
        t.push_str(&format!("ListenAddress {ip}:{p}\n"));
    }
    t
}

/// Whether the arguments of an active `Include` name the drop-in directory's
/// files (absolute, or relative to `/etc/ssh` as sshd resolves them).
fn includes(args: &str, dropin_dir: &Path) -> bool {
    let dir = dropin_dir.display().to_string();
    args.split_whitespace().any(|a| {
        [format!("{dir}/*.conf"), format!("{dir}/*"), "sshd_config.d/*.conf".into(), "sshd_config.d/*".into()]
            .contains(&a.to_owned())
    })
}

/// Whether `sshd_config` includes the drop-in directory's files. Pure.
pub fn includes_dropins(main: &str, dropin_dir: &Path) -> bool {
    main.lines().any(|l| matches!(directive(l), Some((k, args)) if k == "include" && includes(args, dropin_dir)))
}

/// The `sshd -T` lines other than `listenaddress` and `addressfamily` that
/// differ between `before` and `after`: the fix must change nothing else
/// (an added `Include` could switch on drop-ins nobody was reading). Pure.
pub fn other_changes(before: &str, after: &str) -> Vec<String> {
    let keep = |t: &str| -> Vec<String> {
        let mut v: Vec<String> = t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("listenaddress ") && !l.starts_with("addressfamily "))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    let (b, a) = (keep(before), keep(after));
    let mut diff: Vec<String> = b.iter().filter(|l| !a.contains(l)).map(|l| format!("-{l}")).collect();
    diff.extend(a.iter().filter(|l| !b.contains(l)).map(|l| format!("+{l}")));
    diff
}

/// The edits that make sshd listen on `ip:ports` only. `main` is
/// `sshd_config`; `others` are the files of the drop-in directory (the
/// fix's own drop-in among them or not). Pure.
pub fn plan_edits(
    main: &ConfigFile,
    others: &[ConfigFile],
    dropin_dir: &Path,
    ip: Ipv4Addr,
    ports: &[u16],
    stamp: &str,
) -> Vec<Edit> {
    let dropin_path = dropin_dir.join(DROPIN_NAME);
    let mut edits = Vec::new();
    let ours = |args: &str| -> bool {
        args.parse::<SocketAddr>().is_ok_and(|a| a.ip() == IpAddr::V4(ip) && ports.contains(&a.port()))
    };
    let neutralise = |f: &ConfigFile, add_include: bool| -> Option<Edit> {
        let text = f.text.as_deref()?;
        let mut why = Vec::new();
        let mut out = String::with_capacity(text.len() + 128);
        if add_include {
            out.push_str(&include_header(&dropin_path, stamp));
            why.push(format!("added `Include {}`", dropin_path.display()));
        }
        for line in text.split_inclusive('\n') {
            let bad = match directive(line) {
                Some((k, args)) if k == "listenaddress" => !ours(args),
                Some((k, args)) if k == "addressfamily" => !args.eq_ignore_ascii_case("inet"),
                _ => false,
            };
            if bad {
                let body = line.trim_end_matches(['\n', '\r']);
                out.push_str(&format!("{DISABLED_MARK} {stamp}, was: {body}\n"));
                why.push(format!("disabled `{}`", body.trim()));
            } else {
                out.push_str(line);
            }
        }
        (!why.is_empty()).then(|| Edit { path: f.path.clone(), text: out, why: why.join("; ") })
    };
    let has_include = main.text.as_deref().is_some_and(|t| includes_dropins(t, dropin_dir));
    edits.extend(neutralise(main, !reads_dropin(main, dropin_dir)));
    // Drop-ins nobody includes are not read by sshd: left alone (the fix
    // includes its own file only, so it switches none of them on).
    if has_include {
        for f in others.iter().filter(|f| f.path != dropin_path) {
            edits.extend(neutralise(f, false));
        }
    }
    let why = format!("wrote `ListenAddress {ip}` for port(s) {ports:?}");
    edits.extend(dropin_edit(others, dropin_path, dropin_text(ip, ports, stamp), why));
    edits
}

/// Whether `sshd_config` reads the fix's drop-in: it includes the drop-in
/// directory's files, or names the drop-in itself. Pure.
fn reads_dropin(main: &ConfigFile, dropin_dir: &Path) -> bool {
    let dropin_path = dropin_dir.join(DROPIN_NAME);
    main.text.as_deref().is_some_and(|t| {
        includes_dropins(t, dropin_dir)
            || t.lines().any(|l| {
                matches!(directive(l), Some((k, args)) if k == "include"
                    && args.split_whitespace().any(|a| Path::new(a) == dropin_path))
            })
    })
}

/// The lines prepended to `sshd_config` so that it reads the drop-in first.
fn include_header(dropin_path: &Path, stamp: &str) -> String {
    format!("# Added by openclaw-guard {stamp}: read its drop-in first.\nInclude {}\n", dropin_path.display())
}

/// The drop-in's edit: written only when its directives differ from `wanted`'s.
fn dropin_edit(others: &[ConfigFile], dropin_path: PathBuf, wanted: String, why: String) -> Option<Edit> {
    let current = others.iter().find(|f| f.path == dropin_path).and_then(|f| f.text.as_deref());
    let differs = current.map(active_lines) != Some(active_lines(&wanted));
    differs.then_some(Edit { path: dropin_path, text: wanted, why })
}

/// The drop-in's text for phase 1: the tailnet address added, nothing else.
pub fn phase1_text(ip: Ipv4Addr, ports: &[u16], stamp: &str) -> String {
    let mut t = format!(
        "# Written by openclaw-guard (ssh-tailnet-only, phase 1) at {stamp}; do not edit.\n\
         # sshd also listens on the tailnet address; every other listener is kept until\n\
         # a login over the tailnet is seen (docs/guard.md).\n"
    );
    for p in ports {
        t.push_str(&format!("ListenAddress {ip}:{p}\n"));
    }
    t
}

/// Phase 1's edits: make `sshd_config` read the fix's drop-in (as
/// [`plan_edits`] does) and write it with `ListenAddress <ip>:<port>` per
/// port; no other line is touched, so every listener stays. Pure.
pub fn plan_add_tailnet(
    main: &ConfigFile,
    others: &[ConfigFile],
    dropin_dir: &Path,
    ip: Ipv4Addr,
    ports: &[u16],
    stamp: &str,
) -> Vec<Edit> {
    let dropin_path = dropin_dir.join(DROPIN_NAME);
    let mut edits = Vec::new();
    if !reads_dropin(main, dropin_dir)
        && let Some(text) = main.text.as_deref()
    {
        edits.push(Edit {
            path: main.path.clone(),
            text: format!("{}{text}", include_header(&dropin_path, stamp)),
            why: format!("added `Include {}`", dropin_path.display()),
        });
    }
    let why = format!("added `ListenAddress {ip}` for port(s) {ports:?}, every other listener kept");
    edits.extend(dropin_edit(others, dropin_path, phase1_text(ip, ports, stamp), why));
    edits
}

/// Whether a line is an active directive (not blank, not a comment).
pub fn is_active(line: &str) -> bool {
    directive(line).is_some()
}

fn active_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| directive(l).is_some()).map(|l| l.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests;
