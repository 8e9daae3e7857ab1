#![forbid(unsafe_code)]
//! `kagi-webhook`: wiring only. The commands live in the library.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kagi_webhook::server::{self, ServeArgs, logging::LogArgs};
use kagi_webhook::settings::{self, InjectorSettings};
use kagi_webhook::{admission, annotations, inject};

/// Injects the Vault/OpenBao agent into annotated Pods (a vault-k8s-compatible webhook).
#[derive(Debug, Parser)]
#[command(name = "kagi-webhook", version)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the admission webhook over HTTPS.
    Serve(ServeArgs),

    /// Answer one AdmissionReview (JSON) exactly as the server would.
    Review {
        /// The AdmissionReview; `-` or nothing reads stdin.
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,

        #[command(flatten)]
        injector: InjectorSettings,
    },

    /// Inject the agent into manifests (YAML or JSON): `kagi-webhook inject -f app.yaml | kubectl apply -f -`.
    Inject {
        /// The manifests; `-` or nothing reads stdin.
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,

        /// Namespace the pods will be created in (default: each document's own, then `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,

        #[command(flatten)]
        injector: InjectorSettings,
    },

    /// Write a CA and a serving certificate (`ca.crt`, `tls.crt`, `tls.key`) for bring-your-own TLS.
    GenCerts {
        /// The webhook's Service name.
        #[arg(long)]
        service: String,
        /// The webhook's namespace.
        #[arg(long)]
        namespace: String,
        /// Directory to write into (created if absent).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = kagi_certs::DEFAULT_GEN_DAYS)]
        days: u32,
        /// More DNS names or IP addresses for the certificate (comma-separated or repeated).
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
    },

    /// Print the annotation reference (Markdown), generated from the parser's own list.
    Annotations {
        /// Markdown table (the only format; accepted so scripts can say what they expect).
        #[arg(long)]
        markdown: bool,

        /// Rewrite the annotation section of this README in place instead of printing.
        #[arg(long, value_name = "README")]
        update_readme: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line, without a backtrace.
            eprintln!("kagi-webhook: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        anyhow::bail!("another rustls crypto provider was installed before ring");
    }
    let Cli { mut log, command } = Cli::parse();
    // vault-k8s lets a non-empty AGENT_INJECT_* variable win over the flag.
    let env = |name: &str| std::env::var(name).ok();
    settings::apply_env_precedence(&mut log, env)?;
    // Held to the end of the command: dropping it writes out the buffered log lines.
    let _log = log.init();
    match command {
        Command::Serve(mut args) => {
            settings::apply_env_precedence(&mut args, env)?;
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime
                .block_on(server::run(args, server::shutdown_signal()))
                .context("kagi-webhook serve failed")?;
        }
        Command::Review { file, mut injector } => {
            injector.apply_env_precedence(env)?;
            let body = read_input(file.as_ref())?;
            let reviewed = admission::review(&body, &injector)
                .context("cannot answer this AdmissionReview")?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&reviewed.body)?;
            stdout.write_all(b"\n")?;
        }
        Command::Inject {
            file,
            namespace,
            mut injector,
        } => {
            injector.apply_env_precedence(env)?;
            let input = String::from_utf8(read_input(file.as_ref())?)
                .context("the manifests are not UTF-8")?;
            let injected = inject::inject(&input, &injector, namespace.as_deref())?;
            for line in &injected.report {
                match line.injection {
                    Some(injection) => {
                        tracing::info!(object = %line.object, injection = injection.label(), "injected")
                    }
                    None => {
                        tracing::info!(object = %line.object, reason = %line.reason, "left as is")
                    }
                }
            }
            std::io::stdout()
                .lock()
                .write_all(injected.yaml.as_bytes())?;
        }
        Command::GenCerts {
            service,
            namespace,
            out,
            days,
            hosts,
        } => {
            let request = kagi_certs::GenCertsRequest {
                service,
                namespace,
                extra_hosts: hosts,
                days,
            };
            let written = kagi_certs::write_bundle(&out, &request).context("gen-certs failed")?;
            println!(
                "wrote {}, {} and {} (valid {days} days for {})",
                written.ca_cert.display(),
                written.tls_cert.display(),
                written.tls_key.display(),
                written.hosts.join(", ")
            );
        }
        Command::Annotations {
            markdown: _,
            update_readme: None,
        } => print!("{}", annotations::markdown_table()),
        Command::Annotations {
            markdown: _,
            update_readme: Some(path),
        } => {
            let readme = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let updated = annotations::readme_with_table(&readme).with_context(|| {
                format!(
                    "{} has no {} ... {} section",
                    path.display(),
                    annotations::README_BEGIN,
                    annotations::README_END
                )
            })?;
            std::fs::write(&path, updated)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")?;
        }
    }
    Ok(bytes)
}
