//! `cargo xtask dist`: the Debian package, a tarball of the same tree and
//! their SHA256SUMS under target/dist/, built reproducibly.
//!
//! Release binaries are built with the build paths remapped; `dist-gen`
//! writes the man pages and completions; `dist_stage` lays out the tree.
//! Every mtime is clamped to SOURCE_DATE_EPOCH (default: the HEAD commit's
//! time), `dpkg-deb` sorts and clamps on its own, the tarball is written by
//! GNU tar with sorted names, root owners and no atime/ctime, then `gzip -n`.
//! Two runs from the same commit give byte-identical files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::dist_stage;

/// The tool packages whose binaries go to /usr/bin.
pub(crate) const TOOL_PACKAGES: &[&str] =
    &["doctor", "guard", "notifier", "keyctl", "reviewgate", "openclaw-console", "openclaw-runner"];

/// What one `dist` run produced.
pub(crate) struct Built {
    pub(crate) deb: PathBuf,
    pub(crate) tarball: PathBuf,
    pub(crate) sums: PathBuf,
}

/// Everything that names the build: versions, architecture, time.
pub(crate) struct Release {
    pub(crate) version: String,
    pub(crate) arch: String,
    pub(crate) target: String,
    pub(crate) epoch: u64,
    /// The tool binaries' names (`openclaw-…`), sorted.
    pub(crate) bins: Vec<String>,
}

pub(crate) fn dist(root: &Path) -> Result<Built, String> {
    dist_in(root, &root.join("target"))
}

/// `dist` with the binaries compiled in `target_dir` (a fresh one proves
/// the compiled binaries, not only the packaging, are reproducible).
fn dist_in(root: &Path, target_dir: &Path) -> Result<Built, String> {
    let rel = release(root)?;
    eprintln!("dist: openclaw {} for {} ({}), SOURCE_DATE_EPOCH={}", rel.version, rel.arch, rel.target, rel.epoch);
    build_release(root, target_dir)?;
    let out = root.join("target/dist");
    let stage = out.join("stage");
    let gen_dir = out.join("gen");
    for d in [&stage, &gen_dir] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
    }
    run(Command::new(cargo())
        .current_dir(root)
        .args(["run", "--quiet", "--locked", "-p", "dist-gen", "--"])
        .arg(&gen_dir))?;
    dist_stage::stage(root, &target_dir.join("release"), &rel, &gen_dir, &stage)?;
    clamp_mtimes(&stage, rel.epoch)?;

    let deb = out.join(format!("openclaw_{}_{}.deb", rel.version, rel.arch));
    run(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", rel.epoch.to_string())
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&stage)
        .arg(&deb)
        .stdout(Stdio::null()))?;
    let top = format!("openclaw-{}-{}", rel.version, rel.target);
    let tarball = out.join(format!("{top}.tar.gz"));
    tarball_of(&stage, &top, rel.epoch, &tarball)?;
    let sums = out.join("SHA256SUMS");
    let names = [file_name(&deb), file_name(&tarball)];
    let listing = Command::new("sha256sum")
        .current_dir(&out)
        .args(&names)
        .output()
        .map_err(|e| format!("cannot run sha256sum: {e}"))?;
    if !listing.status.success() {
        return Err(format!("sha256sum failed: {}", String::from_utf8_lossy(&listing.stderr)));
    }
    std::fs::write(&sums, &listing.stdout).map_err(|e| format!("{}: {e}", sums.display()))?;
    for f in [&deb, &tarball, &sums] {
        let len = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?.len();
        eprintln!("dist: {} ({len} bytes)", f.display());
    }
    Ok(Built { deb, tarball, sums })
}

/// The CI step: build the package twice (byte-identical or fail), lintian
/// (fail on an error), then install, check, remove and purge it on this
/// machine (ops/tests/package_install_test.sh). Skipped, saying why, when
/// not root or without dpkg.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let is_root = stdout_of(Command::new("id").arg("-u")).is_ok_and(|u| u == "0");
    if !is_root || stdout_of(Command::new("dpkg").arg("--version")).is_err() {
        eprintln!("package install: SKIPPED (needs root and dpkg; it installs the package on this machine)");
        return Ok(());
    }
    let first = dist(root)?;
    let keep = root.join("target/dist/first-build");
    std::fs::create_dir_all(&keep).map_err(|e| format!("{}: {e}", keep.display()))?;
    let mut kept = Vec::new();
    for f in [&first.deb, &first.tarball, &first.sums] {
        let dest = keep.join(file_name(f));
        std::fs::copy(f, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        kept.push(dest);
    }
    eprintln!("package install: lintian {}", first.deb.display());
    run(Command::new("lintian").args(["--fail-on", "error", "--info", "--no-tag-display-limit"]).arg(&first.deb))?;
    // The second build compiles everything again in a target directory of
    // its own, so the binaries themselves are compared, not just the packing.
    let rebuild = root.join("target/dist-rebuild");
    if rebuild.exists() {
        std::fs::remove_dir_all(&rebuild).map_err(|e| format!("{}: {e}", rebuild.display()))?;
    }
    eprintln!("package install: second build from scratch in {}, to compare", rebuild.display());
    let second = dist_in(root, &rebuild)?;
    for (a, b) in kept.iter().zip([&second.deb, &second.tarball, &second.sums]) {
        let same = std::fs::read(a).map_err(|e| e.to_string())? == std::fs::read(b).map_err(|e| e.to_string())?;
        if !same {
            return Err(format!("not reproducible: {} differs between two builds of the same commit", file_name(b)));
        }
        eprintln!("package install: {} is byte-identical across two builds", file_name(b));
    }
    run(Command::new("bash").arg(root.join("ops/tests/package_install_test.sh")).arg(&second.deb))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn release(root: &Path) -> Result<Release, String> {
    let meta = Command::new(cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !meta.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&meta.stderr)));
    }
    let meta: Value = serde_json::from_slice(&meta.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = meta["packages"].as_array().ok_or("cargo metadata has no packages")?;
    let mut version = None;
    let mut bins = Vec::new();
    for p in packages.iter().filter(|p| p["name"].as_str().is_some_and(|n| TOOL_PACKAGES.contains(&n))) {
        version.get_or_insert_with(|| p["version"].as_str().unwrap_or_default().to_owned());
        for t in p["targets"].as_array().into_iter().flatten() {
            let is_bin = t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin"));
            match t["name"].as_str() {
                Some(n) if is_bin && n.starts_with("openclaw-") => bins.push(n.to_owned()),
                _ => {}
            }
        }
    }
    bins.sort();
    if bins.len() != TOOL_PACKAGES.len() {
        return Err(format!("expected one openclaw-* binary per tool package, found {bins:?}"));
    }
    let version = version.filter(|v| !v.is_empty()).ok_or("no workspace version")?;
    let arch = stdout_of(Command::new("dpkg").arg("--print-architecture"))
        .map_err(|e| format!("{e} (dist builds a Debian package: it needs dpkg and dpkg-deb)"))?;
    let target = stdout_of(Command::new("rustc").arg("-vV"))?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or("rustc -vV names no host")?;
    let epoch = match std::env::var("SOURCE_DATE_EPOCH").ok().filter(|v| !v.is_empty()) {
        Some(v) => v.parse::<u64>().map_err(|_| format!("SOURCE_DATE_EPOCH must be seconds, got `{v}`"))?,
        None => stdout_of(Command::new("git").current_dir(root).args(["log", "-1", "--format=%ct"]))?
            .parse::<u64>()
            .map_err(|e| format!("git log -1 --format=%ct: {e}"))?,
    };
    Ok(Release { version, arch, target, epoch, bins })
}

/// `cargo build --release --locked` of the tool binaries, with every path
/// that would be embedded (the checkout, the registry sources) remapped.
fn build_release(root: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo_home = std::env::var("CARGO_HOME")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let rustflags =
        format!("--remap-path-prefix={}=/build/openclaw --remap-path-prefix={cargo_home}=/cargo", root.display());
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // Nothing in the binaries reads it, but some build scripts rerun when
        // it changes: unset, a new commit does not rebuild the dependencies.
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["build", "--release", "--locked", "--bins"]);
    for p in TOOL_PACKAGES {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)
}

/// Sets the mtime of everything under `dir` (and `dir`) to `epoch`.
fn clamp_mtimes(dir: &Path, epoch: u64) -> Result<(), String> {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    let mut stack = vec![dir.to_path_buf()];
    let mut all = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            all.push(p);
        }
        all.push(d);
    }
    // Files before their directories is not needed: setting a file's mtime
    // does not touch its directory's.
    for p in all {
        std::fs::File::open(&p)
            .and_then(|f| f.set_modified(when))
            .map_err(|e| format!("{}: cannot set mtime: {e}", p.display()))?;
    }
    Ok(())
}

/// The staged tree without DEBIAN/, under `top/`, as a reproducible .tar.gz.
fn tarball_of(stage: &Path, top: &str, epoch: u64, out: &Path) -> Result<(), String> {
    let mut entries: Vec<String> = std::fs::read_dir(stage)
        .map_err(|e| format!("{}: {e}", stage.display()))?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "DEBIAN")
        .collect();
    entries.sort();
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut tar = Command::new("tar")
        .current_dir(stage)
        .env("LC_ALL", "C")
        .args([
            "--sort=name",
            &format!("--mtime=@{epoch}"),
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--format=gnu",
            &format!("--transform=s,^,{top}/,"),
            "-cf",
            "-",
        ])
        .args(&entries)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let tar_out = tar.stdout.take().ok_or("tar has no stdout")?;
    let gzip = Command::new("gzip")
        .args(["-n", "-9"])
        .stdin(tar_out)
        .stdout(file)
        .status()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    let tar_status = tar.wait().map_err(|e| format!("tar: {e}"))?;
    if !tar_status.success() || !gzip.success() {
        return Err(format!("tar | gzip failed: tar {tar_status}, gzip {gzip}"));
    }
    Ok(())
}

pub(crate) fn stdout_of(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!("{:?} exited with {}", cmd.get_program(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{:?} exited with {status}", cmd.get_program())) }
}
