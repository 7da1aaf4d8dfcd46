//! Black-box tests of the real `openclaw-reviewgate` against real git
//! repositories, keys made by real `ssh-keygen`, and signatures made by
//! `ssh-keygen -Y sign` (the reference implementation of SSHSIG).

mod attacks;
mod bundle;
mod codex_cli;
mod deploy;
mod hook;
mod openai;
mod review;
mod support;
mod verify;
