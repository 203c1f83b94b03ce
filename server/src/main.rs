use std::io::{IsTerminal, Read};

use clap::Parser;
use server::config::{AdminCommand, Cli, Command, InstanceCommand, KeysCommand, LogFormat};
use server::startup::{leptos_options, open_core, shutdown_signal, Application, Bootstrap};
use tus_core::secret::Password;
use tus_core::Core;

fn main() {
    let cli = Cli::parse();
    // Traces are the server's: the one-shot commands export none.
    let serving = matches!(cli.command, None | Some(Command::Serve));
    let traces = serving
        .then(server::telemetry::TraceSettings::from_env)
        .transpose()
        .map(Option::flatten)
        .and_then(|settings| settings.map(|s| s.exporter()).transpose());
    let traces = match traces {
        Ok(traces) => traces,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(1);
        }
    };
    logs(cli.config.log_format, traces.as_ref());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let outcome = runtime.block_on(run(cli));
    drop(runtime);
    // The spans still batched go out before the process ends (the exporter's own thread;
    // at most its timeout when the collector does not answer).
    if let Some(traces) = traces {
        if let Err(e) = traces.shutdown() {
            eprintln!("warning: the last spans could not be exported: {e}");
        }
    }
    if let Err(message) = outcome {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

/// Logs go to standard error (standard output carries the first-start banner and the CLI's
/// answers): text coloured only on a terminal, or JSON lines carrying the fields of the
/// request's span (its id, method, path and trace id) on each event. `RUST_LOG` filters
/// them. With traces on, the spans go to the exporter too, with the events logged in them
/// at info and above, whatever `RUST_LOG` says.
fn logs(format: LogFormat, traces: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => lines
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    // The exporter's filter is static (a level per target): with a dynamic one
    // (`filter_fn`) some spans were never exported and others lost their context, seen on
    // PostgreSQL in `tests/api/traces.rs`.
    let spans = traces.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("tus"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_default(tracing::Level::INFO)
                    .with_target("sqlx", tracing::level_filters::LevelFilter::OFF),
            )
    });
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(spans)
        .init();
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::debug!(?config, "configuration");
            let app = Application::build(&config, leptos_options())
                .await
                .map_err(|e| e.to_string())?;
            print_bootstrap(&app.bootstrap);
            tracing::info!(address = %app.address(), backend = app.core().store().backend(), "listening on http://{}", app.address());
            app.run_until(shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
        Command::Doctor => {
            if !server::doctor::run(&config).await {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Migrate => {
            open_core(&config).await.map_err(|e| e.to_string())?;
            println!("migrations are up to date");
            Ok(())
        }
        Command::Instance(InstanceCommand::Create {
            name,
            description,
            id,
            key,
            json,
        }) => {
            let mut errors = tus_core::FieldErrors::default();
            let given = tus_core::instances::GivenIdentity::parse(
                &mut errors,
                id.as_deref(),
                key.as_deref(),
            );
            errors.into_result().map_err(server::import_cli::said)?;
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            let i = core
                .create_instance_with(Core::now(), None, &name, &description, given)
                .await
                .map_err(server::import_cli::said)?;
            core.record(
                Core::now(),
                "cli",
                tus_core::audit::AuditAction::InstanceCreated,
                &format!("instance:{}", i.id),
                &format!("{} (tus instance create)", i.name),
                &Default::default(),
            )
            .await
            .map_err(server::import_cli::said)?;
            if json {
                let out = serde_json::json!({
                    "InstanceId": i.id.to_string(), "InstanceKey": i.key.expose(), "InviteCode": i.invite_code,
                    "Name": i.name, "ApplicationId": i.application_id.to_string(),
                });
                println!("{out}");
            } else {
                println!(
                    "InstanceId:  {}\nInstanceKey: {}\nInviteCode:  {}",
                    i.id,
                    i.key.expose(),
                    i.invite_code
                );
            }
            Ok(())
        }
        Command::Admin(AdminCommand::Create { email, role, .. }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            let password = Password::new(password.trim_end_matches(['\r', '\n']));
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            let admin = core
                .create_admin(Core::now(), &email, &password, role)
                .await
                .map_err(server::import_cli::said)?;
            println!("admin {} created ({})", admin.email, admin.role.as_str());
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            let keys = core
                .store()
                .signing_keys()
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{:<28} {:<6} {:<8} {:<25} until",
                "kid", "alg", "state", "since"
            );
            for k in keys {
                let since = k.activated_at.or(k.activate_at).unwrap_or(k.created_at);
                println!(
                    "{:<28} {:<6} {:<8} {:<25} {}",
                    k.kid,
                    k.algorithm,
                    k.state,
                    tus_core::time::iso(since),
                    k.retire_after.map(tus_core::time::iso).unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate { algorithm, lead }) => {
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            let kid = core
                .rotate_signing_key(
                    Core::now(),
                    algorithm,
                    chrono::Duration::seconds(lead),
                    "cli",
                    &Default::default(),
                )
                .await
                .map_err(|e| e.to_string())?;
            println!("new signing key {kid}: published now, current in {lead} s");
            Ok(())
        }
        Command::Company { set_id } => {
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            if let Some(id) = set_id {
                core.set_company_id(Core::now(), id, "cli")
                    .await
                    .map_err(server::import_cli::said)?;
            }
            let id = core.company_id().await.map_err(server::import_cli::said)?;
            println!("CompanyId: {id}");
            Ok(())
        }
        Command::Import {
            file,
            instance,
            dry_run,
            on_existing,
            report,
        } => {
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            server::import_cli::run(
                &core,
                server::import_cli::Options {
                    file,
                    instance,
                    dry_run,
                    on_existing,
                    report,
                },
            )
            .await
        }
        Command::Admin(AdminCommand::Unlock { email }) => {
            let core = open_core(&config).await.map_err(|e| e.to_string())?;
            let cleared = core
                .unlock_admin_login(Core::now(), &email, &Default::default())
                .await
                .map_err(|e| e.to_string())?;
            println!("login throttles of {email} cleared ({cleared} counters)");
            Ok(())
        }
    }
}

/// First start only: the credentials are printed once, here, to standard output (never
/// through the log).
fn print_bootstrap(b: &Bootstrap) {
    if b.instance.is_none() && b.admin.is_none() {
        return;
    }
    let line = "=".repeat(72);
    println!("\n{line}\n First start: save these now, they are not shown again.\n{line}");
    if let Some(created) = &b.instance {
        let i = &created.instance;
        println!(
            " Application  {}\n Instance     {}",
            created.application_name, i.name
        );
        println!(
            " InstanceId   {}\n InstanceKey  {}\n InviteCode   {}",
            i.id,
            i.key.expose(),
            i.invite_code
        );
    }
    if let Some(first) = &b.admin {
        println!(" Admin e-mail {}", first.admin.email);
        match &first.generated_password {
            Some(p) => println!(" Admin pass   {}", p.expose()),
            None => println!(" Admin pass   (the one set in TUS_ADMIN_PASSWORD)"),
        }
    }
    println!("{line}\n");
}
