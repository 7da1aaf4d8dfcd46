//! `engine-bridge --socket S -- PROGRAM ARGS…` (hidden): runs inside the
//! engine's jail, whose network namespace has only its own loopback. It
//! listens on a loopback TCP port, forwards each connection to the gate's
//! proxy socket `S` (`proxy`), and runs PROGRAM with `HTTPS_PROXY`,
//! `HTTP_PROXY` and `ALL_PROXY` pointing at that port, stdio passed
//! through. Its exit status is PROGRAM's.
//!
//! `engine-exec -- PROGRAM ARGS…` (hidden) is how the bridge starts
//! PROGRAM: it installs the engine's system-call filter (`nounix`) on
//! itself, then becomes PROGRAM (`exec`), so the filter binds the engine and
//! everything it starts, never the bridge.

use std::ffi::OsString;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

use common::exit::Exit;

fn forward(tcp: TcpStream, socket: &Path) -> std::io::Result<()> {
    let unix = UnixStream::connect(socket)?;
    crate::proxy::relay(tcp.try_clone()?, unix.try_clone()?, unix, tcp);
    Ok(())
}

/// Runs the bridge; the exit is the program's.
pub(crate) fn run(socket: &Path, command: &[OsString]) -> Result<Exit, String> {
    let (program, args) = command.split_first().ok_or("engine-bridge needs a program after --")?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("loopback listener: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let _ = forward(conn, &socket);
            });
        }
    });
    // Nothing in the jail (the engine runs as this same user) may attach to
    // or read this process, which has no filter: it is pid 1 of the jail
    // (bwrap `--as-pid-1`) and non-dumpable.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| format!("prctl(PR_SET_DUMPABLE): {e}"))?;
    let proxy = format!("http://127.0.0.1:{port}");
    // The engine starts through `engine-exec`, which installs its system-call filter first.
    let exe = std::env::current_exe().map_err(|e| format!("this program's own path: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("engine-exec").arg("--").arg(program).args(args);
    for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env(var, &proxy);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let status = cmd.status().map_err(|e| format!("{}: {e}", program.to_string_lossy()))?;
    Ok(match status.code() {
        Some(0) => Exit::Clean,
        Some(c) => Exit::Child(u8::try_from(c).unwrap_or(u8::MAX)),
        None => {
            Exit::Child(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0).clamp(0, 127) as u8)
        }
    })
}

/// `engine-exec`: the filter, then PROGRAM in place of this process.
pub(crate) fn exec(command: &[OsString]) -> Result<Exit, String> {
    let (program, args) = command.split_first().ok_or("engine-exec needs a program after --")?;
    crate::nounix::install()?;
    let err = std::os::unix::process::CommandExt::exec(Command::new(program).args(args));
    Err(format!("{}: {err}", program.to_string_lossy()))
}
