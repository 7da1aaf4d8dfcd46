//! The package's file tree for `cargo xtask dist`: what goes where, with
//! which mode, and the DEBIAN/ control files.
//!
//! docs/install.md lists the same layout for operators.

use std::path::Path;
use std::process::Command;

use crate::dist::{Release, run, stdout_of};

const MAINTAINER: &str = "OpenClaw maintainers <maintainers@users.noreply.r-seed-a27cde78.example>";

/// The ops/ wrappers shipped in /usr/lib/openclaw/ops/. Not
/// ops/openclaw_install_guard.sh: the package installs what it installs.
const OPS_SCRIPTS: &[&str] = &[
    "openclaw_console.sh",
    "openclaw_doctor.sh",
    "openclaw_guard.sh",
    "openclaw_keys.sh",
    "openclaw_notify.sh",
    "openclaw_review.sh",
    "openclaw_runner.sh",
    "vps_self_update.sh",
];

/// (file in the checkout, name under /usr/share/doc/openclaw/examples/).
const EXAMPLES: &[(&str, &str)] =
    &[("docs/openclaw.example.toml", "openclaw.toml"), ("docs/runner.example.toml", "runner.toml")];

/// Writes the whole tree (DEBIAN/ included) under `stage`.
pub(crate) fn stage(root: &Path, bins: &Path, rel: &Release, gen_dir: &Path, stage: &Path) -> Result<(), String> {
    let s = |p: &str| stage.join(p);
    for bin in &rel.bins {
        copy(&bins.join(bin), &s(&format!("usr/bin/{bin}")), 0o755)?;
    }
    for script in OPS_SCRIPTS {
        copy(&root.join("ops").join(script), &s(&format!("usr/lib/openclaw/ops/{script}")), 0o755)?;
    }
    copy(&root.join("ops/lib/exec_tool.sh"), &s("usr/lib/openclaw/ops/lib/exec_tool.sh"), 0o644)?;
    copy(&root.join("ops/sysctl/60-openclaw-guard.conf"), &s("usr/lib/openclaw/sysctl/60-openclaw-guard.conf"), 0o644)?;
    for unit in sorted_dir(&root.join("ops/systemd"))? {
        let text = read(&root.join("ops/systemd").join(&unit))?;
        write(&s(&format!("usr/lib/systemd/system/{unit}")), unit_for_package(&text).as_bytes(), 0o644)?;
    }
    copy(&root.join("ops/logrotate/openclaw-guard"), &s("etc/logrotate.d/openclaw-guard"), 0o644)?;

    for page in sorted_dir(&gen_dir.join("man1"))? {
        let dest = s(&format!("usr/share/man/man1/{page}"));
        copy(&gen_dir.join("man1").join(&page), &dest, 0o644)?;
        gzip(&dest)?;
    }
    for bin in &rel.bins {
        copy(&gen_dir.join("bash").join(bin), &s(&format!("usr/share/bash-completion/completions/{bin}")), 0o644)?;
        copy(
            &gen_dir.join("zsh").join(format!("_{bin}")),
            &s(&format!("usr/share/zsh/vendor-completions/_{bin}")),
            0o644,
        )?;
        copy(
            &gen_dir.join("fish").join(format!("{bin}.fish")),
            &s(&format!("usr/share/fish/vendor_completions.d/{bin}.fish")),
            0o644,
        )?;
    }

    let doc = s("usr/share/doc/openclaw");
    copy(&root.join("README.md"), &doc.join("README.md"), 0o644)?;
    copy(&root.join("ARCHITECTURE.md"), &doc.join("ARCHITECTURE.md"), 0o644)?;
    for md in sorted_dir(&root.join("docs"))?.into_iter().filter(|n| n.ends_with(".md")) {
        copy(&root.join("docs").join(&md), &doc.join(&md), 0o644)?;
    }
    for (src, name) in EXAMPLES {
        copy(&root.join(src), &doc.join("examples").join(name), 0o644)?;
    }
    copy(&root.join("ops/debian/copyright"), &doc.join("copyright"), 0o644)?;
    // A native package (the version has no Debian revision): lintian wants
    // changelog.gz, not changelog.Debian.gz.
    write(&doc.join("changelog"), changelog(rel)?.as_bytes(), 0o644)?;
    gzip(&doc.join("changelog"))?;

    // DEBIAN/: written last, so md5sums and Installed-Size see every file.
    let md5sums = md5sums(stage)?;
    let installed_kib = installed_size(stage)?;
    for script in ["postinst", "prerm", "postrm"] {
        copy(&root.join("ops/debian").join(script), &s(&format!("DEBIAN/{script}")), 0o755)?;
    }
    write(&s("DEBIAN/conffiles"), b"/etc/logrotate.d/openclaw-guard\n", 0o644)?;
    write(&s("DEBIAN/md5sums"), md5sums.as_bytes(), 0o644)?;
    let depends = shlib_depends(rel, stage)?;
    write(&s("DEBIAN/control"), control(rel, &depends, installed_kib).as_bytes(), 0o644)?;
    set_dir_modes(stage)
}

/// The repo's units name /usr/local/bin (where `cargo install` and
/// ops/openclaw_install_guard.sh put the binaries); the package's binaries
/// are in /usr/bin, in the Exec lines and in the comments' examples alike.
pub(crate) fn unit_for_package(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("Exec") || l.starts_with('#') {
                l.replace("/usr/local/bin/openclaw-", "/usr/bin/openclaw-")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn control(rel: &Release, depends: &str, installed_kib: u64) -> String {
    format!(
        "Package: openclaw\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: {MAINTAINER}\n\
         Installed-Size: {installed_kib}\n\
         Depends: {depends}, adduser, keyutils\n\
         Recommends: git, logrotate, bubblewrap\n\
         Section: admin\n\
         Priority: optional\n\
         Description: security tools for a host reachable only over Tailscale\n \
         OpenClaw's tools enforce its security contract on a VPS: openclaw-doctor\n \
         audits listeners, firewall, sshd, keys and the audit log; openclaw-guard\n \
         repairs regressions with a dead-man rollback; openclaw-notify sends\n \
         rate-limited Pushover alerts; openclaw-keyctl manages keys without\n \
         printing them; openclaw-reviewgate signs and checks review verdicts;\n \
         openclaw-console runs allowlisted actions over a loopback API; and\n \
         openclaw-runner runs allowlisted jobs on a read-only worktree.\n \
         .\n \
         Only the doctor and notifier timers are enabled on install.\n",
        version = rel.version,
        arch = rel.arch,
    )
}

fn changelog(rel: &Release) -> Result<String, String> {
    let date = stdout_of(Command::new("date").env("LC_ALL", "C").args(["-u", "-R", "-d", &format!("@{}", rel.epoch)]))?;
    Ok(format!(
        "openclaw ({}) unstable; urgency=medium\n\n  * Package built by cargo xtask dist from the workspace at this version.\n\n -- {MAINTAINER}  {date}\n",
        rel.version
    ))
}

/// `shlibs:Depends` for the binaries, from dpkg-shlibdeps.
fn shlib_depends(rel: &Release, stage: &Path) -> Result<String, String> {
    let tmp = stage.parent().ok_or("stage has no parent")?.join("shlibdeps");
    std::fs::create_dir_all(tmp.join("debian")).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::write(
        tmp.join("debian/control"),
        format!("Source: openclaw\n\nPackage: openclaw\nArchitecture: {}\n", rel.arch),
    )
    .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut cmd = Command::new("dpkg-shlibdeps");
    cmd.current_dir(&tmp).arg("-O");
    for bin in &rel.bins {
        cmd.arg(stage.join("usr/bin").join(bin));
    }
    let out = stdout_of(&mut cmd).map_err(|e| format!("{e} (dpkg-shlibdeps is in dpkg-dev)"))?;
    let deps =
        out.lines().find_map(|l| l.strip_prefix("shlibs:Depends=")).ok_or("dpkg-shlibdeps printed no Depends")?;
    Ok(deps.to_owned())
}

fn md5sums(stage: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    walk(stage, stage, &mut files)?;
    files.retain(|f| !f.starts_with("DEBIAN/") && !f.starts_with("etc/"));
    files.sort();
    let mut cmd = Command::new("md5sum");
    cmd.current_dir(stage).args(&files);
    Ok(stdout_of(&mut cmd)? + "\n")
}

/// dpkg's measure: 1 KiB per directory, each file rounded up to KiB.
fn installed_size(stage: &Path) -> Result<u64, String> {
    let mut files = Vec::new();
    walk(stage, stage, &mut files)?;
    let mut kib = 0;
    for f in files.iter().filter(|f| !f.starts_with("DEBIAN/")) {
        let len = std::fs::metadata(stage.join(f)).map_err(|e| format!("{f}: {e}"))?.len();
        kib += len.div_ceil(1024);
    }
    Ok(kib + count_dirs(stage)?)
}

fn count_dirs(dir: &Path) -> Result<u64, String> {
    let mut n = 1;
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() && !p.ends_with("DEBIAN") {
            n += count_dirs(&p)?;
        }
    }
    Ok(n)
}

/// Every regular file under `dir`, relative to `base`.
fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            walk(base, &p, out)?;
        } else {
            let rel = p.strip_prefix(base).map_err(|e| e.to_string())?;
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn set_dir_modes(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            set_dir_modes(&p)?;
        }
    }
    Ok(())
}

fn sorted_dir(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn copy(src: &Path, dest: &Path, mode: u32) -> Result<(), String> {
    let bytes = std::fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
    write(dest, &bytes, mode)
}

fn write(dest: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(dest, bytes).map_err(|e| format!("{}: {e}", dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", dest.display()))
}

/// Compresses `file` in place to `file.gz` with no name or time stored.
fn gzip(file: &Path) -> Result<(), String> {
    run(Command::new("gzip").args(["-n", "-9", "-f"]).arg(file))
}

#[cfg(test)]
mod tests {
    use super::unit_for_package;

    #[test]
    fn units_run_and_name_the_packaged_binaries_and_keep_everything_else() {
        let unit = "# built with cargo install to /usr/local/bin/openclaw-doctor\n[Service]\n\
                    ExecStart=/usr/local/bin/openclaw-doctor --format human\n\
                    ExecStartPre=/usr/local/bin/openclaw-keyctl status\nReadWritePaths=/usr/local/bin/x";
        assert_eq!(
            unit_for_package(unit),
            "# built with cargo install to /usr/bin/openclaw-doctor\n[Service]\n\
             ExecStart=/usr/bin/openclaw-doctor --format human\n\
             ExecStartPre=/usr/bin/openclaw-keyctl status\nReadWritePaths=/usr/local/bin/x\n"
        );
    }
}
