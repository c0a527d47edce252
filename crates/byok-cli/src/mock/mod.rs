//! `byok mock serve`: byok-testkit's mock providers as a standalone server, for
//! tests in any language, with a control API to switch scenarios, read what was
//! sent (keys masked) and reset. The interface is documented in docs/TESTING.md.

use std::process::ExitCode;
use std::sync::Arc;

use byok::keys::Provider;
use byok::testkit::{MockBuilder, Scenario};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::output::{self, CliError, errln, outln};

mod control;
mod scenario;

/// Arguments of `byok mock`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: MockCommand,
}

#[derive(Debug, clap::Subcommand)]
enum MockCommand {
    /// Serve mock providers until stopped (SIGINT, SIGTERM); one line per provider on stdout.
    Serve(ServeArgs),
}

/// Arguments of `byok mock serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// A provider to mock (any provider code: openai, anthropic, google, groq, ...;
    /// repeatable). Default: every provider.
    #[arg(long = "provider", value_name = "P")]
    providers: Vec<String>,
    /// The scenario every mock starts with (and `POST /reset` restores): a stable
    /// name such as valid, invalid_key, no_credits, rate_limited. Default: valid.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Fixed ports on 127.0.0.1: the control API on N, the mocks on N+1, N+2, ...
    /// in --provider order (every provider, in `Provider::ALL` order, when none is named).
    /// Default: free ports, printed on stdout.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// One JSON object per provider on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match args.command {
        MockCommand::Serve(args) => match serve(&args) {
            Ok(()) => ExitCode::from(output::OK),
            Err(e) => e.report(args.json),
        },
    }
}

/// A provider by any of its spellings (`google`, `gemini`, ...).
pub(crate) fn parse_provider(name: &str) -> Result<Provider, CliError> {
    name.parse::<Provider>().map_err(|_| {
        CliError::new("unknown_provider", format!("no provider is named {name:?}")).hint(format!(
            "providers: {}",
            byok::keys::spec::all()
                .map(|s| s.code)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let mut providers: Vec<Provider> = Vec::new();
    for name in &args.providers {
        let provider = parse_provider(name)?;
        if !providers.contains(&provider) {
            providers.push(provider);
        }
    }
    if providers.is_empty() {
        providers = Provider::ALL.to_vec();
    }
    let start = match &args.scenario {
        Some(name) => scenario::build(&scenario::Wanted {
            name: name.clone(),
            ..scenario::Wanted::default()
        })?,
        None => Scenario::Valid,
    };
    scenario::check(&start, &providers)?;
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", args.port.unwrap_or(0))).map_err(|e| {
            CliError::new(
                "port_unavailable",
                format!("cannot listen for the control API: {e}"),
            )
            .hint("pick another --port, or leave it out for a free one")
        })?;
    let ports = match args.port {
        None => vec![0; providers.len()],
        Some(n) => (1..=providers.len())
            .map(|i| {
                u16::try_from(usize::from(n) + i).map_err(|_| {
                    CliError::new(
                        "port_unavailable",
                        format!(
                            "--port {n} leaves no room for {} mock ports after it",
                            providers.len()
                        ),
                    )
                    .hint("the mocks take the ports after --port: pick a lower one")
                })
            })
            .collect::<Result<Vec<u16>, CliError>>()?,
    };
    output::block_on(run_servers(providers, ports, start, listener, args.json))?
}

async fn run_servers(
    providers: Vec<Provider>,
    ports: Vec<u16>,
    start: Scenario,
    listener: std::net::TcpListener,
    json: bool,
) -> Result<(), CliError> {
    // Listen for the signals before printing the lines a driver waits for: a stop
    // sent right after them must find the handlers in place.
    let stop = crate::signal::stop()?;
    let mut served = Vec::new();
    for (provider, port) in providers.iter().zip(ports) {
        let mock = MockBuilder::new(*provider)
            .scenario(start.clone())
            .start_on(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .map_err(|e| {
                CliError::new(
                    "port_unavailable",
                    format!("cannot listen for the {} mock on port {port}: {e}", provider.display_name()),
                )
                .hint("pick another --port (the mocks take the ports after it), or leave it out for free ones")
            })?;
        served.push(control::Served::new(mock, start.clone()));
    }
    let served = Arc::new(served);
    let control = MockServer::builder().listener(listener).start().await;
    Mock::given(any())
        .respond_with(control::Control(served.clone()))
        .mount(&control)
        .await;
    let control_url = control.uri();
    for s in served.iter() {
        let (provider, base_url) = (s.provider().as_str(), s.mock.uri());
        if json {
            output::print_json(&json!({
                "provider": provider,
                "base_url": base_url,
                "control_url": control_url,
                "scenario": start.name(),
            }));
        } else {
            outln!(
                "{provider:<9} {base_url}  scenario {}  control {control_url}",
                start.name()
            );
        }
    }
    if !json {
        errln!("serving until stopped (Ctrl-C)");
    }
    stop.await;
    drop(control);
    Ok(())
}
