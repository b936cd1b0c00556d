//! The `tomoe` binary: parse, set up logging, run, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = tomoe_cli::Cli::parse();
    // The demo draws progress bars: per-file logs only with -v.
    let quiet =
        cli.quiet || (matches!(cli.command, tomoe_cli::Command::Demo(_)) && cli.verbose == 0);
    tomoe_cli::init_logging(cli.verbose, quiet);
    let code = match tomoe_cli::run(cli) {
        Ok(code) => code,
        // A closed pipe (`tomoe … | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            0
        }
        Err(e) => {
            eprintln!("tomoe: error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
