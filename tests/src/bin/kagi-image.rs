//! Writes an OCI image layout (see `kagi_tests::image`): one binary (or a few, with their
//! shared libraries for the harness's test image), `/etc/passwd` and `/etc/group` with the
//! non-root user 65532, user 65532:65532, entrypoint the first binary. `make images` runs it.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use kagi_tests::image::{self, Entry, ImageSpec, elf};

#[derive(Parser)]
#[command(about = "Build a reproducible OCI image layout without a container engine")]
struct Args {
    /// Layout directory to write (replaced).
    #[arg(long)]
    out: PathBuf,
    /// Image tag (the `org.opencontainers.image.ref.name` of the manifest).
    #[arg(long, default_value = image::VERSION)]
    tag: String,
    /// Executable installed as /usr/local/bin/<file name>; the first is the entrypoint.
    #[arg(long = "binary", required = true)]
    binaries: Vec<PathBuf>,
    /// Extra file, HOST_PATH=IMAGE_PATH (test image only).
    #[arg(long = "file")]
    files: Vec<String>,
    /// Arguments after the entrypoint (image `Cmd`).
    #[arg(long = "cmd")]
    cmd: Vec<String>,
    /// Copy the shared libraries the executables load (test image only); without it every
    /// executable must be statically linked.
    #[arg(long)]
    with_libraries: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut files = image::nonroot_user_files();
    let mut executables = Vec::new();
    let mut entrypoint = None;
    for binary in &args.binaries {
        let name = binary
            .file_name()
            .with_context(|| format!("{} has no file name", binary.display()))?
            .to_string_lossy()
            .to_string();
        let path = format!("usr/local/bin/{name}");
        entrypoint.get_or_insert(format!("/{path}"));
        executables.push((binary.clone(), path));
    }
    for spec in &args.files {
        let (host, inside) = spec
            .split_once('=')
            .with_context(|| format!("--file {spec}: expected HOST_PATH=IMAGE_PATH"))?;
        executables.push((
            PathBuf::from(host),
            inside.trim_start_matches('/').to_string(),
        ));
    }
    let mut libraries = Vec::new();
    for (host, inside) in &executables {
        let contents =
            std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        let interpreter = elf::interpreter(&contents)
            .with_context(|| format!("{} is not an executable", host.display()))?;
        match (interpreter, args.with_libraries) {
            (Some(loader), false) => bail!(
                "{} is dynamically linked (interpreter {loader}); build it static (`make static`)",
                host.display()
            ),
            (Some(_), true) => libraries.extend(elf::shared_libraries(host)?),
            (None, _) => {}
        }
        files.push(Entry::File {
            path: inside.clone(),
            mode: 0o755,
            contents,
        });
    }
    libraries.sort();
    libraries.dedup();
    for library in libraries {
        let contents =
            std::fs::read(&library).with_context(|| format!("reading {}", library.display()))?;
        files.push(Entry::File {
            path: library
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string(),
            mode: 0o755,
            contents,
        });
    }
    let spec = ImageSpec {
        tag: args.tag,
        files,
        entrypoint: entrypoint.into_iter().collect(),
        cmd: args.cmd,
        env: vec!["PATH=/usr/local/bin:/usr/bin".to_string()],
    };
    let digest = image::build(&spec, &args.out)?;
    println!("oci:{}:{} {digest}", args.out.display(), spec.tag);
    Ok(())
}
