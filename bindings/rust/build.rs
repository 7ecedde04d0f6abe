//! Finds libzcp for the crate: a zerocp build tree (ZCP_BUILD_DIR, default ../../build, whose
//! lib/install/libzcp.a holds every client object) linked statically, or an installed prefix
//! (ZCP_PREFIX) linked dynamically against its libzcp.so.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=ZCP_BUILD_DIR");
    println!("cargo:rerun-if-env-changed=ZCP_PREFIX");
    if let Ok(prefix) = env::var("ZCP_PREFIX") {
        let lib = PathBuf::from(prefix).join("lib");
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-lib=dylib=zcp");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let build = env::var("ZCP_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../build"));
    let dir = build.join("lib").join("install");
    let archive = dir.join("libzcp.a");
    if !archive.exists() {
        panic!(
            "zerocp: {} not found: run `make build` in the zerocp tree, or set ZCP_BUILD_DIR \
             (a build tree) or ZCP_PREFIX (an installed prefix)",
            archive.display()
        );
    }
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=zcp");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=rt");
}
