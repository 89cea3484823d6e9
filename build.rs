//! Links the function's hot code into one block at the start of its text (`link/hot-text.ld`).
//!
//! A process maps its binary's code 64 KiB around every page fault (the kernel's
//! fault-around), and the code one invocation runs is spread over the whole 8 MB of `.text`,
//! so nearly all of it became resident memory, and the peak RSS followed the binary's size
//! (docs/performance.md, "Hot code first"). The linker script gathers the functions an
//! invocation really runs into `.text.hot`; the rest of `.text` stays on disk.
//!
//! Only release-like builds (the release and profiling profiles) of Linux targets get it: a
//! debug build's layout does not matter, and the script is an ELF linker's. rust-lld, GNU ld
//! and `zig cc` (cargo-lambda) read it. A linker without `INSERT` support (mold) can skip it
//! with `KENDRA_WAITER_HOT_TEXT=off`: the binary is then the same code, laid out as before.

use std::env;
use std::path::Path;

const SCRIPT: &str = "link/hot-text.ld";
const SWITCH: &str = "KENDRA_WAITER_HOT_TEXT";

fn main() {
    println!("cargo:rerun-if-changed={SCRIPT}");
    println!("cargo:rerun-if-env-changed={SWITCH}");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let off = env::var(SWITCH).is_ok_and(|v| v == "off");
    if !linux || !release || off {
        return;
    }
    // An absolute path: the linker does not run in the package's directory under every
    // build tool (cargo-lambda, sam build).
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        println!("cargo:warning=CARGO_MANIFEST_DIR is not set: {SCRIPT} not used");
        return;
    };
    let script = Path::new(&dir).join(SCRIPT);
    if !script.is_file() {
        println!("cargo:warning={SCRIPT} is missing: bootstrap is linked without it");
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=bootstrap=-Wl,-T,{}",
        script.display()
    );
}
